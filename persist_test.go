package detectifyreceiver

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

var storageID = component.MustNewIDWithName("file_storage", "detectify")

// hostWithExtensions is a host that offers the given extensions, as the
// collector's service does.
type hostWithExtensions struct {
	component.Host
	extensions map[component.ID]component.Component
}

func (h hostWithExtensions) GetExtensions() map[component.ID]component.Component { return h.extensions }

// startFileStorage runs the real file_storage extension on dir.
func startFileStorage(t *testing.T, dir string) component.Host {
	factory := filestorage.NewFactory()
	cfg := factory.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	ext, err := factory.Create(context.Background(), extensiontest.NewNopSettings(factory.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	return hostWithExtensions{Host: componenttest.NewNopHost(), extensions: map[component.ID]component.Component{storageID: ext}}
}

func withStorage(cfg *Config) { cfg.StorageID = &storageID }

func TestStateSurvivesARestartWithStorage(t *testing.T) {
	host := startFileStorage(t, t.TempDir())
	before := newHarnessOn(t, host, withStorage)
	before.postOK(seedScanStarted, seedFinding)
	before.setNow(testNow.Add(time.Minute))
	before.postOK(seedScanFinished)
	before.interval()
	counts := before.metrics.current(t)
	before.shutdown()

	// A fresh start time would differ: the clock has moved on (within the
	// dedup window).
	after := newHarnessAt(t, host, testNow.Add(5*time.Minute), withStorage)
	require.Eventually(t, func() bool { return len(after.metrics.emissions()) == 1 }, 10*time.Second, time.Millisecond,
		"restored series are emitted at start, not only at the first interval")
	assert.Equal(t, counts, after.metrics.current(t), "counts and last-scan gauges survive")
	assertStartTime(t, after.metrics.emissions()[0], testNow)

	resp := after.post(seedFinding)
	assert.Equal(t, answerText(answerDuplicate), resp.body, "the dedup memory survives")
	assert.Empty(t, after.logs.records())
	after.postOK([]byte(`{"type":"event_finding_high","domain":"my.domain","title":"another"}`))
	after.flush()
	assert.Equal(t, 2.0, after.metrics.current(t)["detectify.findings{detectify.domain=my.domain,detectify.finding.severity=high}"],
		"new findings add to the restored count")
}

// A scan that started before a restart finishes after it with its
// duration and withheld findings measured from the first start.
func TestScanSpanningARestart(t *testing.T) {
	host := startFileStorage(t, t.TempDir())
	before := newHarnessOn(t, host, withStorage)
	before.postOK(seedScanStarted, seedFinding)
	before.shutdown()

	after := newHarnessAt(t, host, testNow.Add(time.Hour), withStorage)
	after.postOK(seedScanFinished)
	attrs := recordAttributes(after.logs.records()[0])
	assert.Equal(t, int64(1), attrs["detectify.scan.findings.delivered"])
	assert.Equal(t, int64(2), attrs["detectify.scan.findings.undelivered"])
	assert.Equal(t, 3600.0, attrs["detectify.scan.duration"])
}

// assertStartTime checks every cumulative series of md starts at start.
func assertStartTime(t *testing.T, md pmetric.Metrics, start time.Time) {
	t.Helper()
	n := 0
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Type() != pmetric.MetricTypeSum {
					continue
				}
				for _, dp := range m.Sum().DataPoints().All() {
					assert.Equal(t, start, dp.StartTimestamp().AsTime(), "%s", m.Name())
					n++
				}
			}
		}
	}
	require.NotZero(t, n, "no cumulative series")
}

func TestWithoutStorageARestartStartsAgain(t *testing.T) {
	before := newHarness(t, nil)
	before.postOK(seedFinding)
	before.shutdown()
	after := newHarnessAt(t, componenttest.NewNopHost(), testNow.Add(time.Hour), nil)
	after.postOK(seedScanStarted)
	after.flush()
	got := after.metrics.current(t)
	assert.Equal(t, 0.0, got["detectify.findings{detectify.domain=my.domain,detectify.finding.severity=high}"], "the counts start again")
	assertStartTime(t, after.metrics.emissions()[0], testNow.Add(time.Hour))
	after.postOK(seedFinding)
	assert.Len(t, after.logs.records(), 2, "and the dedup memory")
}

func TestStartFailsWithoutTheStorageExtension(t *testing.T) {
	cfg := testConfig()
	withStorage(cfg)
	rcv, err := NewFactory().CreateLogs(context.Background(), receiverSettingsForTest(t), cfg, new(scriptedLogs))
	require.NoError(t, err)
	err = rcv.Start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, `extension "file_storage/detectify" is not configured`)
	require.NoError(t, rcv.Shutdown(context.Background()))
}

// crashableStorage is an in-memory storage extension whose data outlives
// the receivers using it, so that a test can drop a receiver without a
// clean shutdown (a crash) and start another on what it wrote. Writes are
// counted. The end-to-end tests do the same with file_storage and SIGKILL.
type crashableStorage struct {
	component.StartFunc
	component.ShutdownFunc
	mu     sync.Mutex
	data   map[string][]byte
	writes int
	// gate, when set, holds every journal write (what webhooks changed;
	// not a compaction's) until it is closed; held hears of each.
	gate, held chan struct{}
}

// holdWrites makes journal writes wait until release; held receives once
// for each write that waits.
func (s *crashableStorage) holdWrites() (held <-chan struct{}, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate, s.held = make(chan struct{}), make(chan struct{}, 16)
	return s.held, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.gate != nil {
			close(s.gate)
			s.gate = nil
		}
	}
}

func newCrashableStorage() *crashableStorage { return &crashableStorage{data: map[string][]byte{}} }

func (s *crashableStorage) host() component.Host {
	return hostWithExtensions{Host: componenttest.NewNopHost(), extensions: map[component.ID]component.Component{storageID: s}}
}

func (s *crashableStorage) GetClient(context.Context, component.Kind, component.ID, string) (storage.Client, error) {
	return crashableClient{s}, nil
}

func (s *crashableStorage) keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.data))
}

func (s *crashableStorage) writeCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

type crashableClient struct{ s *crashableStorage }

func (c crashableClient) Get(ctx context.Context, key string) ([]byte, error) {
	op := storage.GetOperation(key)
	return op.Value, c.Batch(ctx, op)
}

func (c crashableClient) Set(ctx context.Context, key string, value []byte) error {
	return c.Batch(ctx, storage.SetOperation(key, value))
}

func (c crashableClient) Delete(ctx context.Context, key string) error {
	return c.Batch(ctx, storage.DeleteOperation(key))
}

func (c crashableClient) Batch(_ context.Context, ops ...*storage.Operation) error {
	c.s.mu.Lock()
	gate, held := c.s.gate, c.s.held
	c.s.mu.Unlock()
	if gate != nil && slices.ContainsFunc(ops, func(op *storage.Operation) bool {
		return op.Type == storage.Set && strings.HasPrefix(op.Key, "detectify/j/")
	}) {
		select {
		case held <- struct{}{}:
		default: // nobody counts them
		}
		<-gate
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			op.Value = c.s.data[op.Key]
		case storage.Set:
			c.s.data[op.Key] = append([]byte(nil), op.Value...)
			c.s.writes++
		case storage.Delete:
			delete(c.s.data, op.Key)
		}
	}
	return nil
}

func (crashableClient) Close(context.Context) error { return nil }

// crash stops h as a SIGKILL would: no shutdown, no last write.
func (h *harness) crash() {
	h.rcv.cancelRun()
	_ = h.rcv.server.Close()
	h.shutdown = func() {}
}

// With storage, a 200 means the webhook is in the storage extension: a
// crash right after the answers loses nothing acknowledged, and every
// redelivery of those bodies is a duplicate.
func TestACrashAfterTheAnswerLosesNothing(t *testing.T) {
	store := newCrashableStorage()
	before := newHarnessOn(t, store.host(), withStorage)
	var bodies [][]byte
	for i := range 7 {
		bodies = append(bodies, []byte(`{"type":"event_finding_high","domain":"crash.example.com","title":"t`+strings.Repeat("x", i)+`"}`))
	}
	before.postOK(bodies...)
	before.crash()

	after := newHarnessAt(t, store.host(), testNow.Add(5*time.Minute), withStorage)
	after.interval()
	assert.Equal(t, 7.0, after.metrics.current(t)["detectify.findings{detectify.domain=crash.example.com,detectify.finding.severity=high}"])
	for _, body := range bodies {
		assert.Equal(t, answerText(answerDuplicate), after.post(body).body)
	}
	assert.Empty(t, after.logs.records())
}

// A redelivery is answered duplicate only once what it duplicates is
// written: while the first delivery's write is held, the redelivery gets
// no answer but "in flight" (as long as the first is being processed).
func TestADuplicateIsAnsweredOnceTheOriginalIsWritten(t *testing.T) {
	store := newCrashableStorage()
	h := newHarnessOn(t, store.host(), withStorage)
	held, release := store.holdWrites()
	t.Cleanup(release) // before the harness's shutdown, which writes
	first := make(chan response, 1)
	go func() { first <- h.post(seedFinding) }()
	<-held // the first delivery's write is waiting

	again := make(chan response, 1)
	go func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			a := h.post(seedFinding)
			if a.body != answerText(answerInFlight) || time.Now().After(deadline) {
				again <- a
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	select {
	case a := <-again:
		t.Fatalf("the redelivery was answered %d %s before the original was written", a.status, a.body)
	case <-time.After(300 * time.Millisecond):
	}
	release()
	assert.Equal(t, answerText(answerAccepted), (<-first).body)
	assert.Equal(t, answerText(answerDuplicate), (<-again).body)
}

// Every metrics_interval the journal is compacted, so that a restart
// replays only what came after.
func TestEveryIntervalCompactsTheJournal(t *testing.T) {
	store := newCrashableStorage()
	h := newHarnessOn(t, store.host(), withStorage)
	h.postOK(seedScanStarted, seedFinding)
	assert.True(t, slices.ContainsFunc(store.keys(), func(k string) bool { return strings.HasPrefix(k, "detectify/j/") }),
		"journaled: %v", store.keys())
	h.interval()
	require.Eventually(t, func() bool {
		keys := store.keys()
		return slices.Contains(keys, "detectify/m") && slices.ContainsFunc(keys, func(k string) bool {
			return strings.HasPrefix(k, "detectify/c/")
		}) && !slices.ContainsFunc(keys, func(k string) bool { return strings.HasPrefix(k, "detectify/j/") })
	}, 10*time.Second, time.Millisecond, "the compacted chunks supersede the journal: %v", store.keys())
}

// Answers wait for their state to be written, but concurrent requests
// share writes (group commit).
func TestConcurrentWebhooksShareStorageWrites(t *testing.T) {
	store := newCrashableStorage()
	h := newHarnessOn(t, store.host(), withStorage)
	before := store.writeCount()
	const senders, each = 16, 25
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				body := []byte(`{"type":"event_finding_low","domain":"load.example.com","title":"` + strings.Repeat("s", s) + strings.Repeat("i", i) + `"}`)
				resp := h.post(body)
				assert.Equal(t, http.StatusOK, resp.status)
			}
		})
	}
	wg.Wait()
	writes := store.writeCount() - before
	t.Logf("%d webhooks, %d storage writes", senders*each, writes)
	assert.Less(t, writes, senders*each, "some writes carried several webhooks")
}
