package message

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCurrentKinds(t *testing.T) {
	tests := []struct {
		eventType string
		kind      Kind
		scanState string
	}{
		{"finding", KindFinding, ""},
		{"new_finding", KindFinding, ""},
		{"finding.created", KindFinding, ""},
		{"FindingCreated", KindFinding, ""},
		{"vulnerability", KindFinding, ""},
		{"scan_started", KindScanStarted, "started"},
		{"scan.start", KindScanStarted, "started"},
		{"ScanStarted", KindScanStarted, "started"},
		{"scan_completed", KindScanFinished, "finished"},
		{"scan_finished", KindScanFinished, "finished"},
		{"scan.completed", KindScanFinished, "finished"},
		{"scan-complete", KindScanFinished, "finished"},
		{"ScanCompleted", KindScanFinished, "finished"},
		{"SCAN_DONE", KindScanFinished, "finished"},
		{"completed_scan", KindScanFinished, "finished"},
		{"scan_failed", KindOther, "failed"},
		{"scan.queued.again", KindOther, "queued_again"},
		{"asset_added", KindAssetChanged, ""},
		{"asset.removed", KindAssetChanged, ""},
		{"AssetUpdated", KindAssetChanged, ""},
		{"asset", KindAssetChanged, ""},
		{"test", KindOther, ""},
		{"", KindOther, ""},
		{"___", KindOther, ""},
	}
	for _, tt := range tests {
		t.Run(tt.eventType, func(t *testing.T) {
			e := parse(t, `{"event_type":"`+tt.eventType+`"}`)
			assert.Equal(t, FormatCurrent, e.Format)
			assert.Equal(t, tt.kind, e.Kind)
			assert.Equal(t, tt.scanState, e.ScanState)
			eventType, _ := attr(e, AttrEventType)
			assert.Equal(t, tt.eventType, eventType, "detectify.event.type carries event_type as sent")
		})
	}
}

func TestFormatIsChosenPerMessageByItsKeys(t *testing.T) {
	tests := []struct {
		body   string
		format Format
	}{
		{`{"type":"event_finding_high"}`, FormatClassic},
		{`{"event_type":"finding"}`, FormatCurrent},
		{`{"event_type":"finding","type":"event_scan_started"}`, FormatCurrent},
		{`{"finding":{"title":"t"}}`, FormatCurrent},
		{`{"scan":{"id":"s"}}`, FormatCurrent},
		{`{"asset":{"name":"a"}}`, FormatCurrent},
		{`{"asset":"a"}`, FormatClassic},
		{`{"domain":"a"}`, FormatClassic},
		{`{}`, FormatClassic},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			assert.Equal(t, tt.format, parse(t, tt.body).Format)
		})
	}
}

func TestCurrentSubject(t *testing.T) {
	tests := []struct {
		name, body string
		want       map[string]any
	}{
		{
			name: "the object named after the event",
			body: `{"event_type":"finding","finding":{"title":"t","x":1},"other":{"y":2}}`,
			want: map[string]any{AttrEventType: "finding", AttrFindingTitle: "t", "detectify.finding.x": int64(1)},
		},
		{
			name: "else the only object",
			body: `{"event_type":"finding","data":{"title":"t","x":1}}`,
			want: map[string]any{AttrEventType: "finding", AttrFindingTitle: "t", "detectify.data.x": int64(1)},
		},
		{
			name: "two objects and none named after the event: the top level is read, nothing flattened",
			body: `{"event_type":"finding","title":"t","a":{"x":1},"b":{"y":2}}`,
			want: map[string]any{AttrEventType: "finding", AttrFindingTitle: "t"},
		},
		{
			name: "a flat message",
			body: `{"event_type":"scan_completed","domain":"d","scan_id":"s","critical_level_findings":2}`,
			want: map[string]any{AttrEventType: "scan_completed", AttrDomain: "d", AttrScanID: "s", AttrScanState: "finished",
				"detectify.scan.findings.critical": int64(2)},
		},
		{
			name: "counters beside the subject",
			body: `{"event_type":"scan_completed","high_level_findings":3,"scan":{"id":"s","asset":"d","low_level_findings":1}}`,
			want: map[string]any{AttrEventType: "scan_completed", AttrDomain: "d", AttrScanID: "s", AttrScanState: "finished",
				"detectify.scan.findings.high": int64(3), "detectify.scan.findings.low": int64(1)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := parse(t, tt.body)
			assert.Equal(t, tt.want, attrMap(e))
			assert.Empty(t, e.InvalidFields)
		})
	}
}

func TestCurrentDomain(t *testing.T) {
	tests := []struct {
		name, body, want string
		invalid          []string
	}{
		{"asset string", `{"event_type":"finding","finding":{"asset":"a.com","domain":"d.com","host":"h.com"}}`, "a.com", nil},
		{"asset object", `{"event_type":"finding","finding":{"asset":{"name":"a.com","token":"t"},"domain":"d.com"}}`, "a.com", nil},
		{"asset object without a name", `{"event_type":"finding","finding":{"asset":{"token":"t"},"domain":"d.com"}}`, "d.com", nil},
		{"domain", `{"event_type":"finding","finding":{"domain":"d.com","host":"h.com"}}`, "d.com", nil},
		{"host", `{"event_type":"finding","finding":{"host":"h.com"}}`, "h.com", nil},
		{"null asset", `{"event_type":"finding","finding":{"asset":null,"host":"h.com"}}`, "h.com", nil},
		{"asset of the wrong type", `{"event_type":"finding","finding":{"asset":7,"host":"h.com"}}`, "h.com", []string{"finding.asset"}},
		{"asset event: its name", `{"event_type":"asset_added","asset":{"name":"n.com","asset":"a.com","domain":"d.com"}}`, "n.com", nil},
		{"asset event: else asset", `{"event_type":"asset_added","asset":{"asset":"a.com","domain":"d.com"}}`, "a.com", nil},
		{"asset event, its subject under another key", `{"event_type":"asset.updated","resource":{"name":"a.com","domain":"d.com"}}`, "a.com", nil},
		{"an asset subject of another event", `{"event_type":"other","asset":{"name":"a.com","domain":"d.com"}}`, "a.com", nil},
		{"scan event", `{"event_type":"scan_completed","scan":{"asset":"a.com"}}`, "a.com", nil},
		{"none", `{"event_type":"finding","finding":{"title":"t"}}`, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := parse(t, tt.body)
			assert.Equal(t, tt.want, e.Domain)
			domain, ok := attr(e, AttrDomain)
			assert.Equal(t, tt.want != "", ok)
			if ok {
				assert.Equal(t, tt.want, domain)
			}
			assert.Equal(t, tt.invalid, e.InvalidFields)
		})
	}
}

func TestCurrentFindingFields(t *testing.T) {
	tests := []struct {
		name, finding string
		want          map[string]any
		invalid       []string
	}{
		{"url is the location, not the report link", `"url":"https://a/x","finding_url":"https://detectify.com/report/t/s/f"`,
			map[string]any{AttrFindingLocation: "https://a/x", AttrFindingURL: "https://detectify.com/report/t/s/f",
				AttrScanID: "s", AttrFindingID: "f"}, nil},
		{"location, then found_at", `"location":"l","found_at":"f"`,
			map[string]any{AttrFindingLocation: "l", "detectify.finding.found_at": "f"}, nil},
		{"found_at", `"found_at":"f"`, map[string]any{AttrFindingLocation: "f"}, nil},
		{"uuid before id", `"uuid":"u","id":"i"`, map[string]any{AttrFindingID: "u", "detectify.finding.id_": nil}, nil},
		{"id", `"id":"i"`, map[string]any{AttrFindingID: "i"}, nil},
		{"status and parameter", `"status":"accepted_risk","parameter":"q"`,
			map[string]any{AttrFindingStatus: "accepted_risk", AttrFindingParam: "q"}, nil},
		{"severity lower-cased", `"severity":"Critical"`, map[string]any{AttrFindingSeverity: "critical"}, nil},
		{"cvss_score", `"cvss_score":9.8,"cvss":1`, map[string]any{AttrFindingCVSS: 9.8, "detectify.finding.cvss": int64(1)}, nil},
		{"cvss", `"cvss":7`, map[string]any{AttrFindingCVSS: 7.0}, nil},
		{"cvss as a string is invalid", `"cvss":"7"`, map[string]any{}, []string{"finding.cvss"}},
		{"highest CVSS version", `"cvss_scores":{"cvss_3_1":{"score":6.1},"cvss_4_0":{"score":5.3},"cvss_2_0":{"score":4.3}}`,
			map[string]any{AttrFindingCVSS: 5.3, "detectify.finding.cvss_scores.cvss_3_1.score": 6.1,
				"detectify.finding.cvss_scores.cvss_4_0.score": 5.3, "detectify.finding.cvss_scores.cvss_2_0.score": 4.3}, nil},
		{"CVSS versions as an array", `"cvss_scores":[{"version":"3.1","score":6.1},{"version":"3.0","score":7}]`,
			map[string]any{AttrFindingCVSS: 6.1}, nil},
		{"a CVSS version without a score is skipped", `"cvss_scores":[{"version":"4.0","vector":"CVSS:4.0/AV:N"},{"version":"3.1","score":6.1}]`,
			map[string]any{AttrFindingCVSS: 6.1}, nil},
		{"numeric cvss wins over cvss_scores", `"cvss":2,"cvss_scores":{"v3":{"score":6.1}}`,
			map[string]any{AttrFindingCVSS: 2.0, "detectify.finding.cvss_scores.v3.score": 6.1}, nil},
		{"tag objects", `"tags":[{"name":"xss"},{"name":"new"}]`, map[string]any{AttrFindingTags: []any{"xss", "new"}}, nil},
		{"tags of the wrong type", `"tags":[{"id":1}]`, map[string]any{}, []string{"finding.tags"}},
		{"title of the wrong type", `"title":{"en":"t"}`, map[string]any{}, []string{"finding.title"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := parse(t, `{"event_type":"finding","finding":{`+tt.finding+`}}`)
			got := attrMap(e)
			delete(got, AttrEventType)
			for k, v := range tt.want {
				if v == nil { // a key that must not be there
					delete(tt.want, k)
				}
			}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.invalid, e.InvalidFields)
		})
	}
}

func TestCurrentScanID(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"scan_id in the subject", `{"event_type":"finding","finding":{"scan_id":"s1","report_token":"r"}}`, "s1"},
		{"scan_id beside the subject", `{"event_type":"finding","scan_id":"s2","finding":{"report_token":"r"}}`, "s2"},
		{"a scan subject's id", `{"event_type":"scan_completed","scan":{"id":"s3","report_token":"r"}}`, "s3"},
		{"a finding's id is not the scan's", `{"event_type":"finding","finding":{"id":"f","report_token":"r"}}`, "r"},
		{"scan token", `{"event_type":"finding","finding":{"scan_token":"t"}}`, "t"},
		{"report token beside the subject", `{"event_type":"scan_completed","report_token":"r","scan":{"asset":"a"}}`, "r"},
		{"report URL", `{"event_type":"scan_completed","scan":{"report_url":"https://detectify.com/report/tok/s4"}}`, "s4"},
		{"empty ids are skipped", `{"event_type":"finding","finding":{"scan_id":"","report_token":"r"}}`, "r"},
		{"none", `{"event_type":"finding","finding":{"title":"t"}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := parse(t, tt.body)
			assert.Equal(t, tt.want, e.ScanID)
		})
	}
}

func TestCurrentTimestamp(t *testing.T) {
	tests := []struct {
		value   string
		want    time.Time
		invalid bool
	}{
		{`"2025-01-15T14:30:00Z"`, time.Date(2025, 1, 15, 14, 30, 0, 0, time.UTC), false},
		{`"2025-01-15T16:30:00.5+02:00"`, time.Date(2025, 1, 15, 14, 30, 0, 5e8, time.UTC), false},
		{`"2025-01-15 14:30:00"`, time.Time{}, true},
		{`"yesterday"`, time.Time{}, true},
		{`1736951400`, time.Time{}, true},
		{`null`, time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			e := parse(t, `{"event_type":"finding","timestamp":`+tt.value+`}`)
			assert.True(t, tt.want.Equal(e.Timestamp), "got %v", e.Timestamp)
			if tt.invalid {
				assert.Equal(t, []string{"timestamp"}, e.InvalidFields)
			} else {
				assert.Empty(t, e.InvalidFields)
			}
		})
	}
}

func TestCurrentFlattening(t *testing.T) {
	tests := []struct {
		name, subject string
		want          map[string]any
		dropped       int
	}{
		{"scalars keep their type", `"s":"x","i":3,"f":1.5,"b":false,"n":null,"big":1e300`,
			map[string]any{"detectify.finding.s": "x", "detectify.finding.i": int64(3), "detectify.finding.f": 1.5,
				"detectify.finding.b": false, "detectify.finding.big": 1e300}, 0},
		{"arrays of scalars become slices", `"refs":["a",1,true]`, map[string]any{"detectify.finding.refs": []any{"a", int64(1), true}}, 0},
		{"arrays of objects are dropped", `"links":[{"href":"x"}]`, map[string]any{}, 1},
		{"objects to depth 3", `"a":{"b":{"c":"deep enough","d":{"e":"too deep"}}}`,
			map[string]any{"detectify.finding.a.b.c": "deep enough"}, 1},
		{"a key as sent", `"Weird Key.x":"v"`, map[string]any{"detectify.finding.Weird Key.x": "v"}, 0},
		{"a key flattened onto an earlier one is dropped", `"a.b":1,"a":{"b":2}`, map[string]any{"detectify.finding.a.b": int64(1)}, 1},
		{"a field onto a documented key is dropped", `"url":"u","location":"l"`, map[string]any{AttrFindingLocation: "u"}, 1},
		{"numbers beyond float64 are dropped", `"x":1e400`, map[string]any{}, 1},
		{"long strings are dropped", `"x":"` + strings.Repeat("y", maxValueBytes+1) + `"`, map[string]any{}, 1},
		{"long keys are dropped", `"` + strings.Repeat("k", maxKeyBytes) + `":1`, map[string]any{}, 1},
		{"long arrays are dropped", `"x":[` + strings.TrimSuffix(strings.Repeat("1,", maxSliceItems+1), ",") + `]`, map[string]any{}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := parse(t, `{"event_type":"other","finding":{`+tt.subject+`}}`)
			got := attrMap(e)
			delete(got, AttrEventType)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.dropped, e.DroppedFields)
		})
	}
}

// A signed but hostile body cannot make more than MaxAttributes attributes:
// the documented ones are kept first, the rest stay in the body, counted.
func TestCurrentAttributeBound(t *testing.T) {
	var fields []string
	for i := range 10_000 {
		fields = append(fields, fmt.Sprintf(`"f%05d":%d`, i, i))
	}
	body := `{"event_type":"finding","finding":{"title":"t","severity":"high","asset":"a.com",` + strings.Join(fields, ",") + `}}`
	e := parse(t, body)
	limit := MaxAttributes - reservedAttributes
	attrs := attributesOf(e)
	require.Equal(t, limit, attrs.Len())
	got := attrs.AsRaw()
	for _, key := range []string{AttrEventType, AttrDomain, AttrFindingTitle, AttrFindingSeverity} {
		assert.Contains(t, got, key)
	}
	assert.Equal(t, 10_000-(limit-4), e.DroppedFields)
	var keys []string
	for key := range attrs.All() {
		keys = append(keys, key)
	}
	assert.Equal(t, "detectify.finding.f00000", keys[4], "the body's order is kept")
}

func TestCurrentWideNesting(t *testing.T) {
	// Many objects side by side, each within the depth: bounded by the
	// attribute count, not by the body.
	var objects []string
	for i := range 2000 {
		objects = append(objects, fmt.Sprintf(`"o%d":{"a":{"b":%d}}`, i, i))
	}
	e := parse(t, `{"event_type":"finding","finding":{`+strings.Join(objects, ",")+`}}`)
	assert.Equal(t, MaxAttributes-reservedAttributes, attributesOf(e).Len())
	assert.Equal(t, 2000+1-(MaxAttributes-reservedAttributes), e.DroppedFields)
}

func TestReportedFindings(t *testing.T) {
	tests := []struct {
		body string
		want int64
		ok   bool
	}{
		// The classic summary counts high findings as critical.
		{`{"type":"event_scan_finished","critical_findings":1,"medium_findings":2,"notice_findings":4}`, 3, true},
		{`{"type":"event_scan_finished","notice_findings":4}`, 0, false},
		{`{"event_type":"scan_completed","scan":{"critical_level_findings":1,"high_level_findings":2,"medium_level_findings":3,"low_level_findings":4,"information_findings":5}}`, 6, true},
		{`{"event_type":"scan_completed","scan":{"high_level_findings":2}}`, 2, true},
		{`{"event_type":"scan_completed","scan":{"low_level_findings":4}}`, 0, false},
	}
	for _, tt := range tests {
		e := parse(t, tt.body)
		n, ok := e.ReportedFindings()
		assert.Equal(t, tt.want, n, tt.body)
		assert.Equal(t, tt.ok, ok, tt.body)
	}
}

func TestScanInsightKeysCannotBeSent(t *testing.T) {
	e := parse(t, `{"event_type":"scan_completed","scan":{"id":"s","findings":{"delivered":3,"undelivered":0},"partial":false,"duration":1}}`)
	got := attrMap(e)
	for _, key := range []string{AttrScanDelivered, AttrScanUndelivered, AttrScanPartial, AttrScanDuration} {
		assert.NotContains(t, got, key, "the receiver sets %s from what it saw", key)
	}
	assert.Equal(t, 4, e.DroppedFields)
}

// The receiver says where a finding came from and how a backfill ended: a
// subject's own fields of those names stay in the body, counted as dropped,
// instead of being overwritten on the record.
func TestReceiverSetKeysCannotBeSent(t *testing.T) {
	e := parse(t, `{"event_type":"finding","finding":{"title":"t","source":"scanner"}}`)
	assert.NotContains(t, attrMap(e), AttrFindingSource)
	assert.Equal(t, 1, e.DroppedFields)
	e = parse(t, `{"event_type":"scan_completed","scan":{"id":"s","backfill":{"outcome":"x"}}}`)
	assert.NotContains(t, attrMap(e), AttrScanBackfillOutcome)
	assert.Equal(t, 1, e.DroppedFields)
}
