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

// xSink is an OTLP/HTTP backend (JSON encoding) in the test process: it
// outlives the collectors the tests kill, so what a collector exported
// before a SIGKILL is still there to count. With the exporter's queue off,
// a record is here before the webhook that made it is answered.
type xSink struct {
	url string
	// logsDelay holds each logs export this long after its records are
	// kept, before the answer: a receiver emitting to it holds its claim
	// on the body that long, so a SIGKILL finds claims held.
	logsDelay atomic.Int64

	mu      sync.Mutex
	records []xRecord
	// starts holds the start time of every detectify.findings and
	// detectify.scans point received, and how many points had it.
	starts map[time.Time]int
}

// xRecord is what the tests look at of one log record.
type xRecord struct {
	digest    [sha256.Size]byte // of the body
	eventName string
	attrs     map[string]any
}

func startXSink(t *testing.T) *xSink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &xSink{url: "http://" + l.Addr().String(), starts: map[time.Time]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/logs", s.handleLogs)
	mux.HandleFunc("POST /v1/metrics", s.handleMetrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

func (s *xSink) handleLogs(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var got []xRecord
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				got = append(got, xRecord{
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
	xWriteOTLPOK(w)
}

func (s *xSink) handleMetrics(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	md, err := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Type() != pmetric.MetricTypeSum || (m.Name() != "detectify.findings" && m.Name() != "detectify.scans") {
					continue
				}
				for _, dp := range m.Sum().DataPoints().All() {
					s.starts[dp.StartTimestamp().AsTime()]++
				}
			}
		}
	}
	s.mu.Unlock()
	xWriteOTLPOK(w)
}

func xWriteOTLPOK(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, "{}")
}

// snapshot returns the records received so far.
func (s *xSink) snapshot() []xRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]xRecord(nil), s.records...)
}

// counts returns how many records of each body arrived.
func (s *xSink) counts() map[[sha256.Size]byte]int {
	out := map[[sha256.Size]byte]int{}
	for _, r := range s.snapshot() {
		out[r.digest]++
	}
	return out
}

// startTimes returns the distinct start times of the counters received.
func (s *xSink) startTimes() map[time.Time]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[time.Time]int, len(s.starts))
	for k, v := range s.starts {
		out[k] = v
	}
	return out
}

// resetStartTimes forgets the start times received so far.
func (s *xSink) resetStartTimes() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.starts)
}

// xExporterConfig is an otlp_http exporter to a sink without a sending
// queue: the pipeline's ConsumeLogs returns once the sink has the data, so
// a record the receiver acknowledged cannot be lost by a SIGKILL of the
// collector, and what the sink has is what the receiver emitted.
const xExporterConfig = `
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
