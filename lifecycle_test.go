package detectifyreceiver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// pipelines is a host's view of the logs and the metrics receiver created
// from one Config, in the order it chooses.
type pipelines struct {
	t       *testing.T
	cfg     *Config
	set     receiver.Settings
	logs    *consumertest.LogsSink
	metrics *consumertest.MetricsSink
	rcv     map[string]component.Component
	hosts   map[string]*statusHost
}

func newPipelines(t *testing.T) *pipelines {
	cfg := testConfig()
	return &pipelines{t: t, cfg: cfg, set: receiverSettingsForTest(t), logs: new(consumertest.LogsSink),
		metrics: new(consumertest.MetricsSink), rcv: map[string]component.Component{}, hosts: map[string]*statusHost{}}
}

func (p *pipelines) create(signal string) {
	var err error
	switch signal {
	case "logs":
		p.rcv[signal], err = NewFactory().CreateLogs(context.Background(), p.set, p.cfg, p.logs)
	case "metrics":
		p.rcv[signal], err = NewFactory().CreateMetrics(context.Background(), p.set, p.cfg, p.metrics)
	}
	require.NoError(p.t, err)
}

func (p *pipelines) start(signal string) {
	p.hosts[signal] = &statusHost{Host: componenttest.NewNopHost()}
	require.NoError(p.t, p.rcv[signal].Start(context.Background(), p.hosts[signal]))
}

func (p *pipelines) shutdown(signal string) {
	require.NoError(p.t, p.rcv[signal].Shutdown(context.Background()))
}

// receiver returns the receiver behind the handles, if any is alive.
func (p *pipelines) receiver() *detectifyReceiver {
	for _, r := range p.rcv {
		return r.(*receiverHandle).shared.r
	}
	return nil
}

// serving posts a finding and reports whether it was answered 200; the
// connection is not kept, so a closed listener shows at once.
func (p *pipelines) serving(endpoint string) bool {
	if endpoint == "" {
		return false
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+endpoint+"/webhook", strings.NewReader(string(seedFinding)))
	req.Header.Set(signatureHeader, signBody(testSecret, seedFinding))
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// TestListenerStartsOnceWhateverTheOrder: hosts create and start the
// pipelines of one Config in different orders. The listener is bound once;
// nothing is served before every pipeline created so far has started; a
// pipeline created later joins the listener that serves already.
func TestListenerStartsOnceWhateverTheOrder(t *testing.T) {
	tests := []struct {
		name  string
		steps []string // "create logs", "start metrics", "shutdown logs", "serving", "not serving"
		// records and metrics say which pipelines the webhooks reached.
		wantRecords bool
		wantMetrics bool
	}{
		{name: "create, create, start, start", steps: []string{
			"create logs", "create metrics", "start logs", "not serving", "start metrics", "serving"},
			wantRecords: true, wantMetrics: true},
		{name: "create, start, create, start", steps: []string{
			"create logs", "start logs", "serving", "create metrics", "start metrics", "serving", "start metrics", "serving"},
			wantRecords: true, wantMetrics: true},
		{name: "shutdown of one, then start of another", steps: []string{
			"create logs", "create metrics", "start logs", "shutdown logs", "not serving", "start metrics", "serving"},
			wantMetrics: true},
		{name: "the first shutdown closes the listener", steps: []string{
			"create logs", "create metrics", "start logs", "start metrics", "serving", "shutdown metrics", "not serving",
			"shutdown logs", "not serving"},
			wantRecords: true, wantMetrics: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPipelines(t)
			var endpoint string
			for _, step := range tt.steps {
				verb, signal, _ := strings.Cut(step, " ")
				switch verb {
				case "create":
					p.create(signal)
				case "start":
					p.start(signal)
					if r := p.receiver(); r != nil && r.endpoint != "" {
						endpoint = r.endpoint
					}
				case "shutdown":
					p.shutdown(signal)
				case "serving":
					assert.True(t, p.serving(endpoint), "after %v, serving", tt.steps)
				case "not":
					assert.False(t, p.serving(endpoint), "after %v, not serving", tt.steps)
				}
			}
			for signal := range p.rcv {
				p.shutdown(signal)
			}
			if tt.wantRecords {
				assert.NotZero(t, p.logs.LogRecordCount())
			}
			if tt.wantMetrics {
				// The metrics pipeline got the counts at shutdown, if not before.
				assert.NotEmpty(t, p.metrics.AllMetrics())
			}
			receivers.mu.Lock()
			assert.NotContains(t, receivers.byConfig, p.cfg, "nothing is left in the shared map")
			receivers.mu.Unlock()
		})
	}
}

// A full shutdown, then the same Config started again: a new receiver.
func TestRestartAfterFullShutdown(t *testing.T) {
	p := newPipelines(t)
	for range 2 {
		p.create("logs")
		p.create("metrics")
		p.start("logs")
		p.start("metrics")
		assert.True(t, p.serving(p.receiver().endpoint))
		p.shutdown("logs")
		p.shutdown("metrics")
	}
	assert.Equal(t, 2, p.logs.LogRecordCount())
}

// A pipeline that joins while webhooks are being served is wired in
// without a data race (run with -race).
func TestLateJoinWhileServing(t *testing.T) {
	p := newPipelines(t)
	p.create("logs")
	p.start("logs")
	endpoint := p.receiver().endpoint
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				p.serving(endpoint)
			}
		})
	}
	p.create("metrics")
	p.start("metrics")
	wg.Wait()
	p.shutdown("logs")
	p.shutdown("metrics")
	assert.NotEmpty(t, p.metrics.AllMetrics(), "the late pipeline gets the counts")
}

func TestStartFailsWhenTheEndpointIsTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	cfg := testConfig()
	cfg.NetAddr.Endpoint = taken.Addr().String()
	rcv, err := NewFactory().CreateLogs(context.Background(), receiverSettingsForTest(t), cfg, consumertest.NewNop())
	require.NoError(t, err)

	err = rcv.Start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, "address already in use")
	require.NoError(t, rcv.Shutdown(context.Background()))
}

// statusHost records what components report.
type statusHost struct {
	component.Host
	mu     sync.Mutex
	events []*componentstatus.Event
}

func (h *statusHost) Report(e *componentstatus.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, e)
}

func (h *statusHost) reported() []*componentstatus.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*componentstatus.Event(nil), h.events...)
}

// Once Start has returned, a listener that fails can only be reported
// through componentstatus: to every pipeline's host, as core's
// sharedcomponent does. The end Shutdown makes is not an error.
func TestServeErrorIsReportedToEveryPipeline(t *testing.T) {
	p := newPipelines(t)
	p.create("logs")
	p.create("metrics")
	p.start("logs")
	p.start("metrics")
	require.NoError(t, p.receiver().listener.Close()) // the listener fails under the server

	for _, signal := range []string{"logs", "metrics"} {
		require.Eventually(t, func() bool { return len(p.hosts[signal].reported()) == 1 }, 10*time.Second, time.Millisecond, signal)
		event := p.hosts[signal].reported()[0]
		assert.Equal(t, componentstatus.StatusFatalError, event.Status())
		assert.ErrorContains(t, event.Err(), "use of closed network connection")
	}
	p.shutdown("logs")
	p.shutdown("metrics")

	q := newPipelines(t)
	q.create("logs")
	q.start("logs")
	q.shutdown("logs")
	assert.Empty(t, q.hosts["logs"].reported(), "http.ErrServerClosed is the normal end")
}

func TestShutdownLetsInFlightRequestsFinish(t *testing.T) {
	h := newHarness(t, nil)
	result, release := h.postBlockedInLogs(seedFinding)

	shutdownErr := make(chan error)
	go func() { shutdownErr <- h.rcv.shutdown(context.Background()) }()
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

// Shutdown returns by its context's deadline, saying what was still
// running, whatever blocks: a logs pipeline holding a webhook, a metrics
// pipeline holding the periodic emission, a storage extension holding a
// write. Each of these pipelines ignores its context, the worst case.
func TestShutdownHonoursItsContext(t *testing.T) {
	tests := []struct {
		name      string
		configure func(*Config)
		host      func(t *testing.T, gate chan struct{}) component.Host
		block     func(h *harness, gate chan struct{})
		wantErr   string
	}{
		{
			name: "a logs pipeline that blocks a webhook",
			block: func(h *harness, gate chan struct{}) {
				_, release := h.postBlockedInLogs(seedFinding)
				go func() { <-gate; release() }()
			},
			wantErr: "1 webhooks still in flight",
		},
		{
			name:      "a metrics pipeline that blocks the periodic emission",
			configure: func(cfg *Config) { cfg.MetricsFlushInterval = 10 * time.Millisecond },
			block: func(h *harness, gate chan struct{}) {
				entered := make(chan struct{})
				var once sync.Once
				h.metrics.setBefore(func() { once.Do(func() { close(entered) }); <-gate })
				h.postOK(seedFinding)
				<-entered
			},
			wantErr: "the periodic metrics emission still running",
		},
		{
			name:      "a storage extension that blocks its writes",
			configure: withStorage,
			host: func(t *testing.T, gate chan struct{}) component.Host {
				return hostWithExtensions{Host: componenttest.NewNopHost(),
					extensions: map[component.ID]component.Component{storageID: &gatedStorage{gate: gate}}}
			},
			block: func(h *harness, gate chan struct{}) {
				go h.post(seedFinding) // waits for the write that never comes
				require.Eventually(h.t, func() bool { return h.rcv.inFlight.Load() == 1 }, 10*time.Second, time.Millisecond)
			},
			wantErr: "storage: a write was still running at shutdown",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gate := make(chan struct{})
			defer close(gate)
			host := component.Host(componenttest.NewNopHost())
			if tt.host != nil {
				host = tt.host(t, gate)
			}
			h := newHarnessOn(t, host, tt.configure)
			tt.block(h, gate)

			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := h.rcv.shutdown(ctx)
			assert.Less(t, time.Since(start), 5*time.Second, "Shutdown returns by its deadline")
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

// gatedStorage is a storage extension whose writes wait for gate, and
// which ignores their context: the worst a storage extension can do.
type gatedStorage struct {
	component.StartFunc
	component.ShutdownFunc
	gate chan struct{}
}

func (s *gatedStorage) GetClient(context.Context, component.Kind, component.ID, string) (storage.Client, error) {
	return &gatedClient{Client: storage.NewNopClient(), gate: s.gate}, nil
}

type gatedClient struct {
	storage.Client
	gate chan struct{}
}

func (c *gatedClient) Batch(_ context.Context, ops ...*storage.Operation) error {
	for _, op := range ops {
		if op.Type != storage.Get {
			<-c.gate
			break
		}
	}
	return nil
}

// TestSecretsNeverReachTheLogs captures every log line at every level while
// the receiver starts, refuses forgeries and rotates secrets.
func TestSecretsNeverReachTheLogs(t *testing.T) {
	core, logged := observer.New(zapcore.DebugLevel)
	cfg := testConfig()
	cfg.Secret = "short-secret" // also triggers the short-secret warning
	cfg.PreviousSecrets = []configopaque.String{previousSecret}
	set := receiverSettingsForTest(t)
	set.Logger = zap.New(core)
	rcv, err := NewFactory().CreateLogs(context.Background(), set, cfg, consumertest.NewErr(errors.New("pipeline down")))
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	endpoint := rcv.(*receiverHandle).shared.r.endpoint

	for _, signature := range []string{"", "garbage", signBody("wrong", seedFinding), signBody("short-secret", seedFinding), signBody(previousSecret, seedFinding)} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+endpoint+"/webhook", strings.NewReader(string(seedFinding)))
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
	assert.NotEmpty(t, logged.FilterMessage("Refused a Detectify webhook").All(), "debug lines were captured")
	for _, entry := range logged.All() {
		line := entry.Message + " " + fmt.Sprint(entry.ContextMap())
		for _, secret := range []string{"short-secret", previousSecret, signBody("short-secret", seedFinding)} {
			assert.NotContains(t, line, secret, "log line %q", entry.Message)
		}
	}
}

func TestUnsignedModeWarnsAndAcceptsWithoutSignature(t *testing.T) {
	core, logged := observer.New(zapcore.InfoLevel)
	cfg := testConfig()
	cfg.Secret = ""
	cfg.AllowUnsigned = true
	set := receiverSettingsForTest(t)
	set.Logger = zap.New(core)
	sink := new(consumertest.LogsSink)
	rcv, err := NewFactory().CreateLogs(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, rcv.Shutdown(context.Background())) }()

	resp, err := http.Post("http://"+rcv.(*receiverHandle).shared.r.endpoint+"/webhook", "application/json",
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
	h.postOK(seedFinding)
	h.logs.set(errors.New("full"))
	require.Equal(t, http.StatusServiceUnavailable, h.post(seedScanStarted).status)
	h.flush()

	assert.Equal(t, map[string]int64{"http": 1}, h.telemetrySum("otelcol_receiver_accepted_log_records", "transport"))
	assert.Equal(t, map[string]int64{"http": 1}, h.telemetrySum("otelcol_receiver_refused_log_records", "transport"))
	// my.domain's findings (critical, high, medium), scans (started,
	// stalled) and open scans.
	assert.Equal(t, map[string]int64{"http": 6}, h.telemetrySum("otelcol_receiver_accepted_metric_points", "transport"))
}

// With tls:, the receiver's own telemetry says https.
func TestObsReportTransportIsHTTPSWithTLS(t *testing.T) {
	certFile, keyFile := selfSignedCert(t)
	h := newHarness(t, func(cfg *Config) {
		cfg.TLS = configoptional.Some(configtls.ServerConfig{Config: configtls.Config{CertFile: certFile, KeyFile: keyFile}})
	})
	h.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // our own test certificate
	h.baseURL = strings.Replace(h.baseURL, "http://", "https://", 1)
	h.postOK(seedFinding)
	assert.Equal(t, map[string]int64{"https": 1}, h.telemetrySum("otelcol_receiver_accepted_log_records", "transport"))
}

// telemetryTotal adds up every point of one of the collector's counters.
func (h *harness) telemetryTotal(name string) int64 {
	h.t.Helper()
	m, err := h.tel.GetMetric(name)
	require.NoError(h.t, err, name)
	var total int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		total += dp.Value
	}
	return total
}
