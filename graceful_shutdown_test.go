package detectifyreceiver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/goleak"
)

// shutdownSink is a slow pipeline: each call takes delay, so that many
// requests are inside it when Shutdown begins. It refuses (retryably) one
// call in refuseEvery, keeps a digest of every log body it accepted, and
// counts calls that begin after Shutdown returned, which must never happen.
type shutdownSink struct {
	delay       time.Duration
	refuseEvery int64

	calls        atomic.Int64
	inside       atomic.Int64 // calls in progress
	shutDown     atomic.Bool  // set once the receiver's Shutdown returned
	callsAfter   atomic.Int64 // calls that began after that
	metricsCalls atomic.Int64

	bodyLedger
}

func newShutdownSink(delay time.Duration, refuseEvery int64) *shutdownSink {
	return &shutdownSink{delay: delay, refuseEvery: refuseEvery}
}

func (s *shutdownSink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

// enter begins a call; the returned error is the pipeline's answer.
func (s *shutdownSink) enter() error {
	if s.shutDown.Load() {
		s.callsAfter.Add(1)
	}
	s.inside.Add(1)
	time.Sleep(s.delay)
	if n := s.calls.Add(1); s.refuseEvery > 0 && (n*2654435761)%s.refuseEvery == 0 {
		return errors.New("data refused due to high memory usage")
	}
	return nil
}

func (s *shutdownSink) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	defer s.inside.Add(-1)
	if err := s.enter(); err != nil {
		return err
	}
	s.record(ld)
	return nil
}

func (s *shutdownSink) ConsumeMetrics(context.Context, pmetric.Metrics) error {
	defer s.inside.Add(-1)
	s.metricsCalls.Add(1)
	return s.enter()
}

// shutdownLoad is what the senders saw.
type shutdownLoad struct {
	mu              sync.Mutex
	acknowledged    map[[sha256.Size]byte]bool // answered 200
	retryable       int                        // 503 answers
	withoutRetryHdr int                        // 503 answers without Retry-After
	transportErrors int
	unexpected      []string
}

// TestGracefulShutdownUnderLoad shuts the receiver down (both pipelines, as
// the collector does) while 64 senders post signed findings through a slow
// pipeline. Every request must either be answered 200, with its record in
// the pipeline, or get a retryable answer (503) or a connection error:
// nothing acknowledged may be missing, no pipeline call may begin after
// Shutdown returned, and no goroutine may be left.
func TestGracefulShutdownUnderLoad(t *testing.T) {
	tests := []struct {
		name        string
		refuseEvery int64
	}{
		{name: "healthy pipelines"},
		{name: "pipelines refusing one call in 8", refuseEvery: 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Registered first, so it runs after the harness's own cleanup.
			t.Cleanup(func() { goleak.VerifyNone(t, goleak.IgnoreCurrent()) })
			testGracefulShutdownUnderLoad(t, tt.refuseEvery)
		})
	}
}

func testGracefulShutdownUnderLoad(t *testing.T, refuseEvery int64) {
	const senders = 64
	h := newHarness(t, func(cfg *Config) { cfg.MetricsFlushInterval = 50 * time.Millisecond })
	sink := newShutdownSink(20*time.Millisecond, refuseEvery)
	h.rcv.setConsumers(func(c *consumers) { c.logs, c.metrics = sink, sink })

	transport := &http.Transport{MaxIdleConnsPerHost: senders}
	client := &http.Client{Transport: transport, Timeout: 2 * time.Minute}
	defer transport.CloseIdleConnections()
	load := &shutdownLoad{acknowledged: map[[sha256.Size]byte]bool{}}
	url := h.baseURL + h.cfg.Path

	var wg sync.WaitGroup
	for w := range senders {
		wg.Go(func() { sendUntilRefused(client, url, w, load) })
	}

	// Shut down once the load is steady and most senders are inside the
	// slow pipeline; the bound only keeps a broken receiver from hanging
	// the test.
	require.Eventually(t, func() bool { return sink.calls.Load() >= 4*senders && sink.inside.Load() >= senders/2 },
		time.Minute, time.Millisecond, "the senders never filled the pipeline")
	insideAtShutdown := sink.inside.Load()
	h.shutdown()
	sink.shutDown.Store(true)
	wg.Wait()

	load.mu.Lock()
	defer load.mu.Unlock()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	t.Logf("in the pipeline when Shutdown began: %d; answered 200: %d, 503: %d, connection errors: %d; records in the pipeline: %d",
		insideAtShutdown, len(load.acknowledged), load.retryable, load.transportErrors, len(sink.bodies))

	assert.Empty(t, load.unexpected, "answers other than 200, 503 and connection errors")
	assert.Zero(t, load.withoutRetryHdr, "503 answers without Retry-After")
	assert.Positive(t, load.transportErrors, "senders must have run into the closed listener")
	missing := 0
	for key := range load.acknowledged {
		if sink.bodies[key] == 0 {
			missing++
		}
	}
	assert.Zero(t, missing, "acknowledged webhooks missing from the pipeline")
	assert.Zero(t, sink.duplicates, "webhooks emitted twice")
	assert.Zero(t, sink.callsAfter.Load(), "pipeline calls that began after Shutdown returned")
	assert.Zero(t, sink.inside.Load(), "pipeline calls still running after Shutdown returned")
	if refuseEvery == 0 {
		// Healthy pipelines: whatever reached them was answered 200, so
		// Detectify will not send it again.
		assert.Len(t, sink.bodies, len(load.acknowledged), "records in the pipeline that were never acknowledged")
		assert.Equal(t, int64(len(load.acknowledged)), h.countedWebhooks(t), "each acknowledged finding counted once")
	} else {
		assert.Positive(t, load.retryable, "the pipelines must have refused for the test to mean anything")
	}
}

// sendUntilRefused posts distinct findings, retrying each on 503 as
// Detectify does, until the receiver stops taking connections.
func sendUntilRefused(client *http.Client, url string, worker int, load *shutdownLoad) {
	for i := 0; ; i++ {
		body := fmt.Appendf(nil, `{"type":"event_finding_high","domain":"shutdown.example.com","title":"finding %d of sender %d"}`, i, worker)
		for {
			req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				panic(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(signatureHeader, signBody(testSecret, body))
			resp, err := client.Do(req)
			load.mu.Lock()
			switch {
			case err != nil:
				load.transportErrors++
				load.mu.Unlock()
				return
			case resp.StatusCode == http.StatusOK:
				load.acknowledged[sha256.Sum256(body)] = true
			case resp.StatusCode == http.StatusServiceUnavailable:
				load.retryable++
				if resp.Header.Get("Retry-After") == "" {
					load.withoutRetryHdr++
				}
			default:
				load.unexpected = append(load.unexpected, resp.Status)
			}
			load.mu.Unlock()
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				break
			}
		}
	}
}
