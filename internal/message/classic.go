package message

import (
	"strings"

	"github.com/valyala/fastjson"
)

const (
	classicFindingPrefix = "event_finding_"
	classicScanPrefix    = "event_scan_"
)

// parseClassic reads the flat message of Detectify's support article. Types
// are read generically so new ones keep working: event_finding_<level> is a
// finding of that level, event_scan_<state> a scan event in that state.
// Fields this format does not document stay in the body.
func parseClassic(top objectFields, e *Event) error {
	if err := top.checkDuplicates(isClassicField); err != nil {
		return err
	}
	e.Format = FormatClassic
	var k known
	for i, key := range top.keys {
		v := top.values[i]
		switch key {
		case "type":
			k.decodeString(key, v, &k.eventType)
		case "domain":
			k.decodeString(key, v, &k.domain)
		case "report_url":
			k.decodeString(key, v, &k.reportURL)
		case "finding_url":
			k.decodeString(key, v, &k.findingURL)
		case "title":
			k.decodeString(key, v, &k.title)
		case "severity":
			k.decodeString(key, v, &k.severity)
		case "cvss_score":
			k.decodeScore(key, v, &k.cvssScore)
		case "tags":
			k.decodeTags(key, v)
		default:
			if c, ok := countCategories[key]; ok {
				decodeCount(e, key, c, v, &k.invalid)
			}
		}
	}
	e.Type, e.Domain, e.Title = k.eventType.value, k.domain.value, k.title.value
	classifyClassic(e, k.severity)
	e.Profile, e.ScanID, k.findingID = idsFromURLs(k.findingURL, k.reportURL)
	e.FindingID = k.findingID.value
	e.Attributes = k.attributes(e)
	e.InvalidFields = k.invalid
	return nil
}

func isClassicField(key string) bool {
	switch key {
	case "type", "domain", "report_url", "finding_url", "title", "severity", "cvss_score", "tags":
		return true
	}
	_, ok := countCategories[key]
	return ok
}

func classifyClassic(e *Event, severity optional[string]) {
	eventType := strings.ToLower(e.Type)
	if level, ok := strings.CutPrefix(eventType, classicFindingPrefix); ok && level != "" {
		e.Kind = KindFinding
		e.Level = level
	}
	if state, ok := strings.CutPrefix(eventType, classicScanPrefix); ok && state != "" {
		e.ScanState = state
		switch state {
		case "started":
			e.Kind = KindScanStarted
		case "finished":
			e.Kind = KindScanFinished
		}
	}
	// The payload's own severity wins over the level in the type.
	if level := normalizeLevel(severity.value); level != "" {
		e.Level = level
	}
}

// idsFromURLs returns the scan and finding ids of Detectify report links,
// preferring the finding URL, which names both.
func idsFromURLs(findingURL, reportURL optional[string]) (profile, scanID string, findingID optional[string]) {
	if findingURL.ok {
		if profile, scan, finding, ok := reportIDs(findingURL.value); ok {
			return profile, scan, optional[string]{value: finding, ok: finding != ""}
		}
	}
	if reportURL.ok {
		if profile, scan, _, ok := reportIDs(reportURL.value); ok {
			return profile, scan, findingID
		}
	}
	return "", "", findingID
}

// isString reports whether v is a JSON string.
func isString(v *fastjson.Value) bool { return v != nil && v.Type() == fastjson.TypeString }
