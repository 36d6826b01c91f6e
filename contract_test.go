package detectifyreceiver

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer/consumererror"
)

func gzipped(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(data)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// TestHTTPContract is the receiver's HTTP contract, one row per rule: what
// a request gets and whether anything reached the pipelines.
func TestHTTPContract(t *testing.T) {
	finding := readSeed(t, "finding_high")
	tooLarge := append([]byte(`{"type":"event_finding_high","title":"`), bytes.Repeat([]byte("x"), defaultMaxRequestBodySize)...)
	tooLarge = append(tooLarge, `"}`...)
	// A small gzip body that inflates past the limit: a decompression bomb.
	bomb := gzipped(t, append([]byte(`{"title":"`), bytes.Repeat([]byte{' '}, 4*defaultMaxRequestBodySize)...))
	// Errors name internal parts of the pipeline: they go to the log, never
	// into the answer.
	retryable := errors.New("memory limiter: data refused by exporter at 10.0.0.7")

	tests := []struct {
		name        string
		request     func(h *harness) *http.Request
		logsErrs    []error
		metricsErrs []error
		wantStatus  int
		wantHeader  map[string]string
		wantBody    string  // substring
		emits       signals // pipelines that must have received the webhook
		wantOutcome string  // empty: not a webhook request, nothing counted
	}{
		{
			name:        "signed seed finding is accepted",
			request:     func(h *harness) *http.Request { return h.newRequest(finding) },
			wantStatus:  http.StatusOK,
			wantHeader:  map[string]string{"Content-Type": "application/json"},
			wantBody:    `{"status":"accepted"}`,
			emits:       signalLogs | signalMetrics,
			wantOutcome: "accepted",
		},
		{
			name: "signature made with a previous secret",
			request: func(h *harness) *http.Request {
				req := h.newRequest(finding)
				req.Header.Set(signatureHeader, signBody(previousSecret, finding))
				return req
			},
			wantStatus: http.StatusOK, emits: signalLogs | signalMetrics, wantOutcome: "accepted",
		},
		{
			name: "uppercase hex signature",
			request: func(h *harness) *http.Request {
				req := h.newRequest(finding)
				req.Header.Set(signatureHeader, strings.ToUpper(signBody(testSecret, finding)))
				return req
			},
			wantStatus: http.StatusOK, emits: signalLogs | signalMetrics, wantOutcome: "accepted",
		},
		{
			name: "standard base64 signature",
			request: func(h *harness) *http.Request {
				req := h.newRequest(finding)
				req.Header.Set(signatureHeader, base64.StdEncoding.EncodeToString(rawMAC(testSecret, finding)))
				return req
			},
			wantStatus: http.StatusOK, emits: signalLogs | signalMetrics, wantOutcome: "accepted",
		},
		{
			name: "unpadded URL-safe base64 signature",
			request: func(h *harness) *http.Request {
				req := h.newRequest(finding)
				req.Header.Set(signatureHeader, base64.RawURLEncoding.EncodeToString(rawMAC(testSecret, finding)))
				return req
			},
			wantStatus: http.StatusOK, emits: signalLogs | signalMetrics, wantOutcome: "accepted",
		},
		{
			name: "missing signature",
			request: func(h *harness) *http.Request {
				req := h.newRequest(finding)
				req.Header.Del(signatureHeader)
				return req
			},
			wantStatus: http.StatusUnauthorized, wantBody: "missing X-Detectify-Signature", wantOutcome: "unauthorized",
		},
		{
			name: "signature of another body",
			request: func(h *harness) *http.Request {
				req := h.newRequest(finding)
				req.Header.Set(signatureHeader, signBody(testSecret, readSeed(t, "scan_started")))
				return req
			},
			wantStatus: http.StatusUnauthorized, wantBody: "does not match", wantOutcome: "unauthorized",
		},
		{
			name: "signature made with an unknown secret",
			request: func(h *harness) *http.Request {
				req := h.newRequest(finding)
				req.Header.Set(signatureHeader, signBody("not-the-secret", finding))
				return req
			},
			wantStatus: http.StatusUnauthorized, wantOutcome: "unauthorized",
		},
		{
			name: "two signature headers",
			request: func(h *harness) *http.Request {
				req := h.newRequest(finding)
				req.Header.Add(signatureHeader, signBody(testSecret, finding))
				return req
			},
			wantStatus: http.StatusUnauthorized, wantBody: "more than one", wantOutcome: "unauthorized",
		},
		{
			name: "signature that is not hex or base64",
			request: func(h *harness) *http.Request {
				req := h.newRequest(finding)
				req.Header.Set(signatureHeader, "sha256="+signBody(testSecret, finding))
				return req
			},
			wantStatus: http.StatusUnauthorized, wantBody: "not a hex or base64", wantOutcome: "unauthorized",
		},
		{
			name: "signature checked before JSON: unsigned garbage is 401, not 400",
			request: func(h *harness) *http.Request {
				req := h.newRequest([]byte("not json"))
				req.Header.Del(signatureHeader)
				return req
			},
			wantStatus: http.StatusUnauthorized, wantOutcome: "unauthorized",
		},
		{
			name: "GET on the webhook path",
			request: func(h *harness) *http.Request {
				req, _ := http.NewRequest(http.MethodGet, h.baseURL+"/webhook", http.NoBody)
				return req
			},
			wantStatus: http.StatusMethodNotAllowed, wantHeader: map[string]string{"Allow": "POST"},
		},
		{
			name: "PUT on the webhook path",
			request: func(h *harness) *http.Request {
				req := h.newRequest(finding)
				req.Method = http.MethodPut
				return req
			},
			wantStatus: http.StatusMethodNotAllowed, wantHeader: map[string]string{"Allow": "POST"},
		},
		{
			name: "POST on another path",
			request: func(h *harness) *http.Request {
				req := h.newRequest(finding)
				req.URL.Path = "/webhooks"
				return req
			},
			wantStatus: http.StatusNotFound,
		},
		{
			name: "POST below the webhook path",
			request: func(h *harness) *http.Request {
				req := h.newRequest(finding)
				req.URL.Path = "/webhook/extra"
				return req
			},
			wantStatus: http.StatusNotFound,
		},
		{
			name: "GET on the health path",
			request: func(h *harness) *http.Request {
				req, _ := http.NewRequest(http.MethodGet, h.baseURL+"/health", http.NoBody)
				return req
			},
			wantStatus: http.StatusOK, wantBody: `{"status":"ok"}`,
		},
		{
			name: "POST on the health path",
			request: func(h *harness) *http.Request {
				req := h.newRequest(finding)
				req.URL.Path = "/health"
				return req
			},
			wantStatus: http.StatusMethodNotAllowed, wantHeader: map[string]string{"Allow": "GET, HEAD"},
		},
		{
			name:       "JSON array",
			request:    func(h *harness) *http.Request { return h.newRequest([]byte(`[{"type":"event_scan_started"}]`)) },
			wantStatus: http.StatusBadRequest, wantBody: "JSON object", wantOutcome: "malformed",
		},
		{
			name:       "JSON string",
			request:    func(h *harness) *http.Request { return h.newRequest([]byte(`"event_scan_started"`)) },
			wantStatus: http.StatusBadRequest, wantBody: "JSON object", wantOutcome: "malformed",
		},
		{
			name:       "not JSON",
			request:    func(h *harness) *http.Request { return h.newRequest([]byte(`type=event_scan_started`)) },
			wantStatus: http.StatusBadRequest, wantOutcome: "malformed",
		},
		{
			name:       "truncated JSON object",
			request:    func(h *harness) *http.Request { return h.newRequest(finding[:len(finding)/2]) },
			wantStatus: http.StatusBadRequest, wantBody: "not valid JSON", wantOutcome: "malformed",
		},
		{
			name:       "empty body",
			request:    func(h *harness) *http.Request { return h.newRequest(nil) },
			wantStatus: http.StatusBadRequest, wantOutcome: "malformed",
		},
		{
			name:       "invalid UTF-8",
			request:    func(h *harness) *http.Request { return h.newRequest([]byte("{\"title\":\"\xff\xfe\"}")) },
			wantStatus: http.StatusBadRequest, wantBody: "UTF-8", wantOutcome: "malformed",
		},
		{
			name: "XML content type",
			request: func(h *harness) *http.Request {
				req := h.newRequest(finding)
				req.Header.Set("Content-Type", "application/xml")
				return req
			},
			wantStatus: http.StatusUnsupportedMediaType, wantOutcome: "malformed",
		},
		{
			name: "JSON content type with a charset",
			request: func(h *harness) *http.Request {
				req := h.newRequest(finding)
				req.Header.Set("Content-Type", "application/json; charset=utf-8")
				return req
			},
			wantStatus: http.StatusOK, emits: signalLogs | signalMetrics, wantOutcome: "accepted",
		},
		{
			name: "no content type",
			request: func(h *harness) *http.Request {
				req := h.newRequest(finding)
				req.Header.Del("Content-Type")
				return req
			},
			wantStatus: http.StatusOK, emits: signalLogs | signalMetrics, wantOutcome: "accepted",
		},
		{
			name:       "body over the limit, announced by Content-Length",
			request:    func(h *harness) *http.Request { return h.newRequest(tooLarge) },
			wantStatus: http.StatusRequestEntityTooLarge, wantBody: "max_request_body_size", wantOutcome: "too_large",
		},
		{
			name: "body over the limit, chunked",
			request: func(h *harness) *http.Request {
				req := h.newRequest(nil)
				req.Body = io.NopCloser(bytes.NewReader(tooLarge))
				req.ContentLength = -1
				req.Header.Set(signatureHeader, signBody(testSecret, tooLarge))
				return req
			},
			wantStatus: http.StatusRequestEntityTooLarge, wantOutcome: "too_large",
		},
		{
			name: "gzip body, signature over the JSON",
			request: func(h *harness) *http.Request {
				req := h.newRequest(gzipped(t, finding))
				req.Header.Set("Content-Encoding", "gzip")
				req.Header.Set(signatureHeader, signBody(testSecret, finding))
				return req
			},
			wantStatus: http.StatusOK, emits: signalLogs | signalMetrics, wantOutcome: "accepted",
		},
		{
			name: "gzip body inflating past the limit",
			request: func(h *harness) *http.Request {
				req := h.newRequest(bomb)
				req.Header.Set("Content-Encoding", "gzip")
				return req
			},
			wantStatus: http.StatusRequestEntityTooLarge, wantOutcome: "too_large",
		},
		{
			name: "corrupt gzip body",
			request: func(h *harness) *http.Request {
				req := h.newRequest([]byte("this is not gzip"))
				req.Header.Set("Content-Encoding", "gzip")
				return req
			},
			wantStatus: http.StatusBadRequest,
		},
		{
			name: "compression that is not enabled",
			request: func(h *harness) *http.Request {
				req := h.newRequest(finding)
				req.Header.Set("Content-Encoding", "zstd")
				return req
			},
			wantStatus: http.StatusBadRequest, wantBody: "unsupported Content-Encoding",
		},
		{
			name:       "logs pipeline refuses, retryably",
			request:    func(h *harness) *http.Request { return h.newRequest(finding) },
			logsErrs:   []error{retryable},
			wantStatus: http.StatusServiceUnavailable, wantHeader: map[string]string{"Retry-After": "1"},
			wantBody: "temporarily unable", wantOutcome: "refused",
			emits: signalMetrics,
		},
		{
			name:        "metrics pipeline refuses, retryably",
			request:     func(h *harness) *http.Request { return h.newRequest(finding) },
			metricsErrs: []error{retryable},
			wantStatus:  http.StatusServiceUnavailable, wantHeader: map[string]string{"Retry-After": "1"},
			wantOutcome: "refused",
			emits:       signalLogs,
		},
		{
			name:        "pipelines refuse for good",
			request:     func(h *harness) *http.Request { return h.newRequest(finding) },
			logsErrs:    []error{consumererror.NewPermanent(errors.New("bad data at 10.0.0.7"))},
			metricsErrs: []error{consumererror.NewPermanent(errors.New("bad data at 10.0.0.7"))},
			wantStatus:  http.StatusBadRequest, wantBody: "refused the data", wantOutcome: "refused",
		},
		{
			name: "unknown event type is still accepted",
			request: func(h *harness) *http.Request {
				return h.newRequest([]byte(`{"type":"event_report_ready","domain":"my.domain"}`))
			},
			wantStatus: http.StatusOK,
			emits:      signalLogs | signalMetrics, wantOutcome: "accepted",
		},
		{
			name: "known field of the wrong type is accepted and kept in the body",
			request: func(h *harness) *http.Request {
				return h.newRequest([]byte(`{"type":"event_finding_high","domain":"my.domain","cvss_score":"6.2"}`))
			},
			wantStatus: http.StatusOK,
			emits:      signalLogs | signalMetrics, wantOutcome: "accepted",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(cfg *Config) {
				cfg.PreviousSecrets = []configopaque.String{previousSecret}
			})
			h.logs.set(tt.logsErrs...)
			h.metrics.set(tt.metricsErrs...)

			resp := h.do(tt.request(h))

			assert.Equal(t, tt.wantStatus, resp.status, "body: %s", resp.body)
			for k, v := range tt.wantHeader {
				assert.Equal(t, v, resp.header.Get(k), "header %s", k)
			}
			assert.Contains(t, resp.body, tt.wantBody)
			assert.NotContains(t, resp.body, "10.0.0.7", "consumer errors stay in the log")
			assert.Len(t, h.logs.records(), count(tt.emits&signalLogs != 0), "log records")
			assert.Len(t, h.metrics.emissions(), count(tt.emits&signalMetrics != 0), "metrics emissions")
			assert.Equal(t, outcomeCounts(tt.wantOutcome), h.outcomeCounts())
		})
	}
}

func count(emitted bool) int {
	if emitted {
		return 1
	}
	return 0
}

func outcomeCounts(outcome string) map[string]int64 {
	if outcome == "" {
		return map[string]int64{}
	}
	return map[string]int64{outcome: 1}
}
