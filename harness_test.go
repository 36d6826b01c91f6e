package detectifyreceiver

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/detectify-otel/detectifyreceiver/internal/metadatatest"
)

const (
	testSecret     = "test-secret-0123456789abcdef"
	previousSecret = "previous-secret-0123456789abcdef"
)

// testNow is the receipt time of every webhook in these tests.
var testNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// seedMessages are the example messages of Detectify's documentation,
// byte for byte (including the non-breaking spaces it indents them with).
var seedMessages = []string{"scan_started", "finding_high", "scan_finished"}

func readSeed(t testing.TB, name string) []byte {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "seed", name+".json"))
	require.NoError(t, err)
	return body
}

// signBody is the X-Detectify-Signature Detectify sends: lower-case hex.
func signBody(secret string, body []byte) string {
	return hex.EncodeToString(rawMAC(secret, body))
}

func rawMAC(secret string, body []byte) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return mac.Sum(nil)
}

// errorScript makes a consumer answer its next calls with the given errors,
// then accept everything.
type errorScript struct {
	mu     sync.Mutex
	errs   []error
	calls  int
	before func() // runs on every call, e.g. to block it
}

func (s *errorScript) next() error {
	s.mu.Lock()
	s.calls++
	before := s.before
	var err error
	if len(s.errs) > 0 {
		err, s.errs = s.errs[0], s.errs[1:]
	}
	s.mu.Unlock()
	if before != nil {
		before()
	}
	return err
}

func (s *errorScript) set(errs ...error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = errs
}

func (s *errorScript) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

type scriptedLogs struct {
	errorScript
	mu  sync.Mutex
	all []plog.Logs
}

func (*scriptedLogs) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (c *scriptedLogs) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	if err := c.next(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all = append(c.all, ld)
	return nil
}

func (c *scriptedLogs) batches() []plog.Logs {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]plog.Logs(nil), c.all...)
}

// records returns every accepted log record, in order.
func (c *scriptedLogs) records() []plog.LogRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []plog.LogRecord
	for _, ld := range c.all {
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					out = append(out, lr)
				}
			}
		}
	}
	return out
}

type scriptedMetrics struct {
	errorScript
	mu  sync.Mutex
	all []pmetric.Metrics
}

func (*scriptedMetrics) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (c *scriptedMetrics) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	if err := c.next(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all = append(c.all, md)
	return nil
}

func (c *scriptedMetrics) emissions() []pmetric.Metrics {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]pmetric.Metrics(nil), c.all...)
}

// last returns the newest accepted metrics as flat series.
func (c *scriptedMetrics) last(t testing.TB) map[string]int64 {
	t.Helper()
	all := c.emissions()
	require.NotEmpty(t, all, "no metrics were emitted")
	return flattenMetrics(t, all[len(all)-1])
}

// harness runs a receiver built by the factory on a real loopback listener,
// with a logs and a metrics pipeline sharing it.
type harness struct {
	t       *testing.T
	cfg     *Config
	baseURL string
	logs    *scriptedLogs
	metrics *scriptedMetrics
	tel     *componenttest.Telemetry
	rcv     *detectifyReceiver
	client  *http.Client
	clock   atomic.Int64 // the receiver's now, in Unix nanoseconds
	// shutdown stops both receivers, as the collector does.
	shutdown func()
}

// setNow moves the receiver's clock.
func (h *harness) setNow(now time.Time) { h.clock.Store(now.UnixNano()) }

func newHarness(t *testing.T, configure func(*Config)) *harness {
	t.Helper()
	return newHarnessOn(t, componenttest.NewNopHost(), configure)
}

// newHarnessOn is newHarness on a host of the test's choosing, e.g. one
// with a storage extension.
func newHarnessOn(t *testing.T, host component.Host, configure func(*Config)) *harness {
	t.Helper()
	cfg := createDefaultConfig()
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.Secret = testSecret
	if configure != nil {
		configure(cfg)
	}
	require.NoError(t, cfg.Validate())

	h := &harness{t: t, cfg: cfg, logs: &scriptedLogs{}, metrics: &scriptedMetrics{}, tel: componenttest.NewTelemetry()}
	set := metadatatest.NewSettings(h.tel)
	factory := NewFactory()
	logsRcv, err := factory.CreateLogs(context.Background(), set, cfg, h.logs)
	require.NoError(t, err)
	metricsRcv, err := factory.CreateMetrics(context.Background(), set, cfg, h.metrics)
	require.NoError(t, err)
	h.rcv = logsRcv.(*receiverHandle).shared.detectifyReceiver
	h.setNow(testNow)
	h.rcv.now = func() time.Time { return time.Unix(0, h.clock.Load()).UTC() }

	require.NoError(t, logsRcv.Start(context.Background(), host))
	require.NoError(t, metricsRcv.Start(context.Background(), host))
	h.baseURL = "http://" + h.rcv.endpoint
	h.client = &http.Client{Timeout: 30 * time.Second}
	h.shutdown = func() {
		h.client.CloseIdleConnections()
		require.NoError(t, logsRcv.Shutdown(context.Background()))
		require.NoError(t, metricsRcv.Shutdown(context.Background()))
	}
	t.Cleanup(func() {
		h.shutdown() // a no-op when the test already shut down
		require.NoError(t, h.tel.Shutdown(context.Background()))
	})
	return h
}

// newRequest builds a POST of body to the webhook path, signed with the
// test secret; change it before sending for the unhappy paths.
func (h *harness) newRequest(body []byte) *http.Request {
	req, err := http.NewRequest(http.MethodPost, h.baseURL+h.cfg.Path, bytes.NewReader(body))
	require.NoError(h.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(signatureHeader, signBody(testSecret, body))
	return req
}

type response struct {
	status int
	header http.Header
	body   string
}

func (h *harness) do(req *http.Request) response {
	h.t.Helper()
	resp, err := h.client.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// post sends body signed with the test secret.
func (h *harness) post(body []byte) response {
	h.t.Helper()
	return h.do(h.newRequest(body))
}

// postBlockedInLogs posts body from a goroutine and returns once its logs
// consume has begun and is held there; release lets it finish, and the
// answer then arrives on the returned channel.
func (h *harness) postBlockedInLogs(body []byte) (answer <-chan response, release func()) {
	entered, unblock := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h.logs.before = func() { once.Do(func() { close(entered); <-unblock }) }
	result := make(chan response, 1)
	go func() { result <- h.post(body) }()
	<-entered
	return result, func() { close(unblock) }
}

// outcomeCounts reads otelcol_receiver_detectify_requests by outcome.
func (h *harness) outcomeCounts() map[string]int64 {
	h.t.Helper()
	counts := map[string]int64{}
	m, err := h.tel.GetMetric("otelcol_receiver_detectify_requests")
	if err != nil { // not recorded yet
		return counts
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(h.t, ok, "unexpected type %T", m.Data)
	for _, dp := range sum.DataPoints {
		o, _ := dp.Attributes.Value("outcome")
		counts[o.AsString()] += dp.Value
	}
	return counts
}

func receiverSettingsForTest(t testing.TB) receiver.Settings {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	return metadatatest.NewSettings(tel)
}
