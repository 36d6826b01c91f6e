package detectifyreceiver

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/detectify-otel/detectifyreceiver/internal/seed"
)

// requestCase is one request and what the receiver must make of it: the
// one table of the HTTP contract (every row, each on a fresh receiver) and
// of the hostile requests (the rows marked hostile, all on one receiver).
// Requests are signed with the test secret unless mutate changes that.
type requestCase struct {
	name     string
	body     []byte
	mutate   func(t *testing.T, req *http.Request)
	raw      func(h *harness) string // a raw HTTP/1.1 request, for what net/http would not send
	logsErrs []error
	// status and, for the receiver's own answers, the exact answer; other
	// answers (ServeMux, net/http, confighttp) are checked by bodyContains.
	status       int
	answer       *answer
	bodyContains string
	header       map[string]string
	emits        bool   // a record reached the logs pipeline
	counted      bool   // the webhook is in the counts
	outcome      string // the requests telemetry's outcome; empty when not counted there
	hostile      bool
	// config names a configPresets entry the row's receiver runs with;
	// empty for the default config.
	config string
}

// configPresets are the configs rows may ask for by name.
var configPresets = map[string]func(*Config){
	"": func(*Config) {},
	// The README's recommendation.
	"max_message_age": func(cfg *Config) { cfg.MaxMessageAge, cfg.DedupWindow = 24*time.Hour, 24*time.Hour },
}

// stamped is a current-format finding with the given raw `timestamp`
// value (JSON), or none when it is empty.
func stamped(raw string) []byte {
	ts := ""
	if raw != "" {
		ts = `"timestamp":` + raw + `,`
	}
	return []byte(`{"event_type":"finding",` + ts + `"finding":{"title":"SQL Injection","severity":"high","asset":"fresh.example.com"}}`)
}

// stampedAt is stamped with testNow moved by d, as RFC 3339.
func stampedAt(d time.Duration) []byte {
	return stamped(`"` + testNow.Add(d).Format(time.RFC3339Nano) + `"`)
}

func withHeader(key, value string) func(*testing.T, *http.Request) {
	return func(_ *testing.T, req *http.Request) { req.Header.Set(key, value) }
}

func withoutHeader(key string) func(*testing.T, *http.Request) {
	return func(_ *testing.T, req *http.Request) { req.Header.Del(key) }
}

func withSignature(signature string) func(*testing.T, *http.Request) {
	return withHeader(signatureHeader, signature)
}

func gzipped(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(data)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func gunzip(data []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(zr, 1<<20))
}

// accepted is the expectation of a webhook that goes through.
func accepted(c requestCase) requestCase {
	c.status, c.answer, c.emits, c.counted, c.outcome = http.StatusOK, &answerAccepted, true, true, "accepted"
	c.header = map[string]string{"Content-Type": "application/json"}
	return c
}

// refused is the expectation of a request refused with one of the
// receiver's answers, nothing emitted or counted.
func refused(c requestCase, a answer) requestCase {
	c.status, c.answer, c.outcome = a.status, &a, a.outcome.String()
	return c
}

func requestCases(t *testing.T) []requestCase {
	finding := seedFinding
	good := signBody(testSecret, finding)
	tooLarge := []byte(`{"type":"event_finding_high","title":"` + strings.Repeat("x", defaultMaxRequestBodySize) + `"}`)
	bomb := gzipped(t, append([]byte(`{"title":"`), bytes.Repeat([]byte{' '}, 4*defaultMaxRequestBodySize)...))
	gzipBody := gzipped(t, finding)
	nested := strings.Repeat(`{"a":`, 10_000) + "1" + strings.Repeat("}", 10_000)
	// Consumer errors name internal parts of the pipeline: they go to the
	// log, never into the answer.
	retryable := errors.New("memory limiter: data refused by exporter at 10.0.0.7")
	permanent := consumererror.NewPermanent(errors.New("bad data at 10.0.0.7"))

	return []requestCase{
		// Signed webhooks.
		accepted(requestCase{name: "signed seed finding", body: finding}),
		accepted(requestCase{name: "current-format finding", body: seed.Get("current/finding")}),
		accepted(requestCase{name: "current-format finding indented with no-break spaces", body: seed.Get("current/finding_nbsp")}),
		accepted(requestCase{name: "signature made with a previous secret", body: finding, mutate: withSignature(signBody(previousSecret, finding))}),
		accepted(requestCase{name: "uppercase hex signature", body: finding, mutate: withSignature(strings.ToUpper(good))}),
		accepted(requestCase{name: "standard base64 signature", body: finding, mutate: withSignature(base64.StdEncoding.EncodeToString(rawMAC(testSecret, finding)))}),
		accepted(requestCase{name: "unpadded URL-safe base64 signature", body: finding, mutate: withSignature(base64.RawURLEncoding.EncodeToString(rawMAC(testSecret, finding)))}),
		accepted(requestCase{name: "JSON content type with a charset", body: finding, mutate: withHeader("Content-Type", "application/json; charset=utf-8")}),
		accepted(requestCase{name: "no content type", body: finding, mutate: withoutHeader("Content-Type")}),
		accepted(requestCase{name: "text/plain content type", body: finding, mutate: withHeader("Content-Type", "text/plain")}),
		accepted(requestCase{name: "a +json content type", body: finding, mutate: withHeader("Content-Type", "application/vnd.detectify+json")}),
		accepted(requestCase{name: "gzip body, signature over the JSON", body: gzipBody, mutate: func(_ *testing.T, r *http.Request) {
			r.Header.Set("Content-Encoding", "gzip")
			r.Header.Set(signatureHeader, good)
		}}),
		func() requestCase {
			c := accepted(requestCase{name: "unknown event type is still accepted", body: []byte(`{"type":"event_report_ready","domain":"my.domain"}`)})
			c.counted = false // no finding, no scan state
			return c
		}(),
		accepted(requestCase{name: "known field of the wrong type is kept in the body", body: []byte(`{"type":"event_finding_high","domain":"my.domain","cvss_score":"6.2"}`)}),
		accepted(requestCase{name: "huge CVSS score is kept in the body only", hostile: true, body: []byte(`{"type":"event_finding_high","domain":"my.domain","cvss_score":1e999}`)}),
		accepted(requestCase{name: "huge count is kept in the body only", hostile: true, body: []byte(`{"type":"event_scan_finished","domain":"my.domain","critical_findings":100000000000000000000000}`)}),
		accepted(requestCase{name: "escaped NUL in a string is legal JSON", hostile: true, body: []byte(`{"type":"event_finding_high","domain":"my.domain","title":"a\u0000b"}`)}),
		accepted(requestCase{name: "lone surrogate escape is legal JSON", hostile: true, body: []byte(`{"type":"event_finding_high","domain":"my.domain","title":"\ud800"}`)}),
		accepted(requestCase{name: "current format with 10,000 fields", hostile: true, body: manyFields(10_000)}),
		accepted(requestCase{name: "current format nested wide and deep", hostile: true, body: []byte(`{"event_type":"finding","finding":{"asset":"a.com","x":` + strings.Repeat(`{"a":[1,{"b":`, 60) + "1" + strings.Repeat("}]}", 60) + `}}`)}),

		// max_message_age: the signed timestamp of a current-format message
		// (freshness.go). A refused one is released, nothing emitted.
		accepted(requestCase{name: "timestamp an hour old", config: "max_message_age", body: stampedAt(-time.Hour)}),
		accepted(requestCase{name: "timestamp exactly max_message_age old", config: "max_message_age", body: stampedAt(-24 * time.Hour)}),
		accepted(requestCase{name: "timestamp 5 minutes ahead", config: "max_message_age", body: stampedAt(maxFutureSkew)}),
		accepted(requestCase{name: "fresh timestamp with a zone offset", config: "max_message_age",
			body: stamped(`"` + testNow.Add(-time.Hour).In(time.FixedZone("", 2*3600)).Format(time.RFC3339) + `"`)}),
		accepted(requestCase{name: "classic message has no timestamp and is not checked", config: "max_message_age", body: finding}),
		accepted(requestCase{name: "old timestamp without max_message_age", body: stampedAt(-365 * 24 * time.Hour)}),
		refused(requestCase{name: "replay: timestamp older than max_message_age", hostile: true, config: "max_message_age", body: stampedAt(-24*time.Hour - time.Second)}, answerTooOld),
		refused(requestCase{name: "replay: timestamp a year old", hostile: true, config: "max_message_age", body: stampedAt(-365 * 24 * time.Hour)}, answerTooOld),
		refused(requestCase{name: "timestamp more than 5 minutes ahead", hostile: true, config: "max_message_age", body: stampedAt(maxFutureSkew + time.Second)}, answerFromFuture),
		refused(requestCase{name: "timestamp in year 9999", hostile: true, config: "max_message_age", body: stamped(`"9999-12-31T23:59:59Z"`)}, answerFromFuture),
		refused(requestCase{name: "timestamp not RFC 3339", hostile: true, config: "max_message_age", body: stamped(`"yesterday"`)}, answerTimestampInvalid),
		refused(requestCase{name: "timestamp without a zone", hostile: true, config: "max_message_age", body: stamped(`"2026-11-27T11:00:00"`)}, answerTimestampInvalid),
		refused(requestCase{name: "timestamp as Unix seconds", hostile: true, config: "max_message_age", body: stamped(fmt.Sprint(testNow.Unix()))}, answerTimestampInvalid),
		refused(requestCase{name: "timestamp as an object", hostile: true, config: "max_message_age", body: stamped(`{"at":"2026-11-27T11:00:00Z"}`)}, answerTimestampInvalid),
		refused(requestCase{name: "current format without a timestamp", hostile: true, config: "max_message_age", body: stamped("")}, answerTimestampMissing),
		refused(requestCase{name: "current format with a null timestamp", hostile: true, config: "max_message_age", body: stamped("null")}, answerTimestampMissing),

		// The signature header.
		refused(requestCase{name: "signature missing", hostile: true, body: finding, mutate: withoutHeader(signatureHeader)}, answerSigMissing),
		refused(requestCase{name: "signature checked before JSON: unsigned garbage is 401", body: []byte("not json"), mutate: withoutHeader(signatureHeader)}, answerSigMissing),
		refused(requestCase{name: "signature empty", hostile: true, body: finding, mutate: withSignature("")}, answerSigMissing),
		refused(requestCase{name: "nested deeper than the parser's bound", hostile: true, body: []byte(`{"event_type":"finding","finding":` + strings.Repeat(`{"a":[1,{"b":`, 120) + "1" + strings.Repeat("}]}", 120) + `}`)}, answerInvalidJSON),
		refused(requestCase{name: "signature of another body", hostile: true, body: finding, mutate: withSignature(signBody(testSecret, seedScanStarted))}, answerSigMismatch),
		refused(requestCase{name: "signature of the body plus a newline", hostile: true, body: finding, mutate: withSignature(signBody(testSecret, append(bytes.Clone(finding), '\n')))}, answerSigMismatch),
		refused(requestCase{name: "signature made with another secret", hostile: true, body: finding, mutate: withSignature(signBody("another-secret-0123456789", finding))}, answerSigMismatch),
		refused(requestCase{name: "signature made with the secret plus a newline", hostile: true, body: finding, mutate: withSignature(signBody(testSecret+"\n", finding))}, answerSigMismatch),
		refused(requestCase{name: "signature of the empty body", hostile: true, body: finding, mutate: withSignature(signBody(testSecret, nil))}, answerSigMismatch),
		refused(requestCase{name: "all-zero signature", hostile: true, body: finding, mutate: withSignature(strings.Repeat("0", 64))}, answerSigMismatch),
		refused(requestCase{name: "signature twice, both valid", hostile: true, body: finding, mutate: func(_ *testing.T, r *http.Request) { r.Header.Add(signatureHeader, good) }}, answerSigAmbiguous),
		refused(requestCase{name: "signature truncated by one digit", hostile: true, body: finding, mutate: withSignature(good[:63])}, answerSigEncoding),
		refused(requestCase{name: "signature with one digit too many", hostile: true, body: finding, mutate: withSignature(good + "0")}, answerSigEncoding),
		refused(requestCase{name: "signature padded inside with a space", hostile: true, body: finding, mutate: withSignature(good[:32] + " " + good[32:])}, answerSigEncoding),
		refused(requestCase{name: "base64 signature with extra padding", hostile: true, body: finding, mutate: withSignature("AAAA" + strings.Repeat("=", 40))}, answerSigEncoding),
		refused(requestCase{name: "signature with sha256= prefix", hostile: true, body: finding, mutate: withSignature("sha256=" + good)}, answerSigEncoding),
		refused(requestCase{name: "signature with SHA256= prefix", hostile: true, body: finding, mutate: withSignature("SHA256=" + good)}, answerSigEncoding),
		refused(requestCase{name: "two signatures joined by a comma", hostile: true, body: finding, mutate: withSignature(good + "," + good)}, answerSigEncoding),
		refused(requestCase{name: "signature 64 KiB long", hostile: true, body: finding, mutate: withSignature(strings.Repeat("a", 64<<10))}, answerSigEncoding),
		refused(requestCase{name: "signature with non-hex letters", hostile: true, body: finding, mutate: withSignature(strings.Repeat("g", 64))}, answerSigEncoding),
		refused(requestCase{name: "signature with non-ASCII characters", hostile: true, body: finding, mutate: withSignature(strings.Repeat("é", 32))}, answerSigEncoding),

		// The body, correctly signed.
		refused(requestCase{name: "empty body", hostile: true, body: []byte{}}, answerNotObject),
		refused(requestCase{name: "white space only", hostile: true, body: []byte(" \n\t ")}, answerNotObject),
		refused(requestCase{name: "not JSON", hostile: true, body: []byte("type=event_finding_high")}, answerNotObject),
		refused(requestCase{name: "JSON array", hostile: true, body: []byte(`[{"type":"event_finding_high"}]`)}, answerNotObject),
		refused(requestCase{name: "JSON string", hostile: true, body: []byte(`"event_finding_high"`)}, answerNotObject),
		refused(requestCase{name: "JSON number", hostile: true, body: []byte(`42`)}, answerNotObject),
		refused(requestCase{name: "JSON null", hostile: true, body: []byte(`null`)}, answerNotObject),
		refused(requestCase{name: "JSON true", hostile: true, body: []byte(`true`)}, answerNotObject),
		refused(requestCase{name: "truncated object", hostile: true, body: finding[:len(finding)/2]}, answerInvalidJSON),
		refused(requestCase{name: "object followed by garbage", hostile: true, body: append(bytes.Clone(finding), "garbage"...)}, answerInvalidJSON),
		refused(requestCase{name: "two objects", hostile: true, body: []byte(`{"type":"event_scan_started"}{"type":"event_scan_started"}`)}, answerInvalidJSON),
		refused(requestCase{name: "nested 10,000 levels deep", hostile: true, body: []byte(nested)}, answerInvalidJSON),
		refused(requestCase{name: "NUL byte outside strings", hostile: true, body: []byte("{\"type\":\x00\"event_scan_started\"}")}, answerInvalidJSON),
		refused(requestCase{name: "raw NUL byte inside a string", hostile: true, body: []byte("{\"title\":\"a\x00b\"}")}, answerInvalidJSON),
		refused(requestCase{name: "invalid escape", hostile: true, body: []byte(`{"title":"\x"}`)}, answerInvalidJSON),
		refused(requestCase{name: "number with two signs", hostile: true, body: []byte(`{"cvss_score":--1}`)}, answerInvalidJSON),
		refused(requestCase{name: "duplicate type key", hostile: true, body: []byte(`{"type":"event_scan_started","type":"event_finding_high"}`)}, answerDuplicateKey),
		refused(requestCase{name: "duplicate key in the current format's subject", hostile: true, body: []byte(`{"event_type":"finding","finding":{"severity":"low","severity":"critical"}}`)}, answerDuplicateKey),
		refused(requestCase{name: "invalid UTF-8", hostile: true, body: []byte("{\"title\":\"\xc3\x28\"}")}, answerNotUTF8),
		refused(requestCase{name: "1 MiB string", hostile: true, body: tooLarge}, answerTooLarge),
		refused(requestCase{name: "body over the limit, chunked", body: tooLarge, mutate: func(_ *testing.T, r *http.Request) {
			r.Body = io.NopCloser(bytes.NewReader(tooLarge))
			r.ContentLength = -1
		}}, answerTooLarge),

		// Content type and encoding.
		refused(requestCase{name: "XML content type", hostile: true, body: finding, mutate: withHeader("Content-Type", "application/xml")}, answerContentType),
		refused(requestCase{name: "HTML content type", hostile: true, body: finding, mutate: withHeader("Content-Type", "text/html")}, answerContentType),
		refused(requestCase{name: "form content type", hostile: true, body: finding, mutate: withHeader("Content-Type", "application/x-www-form-urlencoded")}, answerContentType),
		refused(requestCase{name: "multipart content type", hostile: true, body: finding, mutate: withHeader("Content-Type", "multipart/form-data; boundary=x")}, answerContentType),
		refused(requestCase{name: "unparsable content type", hostile: true, body: finding, mutate: withHeader("Content-Type", ";;;")}, answerContentType),
		refused(requestCase{name: "gzip body inflating past the limit", hostile: true, body: bomb, mutate: withHeader("Content-Encoding", "gzip")}, answerTooLarge),
		refused(requestCase{name: "truncated gzip", hostile: true, body: gzipBody[:len(gzipBody)/2], mutate: func(_ *testing.T, r *http.Request) {
			r.Header.Set("Content-Encoding", "gzip")
			r.Header.Set(signatureHeader, good)
		}}, answerUnreadable),
		refused(requestCase{name: "corrupt gzip", hostile: true, body: []byte("\x1f\x8b\x08\x00garbage"), mutate: withHeader("Content-Encoding", "gzip")}, answerUnreadable),
		// confighttp's decompression answers these before the receiver runs.
		{name: "gzip announced, plain body", hostile: true, body: finding, mutate: withHeader("Content-Encoding", "gzip"), status: http.StatusBadRequest},
		{name: "compression that is not enabled", hostile: true, body: finding, mutate: withHeader("Content-Encoding", "zstd"), status: http.StatusBadRequest, bodyContains: "unsupported Content-Encoding"},
		{name: "unsupported encoding", hostile: true, body: finding, mutate: withHeader("Content-Encoding", "br"), status: http.StatusBadRequest, bodyContains: "unsupported Content-Encoding"},

		// Routes.
		{name: "GET on the webhook path", body: nil, mutate: func(_ *testing.T, r *http.Request) { r.Method = http.MethodGet },
			status: http.StatusMethodNotAllowed, header: map[string]string{"Allow": "POST"}},
		{name: "PUT on the webhook path", body: finding, mutate: func(_ *testing.T, r *http.Request) { r.Method = http.MethodPut },
			status: http.StatusMethodNotAllowed, header: map[string]string{"Allow": "POST"}},
		{name: "POST on another path", body: finding, mutate: func(_ *testing.T, r *http.Request) { r.URL.Path = "/webhooks" }, status: http.StatusNotFound},
		{name: "POST below the webhook path", body: finding, mutate: func(_ *testing.T, r *http.Request) { r.URL.Path = "/webhook/extra" }, status: http.StatusNotFound},
		{name: "GET on the health path", mutate: func(_ *testing.T, r *http.Request) { r.Method, r.URL.Path = http.MethodGet, "/health" },
			status: http.StatusOK, answer: &answerHealthy},
		{name: "POST on the health path", body: finding, mutate: func(_ *testing.T, r *http.Request) { r.URL.Path = "/health" },
			status: http.StatusMethodNotAllowed, header: map[string]string{"Allow": "GET, HEAD"}},

		// The pipeline's answers.
		func() requestCase {
			c := refused(requestCase{name: "logs pipeline refuses, retryably", body: finding, logsErrs: []error{retryable}}, answerRetry)
			c.header, c.counted = map[string]string{"Retry-After": "1"}, true // counted once, emitted by the retry
			return c
		}(),
		func() requestCase {
			c := refused(requestCase{name: "logs pipeline refuses for good", body: finding, logsErrs: []error{permanent}}, answerRefused)
			c.counted = true // the finding was received; its record is lost for good
			return c
		}(),

		// Lengths and headers, sent raw.
		{name: "Content-Length over the limit, body never sent", hostile: true, raw: func(*harness) string {
			return fmt.Sprintf("POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s: %s\r\n\r\n", 100<<20, signatureHeader, good)
		}, status: http.StatusRequestEntityTooLarge, answer: &answerTooLarge, outcome: "too_large"},
		{name: "headers over 1 MiB", hostile: true, raw: func(*harness) string {
			return "POST /webhook HTTP/1.1\r\nHost: x\r\nX-Padding: " + strings.Repeat("p", 2<<20) + "\r\nContent-Length: 2\r\n\r\n{}"
		}, status: http.StatusRequestHeaderFieldsTooLarge},
		{name: "malformed request line", hostile: true, raw: func(*harness) string { return "POST /webhook HTTP/9.9\r\nHost: x\r\n\r\n" },
			status: http.StatusHTTPVersionNotSupported},
		{name: "conflicting Content-Length headers", hostile: true, raw: func(*harness) string {
			return "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"
		}, status: http.StatusBadRequest},
	}
}

// manyFields is a current-format finding whose subject has n fields.
func manyFields(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"event_type":"finding","finding":{"asset":"many.example.com","severity":"low"`)
	for i := range n {
		fmt.Fprintf(&b, `,"f%d":%d`, i, i)
	}
	b.WriteString("}}")
	return []byte(b.String())
}

// send sends c to h and returns the answer.
func (h *harness) send(t *testing.T, c requestCase) response {
	t.Helper()
	if c.raw != nil {
		return rawRoundTrip(t, h.rcv.endpoint, c.raw(h))
	}
	req := h.newRequest(c.body)
	if c.mutate != nil {
		c.mutate(t, req)
	}
	return h.do(req)
}

// countedWebhooks is how many webhooks the state counted, all domains,
// findings and scan events together.
func (h *harness) countedWebhooks(t *testing.T) int64 {
	t.Helper()
	m, err := h.rcv.state.Metrics(context.Background(), true)
	require.NoError(t, err)
	var n int64
	for _, d := range m {
		if d.Counts == nil {
			continue
		}
		for _, c := range d.Counts.Findings {
			n += c
		}
		for _, c := range d.Counts.Scans {
			n += c
		}
	}
	return n
}
