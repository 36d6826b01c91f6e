package message

import (
	"fmt"
	"maps"
	"slices"
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
// Fields this format does not document stay in the body. The object is
// read in one visit, without a copy of its keys: this is the message
// Detectify sends most.
func parseClassic(top *fastjson.Object, e *Event) error {
	e.Format = FormatClassic
	var r classicReader
	top.Visit(r.field)
	if r.duplicate != "" {
		return fmt.Errorf("%w: %q", ErrDuplicateKey, r.duplicate)
	}
	k := &r.k
	e.Type, e.Domain, e.Title = k.eventType.value, k.domain.value, k.title.value
	classifyClassic(e, k.severity)
	e.Profile, e.ScanID, k.findingID = idsFromURLs(k.findingURL, k.reportURL)
	e.FindingID = k.findingID.value
	e.doc, e.Counts = k.documented, k.counts
	e.InvalidFields = k.invalid
	return nil
}

// classicReader reads the fields of a classic message as they are visited.
type classicReader struct {
	k known
	// seen marks the fields read so far, by classicFields' index: a field
	// the receiver reads may not appear twice (parsers disagree on which
	// copy wins, so none is picked). Other keys may repeat.
	seen      uint32
	duplicate string
}

// classicFields are the keys the classic format documents, then the
// summary counters of countCategories.
var classicFields = append([]string{"type", "domain", "report_url", "finding_url", "title", "severity", "cvss_score", "tags"},
	slices.Sorted(maps.Keys(countCategories))...)

// classicField is key's index in classicFields, -1 when the format does
// not document it. Comparing string(key) copies nothing.
func classicField(key []byte) int {
	for i, name := range classicFields {
		if string(key) == name {
			return i
		}
	}
	return -1
}

func (r *classicReader) field(key []byte, v *fastjson.Value) {
	i := classicField(key)
	if i < 0 {
		return
	}
	name := classicFields[i]
	if r.seen&(1<<i) != 0 {
		if r.duplicate == "" {
			r.duplicate = name
		}
		return
	}
	r.seen |= 1 << i
	k := &r.k
	switch name {
	case "type":
		k.decodeString(name, v, &k.eventType)
	case "domain":
		k.decodeString(name, v, &k.domain)
	case "report_url":
		k.decodeString(name, v, &k.reportURL)
	case "finding_url":
		k.decodeString(name, v, &k.findingURL)
	case "title":
		k.decodeString(name, v, &k.title)
	case "severity":
		k.decodeString(name, v, &k.severity)
	case "cvss_score":
		k.decodeScore(name, v, &k.cvssScore)
	case "tags":
		k.decodeTags(name, v)
	default:
		k.decodeCount(name, countCategories[name], v)
	}
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
