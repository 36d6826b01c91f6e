package detectifyreceiver

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The seed's three example messages, byte for byte as the documentation
// page has them: each line is indented with one U+00A0 (no-break space),
// written \u00a0 here so it is visible, and the first message's closing
// brace is followed by one more.
const (
	seedScanStarted = "{\n" +
		"\u00a0\"type\": \"event_scan_started\",\n" +
		"\u00a0\"domain\": \"my.domain\",\n" +
		"\u00a0\"report_url\": \"https://detectify.com/report/00000000000000000000000000000000/ffffffffffffffffffffffffffffffffffffffff\"\n" +
		"}\u00a0"
	seedScanFinished = "{\n" +
		"\u00a0\"type\": \"event_scan_finished\",\n" +
		"\u00a0\"domain\": \"my.domain\",\n" +
		"\u00a0\"report_url\": \"https://detectify.com/report/00000000000000000000000000000000/ffffffffffffffffffffffffffffffffffffffff\",\n" +
		"\u00a0\"critical_findings\": 1,\n" +
		"\u00a0\"medium_findings\": 2,\n" +
		"\u00a0\"notice_findings\": 4\n" +
		"}"
	seedFindingHigh = "{\n" +
		"\u00a0\"type\": \"event_finding_high\",\n" +
		"\u00a0\"domain\": \"my.domain\",\n" +
		"\u00a0\"cvss_score\": 6.2,\n" +
		"\u00a0\"severity\": \"high\",\n" +
		"\u00a0\"title\": \"Login Cross Site Request Forgery (CSRF/XSRF)\",\n" +
		"\u00a0\"finding_url\": \"https://detectify.com/report/00000000000000000000000000000000/ffffffffffffffffffffffffffffffffffffffff/00000000-0000-0000-0000-000000000000\",\n" +
		"\u00a0\"tags\": [ \"new\" ]\n" +
		"}"

	seedReportURL  = "https://detectify.com/report/00000000000000000000000000000000/ffffffffffffffffffffffffffffffffffffffff"
	seedFindingURL = "https://detectify.com/report/00000000000000000000000000000000/ffffffffffffffffffffffffffffffffffffffff/00000000-0000-0000-0000-000000000000"
	seedToken      = "00000000000000000000000000000000"
	seedScanID     = "ffffffffffffffffffffffffffffffffffffffff"
	seedFindingID  = "00000000-0000-0000-0000-000000000000"
)

func some[T any](v T) optional[T] { return optional[T]{value: v, ok: true} }

var (
	seedScanStartedWebhook = webhook{
		eventType: some("event_scan_started"),
		domain:    some("my.domain"),
		reportURL: some(seedReportURL),
	}
	seedScanFinishedWebhook = webhook{
		eventType: some("event_scan_finished"),
		domain:    some("my.domain"),
		reportURL: some(seedReportURL),
		critical:  some[int64](1),
		medium:    some[int64](2),
		notice:    some[int64](4),
	}
	seedFindingHighWebhook = webhook{
		eventType:  some("event_finding_high"),
		domain:     some("my.domain"),
		cvssScore:  some(6.2),
		severity:   some("high"),
		title:      some("Login Cross Site Request Forgery (CSRF/XSRF)"),
		findingURL: some(seedFindingURL),
		tags:       some([]string{"new"}),
	}
)

func TestParseWebhookSeedExamples(t *testing.T) {
	tests := []struct {
		name string
		body string
		want webhook
	}{
		{name: "scan started", body: seedScanStarted, want: seedScanStartedWebhook},
		{name: "scan finished", body: seedScanFinished, want: seedScanFinishedWebhook},
		{name: "finding high", body: seedFindingHigh, want: seedFindingHighWebhook},
		// What a sender that does not copy the page's no-break spaces posts.
		{name: "scan started, ASCII", body: strings.ReplaceAll(seedScanStarted, "\u00a0", " "), want: seedScanStartedWebhook},
		{name: "scan finished, ASCII", body: strings.ReplaceAll(seedScanFinished, "\u00a0", "  "), want: seedScanFinishedWebhook},
		{name: "finding high, compact", body: strings.NewReplacer("\u00a0", "", "\n", "").Replace(seedFindingHigh), want: seedFindingHighWebhook},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseText(tt.body)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// parseText parses a body given as text, as the handler does.
func parseText(body string) (webhook, error) { return parseWebhook([]byte(body), body) }

func TestParseWebhookSlicesStringsFromTheBodyText(t *testing.T) {
	text := strings.ReplaceAll(seedFindingHigh, "\u00a0", " ") + "\n"
	text = strings.Replace(text, `"title": "`, `"title": "\u00e9 `, 1) // an escape cannot be sliced
	got, err := parseWebhook([]byte(text), text)
	require.NoError(t, err)

	for name, s := range map[string]string{
		"type": got.eventType.value, "domain": got.domain.value, "severity": got.severity.value,
		"finding_url": got.findingURL.value, "tags[0]": got.tags.value[0],
	} {
		assert.True(t, isSliceOf(s, text), "%s = %q must be a slice of the body's text, not a copy", name, s)
	}
	assert.Equal(t, "é Login Cross Site Request Forgery (CSRF/XSRF)", got.title.value)
	assert.False(t, isSliceOf(got.title.value, text), "an escaped string is decoded into a copy")
}

// isSliceOf reports whether s's bytes lie inside text's memory.
func isSliceOf(s, text string) bool {
	start := uintptr(unsafe.Pointer(unsafe.StringData(text)))
	p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	return p >= start && p+uintptr(len(s)) <= start+uintptr(len(text))
}

func TestParseWebhookValueLikeARewrittenNoBreakSpace(t *testing.T) {
	// The parse reads U+00A0 between tokens as two spaces; a value of two
	// spaces must not be sliced from where the text still has U+00A0.
	got, err := parseText("{\"cvss_score\":1,\u00a0\"title\":\"  \"}")
	require.NoError(t, err)
	assert.Equal(t, "  ", got.title.value)
}

func TestParseWebhookNoBreakSpaceInStrings(t *testing.T) {
	// Only white space between tokens is made lenient: a U+00A0 inside a
	// string, also after an escaped quote, is part of the value.
	body := "{\u00a0\"title\": \"a\u00a0b \\\"\u00a0c\",\u00a0\"domain\":\"x\\\\\"\u00a0,\"tags\":[\"\u00a0\"]}"
	got, err := parseText(body)
	require.NoError(t, err)
	assert.Equal(t, some("a\u00a0b \"\u00a0c"), got.title)
	assert.Equal(t, some(`x\`), got.domain)
	assert.Equal(t, some([]string{"\u00a0"}), got.tags)
	assert.Empty(t, got.invalidFields)
}

func TestParseWebhookNotObject(t *testing.T) {
	for _, body := range []string{"[]", `"x"`, "1", "null", "true", "false", "", " ", " \t\r\n ", " []", "\n\"{}\"", "\u00a0[]"} {
		t.Run(body, func(t *testing.T) {
			got, err := parseText(body)
			require.ErrorIs(t, err, errNotJSONObject)
			assert.Equal(t, webhook{}, got)
		})
	}
}

func TestParseWebhookInvalidJSON(t *testing.T) {
	for _, body := range []string{
		`{`,
		`{"type":"event_scan_started"`,
		`{"type":"event_scan_sta`,
		`{"type":}`,
		`{"type":"event_scan_started",}`,
		`{} x`,
		`{}{}`,
		`{"a":1}]`,
		`{"type":"event_scan_started"} trailing`,
		`{'type':'x'}`,
		// What a lenient parser might let through: JSON forbids all of it.
		`{"n":01}`,
		`{"n":1.}`,
		`{"n":.5}`,
		`{"n":+1}`,
		`{"n":NaN}`,
		`{"n":inf}`,
		`{"s":"\q"}`,
		`{"s":"\u12"}`,
		"{\"s\":\"a\x01b\"}",
		`{"a":[1,]}`,
		"{\"a\":1}\x00",
	} {
		t.Run(body, func(t *testing.T) {
			_, err := parseText(body)
			require.Error(t, err)
			assert.NotErrorIs(t, err, errNotJSONObject, "it starts as an object, the error should say why it is not valid")
		})
	}
}

// fieldOK reports whether the named field was parsed.
func fieldOK(t *testing.T, w webhook, name string) bool {
	t.Helper()
	switch name {
	case "type":
		return w.eventType.ok
	case "domain":
		return w.domain.ok
	case "report_url":
		return w.reportURL.ok
	case "finding_url":
		return w.findingURL.ok
	case "title":
		return w.title.ok
	case "severity":
		return w.severity.ok
	case "cvss_score":
		return w.cvssScore.ok
	case "tags":
		return w.tags.ok
	case "critical_findings":
		return w.critical.ok
	case "medium_findings":
		return w.medium.ok
	case "notice_findings":
		return w.notice.ok
	}
	t.Fatalf("unknown field %q", name)
	return false
}

var knownFields = []string{
	"type", "domain", "report_url", "finding_url", "title", "severity",
	"cvss_score", "tags", "critical_findings", "medium_findings", "notice_findings",
}

func TestParseWebhookWrongTypes(t *testing.T) {
	tests := []struct {
		name  string
		field string
		value string
	}{
		{name: "cvss_score as string", field: "cvss_score", value: `"6.2"`},
		{name: "cvss_score as object", field: "cvss_score", value: `{}`},
		{name: "tags as string", field: "tags", value: `"new"`},
		{name: "tags with a number element", field: "tags", value: `["new", 1]`},
		{name: "tags with an object element", field: "tags", value: `[{}]`},
		{name: "critical_findings as 1.5", field: "critical_findings", value: `1.5`},
		{name: "critical_findings negative", field: "critical_findings", value: `-1`},
		{name: "medium_findings negative", field: "medium_findings", value: `-3`},
		{name: "notice_findings as string", field: "notice_findings", value: `"4"`},
		{name: "notice_findings as bool", field: "notice_findings", value: `true`},
		{name: "domain as number", field: "domain", value: `42`},
		{name: "type as number", field: "type", value: `7`},
		{name: "report_url as object", field: "report_url", value: `{"a":1}`},
		{name: "finding_url as bool", field: "finding_url", value: `false`},
		{name: "title as array", field: "title", value: `["t"]`},
		{name: "severity as number", field: "severity", value: `3`},
		{name: "cvss_score out of float64 range", field: "cvss_score", value: `1e400`},
		{name: "critical_findings beyond int64", field: "critical_findings", value: `9223372036854775808`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One valid field besides the broken one: it must still be read.
			other, otherValue := "title", `"kept"`
			if tt.field == "title" {
				other = "domain"
			}
			body := `{"` + other + `":` + otherValue + `,"` + tt.field + `":` + tt.value + `}`
			got, err := parseText(body)
			require.NoError(t, err, "a wrong field type must not refuse the message")
			assert.False(t, fieldOK(t, got, tt.field), "%s must be absent", tt.field)
			assert.Equal(t, []string{tt.field}, got.invalidFields)
			assert.True(t, fieldOK(t, got, other), "%s must still be parsed", other)
		})
	}
}

func TestParseWebhookSeveralInvalidFields(t *testing.T) {
	got, err := parseText(`{"domain":1,"type":"event_finding_low","cvss_score":"x","notice_findings":-1,"tags":[1]}`)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"domain", "cvss_score", "notice_findings", "tags"}, got.invalidFields)
	assert.Equal(t, some("event_finding_low"), got.eventType)
}

func TestParseWebhookDuplicateKeys(t *testing.T) {
	// JSON parsers disagree on which copy of a key wins, so a known key
	// sent twice is refused rather than read one way here and another way
	// by whoever reads the body later.
	for _, body := range []string{
		`{"type":"event_scan_started","type":"event_finding_high"}`,
		`{"severity":"low","domain":"a","severity":"critical"}`,
		`{"tags":["a"],"tags":null}`,
	} {
		t.Run(body, func(t *testing.T) {
			got, err := parseText(body)
			require.Error(t, err)
			assert.Equal(t, webhook{}, got)
		})
	}

	got, err := parseText(`{"x":1,"type":"event_scan_started","x":2}`)
	require.NoError(t, err, "an unknown key sent twice is not read, so not ambiguous")
	assert.Equal(t, some("event_scan_started"), got.eventType)
}

func TestParseWebhookNullFields(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i, f := range knownFields {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"` + f + `": null`)
	}
	b.WriteString("}")

	got, err := parseText(b.String())
	require.NoError(t, err)
	assert.Empty(t, got.invalidFields, "null means not sent, not invalid")
	for _, f := range knownFields {
		assert.False(t, fieldOK(t, got, f), "%s must be absent", f)
	}
	assert.Equal(t, webhook{}, got)
}

func TestParseWebhookValidEdgeValues(t *testing.T) {
	tests := []struct {
		name string
		body string
		want webhook
	}{
		{name: "empty object", body: `{}`, want: webhook{}},
		{name: "leading white space", body: " \t\r\n{\"type\":\"x\"}\n", want: webhook{eventType: some("x")}},
		{name: "string values are kept as sent", body: `{"domain":" My.Domain ","severity":" High ","title":"\tt\n"}`,
			want: webhook{domain: some(" My.Domain "), severity: some(" High "), title: some("\tt\n")}},
		{name: "empty strings are sent values", body: `{"type":"","domain":""}`, want: webhook{eventType: some(""), domain: some("")}},
		{name: "zero counts", body: `{"critical_findings":0,"medium_findings":0,"notice_findings":0}`,
			want: webhook{critical: some[int64](0), medium: some[int64](0), notice: some[int64](0)}},
		{name: "integer cvss", body: `{"cvss_score":10}`, want: webhook{cvssScore: some(10.0)}},
		{name: "empty tags", body: `{"tags":[]}`, want: webhook{tags: some([]string{})}},
		{name: "unicode escapes", body: `{"title":"caf\u00e9 \ud83d\ude00"}`, want: webhook{title: some("café 😀")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseText(tt.body)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseWebhookUnknownFieldsIgnored(t *testing.T) {
	body := `{"extra":{"nested":[1,"two",null]},"type":"event_scan_started","version":2,"tags2":"x","domain":"my.domain","x":null}`
	got, err := parseText(body)
	require.NoError(t, err)
	assert.Equal(t, webhook{eventType: some("event_scan_started"), domain: some("my.domain")}, got)
}

func TestReportIDs(t *testing.T) {
	tests := []struct {
		name        string
		url         string
		wantScan    string
		wantFinding string
		wantOK      bool
	}{
		{name: "seed report_url", url: seedReportURL, wantScan: seedScanID, wantOK: true},
		{name: "seed finding_url", url: seedFindingURL, wantScan: seedScanID, wantFinding: seedFindingID, wantOK: true},
		{name: "report_url trailing slash", url: seedReportURL + "/", wantScan: seedScanID, wantOK: true},
		{name: "finding_url trailing slash", url: seedFindingURL + "/", wantScan: seedScanID, wantFinding: seedFindingID, wantOK: true},
		{name: "query string", url: seedReportURL + "?utm_source=webhook&x=/a/b", wantScan: seedScanID, wantOK: true},
		{name: "finding with query and fragment", url: seedFindingURL + "?a=1#top", wantScan: seedScanID, wantFinding: seedFindingID, wantOK: true},
		{name: "distinct ids", url: "https://detectify.com/report/tok/scan1/find2", wantScan: "scan1", wantFinding: "find2", wantOK: true},
		{name: "token only", url: "https://detectify.com/report/" + seedToken},
		{name: "token only, trailing slash", url: "https://detectify.com/report/" + seedToken + "/"},
		{name: "report prefix only", url: "https://detectify.com/report/"},
		{name: "report without slash", url: "https://detectify.com/report"},
		{name: "too many segments", url: seedFindingURL + "/extra"},
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
			scan, finding, ok := reportIDs(tt.url)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.wantScan, scan)
			assert.Equal(t, tt.wantFinding, finding)
		})
	}
}
