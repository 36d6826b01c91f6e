package detectifyreceiver

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumertest"
	nooptrace "go.opentelemetry.io/otel/trace/noop"
)

// benchReceiver is a receiver with nop pipelines whose handler is driven
// directly: the benchmarks measure our work, not the loopback network.
func benchReceiver(b *testing.B, configure func(*Config)) *detectifyReceiver {
	b.Helper()
	cfg := createDefaultConfig()
	cfg.Secret = testSecret
	if configure != nil {
		configure(cfg)
	}
	// A real meter and a no-op tracer, as with
	// service.telemetry.traces.level: none (docs/PERFORMANCE.md measures both).
	set := receiverSettingsForTest(b)
	set.TracerProvider = nooptrace.NewTracerProvider()
	r, err := newDetectifyReceiver(cfg, set)
	if err != nil {
		b.Fatal(err)
	}
	r.logsConsumer = consumertest.NewNop()
	r.metricsConsumer = consumertest.NewNop()
	r.metrics = newMetricState(r.settings, cfg.metricsBuilderConfig(), time.Now())
	return r
}

// reusableRequest is one POST whose body is rewound each iteration.
type reusableRequest struct {
	req  *http.Request
	body *rewindableBody
}

type rewindableBody struct{ bytes.Reader }

func (*rewindableBody) Close() error { return nil }

func newReusableRequest(body []byte, signature string) *reusableRequest {
	rr := &reusableRequest{body: &rewindableBody{}}
	rr.body.Reset(body)
	rr.req = httptest.NewRequest(http.MethodPost, "/webhook", rr.body)
	rr.req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		rr.req.Header.Set(signatureHeader, signature)
	}
	return rr
}

func (rr *reusableRequest) rewind(body []byte) {
	rr.body.Reset(body)
	rr.req.Body = rr.body
	rr.req.ContentLength = int64(len(body))
}

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

func (w *discardWriter) WriteString(s string) (int, error) { return len(s), nil }
func (w *discardWriter) WriteHeader(status int)            { w.status = status }

// BenchmarkHandler is the full path of each seed message: verify, parse,
// translate, count, consume into nop pipelines. Dedup is off, so every
// iteration does the whole work.
func BenchmarkHandler(b *testing.B) {
	for _, seed := range seedMessages {
		b.Run(seed, func(b *testing.B) {
			r := benchReceiver(b, func(cfg *Config) { cfg.DedupWindow = 0 })
			body := readSeed(b, seed)
			loopHandler(b, r, body, signBody(testSecret, body), http.StatusOK)
		})
	}
}

// BenchmarkHandlerWithDedup is the default configuration (dedup on) over
// 4,096 signed bodies in turn: the first pass writes them into the dedup
// memory, every later pass takes the duplicate fast path.
func BenchmarkHandlerWithDedup(b *testing.B) {
	r := benchReceiver(b, func(cfg *Config) { cfg.DedupMaxEntries = 10_000 })
	bodies := make([][]byte, 4096)
	sigs := make([]string, len(bodies))
	for i := range bodies {
		bodies[i] = fmt.Appendf(nil, `{"type":"event_finding_high","domain":"d%d.example","severity":"high","cvss_score":6.2,"title":"XSS","finding_url":"https://detectify.com/report/t/s/%d","tags":["new"]}`, i%16, i)
		sigs[i] = signBody(testSecret, bodies[i])
	}
	rr := newReusableRequest(bodies[0], sigs[0])
	w := &discardWriter{header: http.Header{}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		n := i % len(bodies)
		rr.rewind(bodies[n])
		rr.req.Header.Set(signatureHeader, sigs[n])
		clear(w.header)
		r.handleWebhook(w, rr.req)
		i++
	}
}

// BenchmarkBadSignature is the cost of a forged request: one HMAC, no JSON.
func BenchmarkBadSignature(b *testing.B) {
	r := benchReceiver(b, nil)
	body := readSeed(b, "finding_high")
	loopHandler(b, r, body, signBody("not-the-secret", body), http.StatusUnauthorized)
}

// loopHandler sends the same signed body through r's handler for the whole
// benchmark and checks the last answer.
func loopHandler(b *testing.B, r *detectifyReceiver, body []byte, signature string, want int) {
	rr := newReusableRequest(body, signature)
	w := &discardWriter{header: http.Header{}}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		rr.rewind(body)
		clear(w.header)
		r.handleWebhook(w, rr.req)
	}
	if w.status != want {
		b.Fatalf("status %d, want %d", w.status, want)
	}
}

// BenchmarkMetricRecord is the state update of one event: O(1) whatever
// the number of domains already known.
func BenchmarkMetricRecord(b *testing.B) {
	for _, domains := range []int{1, 100, 10_000} {
		b.Run(fmt.Sprintf("domains=%d", domains), func(b *testing.B) {
			s := newMetricState(receiverSettingsForTest(b), createDefaultConfig().metricsBuilderConfig(), time.Now())
			events := make([]event, domains)
			for i := range events {
				w := &webhook{eventType: optional[string]{value: "event_finding_high", ok: true},
					domain: optional[string]{value: fmt.Sprintf("d%d.example", i), ok: true}}
				events[i] = classify(w)
				s.record(events[i])
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				s.record(events[i%domains])
				i++
			}
		})
	}
}

// BenchmarkMetricsInterval is the periodic emission of every series.
func BenchmarkMetricsInterval(b *testing.B) {
	for _, domains := range []int{1, 100, 10_000} {
		b.Run(fmt.Sprintf("domains=%d", domains), func(b *testing.B) {
			s := newMetricState(receiverSettingsForTest(b), createDefaultConfig().metricsBuilderConfig(), time.Now())
			for i := range domains {
				w := &webhook{eventType: optional[string]{value: "event_scan_finished", ok: true},
					domain:   optional[string]{value: fmt.Sprintf("d%d.example", i), ok: true},
					critical: optional[int64]{value: 1, ok: true}}
				s.record(classify(w))
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = s.snapshotAll(time.Now())
			}
		})
	}
}
