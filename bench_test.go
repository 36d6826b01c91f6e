package detectifyreceiver

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"

	"github.com/detectify-otel/detectifyreceiver/internal/message"
	"github.com/detectify-otel/detectifyreceiver/internal/seed"
	"github.com/detectify-otel/detectifyreceiver/internal/state"
)

// reusableRequest is one POST whose body is rewound each iteration: the
// benchmarks measure the receiver's work, not building requests.
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
	rr.req.Header.Set(signatureHeader, signature)
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
func (w *discardWriter) WriteHeader(status int)      { w.status = status }

// BenchmarkHandler is the whole path of each seed message through the
// receiver's handler: verify, parse, claim and record in the state,
// translate, consume into nop pipelines. Dedup is off, so every iteration
// does the whole work.
func BenchmarkHandler(b *testing.B) {
	for _, m := range append(seed.Classic(), seed.Current()...) {
		b.Run(m.Name, func(b *testing.B) {
			cfg := testConfig()
			cfg.DedupWindow = 0
			loopHandler(b, newInProcess(b, cfg), m.Body, signBody(testSecret, m.Body), http.StatusOK)
		})
	}
}

// BenchmarkHandlerWithDedup is the default configuration (dedup on) over
// 4,096 signed bodies in turn: the first pass remembers them, every later
// pass takes the duplicate path.
func BenchmarkHandlerWithDedup(b *testing.B) {
	r := newInProcess(b, testConfig())
	bodies := make([][]byte, 4096)
	for i := range bodies {
		bodies[i] = fmt.Appendf(nil, `{"type":"event_finding_high","domain":"d%d.example","severity":"high","cvss_score":6.2,"title":"XSS","finding_url":"https://detectify.com/report/t/s/%d","tags":["new"]}`, i%16, i)
	}
	loopBodies(b, r, bodies)
}

// loopBodies sends the signed bodies through r's handler in turn for the
// whole benchmark, and returns the last answer's status.
func loopBodies(b *testing.B, r *detectifyReceiver, bodies [][]byte) int {
	sigs := make([]string, len(bodies))
	for i := range bodies {
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
	return w.status
}

// BenchmarkBadSignature is the cost of a forged request: one HMAC, no JSON.
func BenchmarkBadSignature(b *testing.B) {
	loopHandler(b, newInProcess(b, testConfig()), seedFinding, signBody("not-the-secret", seedFinding), http.StatusUnauthorized)
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

// BenchmarkStateRecord is one finding's claim and record in the state: it
// does not grow with the domains already known.
func BenchmarkStateRecord(b *testing.B) {
	for _, domains := range []int{1, 100, 10_000} {
		b.Run(fmt.Sprintf("domains=%d", domains), func(b *testing.B) {
			cfg := testConfig()
			cfg.DedupWindow = 0
			r := newInProcess(b, cfg)
			events := make([]message.Event, domains)
			for i := range events {
				var err error
				events[i], err = message.Parse(fmt.Appendf(nil, `{"type":"event_finding_high","domain":"d%d.example"}`, i))
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				var d state.Delivery
				err := r.state.ClaimInto(context.Background(), state.Key{}, time.Now(), &d)
				if err == nil {
					err = r.state.Record(context.Background(), &d, &events[i%domains], time.Now())
				}
				if err != nil || r.state.Settle(context.Background(), &d, true, time.Now()) != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkMetricsInterval is an interval's emission of every series.
func BenchmarkMetricsInterval(b *testing.B) {
	for _, domains := range []int{1, 100, 10_000} {
		b.Run(fmt.Sprintf("domains=%d", domains), func(b *testing.B) {
			cfg := testConfig()
			cfg.DedupWindow = 0
			r := newInProcess(b, cfg)
			for i := range domains {
				body := fmt.Appendf(nil, `{"type":"event_scan_finished","domain":"d%d.example","critical_findings":1}`, i)
				if code := postInProcess(b, r, body); code != http.StatusOK {
					b.Fatal(code)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				r.emitMetrics(context.Background(), true)
			}
		})
	}
}

// BenchmarkWebhookPathWithAPI is the handler's work for whole scans (a
// start, three findings, a finish that reports five, so that every finish
// queues a backfill when api: is set), without and with api: side by side
// in one run. The backfill's worker is not running: what is measured is
// what api: adds to the webhook path (the job queued in the finish's
// update, the worker woken).
func BenchmarkWebhookPathWithAPI(b *testing.B) {
	for _, withAPI := range []bool{false, true} {
		b.Run(fmt.Sprintf("api=%v", withAPI), func(b *testing.B) {
			cfg := testConfig()
			cfg.DedupWindow = 0
			if withAPI {
				cfg.API = &APIConfig{Key: apiKey}
			}
			r := newInProcess(b, cfg)
			if withAPI {
				var err error
				if r.backfill, err = newBackfiller(context.Background(), r, componenttest.NewNopHost()); err != nil {
					b.Fatal(err)
				}
			}
			const scans = 1024
			var bodies [][]byte
			for s := range scans {
				report := fmt.Sprintf("https://detectify.com/report/tok/s%d", s)
				bodies = append(bodies, fmt.Appendf(nil, `{"type":"event_scan_started","domain":"d%d.example","report_url":%q}`, s%16, report))
				for f := range 3 {
					bodies = append(bodies, fmt.Appendf(nil, `{"type":"event_finding_high","domain":"d%d.example","title":"XSS %d","severity":"high","finding_url":"%s/f%d"}`, s%16, f, report, f))
				}
				bodies = append(bodies, fmt.Appendf(nil, `{"type":"event_scan_finished","domain":"d%d.example","report_url":%q,"critical_findings":5}`, s%16, report))
			}
			if status := loopBodies(b, r, bodies); status != http.StatusOK {
				b.Fatalf("status %d", status)
			}
		})
	}
}
