package detectifyreceiver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestLogsAndMetricsShareOneListener: one listener for both pipelines,
// opened when the last of them starts and closed when the first shuts down,
// as the collector starts receivers after their pipelines and stops them
// before: no webhook may reach a pipeline that is not running.
func TestLogsAndMetricsShareOneListener(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.Secret = testSecret
	set := receiverSettingsForTest(t)
	logs, metrics := new(consumertest.LogsSink), new(consumertest.MetricsSink)
	factory := NewFactory()
	logsRcv, err := factory.CreateLogs(context.Background(), set, cfg, logs)
	require.NoError(t, err)
	metricsRcv, err := factory.CreateMetrics(context.Background(), set, cfg, metrics)
	require.NoError(t, err)
	shared := logsRcv.(*receiverHandle).shared
	require.Same(t, shared, metricsRcv.(*receiverHandle).shared)

	host := componenttest.NewNopHost()
	require.NoError(t, logsRcv.Start(context.Background(), host))
	assert.Empty(t, shared.endpoint, "not listening while the metrics pipeline has not started")
	require.NoError(t, metricsRcv.Start(context.Background(), host))
	require.NotEmpty(t, shared.endpoint)
	require.NoError(t, metricsRcv.Start(context.Background(), host), "starting twice is harmless")
	post := func() (*http.Response, error) {
		body := readSeed(t, "finding_high")
		req, _ := http.NewRequest(http.MethodPost, "http://"+shared.endpoint+"/webhook", strings.NewReader(string(body)))
		req.Header.Set(signatureHeader, signBody(testSecret, body))
		req.Close = true
		return http.DefaultClient.Do(req)
	}

	resp, err := post()
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 1, logs.LogRecordCount())
	assert.Len(t, metrics.AllMetrics(), 1)

	require.NoError(t, logsRcv.Shutdown(context.Background()))
	_, err = post()
	require.Error(t, err, "the first shutdown closes the listener")
	require.NoError(t, logsRcv.Shutdown(context.Background()), "shutting down twice is harmless")
	require.NoError(t, metricsRcv.Shutdown(context.Background()))
	receivers.mu.Lock()
	defer receivers.mu.Unlock()
	assert.NotContains(t, receivers.byConfig, cfg, "nothing is left in the shared map")
}

func TestStartFailsWhenTheEndpointIsTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	cfg := createDefaultConfig()
	cfg.NetAddr.Endpoint = taken.Addr().String()
	cfg.Secret = testSecret
	rcv, err := NewFactory().CreateLogs(context.Background(), receiverSettingsForTest(t), cfg, consumertest.NewNop())
	require.NoError(t, err)

	err = rcv.Start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, "address already in use")
	require.NoError(t, rcv.Shutdown(context.Background()))
}

// TestServeErrorIsReportedAsFatal: once Start has returned, a listener
// that fails can only be reported through componentstatus.
func TestServeErrorIsReportedAsFatal(t *testing.T) {
	r, err := newDetectifyReceiver(createDefaultConfig(), receiverSettingsForTest(t))
	require.NoError(t, err)
	r.server = &http.Server{ReadHeaderTimeout: time.Second}
	host := &statusHost{Host: componenttest.NewNopHost()}
	broken := errors.New("accept: too many open files, for good")

	r.serve(failingListener{err: broken}, host)

	require.Len(t, host.events, 1)
	assert.Equal(t, componentstatus.StatusFatalError, host.events[0].Status())
	assert.ErrorIs(t, host.events[0].Err(), broken)
}

func TestServeAfterShutdownIsNotAnError(t *testing.T) {
	r, err := newDetectifyReceiver(createDefaultConfig(), receiverSettingsForTest(t))
	require.NoError(t, err)
	r.server = &http.Server{ReadHeaderTimeout: time.Second}
	require.NoError(t, r.server.Shutdown(context.Background()))
	host := &statusHost{Host: componenttest.NewNopHost()}

	r.serve(failingListener{err: errors.New("never reached")}, host)

	assert.Empty(t, host.events, "http.ErrServerClosed is the normal end")
}

// statusHost records what components report.
type statusHost struct {
	component.Host
	events []*componentstatus.Event
}

func (h *statusHost) Report(e *componentstatus.Event) { h.events = append(h.events, e) }

// failingListener fails every Accept with err.
type failingListener struct{ err error }

func (l failingListener) Accept() (net.Conn, error) { return nil, l.err }
func (failingListener) Close() error                { return nil }
func (failingListener) Addr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func TestShutdownLetsInFlightRequestsFinish(t *testing.T) {
	h := newHarness(t, nil)
	result, release := h.postBlockedInLogs(readSeed(t, "finding_high"))

	shutdownErr := make(chan error)
	go func() { shutdownErr <- h.rcv.Shutdown(context.Background()) }()
	// New connections are refused once shutdown began; the request in flight is not.
	require.Eventually(t, func() bool {
		conn, err := net.Dial("tcp", h.rcv.endpoint)
		if err == nil {
			conn.Close()
		}
		return err != nil
	}, 30*time.Second, 10*time.Millisecond)

	release()
	resp := <-result
	assert.Equal(t, http.StatusOK, resp.status, "the request in flight is answered")
	assert.NoError(t, <-shutdownErr)
	assert.Len(t, h.logs.records(), 1)
}

func TestShutdownGivesUpWhenItsContextEnds(t *testing.T) {
	h := newHarness(t, nil)
	result, release := h.postBlockedInLogs(readSeed(t, "finding_high"))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := h.rcv.server.Shutdown(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	release()
	<-result
}

// TestSecretsNeverReachTheLogs captures every log line at every level while
// the receiver starts, rejects forgeries and rotates secrets.
func TestSecretsNeverReachTheLogs(t *testing.T) {
	core, logged := observer.New(zapcore.DebugLevel)
	cfg := createDefaultConfig()
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.Secret = "short-secret" // also triggers the short-secret warning
	cfg.PreviousSecrets = []configopaque.String{previousSecret}
	set := receiverSettingsForTest(t)
	set.Logger = zap.New(core)
	rcv, err := NewFactory().CreateLogs(context.Background(), set, cfg, consumertest.NewErr(errors.New("pipeline down")))
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	endpoint := rcv.(*receiverHandle).shared.endpoint

	body := readSeed(t, "finding_high")
	for _, signature := range []string{"", "garbage", signBody("wrong", body), signBody("short-secret", body), signBody(previousSecret, body)} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+endpoint+"/webhook", strings.NewReader(string(body)))
		if signature != "" {
			req.Header.Set(signatureHeader, signature)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
	}
	require.NoError(t, rcv.Shutdown(context.Background()))
	http.DefaultClient.CloseIdleConnections()

	require.NotZero(t, logged.Len(), "the test must see log lines to mean anything")
	assert.NotEmpty(t, logged.FilterMessageSnippet("shorter than 16").All())
	assert.NotEmpty(t, logged.FilterMessage("Rejected Detectify webhook").All(), "debug lines were captured")
	for _, entry := range logged.All() {
		line := entry.Message + " " + fmt.Sprint(entry.ContextMap())
		for _, secret := range []string{"short-secret", previousSecret, signBody("short-secret", body)} {
			assert.NotContains(t, line, secret, "log line %q", entry.Message)
		}
	}
}

func TestUnsignedModeWarnsAndAcceptsWithoutSignature(t *testing.T) {
	core, logged := observer.New(zapcore.InfoLevel)
	cfg := createDefaultConfig()
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.AllowUnsigned = true
	set := receiverSettingsForTest(t)
	set.Logger = zap.New(core)
	sink := new(consumertest.LogsSink)
	rcv, err := NewFactory().CreateLogs(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, rcv.Shutdown(context.Background())) }()

	resp, err := http.Post("http://"+rcv.(*receiverHandle).shared.endpoint+"/webhook", "application/json",
		strings.NewReader(`{"type":"event_scan_started","domain":"my.domain"}`))
	require.NoError(t, err)
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()

	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 1, sink.LogRecordCount())
	assert.Len(t, logged.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("allow_unsigned").All(), 1)
}

func TestObsReportCountsAcceptedAndRefusedRecords(t *testing.T) {
	h := newHarness(t, nil)
	require.Equal(t, http.StatusOK, h.post(readSeed(t, "finding_high")).status)
	h.logs.set(errors.New("full"))
	require.Equal(t, http.StatusServiceUnavailable, h.post(readSeed(t, "scan_started")).status)

	assert.Equal(t, int64(1), h.telemetrySum("otelcol_receiver_accepted_log_records"))
	assert.Equal(t, int64(1), h.telemetrySum("otelcol_receiver_refused_log_records"))
	// The finding, its domain's first event, emits the domain's 2 finding
	// series; scan_started (its logs refused, its metrics accepted) emits
	// the one series it moved.
	assert.Equal(t, int64(2+1), h.telemetrySum("otelcol_receiver_accepted_metric_points"))
}

func (h *harness) telemetrySum(name string) int64 {
	h.t.Helper()
	m, err := h.tel.GetMetric(name)
	require.NoError(h.t, err, name)
	var total int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		total += dp.Value
	}
	return total
}
