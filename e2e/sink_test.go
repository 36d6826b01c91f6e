package e2e

import (
	"crypto/sha256"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// otlpSink is an OTLP/HTTP backend (JSON encoding) in the test process: it
// outlives the collectors the tests kill, so what a collector exported
// before a SIGKILL is still there to count. With the exporter's queue off
// (sinkExporters), a record is here before the webhook that made it
// is answered. It can be down: it then answers 503, which exporters retry.
type otlpSink struct {
	url  string
	down atomic.Bool
	// logsDelay holds each logs export this long after its records are
	// kept, before the answer: a receiver emitting to it holds its claim
	// on the body that long, so a SIGKILL finds claims held.
	logsDelay atomic.Int64

	mu      sync.Mutex
	records []sinkRecord
	// starts holds the start time of every detectify.findings and
	// detectify.scans point received, and how many points had it.
	starts map[time.Time]int
	// findings is the highest detectify.findings value of each series, by
	// domain and severity (exporters may reorder; the counts are cumulative).
	findings map[string]int64
}

// sinkRecord is what the tests look at of one log record.
type sinkRecord struct {
	digest    [sha256.Size]byte // of the body
	eventName string
	attrs     map[string]any
}

func startOTLPSink(t *testing.T) *otlpSink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &otlpSink{url: "http://" + l.Addr().String(), starts: map[time.Time]int{}, findings: map[string]int64{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/logs", s.handleLogs)
	mux.HandleFunc("POST /v1/metrics", s.handleMetrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

func (s *otlpSink) setDown(down bool) { s.down.Store(down) }

// read returns the request's body, or false once it has answered.
func (s *otlpSink) read(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if s.down.Load() {
		http.Error(w, "backend down", http.StatusServiceUnavailable)
		return nil, false
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, false
	}
	return body, true
}

func (s *otlpSink) handleLogs(w http.ResponseWriter, r *http.Request) {
	body, ok := s.read(w, r)
	if !ok {
		return
	}
	ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var got []sinkRecord
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				got = append(got, sinkRecord{
					digest:    sha256.Sum256([]byte(lr.Body().AsString())),
					eventName: lr.EventName(),
					attrs:     lr.Attributes().AsRaw(),
				})
			}
		}
	}
	s.mu.Lock()
	s.records = append(s.records, got...)
	s.mu.Unlock()
	if d := time.Duration(s.logsDelay.Load()); d > 0 {
		time.Sleep(d)
	}
	writeOTLPOK(w)
}

func (s *otlpSink) handleMetrics(w http.ResponseWriter, r *http.Request) {
	body, ok := s.read(w, r)
	if !ok {
		return
	}
	md, err := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Type() != pmetric.MetricTypeSum || (m.Name() != "detectify.findings" && m.Name() != "detectify.scans") {
					continue
				}
				for _, dp := range m.Sum().DataPoints().All() {
					s.starts[dp.StartTimestamp().AsTime()]++
					if m.Name() == "detectify.findings" {
						domain, _ := dp.Attributes().Get("detectify.domain")
						severity, _ := dp.Attributes().Get("detectify.finding.severity")
						key := domain.AsString() + "|" + severity.AsString()
						s.findings[key] = max(s.findings[key], dp.IntValue())
					}
				}
			}
		}
	}
	writeOTLPOK(w)
}

func writeOTLPOK(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, "{}")
}

// snapshot returns the records received so far.
func (s *otlpSink) snapshot() []sinkRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkRecord(nil), s.records...)
}

// counts returns how many records of each body arrived.
func (s *otlpSink) counts() map[[sha256.Size]byte]int {
	out := map[[sha256.Size]byte]int{}
	for _, r := range s.snapshot() {
		out[r.digest]++
	}
	return out
}

// findingsTotal sums the latest detectify.findings value of every series.
func (s *otlpSink) findingsTotal() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var total int64
	for _, v := range s.findings {
		total += v
	}
	return total
}

// startTimes returns the distinct start times of the counters received.
func (s *otlpSink) startTimes() map[time.Time]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[time.Time]int, len(s.starts))
	for k, v := range s.starts {
		out[k] = v
	}
	return out
}

// resetStartTimes forgets the start times received so far.
func (s *otlpSink) resetStartTimes() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.starts)
}

// recordsReport compares the records a sink (or several) got with the
// bodies that were acknowledged: how many of them are missing, how many
// records are extra copies, and how many records match no body sent.
func recordsReport(got map[[sha256.Size]byte]int, sent map[[sha256.Size]byte]bool) (missing, doubles, unknown int) {
	for d := range sent {
		switch n := got[d]; {
		case n == 0:
			missing++
		case n > 1:
			doubles += n - 1
		}
	}
	for d, n := range got {
		if !sent[d] {
			unknown += n
		}
	}
	return missing, doubles, unknown
}

// sinkExporters are a prometheus exporter on @PROM@ and an otlp_http
// exporter to the sink on @SINK@ without a sending queue: the pipeline's
// ConsumeLogs returns once the sink has the data, so a record the receiver
// acknowledged cannot be lost by a SIGKILL of the collector, and what the
// sink has is what the receiver emitted. sinkPipelines use them.
const sinkExporters = `
exporters:
  prometheus:
    endpoint: @PROM@
  otlp_http/sink:
    endpoint: @SINK@
    encoding: json
    compression: none
    sending_queue:
      enabled: false
    retry_on_failure:
      enabled: true
      initial_interval: 50ms
      max_interval: 200ms
`

const sinkPipelines = `
  pipelines:
    logs:
      receivers: [detectify]
      exporters: [otlp_http/sink]
    metrics:
      receivers: [detectify]
      exporters: [prometheus, otlp_http/sink]
`
