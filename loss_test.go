package detectifyreceiver

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

// bodyLedger keeps a digest of every log body a pipeline accepted and
// counts the bodies it accepted more than once.
type bodyLedger struct {
	mu         sync.Mutex
	bodies     map[[sha256.Size]byte]int
	duplicates int
}

func (l *bodyLedger) record(ld plog.Logs) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bodies == nil {
		l.bodies = map[[sha256.Size]byte]int{}
	}
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				key := sha256.Sum256([]byte(lr.Body().Str()))
				l.bodies[key]++
				if l.bodies[key] > 1 {
					l.duplicates++
				}
			}
		}
	}
}

// lossyConsumer refuses a share of its calls and records the log bodies
// it accepted. It stands for a pipeline under pressure (memory_limiter) or
// one with a processor that rejects.
type lossyConsumer struct {
	bodyLedger
	calls     atomic.Uint64
	failEvery uint64 // fail one call in failEvery; the choice is scattered, not periodic
	fail      func() error
}

func newLossyConsumer(failEvery uint64, fail func() error) *lossyConsumer {
	return &lossyConsumer{failEvery: failEvery, fail: fail}
}

func (c *lossyConsumer) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (c *lossyConsumer) refuse() bool {
	n := c.calls.Add(1)
	return c.failEvery > 0 && (n*2654435761)%c.failEvery == 0
}

func (c *lossyConsumer) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	if c.refuse() {
		return c.fail()
	}
	c.record(ld)
	return nil
}

func (c *lossyConsumer) ConsumeMetrics(context.Context, pmetric.Metrics) error {
	if c.refuse() {
		return c.fail()
	}
	return nil
}

// lossRun sends n distinct findings with 32 senders that retry on 503 as
// Detectify would, through pipelines that refuse a share of the calls.
func lossRun(t *testing.T, n int, logs, metrics *lossyConsumer) (webhooksend.Summary, *harness) {
	h := newHarness(t, func(cfg *Config) { cfg.MetricsFlushInterval = 10 * time.Millisecond })
	h.rcv.setConsumers(func(c *consumers) { c.logs, c.metrics = logs, metrics })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	summary, err := webhooksend.Run(ctx, webhooksend.Config{
		URL:         h.baseURL + "/webhook",
		Messages:    webhooksend.UniqueFindings(n, 1),
		Secret:      []byte(testSecret),
		Concurrency: 32,
		Retries:     50,
		MaxBackoff:  time.Millisecond, // honour Retry-After, but not its full second, to keep the test short
		BackoffBase: time.Millisecond,
	})
	require.NoError(t, err)
	return summary, h
}

// lossWebhooks is how many webhooks the loss accounting sends: 100,000 by
// default; `make unit` sets fewer, as the race detector slows it tenfold,
// and `make loss` runs the full count without it.
func lossWebhooks(t *testing.T) int {
	n := 100_000
	if v := os.Getenv("DETECTIFY_LOSS_WEBHOOKS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(t, err, "DETECTIFY_LOSS_WEBHOOKS")
	}
	return n
}

// TestNothingLostNothingDoubledUnderRetryableFailures is the loss accounting
// of the collector testbed: every unique webhook sent is one log record and
// one count, however often the pipelines pushed back. The metrics pipeline
// refusing has no effect on the webhooks: its emissions are retried by the
// next flush.
func TestNothingLostNothingDoubledUnderRetryableFailures(t *testing.T) {
	n := lossWebhooks(t)
	full := func() error { return errors.New("data refused due to high memory usage") }
	logs, metrics := newLossyConsumer(10, full), newLossyConsumer(7, full)

	summary, h := lossRun(t, n, logs, metrics)
	t.Logf("%d webhooks: %d retries; outcomes %v; %d records", n, summary.Retries, h.outcomeCounts(), len(logs.bodies))

	assert.Equal(t, n, summary.Sent)
	assert.Equal(t, n, summary.Delivered, "summary: %s", summary)
	assert.Zero(t, summary.Failed)
	assert.Positive(t, summary.Retries, "the pipelines must have pushed back for the test to mean anything")
	assert.Len(t, logs.bodies, n, "every unique webhook is a log record")
	assert.Zero(t, logs.duplicates, "no webhook is a log record twice")
	assert.Equal(t, int64(n), h.countedWebhooks(t), "the counters count each finding once")
	outcomes := h.outcomeCounts()
	assert.Equal(t, int64(n), outcomes["accepted"])
	assert.Equal(t, int64(summary.Retries), outcomes["refused"]+outcomes["duplicate"])
}

// TestPermanentFailuresAreCountedNotRetried: a logs pipeline that refuses
// for good gets a 400, which is final: the sender gives up, no record is
// emitted for that webhook, and the refusal is counted; the finding itself
// is counted in the metrics, as it was received.
func TestPermanentFailuresAreCountedNotRetried(t *testing.T) {
	n := lossWebhooks(t) / 5
	logs := newLossyConsumer(20, func() error { return consumererror.NewPermanent(errors.New("rejected by a processor")) })
	metrics := newLossyConsumer(0, nil)

	summary, h := lossRun(t, n, logs, metrics)

	refused := int(h.telemetryTotal("otelcol_receiver_refused_log_records"))
	assert.Positive(t, refused)
	assert.Equal(t, refused, summary.Failed, "each permanent refusal is one failed delivery")
	assert.Equal(t, refused, summary.FinalStatus[http.StatusBadRequest])
	assert.Zero(t, summary.Retries, "a 400 is never retried")
	assert.Len(t, logs.bodies, n-refused)
	assert.Zero(t, logs.duplicates)
	assert.Equal(t, int64(n), h.countedWebhooks(t), "every finding received is counted")
}
