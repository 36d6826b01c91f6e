package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/valyala/fastjson"
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

// parsers are reused: a fastjson.Parser keeps its buffers between parses,
// so parsing a message allocates only the strings it keeps.
var parsers fastjson.ParserPool

// parseWebhook decodes body, which must be a JSON object. text must be a
// copy of body (the log record's body): the decoded strings are sliced from
// it when they appear in it verbatim, and body itself may be rewritten
// (no-break spaces between tokens). A known field of the wrong
// type is noted in invalidFields, not an error: the message was signed and
// its body is kept whole.
func parseWebhook(body []byte, text string) (webhook, error) {
	if bytes.Contains(body, nbsp) {
		spacesForNBSP(body)
	}
	d := decoder{body: body, text: text}
	if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		return webhook{}, errNotJSONObject
	}
	p := parsers.Get()
	defer parsers.Put(p)
	// Parse bounds the nesting depth; Validate then checks what Parse
	// tolerates (number syntax, escapes, control characters).
	root, err := p.ParseBytes(body)
	if err == nil {
		err = fastjson.ValidateBytes(body)
	}
	if err != nil {
		return webhook{}, errors.New("body is not valid JSON: " + err.Error())
	}
	object, err := root.Object()
	if err != nil {
		return webhook{}, errNotJSONObject
	}
	var seen uint32
	var duplicate []byte
	object.Visit(func(key []byte, v *fastjson.Value) {
		bit, valid := d.field(key, v)
		switch {
		case bit == 0: // a key this receiver does not read
		case seen&bit != 0:
			duplicate = key
		default:
			seen |= bit
			if !valid {
				d.w.invalidFields = append(d.w.invalidFields, string(key))
			}
		}
	})
	if duplicate != nil {
		// Parsers disagree on which copy wins: refuse rather than pick one.
		return webhook{}, fmt.Errorf("body has the key %q more than once", duplicate)
	}
	return d.w, nil
}

// decoder fills a webhook from one body.
type decoder struct {
	w    webhook
	body []byte
	text string // body as it was signed
	// from is where the search for the next value starts: values are
	// decoded in the order they appear in the body.
	from int
}

// field decodes the known field key and returns its bit in the duplicate
// check (0 for any other key) and whether its JSON type was the documented
// one. A switch, not a table of functions: it compares fewer bytes, and the
// decoder stays on the stack.
func (d *decoder) field(key []byte, v *fastjson.Value) (bit uint32, valid bool) {
	switch string(key) {
	case "type":
		return 1 << 0, d.string(&d.w.eventType, v)
	case "domain":
		return 1 << 1, d.string(&d.w.domain, v)
	case "report_url":
		return 1 << 2, d.string(&d.w.reportURL, v)
	case "finding_url":
		return 1 << 3, d.string(&d.w.findingURL, v)
	case "title":
		return 1 << 4, d.string(&d.w.title, v)
	case "severity":
		return 1 << 5, d.string(&d.w.severity, v)
	case "cvss_score":
		return 1 << 6, decodeScore(&d.w.cvssScore, v)
	case "tags":
		return 1 << 7, d.strings(&d.w.tags, v)
	case "critical_findings":
		return 1 << 8, decodeCount(&d.w.critical, v)
	case "medium_findings":
		return 1 << 9, decodeCount(&d.w.medium, v)
	case "notice_findings":
		return 1 << 10, decodeCount(&d.w.notice, v)
	}
	return 0, true
}

// keep returns v as a string. Most values appear verbatim in the body (no
// escapes), and the body's text exists anyway: slicing it instead of
// copying saves an allocation per field on every request. Any occurrence of
// v's bytes will do; searching on from where the previous value was found
// keeps the searches, all together, about one pass over the body.
func (d *decoder) keep(v []byte) string {
	i := bytes.Index(d.body[d.from:], v)
	// Not found: the value was decoded from escapes. Found but different in
	// the text: the match spans a rewritten no-break space. Either way, copy.
	if i < 0 || d.text[d.from+i:d.from+i+len(v)] != string(v) {
		return string(v)
	}
	start := d.from + i
	d.from = start + len(v)
	return d.text[start:d.from]
}

// The decoders below leave the field unset for null, and report false when
// the JSON type is not the documented one.

func (d *decoder) string(field *optional[string], v *fastjson.Value) bool {
	switch v.Type() {
	case fastjson.TypeNull:
		return true
	case fastjson.TypeString:
		field.value, field.ok = d.keep(v.GetStringBytes()), true
		return true
	}
	return false
}

func (d *decoder) strings(field *optional[[]string], v *fastjson.Value) bool {
	if v.Type() == fastjson.TypeNull {
		return true
	}
	items, err := v.Array()
	if err != nil {
		return false
	}
	values := make([]string, 0, len(items))
	for _, item := range items {
		if item.Type() != fastjson.TypeString {
			return false
		}
		values = append(values, d.keep(item.GetStringBytes()))
	}
	field.value, field.ok = values, true
	return true
}

// decodeScore accepts finite numbers only: Inf and NaN cannot be exported.
func decodeScore(field *optional[float64], v *fastjson.Value) bool {
	if v.Type() == fastjson.TypeNull {
		return true
	}
	score, err := v.Float64()
	if err != nil || math.IsInf(score, 0) || math.IsNaN(score) {
		return false
	}
	field.value, field.ok = score, true
	return true
}

// decodeCount accepts non-negative integers written without a fraction or
// exponent (Detectify's counts) that fit an int64.
func decodeCount(field *optional[int64], v *fastjson.Value) bool {
	if v.Type() == fastjson.TypeNull {
		return true
	}
	count, err := v.Int64()
	if err != nil || count < 0 {
		return false
	}
	field.value, field.ok = count, true
	return true
}

// nbsp is U+00A0 in UTF-8. Detectify's documentation indents its example
// messages with it, so copies of them carry it where JSON wants white space.
var nbsp = []byte("\u00a0")

// spacesForNBSP replaces, in place, every U+00A0 outside JSON strings with
// two spaces: the log record carries the text as signed; only the parse is
// lenient, and strings are left untouched. It jumps from quote to quote
// rather than looking at every byte.
func spacesForNBSP(out []byte) {
	for i := 0; i < len(out); {
		// Outside a string, up to the quote that opens the next one.
		end := bytes.IndexByte(out[i:], '"')
		if end < 0 {
			end = len(out)
		} else {
			end += i
		}
		for gap := out[i:end]; ; {
			j := bytes.Index(gap, nbsp)
			if j < 0 {
				break
			}
			gap[j], gap[j+1] = ' ', ' '
			gap = gap[j+2:]
		}
		i = closingQuote(out, end+1) + 1
	}
}

// closingQuote returns the index of the quote that ends the string starting
// at from, or len(b) when the string is not closed. A quote preceded by an
// odd number of backslashes is escaped.
func closingQuote(b []byte, from int) int {
	for i := from; i < len(b); i++ {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return len(b)
		}
		i += q
		backslashes := 0
		for k := i - 1; k >= from && b[k] == '\\'; k-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return i
		}
	}
	return len(b)
}

// reportIDs extracts the scan and finding ids from a Detectify report URL,
// https://detectify.com/report/<token>/<scan>[/<finding>]. ok is false when
// the URL does not have that shape or a segment is not a plain identifier.
// It slices the string instead of calling url.Parse: this runs per request.
func reportIDs(rawURL string) (scanID, findingID string, ok bool) {
	scheme, rest, found := strings.Cut(rawURL, "://")
	if !found || scheme == "" {
		return "", "", false
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
	}
	_, path, found := strings.Cut(rest, "/") // drop the host
	if !found {
		return "", "", false
	}
	path, found = strings.CutPrefix(path, "report/")
	if !found {
		return "", "", false
	}
	var segments [3]string // token, scan, finding
	n := 0
	for segment := range strings.SplitSeq(strings.TrimSuffix(path, "/"), "/") {
		if n == len(segments) || !isIdentifier(segment) {
			return "", "", false
		}
		segments[n] = segment
		n++
	}
	if n < 2 {
		return "", "", false
	}
	return segments[1], segments[2], true
}

// isIdentifier accepts a non-empty run of URL-unreserved characters.
func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}
