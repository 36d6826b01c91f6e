package message

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// FuzzParse: any body either is refused with one of the fixed reasons or
// becomes an Event within the bounds, the same each time, and the same
// whether the page's no-break spaces were copied or not.
func FuzzParse(f *testing.F) {
	for _, body := range goldenInputs(f) {
		f.Add(body)
	}
	for _, s := range []string{
		`{}`, `[]`, `null`, `{"type":"event_finding_low","tags":["a",1]}`,
		`{"type":"event_scan_finished","critical_findings":-1,"medium_findings":1e3,"notice_findings":"4"}`,
		`{"finding_url":"https://detectify.com/report/a/b/c?x#y","report_url":"://"}`,
		"{\"title\":\"\u00a0\",\u00a0\"type\":\"x\"}", `{"a":{"b":[[[{}]]]}}`, `{"type":"a","type":"b"}`,
		`{"event_type":"finding","finding":{"a":{"b":{"c":{"d":1}}},"x":[1,{"y":2}],"cvss_scores":[{"version":3,"score":"x"}]}}`,
		`{"event_type":"asset.changed","asset":{"name":{"x":1}}}`, `{"event_type":7,"timestamp":{}}`,
		`{"event_type":"scan_completed","scan":{"id":1,"high_level_findings":-2},"report_token":["x"]}`,
		`{"event_type":"finding","finding":{"cvss_scores":[{"version":"4.0"},{"score":1}]}}`,
		`{"event_type":"finding","finding":{"x":1,"x":2}}`, `{"finding":{"tags":[{"name":1}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !utf8.Valid(body) { // the handler refuses these before parsing
			return
		}
		e, err := Parse(bytes.Clone(body))
		if err != nil {
			for _, reason := range []error{ErrNotObject, ErrInvalidJSON, ErrDuplicateKey} {
				if errors.Is(err, reason) {
					return
				}
			}
			t.Fatalf("an error outside the fixed reasons: %v", err)
		}
		attrs := attributesOf(e)
		if attrs.Len() > MaxAttributes-reservedAttributes {
			t.Fatalf("%d attributes", attrs.Len())
		}
		if attrs.Len() != e.AttributeCount() {
			t.Fatalf("an attribute twice: %d written of %d", attrs.Len(), e.AttributeCount())
		}
		for key, v := range attrs.All() {
			switch v.Type() {
			case pcommon.ValueTypeStr:
				if !utf8.ValidString(v.Str()) {
					t.Fatalf("%s is not UTF-8", key)
				}
			case pcommon.ValueTypeInt, pcommon.ValueTypeDouble, pcommon.ValueTypeBool, pcommon.ValueTypeSlice:
			default:
				t.Fatalf("%s has a value of type %s", key, v.Type())
			}
		}
		if e.Kind == KindFinding && e.Format == FormatClassic && e.Level == "" {
			t.Fatal("a classic finding without a level")
		}
		again, err := Parse(bytes.Clone(body))
		require.NoError(t, err)
		require.Equal(t, e, again, "the same body is the same event")
		if !bytes.Contains(body, nbsp) {
			// Indent it the way the documentation's pages do: before each
			// quote that follows a comma or a brace.
			indented := strings.NewReplacer(`,"`, ",\n\u00a0\"", `{"`, "{\n\u00a0\"").Replace(string(body))
			if copied, err := Parse([]byte(indented)); err == nil && !strings.Contains(string(body), `\`) {
				require.Equal(t, e.Kind, copied.Kind)
				require.Equal(t, e.Domain, copied.Domain)
			}
		}
	})
}
