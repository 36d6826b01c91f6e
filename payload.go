package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
)

var errNotJSONObject = errors.New("body must be a JSON object")

// webhook is what the receiver understands of a Detectify message. Every
// field is optional: a signed message is accepted whatever it carries, and
// the raw body keeps what is not modelled here.
type webhook struct {
	eventType  optional[string]
	domain     optional[string]
	reportURL  optional[string]
	findingURL optional[string]
	title      optional[string]
	severity   optional[string]
	cvssScore  optional[float64]
	tags       optional[[]string]
	critical   optional[int64]
	medium     optional[int64]
	notice     optional[int64]

	// invalidFields names known fields whose JSON type was not the documented
	// one; their values stay in the body only.
	invalidFields []string
}

type optional[T any] struct {
	value T
	ok    bool
}

// rawWebhook picks the known fields out of the object without judging their
// types, so a wrong type marks one field instead of failing the message.
type rawWebhook struct {
	Type       json.RawMessage `json:"type"`
	Domain     json.RawMessage `json:"domain"`
	ReportURL  json.RawMessage `json:"report_url"`
	FindingURL json.RawMessage `json:"finding_url"`
	Title      json.RawMessage `json:"title"`
	Severity   json.RawMessage `json:"severity"`
	CVSSScore  json.RawMessage `json:"cvss_score"`
	Tags       json.RawMessage `json:"tags"`
	Critical   json.RawMessage `json:"critical_findings"`
	Medium     json.RawMessage `json:"medium_findings"`
	Notice     json.RawMessage `json:"notice_findings"`
}

// nbsp is U+00A0 in UTF-8. Detectify's documentation indents its example
// messages with it, so copies of them carry it where JSON wants white space.
var nbsp = []byte("\u00a0")

// parseWebhook decodes body, which must be a JSON object.
func parseWebhook(body []byte) (webhook, error) {
	var w webhook
	if bytes.Contains(body, nbsp) {
		body = nbspToSpaces(body)
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return w, errNotJSONObject
	}
	var raw rawWebhook
	if err := json.Unmarshal(body, &raw); err != nil {
		return w, errors.New("body is not valid JSON: " + err.Error())
	}
	w.eventType = decodeField[string](&w, "type", raw.Type)
	w.domain = decodeField[string](&w, "domain", raw.Domain)
	w.reportURL = decodeField[string](&w, "report_url", raw.ReportURL)
	w.findingURL = decodeField[string](&w, "finding_url", raw.FindingURL)
	w.title = decodeField[string](&w, "title", raw.Title)
	w.severity = decodeField[string](&w, "severity", raw.Severity)
	w.cvssScore = decodeField[float64](&w, "cvss_score", raw.CVSSScore)
	w.tags = decodeField[[]string](&w, "tags", raw.Tags)
	w.critical = decodeCount(&w, "critical_findings", raw.Critical)
	w.medium = decodeCount(&w, "medium_findings", raw.Medium)
	w.notice = decodeCount(&w, "notice_findings", raw.Notice)
	return w, nil
}

// nbspToSpaces returns a copy of body with every U+00A0 outside JSON strings
// replaced by two spaces: the signed body is still what the log record
// carries; only the parse is lenient, and strings are left untouched.
func nbspToSpaces(body []byte) []byte {
	out := bytes.Clone(body)
	inString, escaped := false, false
	for i := 0; i < len(out); i++ {
		c := out[i]
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && c == nbsp[0] && i+1 < len(out) && out[i+1] == nbsp[1]:
			out[i], out[i+1] = ' ', ' '
			i++
		}
	}
	return out
}

// decodeField decodes one known field; absent and null are "not sent",
// a value of another type is recorded as invalid.
func decodeField[T any](w *webhook, name string, raw json.RawMessage) optional[T] {
	var field optional[T]
	if len(raw) == 0 || string(raw) == "null" {
		return field
	}
	if err := json.Unmarshal(raw, &field.value); err != nil {
		w.invalidFields = append(w.invalidFields, name)
		return optional[T]{}
	}
	field.ok = true
	return field
}

// decodeCount is decodeField for the scan counts, which cannot be negative.
func decodeCount(w *webhook, name string, raw json.RawMessage) optional[int64] {
	count := decodeField[int64](w, name, raw)
	if count.ok && count.value < 0 {
		w.invalidFields = append(w.invalidFields, name)
		return optional[int64]{}
	}
	return count
}

// reportIDs extracts the scan and finding ids from a Detectify report URL,
// https://detectify.com/report/<token>/<scan>[/<finding>]. ok is false when
// the URL does not have that shape.
func reportIDs(rawURL string) (scanID, findingID string, ok bool) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", "", false
	}
	rest, found := strings.CutPrefix(u.Path, "/report/")
	if !found {
		return "", "", false
	}
	parts := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	if len(parts) < 2 || len(parts) > 3 {
		return "", "", false
	}
	for _, p := range parts {
		if p == "" {
			return "", "", false
		}
	}
	scanID = parts[1]
	if len(parts) == 3 {
		findingID = parts[2]
	}
	return scanID, findingID, true
}
