package message

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/valyala/fastjson"
	"github.com/valyala/fastjson/fastfloat"
)

const (
	classicFindingPrefix = "event_finding_"
	classicScanPrefix    = "event_scan_"
)

// parseClassic reads the flat message of Detectify's support article. Types
// are read generically so new ones keep working: event_finding_<level> is a
// finding of that level, event_scan_<state> a scan event in that state.
// Fields this format does not document stay in the body. The fields are
// read from the scan's spans: a string without an escape is its bytes,
// and only other values go through the parser. This is the message
// Detectify sends most.
func parseClassic(ps *parseState, e *Event) error {
	e.Format = FormatClassic
	r := classicReader{ps: ps}
	for i := range ps.members {
		r.field(&ps.members[i])
	}
	if r.err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidJSON, r.err)
	}
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

// classicReader reads the fields of a classic message.
type classicReader struct {
	ps *parseState
	k  known
	// seen marks the fields read so far, by classicFields' index: a field
	// the receiver reads may not appear twice (parsers disagree on which
	// copy wins, so none is picked). Other keys may repeat.
	seen      uint32
	duplicate string
	// err is a value the parser refused after the scan accepted it: not
	// expected, and then the body is refused.
	err error
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

func (r *classicReader) field(m *member) {
	i := classicField(m.key)
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
		r.readString(name, m, &k.eventType, aWord)
	case "domain":
		r.readString(name, m, &k.domain, copied)
	case "report_url":
		r.readString(name, m, &k.reportURL, cut)
	case "finding_url":
		r.readString(name, m, &k.findingURL, cut)
	case "title":
		r.readString(name, m, &k.title, copied)
	case "severity":
		r.readString(name, m, &k.severity, aWord)
	case "cvss_score":
		r.readScore(name, m, &k.cvssScore)
	case "tags":
		r.readTags(name, m)
	default:
		if v := r.decode(m); v != nil {
			k.decodeCount(name, countCategories[name], v)
		}
	}
}

// stringSource is where a plain string field's value comes from.
type stringSource uint8

const (
	// copied: the state keeps the value, so it is a copy of its own.
	copied stringSource = iota
	// cut: only the record uses the value (or what the state keeps of it
	// is cloned there), so it is cut from the text.
	cut
	// aWord: the value is usually one of classicWords, which it then is;
	// any other is copied, as the state keeps the level.
	aWord
)

// classicWords are the types and severities Detectify sends: a field with
// one of them takes the word, not a copy of it.
var classicWords = func() map[string]string {
	words := map[string]string{classicScanPrefix + "started": classicScanPrefix + "started", classicScanPrefix + "finished": classicScanPrefix + "finished"}
	for _, level := range categoryNames {
		words[level] = level
		words[classicFindingPrefix+level] = classicFindingPrefix + level
	}
	return words
}()

// readString reads a string field: a plain string from its span, any
// other value as decodeString does.
func (r *classicReader) readString(name string, m *member, field *optional[string], from stringSource) {
	if m.kind == kindString && m.plain {
		*field = optional[string]{value: r.plainText(m, from), ok: true}
		return
	}
	if v := r.decode(m); v != nil {
		r.k.decodeString(name, v, field)
	}
}

// plainText is a plain string member's value, made as from says.
func (r *classicReader) plainText(m *member, from stringSource) string {
	switch from {
	case cut:
		return r.ps.cut(m.start+1, m.start+len(m.value)-1)
	case aWord:
		if word, ok := classicWords[string(m.value[1:len(m.value)-1])]; ok {
			return word
		}
	}
	return m.text()
}

// readScore reads a score: a number from its span, any other value as
// decodeScore does.
func (r *classicReader) readScore(name string, m *member, field *optional[float64]) {
	if m.kind != kindNumber {
		if v := r.decode(m); v != nil {
			r.k.decodeScore(name, v, field)
		}
		return
	}
	// The scan checked the number's syntax; fastjson's Float64 parses so.
	if score, ok := finite(fastfloat.Parse(string(m.value))); ok {
		*field = optional[float64]{value: score, ok: true}
		return
	}
	r.k.invalid = append(r.k.invalid, name)
}

// readTags reads tags: an array of plain strings from its span, any other
// value as decodeTags does.
func (r *classicReader) readTags(name string, m *member) {
	if tags, ok := r.plainStrings(m); ok {
		r.k.tags = optional[[]string]{value: tags, ok: true}
		return
	}
	if v := r.decode(m); v != nil {
		r.k.decodeTags(name, v)
	}
}

// plainStrings is an array's items when each is a plain string: what the
// classic format's tags are. Only the record uses them: they are cut
// from the text.
func (r *classicReader) plainStrings(m *member) ([]string, bool) {
	if m.kind != kindArray {
		return nil, false
	}
	// The scan checked the array: only its items' kinds are left to see.
	s := scanner{b: m.value, i: 1}
	// Sized by the commas, but not past a few dozen: a long array of
	// anything else would cost its length before its first item is seen.
	items := make([]string, 0, min(bytes.Count(m.value, []byte(","))+1, 32))
	s.skipSpace()
	if s.b[s.i] == ']' {
		return items, true
	}
	for {
		start := s.i
		if s.b[start] != '"' {
			return nil, false
		}
		if plain, _ := s.string(); !plain {
			return nil, false
		}
		items = append(items, r.ps.cut(m.start+start+1, m.start+s.i-1))
		s.skipSpace()
		if s.b[s.i] == ']' {
			return items, true
		}
		s.i++ // the comma
		s.skipSpace()
	}
}

// decode is m's value from the parser (a string with an escape, a number,
// an array or an object the scan checked), valid until the next decode;
// nil, and r.err set, when it fails.
func (r *classicReader) decode(m *member) *fastjson.Value {
	v, err := r.ps.parser.ParseBytes(m.value)
	if err != nil && r.err == nil {
		r.err = err
	}
	return v
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
