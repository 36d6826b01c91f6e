package message

import (
	"slices"
	"strconv"
	"time"

	"github.com/valyala/fastjson"
)

// parseCurrent reads the message of Detectify's documentation site:
// `event_type`, `timestamp`, and the subject in a nested object. Known
// fields become the documented attributes; every other scalar of the
// subject becomes detectify.<subject>.<key>[.<key>…], so fields Detectify
// adds later are searchable without a release.
func parseCurrent(top objectFields, e *Event) error {
	e.Format = FormatCurrent
	var r currentReader
	if v := top.get("event_type"); v != nil {
		r.k.decodeString("event_type", v, &r.k.eventType)
	}
	e.Type = r.k.eventType.value
	e.Kind, e.ScanState = classifyCurrent(e.Type)
	r.kind = e.Kind
	if v := top.get("timestamp"); v != nil {
		e.Timestamp = r.timestamp(v)
	}

	name, subject := subjectOf(top, e.Kind)
	if err := top.checkDuplicates(func(key string) bool { return key == name || isCurrentTopField(key) }); err != nil {
		return err
	}
	if name != "" {
		if err := subject.checkDuplicates(nil); err != nil {
			return err
		}
	}
	r.used = make([]bool, len(subject.keys))
	r.readDomain(name, subject)
	e.Domain = r.k.domain.value
	r.readScanID(name, subject, top)
	r.readLinksAndCounts(subject, pathOf(name), r.used)
	if name != "" {
		// Counters and links may also sit beside the subject.
		r.readLinksAndCounts(top, "", nil)
	}
	if name == "finding" || e.Kind == KindFinding {
		r.readFinding(subject, pathOf(name))
	}
	e.Title = r.k.title.value
	if level := normalizeLevel(r.k.severity.value); level != "" {
		e.Level = level
	}
	e.ScanID = r.scanID
	profile, scanID, findingID := idsFromURLs(r.k.findingURL, r.k.reportURL)
	if e.ScanID == "" {
		e.ScanID = scanID
		if !r.k.findingID.ok {
			r.k.findingID = findingID
		}
	}
	e.Profile = profileToken(name, subject, top)
	if e.Profile == "" && e.ScanID == scanID {
		e.Profile = profile
	}
	e.FindingID, e.Location = r.k.findingID.value, r.k.location.value

	e.doc, e.Counts = r.k.documented, r.k.counts
	f := flattener{limit: MaxAttributes - reservedAttributes - e.documentedCount()}
	if name != "" {
		prefix := "detectify." + name + "."
		for i, key := range subject.keys {
			if !r.used[i] {
				if err := f.field(prefix+key, subject.values[i], 1); err != nil {
					return err
				}
			}
		}
	}
	e.Extra = f.attrs
	e.InvalidFields = r.k.invalid
	e.DroppedFields = f.dropped
	return nil
}

// currentReader reads the known fields of a current-format message.
type currentReader struct {
	kind   Kind
	k      known
	scanID string
	// used marks the subject's fields that became documented attributes (or
	// were invalid); the others are flattened.
	used []bool
}

// timestamp reads the event's time: zero when it is missing or invalid.
func (r *currentReader) timestamp(v *fastjson.Value) time.Time {
	if v.Type() == fastjson.TypeNull {
		return time.Time{}
	}
	if v.Type() == fastjson.TypeString {
		if t, err := time.Parse(time.RFC3339Nano, string(v.GetStringBytes())); err == nil {
			return t
		}
	}
	r.k.invalid = append(r.k.invalid, "timestamp")
	return time.Time{}
}

// subjectNames are the subject objects named after their event.
var subjectNames = map[Kind]string{KindFinding: "finding", KindScanStarted: "scan", KindScanFinished: "scan", KindAssetChanged: "asset"}

// subjectOf returns the subject object: the top-level object named after
// the event, else the only object-valued top-level key. name is empty when
// there is none; the top level is then read for the domain, ids and counts.
func subjectOf(top objectFields, kind Kind) (name string, subject objectFields) {
	pick := -1
	if want, ok := subjectNames[kind]; ok {
		if i := top.index(want); i >= 0 && top.values[i].Type() == fastjson.TypeObject {
			pick = i
		}
	}
	if pick < 0 {
		for i, v := range top.values {
			if v.Type() != fastjson.TypeObject {
				continue
			}
			if pick >= 0 { // more than one: none is the subject
				pick = -1
				break
			}
			pick = i
		}
	}
	if pick < 0 {
		return "", top
	}
	return top.keys[pick], fieldsOf(top.values[pick].GetObject())
}

// isCurrentTopField reports whether the top level's key is read beside the
// subject (or as the subject's own fields when there is no subject object).
func isCurrentTopField(key string) bool {
	switch key {
	case "event_type", "timestamp", "scan_id", "scan_token", "report_token", "report_url", "finding_url",
		"asset", "domain", "host", "name", "title", "severity", "url", "location", "found_at", "parameter",
		"uuid", "id", "status", "tags", "cvss_score", "cvss", "cvss_scores":
		return true
	}
	_, ok := countCategories[key]
	return ok
}

// readDomain takes the domain from the subject's asset (a host name, or an
// object with a name), else its domain, else its host. An asset event's
// subject is the asset itself: its name comes first.
func (r *currentReader) readDomain(name string, subject objectFields) {
	keys := []string{"asset", "domain", "host"}
	if name == "asset" || r.kind == KindAssetChanged {
		keys = []string{"name", "asset", "domain", "host"}
	}
	for _, key := range keys {
		i := subject.index(key)
		if i < 0 {
			continue
		}
		v := subject.values[i]
		switch {
		case v.Type() == fastjson.TypeString:
			r.k.domain = optional[string]{value: string(v.GetStringBytes()), ok: true}
			r.used[i] = true
			return
		case v.Type() == fastjson.TypeObject && key == "asset":
			// The object is flattened as well: it may carry a token.
			if n := v.Get("name"); isString(n) {
				r.k.domain = optional[string]{value: string(n.GetStringBytes()), ok: true}
				return
			}
		case v.Type() != fastjson.TypeNull:
			r.k.invalid = append(r.k.invalid, pathOf(name)+key)
			r.used[i] = true
		}
	}
}

// readScanID takes the scan's id from an explicit scan_id, a scan subject's
// own id, a scan or report token, in that order; report URLs come last.
func (r *currentReader) readScanID(name string, subject, top objectFields) {
	type source struct {
		fields  objectFields
		key     string
		subject bool
	}
	sources := []source{{subject, "scan_id", true}, {top, "scan_id", false}}
	if name == "scan" {
		sources = append(sources, source{subject, "id", true}, source{subject, "uuid", true}, source{subject, "token", true})
	}
	sources = append(sources, source{subject, "scan_token", true}, source{top, "scan_token", false},
		source{subject, "report_token", true}, source{top, "report_token", false})
	for _, s := range sources {
		i := s.fields.index(s.key)
		if i < 0 || (!s.subject && name == "") {
			continue
		}
		if v := s.fields.values[i]; isString(v) && len(v.GetStringBytes()) > 0 {
			r.scanID = string(v.GetStringBytes())
			if s.subject {
				r.used[i] = true
			}
			return
		}
	}
}

// profileToken is the scan profile's token the message names, beside the
// subject's other fields (which flatten it as well) or at the top level.
func profileToken(name string, subject, top objectFields) string {
	for _, fields := range []objectFields{subject, top} {
		for _, key := range []string{"scan_profile_token", "profile_token"} {
			if v := fields.get(key); isString(v) {
				return string(v.GetStringBytes())
			}
		}
		if name == "" {
			break // the subject is the top level
		}
	}
	return ""
}

// readLinksAndCounts reads the report links and summary counters of one
// object (the subject, or the top level beside it), marking what it reads
// in used when that is the subject's.
func (r *currentReader) readLinksAndCounts(fields objectFields, path string, used []bool) {
	for i, key := range fields.keys {
		v := fields.values[i]
		matched := true
		switch key {
		case "report_url":
			if !r.k.reportURL.ok {
				r.k.decodeString(path+key, v, &r.k.reportURL)
			}
		case "finding_url":
			if !r.k.findingURL.ok {
				r.k.decodeString(path+key, v, &r.k.findingURL)
			}
		default:
			c, ok := countCategories[key]
			if ok {
				r.k.decodeCount(path+key, c, v)
			}
			matched = ok
		}
		if matched && used != nil {
			used[i] = true
		}
	}
}

// readFinding reads a finding subject's documented fields.
func (r *currentReader) readFinding(subject objectFields, path string) {
	str := func(field *optional[string], keys ...string) {
		for _, key := range keys {
			if i := subject.index(key); i >= 0 && subject.values[i].Type() != fastjson.TypeNull {
				r.k.decodeString(path+key, subject.values[i], field)
				r.used[i] = true
				return
			}
		}
	}
	str(&r.k.title, "title")
	str(&r.k.severity, "severity")
	str(&r.k.location, "url", "location", "found_at")
	str(&r.k.parameter, "parameter")
	str(&r.k.findingID, "uuid", "id")
	str(&r.k.status, "status")
	if i := subject.index("tags"); i >= 0 {
		r.k.decodeTags(path+"tags", subject.values[i])
		r.used[i] = true
	}
	for _, key := range []string{"cvss_score", "cvss"} {
		if i := subject.index(key); i >= 0 && subject.values[i].Type() != fastjson.TypeNull {
			r.k.decodeScore(path+key, subject.values[i], &r.k.cvssScore)
			r.used[i] = true
			return
		}
	}
	// Not marked used: the per-version vectors and severities are
	// attributes of their own.
	if v := subject.get("cvss_scores"); v != nil {
		if score, ok := highestVersionScore(v); ok {
			r.k.cvssScore = optional[float64]{value: score, ok: true}
		}
	}
}

// highestVersionScore returns the score of the newest CVSS version in
// cvss_scores: an object keyed by version (`cvss_3_1: {score: …}`) or an
// array of objects with a `version`.
func highestVersionScore(v *fastjson.Value) (float64, bool) {
	var best []int
	var score float64
	found := false
	consider := func(version string, item *fastjson.Value) {
		if item.Type() != fastjson.TypeObject {
			return
		}
		n, ok := finiteNumber(item.Get("score"))
		if !ok {
			return
		}
		if ver := versionNumbers(version); !found || slices.Compare(ver, best) > 0 {
			best, score, found = ver, n, true
		}
	}
	switch v.Type() {
	case fastjson.TypeObject:
		v.GetObject().Visit(func(key []byte, item *fastjson.Value) { consider(string(key), item) })
	case fastjson.TypeArray:
		for _, item := range v.GetArray() {
			version := ""
			if ver := item.Get("version"); ver != nil {
				if ver.Type() == fastjson.TypeString {
					version = string(ver.GetStringBytes())
				} else {
					version = ver.String()
				}
			}
			consider(version, item)
		}
	}
	return score, found
}

// versionNumbers reads the runs of digits of a version name: cvss_3_1 and
// 3.1 are both [3 1].
func versionNumbers(s string) []int {
	var out []int
	for i := 0; i < len(s); {
		if s[i] < '0' || s[i] > '9' {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		n, _ := strconv.Atoi(s[i:min(j, i+9)])
		out = append(out, n)
		i = j
	}
	return out
}

// pathOf names a subject's field in InvalidFields: finding.cvss_score.
func pathOf(subject string) string {
	if subject == "" {
		return ""
	}
	return subject + "."
}
