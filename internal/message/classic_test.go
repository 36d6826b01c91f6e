package message

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/detectify-otel/detectifyreceiver/internal/seed"
)

const (
	seedReportURL  = "https://detectify.com/report/00000000000000000000000000000000/ffffffffffffffffffffffffffffffffffffffff"
	seedFindingURL = seedReportURL + "/00000000-0000-0000-0000-000000000000"
	seedToken      = "00000000000000000000000000000000"
	seedScanID     = "ffffffffffffffffffffffffffffffffffffffff"
	seedFindingID  = "00000000-0000-0000-0000-000000000000"
)

func parse(t *testing.T, body string) Event {
	t.Helper()
	e, err := Parse([]byte(body))
	require.NoError(t, err)
	return e
}

// attr returns the value of the attribute key, and whether it is there.
func attr(e Event, key string) (any, bool) {
	v, ok := attrMap(e)[key]
	return v, ok
}

// attrMap is the record's attributes as plain values (slices as []any).
func attrMap(e Event) map[string]any { return attributesOf(e).AsRaw() }

// attributesOf is what PutAttributes writes for e, in its order.
func attributesOf(e Event) pcommon.Map {
	m := pcommon.NewMap()
	e.PutAttributes(m)
	return m
}

// What a sender that does not copy the page's no-break spaces posts is the
// same event as the page's bytes.
func TestClassicSeedWithoutNoBreakSpaces(t *testing.T) {
	for _, m := range seed.Classic() {
		t.Run(m.Name, func(t *testing.T) {
			want := parse(t, string(m.Body))
			for name, body := range map[string]string{
				"one space":  strings.ReplaceAll(string(m.Body), "\u00a0", " "),
				"two spaces": strings.ReplaceAll(string(m.Body), "\u00a0", "  "),
				"compact":    strings.NewReplacer("\u00a0", "", "\n", "").Replace(string(m.Body)),
			} {
				assert.Equal(t, want, parse(t, body), name)
			}
		})
	}
}

func TestNoBreakSpaceInStringsIsKept(t *testing.T) {
	// Only white space between tokens is made lenient: a U+00A0 inside a
	// string, also after an escaped quote, is part of the value.
	body := "{\u00a0\"title\": \"a\u00a0b \\\"\u00a0c\",\u00a0\"domain\":\"x\\\\\"\u00a0,\"tags\":[\"\u00a0\"]}"
	e := parse(t, body)
	assert.Equal(t, "a\u00a0b \"\u00a0c", e.Title)
	assert.Equal(t, `x\`, e.Domain)
	tags, _ := attr(e, AttrFindingTags)
	assert.Equal(t, []any{"\u00a0"}, tags)
	assert.Empty(t, e.InvalidFields)
}

func TestNotAnObject(t *testing.T) {
	for _, body := range []string{"[]", `"x"`, "1", "null", "true", "false", "", " ", " \t\r\n ", " []", "\n\"{}\"", "\u00a0[]"} {
		t.Run(body, func(t *testing.T) {
			_, err := Parse([]byte(body))
			require.ErrorIs(t, err, ErrNotObject)
		})
	}
}

func TestInvalidJSON(t *testing.T) {
	for _, body := range []string{
		`{`, `{"type":"event_scan_started"`, `{"type":"event_scan_sta`, `{"type":}`, `{"type":"event_scan_started",}`,
		`{} x`, `{}{}`, `{"a":1}]`, `{"type":"event_scan_started"} trailing`, `{'type':'x'}`,
		// What a lenient parser might let through: JSON forbids all of it.
		`{"n":01}`, `{"n":1.}`, `{"n":.5}`, `{"n":+1}`, `{"n":NaN}`, `{"n":inf}`, `{"s":"\q"}`, `{"s":"\u12"}`,
		"{\"s\":\"a\x01b\"}", `{"a":[1,]}`, "{\"a\":1}\x00",
		`{"event_type":"finding","finding":{"title":"x",}}`,
		strings.Repeat(`{"a":`, 400) + "1" + strings.Repeat("}", 400),
	} {
		t.Run(body[:min(len(body), 40)], func(t *testing.T) {
			_, err := Parse([]byte(body))
			require.ErrorIs(t, err, ErrInvalidJSON, "it starts as an object: the error says why it is not valid")
		})
	}
}

func TestClassicWrongTypesAreNotedNotRefused(t *testing.T) {
	tests := []struct {
		field, value string
		attribute    string // the attribute the field would have made
	}{
		{"cvss_score", `"6.2"`, AttrFindingCVSS},
		{"cvss_score", `{}`, AttrFindingCVSS},
		{"cvss_score", `1e400`, AttrFindingCVSS},
		{"tags", `"new"`, AttrFindingTags},
		{"tags", `["new", 1]`, AttrFindingTags},
		{"tags", `[[]]`, AttrFindingTags},
		{"critical_findings", `1.5`, "detectify.scan.findings.critical"},
		{"critical_findings", `-1`, "detectify.scan.findings.critical"},
		{"critical_findings", `9223372036854775808`, "detectify.scan.findings.critical"},
		{"medium_findings", `-3`, "detectify.scan.findings.medium"},
		{"notice_findings", `"4"`, "detectify.scan.findings.notice"},
		{"notice_findings", `true`, "detectify.scan.findings.notice"},
		{"high_level_findings", `"2"`, "detectify.scan.findings.high"},
		{"domain", `42`, AttrDomain},
		{"type", `7`, AttrEventType},
		{"report_url", `{"a":1}`, AttrReportURL},
		{"finding_url", `false`, AttrFindingURL},
		{"title", `["t"]`, AttrFindingTitle},
		{"severity", `3`, AttrFindingSeverity},
	}
	for _, tt := range tests {
		t.Run(tt.field+"="+tt.value, func(t *testing.T) {
			// One valid field besides the broken one: it must still be read.
			other, otherKey := "title", AttrFindingTitle
			if tt.field == "title" {
				other, otherKey = "domain", AttrDomain
			}
			e := parse(t, `{"`+other+`":"kept","`+tt.field+`":`+tt.value+`}`)
			_, present := attr(e, tt.attribute)
			assert.False(t, present, "%s must be left out", tt.attribute)
			assert.Equal(t, []string{tt.field}, e.InvalidFields)
			kept, _ := attr(e, otherKey)
			assert.Equal(t, "kept", kept)
		})
	}
}

func TestClassicSeveralInvalidFields(t *testing.T) {
	e := parse(t, `{"domain":1,"type":"event_finding_low","cvss_score":"x","notice_findings":-1,"tags":[1]}`)
	assert.ElementsMatch(t, []string{"domain", "cvss_score", "notice_findings", "tags"}, e.InvalidFields)
	assert.Equal(t, KindFinding, e.Kind)
	assert.Equal(t, "low", e.Level)
}

func TestDuplicateKeys(t *testing.T) {
	// JSON parsers disagree on which copy of a key wins, so a key the
	// receiver reads, sent twice, is refused rather than read one way here
	// and another way by whoever reads the body later.
	for _, body := range []string{
		`{"type":"event_scan_started","type":"event_finding_high"}`,
		`{"severity":"low","domain":"a","severity":"critical"}`,
		`{"tags":["a"],"tags":null}`,
		`{"critical_findings":1,"critical_findings":2}`,
		`{"type":"event_scan_started","t\u0079pe":"event_finding_high"}`, // the same name, escaped
		`{"event_type":"finding","event_type":"scan_completed"}`,
		`{"event_type":"finding","finding":{"severity":"low","severity":"critical"}}`,
		`{"event_type":"finding","finding":{"title":"a"},"finding":{"title":"b"}}`,
		`{"event_type":"finding","finding":{"cvss_scores":{"v3":{"score":1,"score":9}}}}`,
		`{"event_type":"finding","finding":{"x":1,"x":2}}`,
		// No subject object: the top level's finding fields are read.
		`{"event_type":"finding","found_at":"https://a/","found_at":"https://b/"}`,
		`{"event_type":"finding","id":"a","id":"b"}`,
	} {
		t.Run(body, func(t *testing.T) {
			_, err := Parse([]byte(body))
			require.ErrorIs(t, err, ErrDuplicateKey)
		})
	}
	for _, body := range []string{
		`{"x":1,"type":"event_scan_started","x":2}`,
		`{"event_type":"finding","x":1,"x":2,"finding":{"title":"t"}}`,
	} {
		e := parse(t, body)
		assert.NotEmpty(t, e.Type, "a key the receiver does not read may repeat: %s", body)
	}
}

func TestClassicNullFieldsAreNotSent(t *testing.T) {
	var fields []string
	for _, f := range []string{"type", "domain", "report_url", "finding_url", "title", "severity", "cvss_score", "tags",
		"critical_findings", "medium_findings", "notice_findings"} {
		fields = append(fields, `"`+f+`": null`)
	}
	e := parse(t, "{"+strings.Join(fields, ",")+"}")
	assert.Empty(t, e.InvalidFields, "null means not sent, not invalid")
	assert.Empty(t, attrMap(e))
	assert.Equal(t, Event{}, e)
}

func TestClassicEdgeValues(t *testing.T) {
	tests := []struct {
		name string
		body string
		want map[string]any
	}{
		{name: "empty object", body: `{}`, want: map[string]any{}},
		{name: "leading white space", body: " \t\r\n{\"type\":\"x\"}\n", want: map[string]any{AttrEventType: "x"}},
		{name: "string values are kept as sent", body: `{"domain":" My.Domain ","title":"\tt\n"}`,
			want: map[string]any{AttrDomain: " My.Domain ", AttrFindingTitle: "\tt\n"}},
		{name: "the level is lower-cased and trimmed", body: `{"severity":" High "}`, want: map[string]any{AttrFindingSeverity: "high"}},
		{name: "empty strings are sent values", body: `{"type":"","domain":""}`, want: map[string]any{AttrEventType: "", AttrDomain: ""}},
		{name: "zero counts", body: `{"critical_findings":0,"medium_findings":0,"notice_findings":0}`,
			want: map[string]any{"detectify.scan.findings.critical": int64(0), "detectify.scan.findings.medium": int64(0), "detectify.scan.findings.notice": int64(0)}},
		{name: "integer cvss", body: `{"cvss_score":10}`, want: map[string]any{AttrFindingCVSS: 10.0}},
		{name: "empty tags", body: `{"tags":[]}`, want: map[string]any{AttrFindingTags: []any{}}},
		{name: "tag objects", body: `{"tags":[{"name":"a"},"b"]}`, want: map[string]any{AttrFindingTags: []any{"a", "b"}}},
		{name: "tags with white space", body: `{"tags":[ "a" ,` + "\n" + `"b" ]}`, want: map[string]any{AttrFindingTags: []any{"a", "b"}}},
		{name: "tags with escapes", body: `{"tags":["a\"b","c\u0021"]}`, want: map[string]any{AttrFindingTags: []any{`a"b`, "c!"}}},
		{name: "a cvss with an exponent", body: `{"cvss_score":74E-1}`, want: map[string]any{AttrFindingCVSS: 7.4}},
		{name: "a negative zero cvss", body: `{"cvss_score":-0}`, want: map[string]any{AttrFindingCVSS: 0.0}},
		{name: "unicode escapes", body: `{"title":"caf\u00e9 \ud83d\ude00"}`, want: map[string]any{AttrFindingTitle: "café 😀"}},
		{name: "escaped names are the names they spell", body: `{"t\u0079pe":"event_scan_started","\u0064omain":"a\/b"}`,
			want: map[string]any{AttrEventType: "event_scan_started", AttrScanState: "started", AttrDomain: "a/b"}},
		{name: "an escaped event_type is the current format", body: `{"event\u005ftype":"scan_started","type":"x","scan":{"id":"s"}}`,
			want: map[string]any{AttrEventType: "scan_started", AttrScanState: "started", AttrScanID: "s"}},
		{name: "unknown fields are left in the body", body: `{"extra":{"nested":[1,"two",null]},"type":"event_scan_started","version":2,"x":null}`,
			want: map[string]any{AttrEventType: "event_scan_started", AttrScanState: "started"}},
		{name: "the current format's counters too", body: `{"type":"event_scan_finished","high_level_findings":2,"information_findings":7}`,
			want: map[string]any{AttrEventType: "event_scan_finished", AttrScanState: "finished",
				"detectify.scan.findings.high": int64(2), "detectify.scan.findings.information": int64(7)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := parse(t, tt.body)
			assert.Equal(t, tt.want, attrMap(e))
			assert.Empty(t, e.InvalidFields)
		})
	}
}

func TestClassicKinds(t *testing.T) {
	tests := []struct {
		body      string
		kind      Kind
		level     string
		scanState string
	}{
		{`{"type":"event_finding_high"}`, KindFinding, "high", ""},
		{`{"type":"event_finding_medium"}`, KindFinding, "medium", ""},
		{`{"type":"EVENT_FINDING_Critical"}`, KindFinding, "critical", ""},
		{`{"type":"event_finding_low","severity":"information"}`, KindFinding, "information", ""},
		{`{"type":"event_finding_"}`, KindOther, "", ""},
		{`{"type":"event_scan_started"}`, KindScanStarted, "", "started"},
		{`{"type":"event_scan_finished"}`, KindScanFinished, "", "finished"},
		{`{"type":"event_scan_stopped"}`, KindOther, "", "stopped"},
		{`{"type":"something_else","severity":"high"}`, KindOther, "high", ""},
		{`{}`, KindOther, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			e := parse(t, tt.body)
			assert.Equal(t, FormatClassic, e.Format)
			assert.Equal(t, tt.kind, e.Kind)
			assert.Equal(t, tt.level, e.Level)
			assert.Equal(t, tt.scanState, e.ScanState)
		})
	}
}

func TestReportIDs(t *testing.T) {
	tests := []struct {
		name, url, wantScan, wantFinding string
		wantOK                           bool
	}{
		{name: "seed report_url", url: seedReportURL, wantScan: seedScanID, wantOK: true},
		{name: "seed finding_url", url: seedFindingURL, wantScan: seedScanID, wantFinding: seedFindingID, wantOK: true},
		{name: "report_url trailing slash", url: seedReportURL + "/", wantScan: seedScanID, wantOK: true},
		{name: "finding_url trailing slash", url: seedFindingURL + "/", wantScan: seedScanID, wantFinding: seedFindingID, wantOK: true},
		{name: "query string", url: seedReportURL + "?utm_source=webhook&x=/a/b", wantScan: seedScanID, wantOK: true},
		{name: "finding with query and fragment", url: seedFindingURL + "?a=1#top", wantScan: seedScanID, wantFinding: seedFindingID, wantOK: true},
		{name: "distinct ids", url: "https://detectify.com/report/tok/scan1/find2", wantScan: "scan1", wantFinding: "find2", wantOK: true},
		{name: "unreserved punctuation", url: "https://detectify.com/report/tok/s-1._~/F~2.x_y-z", wantScan: "s-1._~", wantFinding: "F~2.x_y-z", wantOK: true},
		{name: "fragment before a question mark", url: seedFindingURL + "#top?a=/b", wantScan: seedScanID, wantFinding: seedFindingID, wantOK: true},
		{name: "reserved character in an id", url: "https://detectify.com/report/tok/scan1/find+2"},
		{name: "non-ASCII id", url: "https://detectify.com/report/tok/scän/f"},
		{name: "token only", url: "https://detectify.com/report/" + seedToken},
		{name: "token only, trailing slash", url: "https://detectify.com/report/" + seedToken + "/"},
		{name: "report prefix only", url: "https://detectify.com/report/"},
		{name: "report without slash", url: "https://detectify.com/report"},
		{name: "too many segments", url: seedFindingURL + "/extra"},
		{name: "many slashes", url: "https://detectify.com/report/" + strings.Repeat("a/", 10000)},
		{name: "empty token", url: "https://detectify.com/report//" + seedScanID},
		{name: "empty scan", url: "https://detectify.com/report/" + seedToken + "//" + seedFindingID},
		{name: "two trailing slashes", url: seedReportURL + "//"},
		{name: "non-report path", url: "https://detectify.com/reports/" + seedToken + "/" + seedScanID},
		{name: "report not first", url: "https://detectify.com/x/report/" + seedToken + "/" + seedScanID},
		{name: "root", url: "https://detectify.com/"},
		{name: "empty", url: ""},
		{name: "garbage", url: "not a url at all"},
		{name: "bad escape", url: "https://detectify.com/report/%zz/" + seedScanID},
		{name: "missing scheme", url: "://detectify.com/report/a/b"},
		{name: "control character", url: "https://detectify.com/report/a/b\x7f\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			profile, scan, finding, ok := reportIDs(tt.url)
			assert.Equal(t, tt.wantOK, ok)
			if tt.wantOK && !strings.HasPrefix(tt.url, "https://detectify.com/report/tok/") {
				assert.Equal(t, seedToken, profile)
			}
			assert.Equal(t, tt.wantScan, scan)
			assert.Equal(t, tt.wantFinding, finding)
		})
	}
}

// The classic reader marks the fields it has read in a 32-bit mask.
func TestClassicFieldsFitTheSeenMask(t *testing.T) {
	assert.LessOrEqual(t, len(classicFields), 32)
	assert.Len(t, classicFields, 8+len(countCategories))
}
