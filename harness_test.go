package detectifyreceiver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/detectify-otel/detectifyreceiver/internal/metadata"
	"github.com/detectify-otel/detectifyreceiver/internal/metadatatest"
	"github.com/detectify-otel/detectifyreceiver/internal/seed"
)

const (
	testSecret     = "test-secret-0123456789abcdef"
	previousSecret = "previous-secret-0123456789abcdef"
)

// testNow is the receipt time of every webhook in these tests, unless a
// test moves the clock.
var testNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// The seed's messages, from their one copy in internal/seed.
var (
	seedFinding      = seed.Get("classic/finding_high")
	seedScanStarted  = seed.Get("classic/scan_started")
	seedScanFinished = seed.Get("classic/scan_finished")
)

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
// then accept everything; before runs on every call, e.g. to block it.
type errorScript struct {
	mu     sync.Mutex
	errs   []error
	calls  int
	before func()
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

func (s *errorScript) setBefore(before func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.before = before
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

func (c *scriptedLogs) batches() []plog.Logs {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.all)
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
	return slices.Clone(c.all)
}

// current is what a backend shows after every accepted emission: each
// series at the value it was last emitted with.
func (c *scriptedMetrics) current(t testing.TB) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, md := range c.emissions() {
		maps.Copy(out, flattenMetrics(t, md))
	}
	return out
}

// harness runs a receiver built by the factory on a real loopback listener,
// with a logs and a metrics pipeline sharing it. Metrics are emitted when
// the test says (flush), not on a timer.
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

// testConfig is the default config on a free loopback port, signed with
// the test secret, with no timer emitting metrics during the test.
func testConfig() *Config {
	cfg := createDefaultConfig()
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.Secret = testSecret
	cfg.MetricsInterval = time.Hour
	cfg.MetricsFlushInterval = time.Hour
	return cfg
}

// newHarnessOn is newHarness on a host of the test's choosing, e.g. one
// with a storage extension.
func newHarnessOn(t *testing.T, host component.Host, configure func(*Config)) *harness {
	t.Helper()
	return newHarnessAt(t, host, testNow, configure)
}

// newHarnessAt is newHarnessOn with the receiver's clock at start when it
// starts, as after a restart.
func newHarnessAt(t *testing.T, host component.Host, start time.Time, configure func(*Config)) *harness {
	t.Helper()
	cfg := testConfig()
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
	h.rcv = logsRcv.(*receiverHandle).shared.r
	h.setNow(start)
	h.rcv.now = func() time.Time { return time.Unix(0, h.clock.Load()).UTC() }

	require.NoError(t, logsRcv.Start(context.Background(), host))
	require.NoError(t, metricsRcv.Start(context.Background(), host))
	h.baseURL = "http://" + h.rcv.endpoint
	h.client = &http.Client{Timeout: 30 * time.Second}
	var once sync.Once
	h.shutdown = func() {
		once.Do(func() {
			h.client.CloseIdleConnections()
			require.NoError(t, logsRcv.Shutdown(context.Background()))
			require.NoError(t, metricsRcv.Shutdown(context.Background()))
		})
	}
	t.Cleanup(func() {
		h.shutdown()
		require.NoError(t, h.tel.Shutdown(context.Background()))
	})
	return h
}

// flush emits the series changed since the last emission, as the
// metrics_flush_interval timer does.
func (h *harness) flush() { h.rcv.emitMetrics(context.Background(), false) }

// interval does the metrics_interval work: all series, stalled scans.
func (h *harness) interval() { h.rcv.everyInterval(context.Background()) }

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

// postOK sends each body and requires a 200.
func (h *harness) postOK(bodies ...[]byte) {
	h.t.Helper()
	for _, body := range bodies {
		resp := h.post(body)
		require.Equal(h.t, http.StatusOK, resp.status, "%s: %s", body, resp.body)
	}
}

// postBlockedInLogs posts body from a goroutine and returns once its logs
// consume has begun and is held there; release lets it finish, and the
// answer then arrives on the returned channel.
func (h *harness) postBlockedInLogs(body []byte) (answer <-chan response, release func()) {
	entered, unblock := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h.logs.setBefore(func() { once.Do(func() { close(entered); <-unblock }) })
	result := make(chan response, 1)
	go func() {
		resp, err := h.client.Do(h.newRequest(body))
		if err != nil {
			result <- response{status: -1, body: err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		result <- response{status: resp.StatusCode, header: resp.Header, body: string(b)}
	}()
	<-entered
	return result, func() { close(unblock) }
}

// telemetrySum reads one of the component's own counters, by the value of
// attribute (empty: all points together).
func (h *harness) telemetrySum(name, attributeName string) map[string]int64 {
	h.t.Helper()
	counts := map[string]int64{}
	m, err := h.tel.GetMetric(name)
	if err != nil { // not recorded yet
		return counts
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(h.t, ok, "unexpected type %T", m.Data)
	for _, dp := range sum.DataPoints {
		v, _ := dp.Attributes.Value(attribute.Key(attributeName))
		counts[v.AsString()] += dp.Value
	}
	return counts
}

// outcomeCounts reads otelcol_receiver_detectify_requests by outcome.
func (h *harness) outcomeCounts() map[string]int64 {
	return h.telemetrySum("otelcol_receiver_detectify_requests", "outcome")
}

func receiverSettingsForTest(t testing.TB) receiver.Settings {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	return metadatatest.NewSettings(tel)
}

// flattenMetrics renders every data point as `name{k=v,...}` → value,
// attributes sorted, so expectations read like PromQL.
func flattenMetrics(t testing.TB, md pmetric.Metrics) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				var dps pmetric.NumberDataPointSlice
				switch m.Type() {
				case pmetric.MetricTypeSum:
					dps = m.Sum().DataPoints()
				case pmetric.MetricTypeGauge:
					dps = m.Gauge().DataPoints()
				default:
					t.Fatalf("unexpected metric type %s for %s", m.Type(), m.Name())
				}
				for _, dp := range dps.All() {
					key := seriesKey(m.Name(), dp.Attributes())
					_, dup := out[key]
					require.False(t, dup, "series %s emitted twice in one emission", key)
					if dp.ValueType() == pmetric.NumberDataPointValueTypeDouble {
						out[key] = dp.DoubleValue()
					} else {
						out[key] = float64(dp.IntValue())
					}
				}
			}
		}
	}
	return out
}

func seriesKey(name string, attrs pcommon.Map) string {
	var parts []string
	for k, v := range attrs.All() {
		parts = append(parts, fmt.Sprintf("%s=%s", k, v.AsString()))
	}
	slices.Sort(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

// recordAttributes returns a record's attributes as plain Go values.
func recordAttributes(lr plog.LogRecord) map[string]any { return lr.Attributes().AsRaw() }

// newInProcess is a receiver with its state open and pipelines that accept
// everything, without a listener: for handler-level tests, the fuzz target
// and the benchmarks. Its telemetry records nothing, as a collector's with
// no telemetry exporter.
func newInProcess(t testing.TB, cfg *Config) *detectifyReceiver {
	t.Helper()
	r, err := newDetectifyReceiver(cfg, receivertest.NewNopSettings(metadata.Type))
	require.NoError(t, err)
	r.setConsumers(func(c *consumers) { c.logs, c.metrics = consumertest.NewNop(), consumertest.NewNop() })
	r.run, r.cancelRun = context.WithCancel(context.Background())
	require.NoError(t, r.openState(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() {
		r.cancelRun()
		require.NoError(t, r.state.Close(context.Background()))
	})
	return r
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key to files.
func selfSignedCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	template := x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, &template, &template, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile
}
