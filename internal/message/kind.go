package message

import (
	"strings"
	"unicode"
)

// Words of an `event_type` that name what happened. Detectify documents
// events for new findings, scan completions and asset changes and says the
// structure varies by type, so any spelling is read by its words:
// "scan_completed", "scan.completed", "ScanCompleted" and "scan-finished"
// all name a scan and its end.
var (
	findingWords   = wordSet("finding", "findings", "vulnerability", "vulnerabilities")
	scanWords      = wordSet("scan", "scans")
	scanStartWords = wordSet("start", "started", "starting", "begin", "began", "begun", "launched", "running")
	scanEndWords   = wordSet("end", "ended", "finish", "finished", "complete", "completed", "completion",
		"done", "succeeded", "success", "successful")
	assetWords = wordSet("asset", "assets")
)

func wordSet(words ...string) map[string]bool {
	set := make(map[string]bool, len(words))
	for _, w := range words {
		set[w] = true
	}
	return set
}

// classifyCurrent returns the kind an `event_type` names and, for a scan
// event, its state: `started`, `finished`, or the other words of the type
// (`scan_failed` → `failed`).
func classifyCurrent(eventType string) (kind Kind, scanState string) {
	words := splitWords(eventType)
	switch {
	case len(words) == 0:
		return KindOther, ""
	case assetWords[words[0]]:
		return KindAssetChanged, ""
	case anyIn(words, findingWords):
		return KindFinding, ""
	case anyIn(words, scanWords):
		switch {
		case anyIn(words, scanEndWords):
			return KindScanFinished, "finished"
		case anyIn(words, scanStartWords):
			return KindScanStarted, "started"
		}
		var rest []string
		for _, w := range words {
			if !scanWords[w] {
				rest = append(rest, w)
			}
		}
		return KindOther, strings.Join(rest, "_")
	}
	return KindOther, ""
}

func anyIn(words []string, set map[string]bool) bool {
	for _, w := range words {
		if set[w] {
			return true
		}
	}
	return false
}

// splitWords lower-cases s and splits it at anything that is not a letter
// or digit, and where a lower-case letter is followed by an upper-case one.
func splitWords(s string) []string {
	var words []string
	var word strings.Builder
	flush := func() {
		if word.Len() > 0 {
			words = append(words, word.String())
			word.Reset()
		}
	}
	prevLower := false
	for _, r := range s {
		switch {
		case unicode.IsUpper(r):
			if prevLower {
				flush()
			}
			word.WriteRune(unicode.ToLower(r))
			prevLower = false
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			word.WriteRune(r)
			prevLower = unicode.IsLower(r)
		default:
			flush()
			prevLower = false
		}
	}
	flush()
	return words
}
