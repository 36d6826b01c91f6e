package detectifyreceiver

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/detectify-otel/detectifyreceiver/internal/seed"
)

// FuzzHandler drives the whole server handler chain (decompression, limits,
// routing, signature, parsing, state) with healthy pipelines: no input may
// get a 5xx, nothing is emitted unless the answer is 200, and a 200 is
// exactly one record. The gzip seeds carry the signature of what they
// decompress to, so the fuzzer starts from the decompress-and-accept path.
func FuzzHandler(f *testing.F) {
	for _, m := range append(seed.Classic(), seed.Current()...) {
		f.Add(m.Body, "", true)
		f.Add(gzipped(f, m.Body), "gzip", true)
	}
	for _, s := range []string{
		`{}`, `[]`, `{"type":"a","type":"b"}`, `{"event_type":"finding","finding":{"a":{"b":{"c":{"d":[1,{"e":2}]}}}}}`,
		"{\"title\":\"\u00a0\",\u00a0\"type\":\"x\"}", `{"event_type":"scan_completed","scan":{"id":"s","high_level_findings":-1}}`,
	} {
		f.Add([]byte(s), "", true)
	}
	f.Add(seedFinding, "", false)
	f.Add([]byte("\x1f\x8b\x08\x00"), "gzip", true)

	cfg := testConfig()
	cfg.DedupWindow = 0 // every input is processed, none answered from memory
	cfg.MaxRequestBodySize = 64 << 10
	r := newInProcess(f, cfg)
	logs := new(consumertest.LogsSink)
	r.setConsumers(func(c *consumers) { c.logs = logs })
	server, err := cfg.ToServer(context.Background(), nil, componenttest.NewNopTelemetrySettings(), r.routes())
	require.NoError(f, err)

	f.Fuzz(func(t *testing.T, body []byte, encoding string, signed bool) {
		logs.Reset()
		req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
		signature := "forged"
		if signed {
			// Sign what the receiver will see: the decompressed body.
			plain := body
			if encoding == "gzip" {
				if p, err := gunzip(body); err == nil {
					plain = p
				}
			}
			signature = signBody(testSecret, plain)
		}
		req.Header.Set(signatureHeader, signature)
		if encoding != "" {
			req.Header.Set("Content-Encoding", encoding)
		}
		rec := httptest.NewRecorder()
		server.Handler.ServeHTTP(rec, req)

		if rec.Code >= 500 {
			t.Fatalf("status %d for healthy pipelines: %s", rec.Code, rec.Body)
		}
		if rec.Code != http.StatusOK && logs.LogRecordCount() != 0 {
			t.Fatalf("status %d but %d records", rec.Code, logs.LogRecordCount())
		}
		if rec.Code == http.StatusOK && logs.LogRecordCount() != 1 {
			t.Fatalf("accepted but %d records", logs.LogRecordCount())
		}
		if rec.Code == http.StatusOK && logs.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().Len() > 64 {
			t.Fatal("more than 64 attributes")
		}
	})
}
