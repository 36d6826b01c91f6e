package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.uber.org/zap"

	"github.com/detectify-otel/detectifyreceiver/internal/metadata"
)

// minSecretLength is the shortest secret accepted without a warning.
const minSecretLength = 16

// detectifyReceiver serves one listener for the logs and the metrics
// receiver created from the same Config.
type detectifyReceiver struct {
	cfg       *Config
	settings  receiver.Settings
	obsrecv   *receiverhelper.ObsReport
	telemetry *metadata.TelemetryBuilder
	outcomes  outcomeCounter

	logsConsumer    consumer.Logs
	metricsConsumer consumer.Metrics

	verifier   *signatureVerifier // nil when unsigned webhooks are allowed
	translator *logTranslator
	deliveries *deliveries
	metrics    *metricState // created at Start: its start time is the receiver's
	store      *stateStore  // nil without a storage extension
	restored   bool         // the state came from the storage extension
	now        func() time.Time

	server       *http.Server
	endpoint     string // the address actually listened on, e.g. with port 0
	serving      sync.WaitGroup
	stopPeriodic chan struct{}
	stopOnce     sync.Once
}

func newDetectifyReceiver(cfg *Config, set receiver.Settings) (*detectifyReceiver, error) {
	obsrecv, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID:             set.ID,
		Transport:              "http",
		ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, err
	}
	telemetry, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	r := &detectifyReceiver{
		cfg:        cfg,
		settings:   set,
		obsrecv:    obsrecv,
		telemetry:  telemetry,
		outcomes:   newOutcomeCounter(telemetry),
		translator: newLogTranslator(set, cfg.logsBuilderConfig()),
		deliveries: newDeliveries(cfg.DedupWindow, cfg.DedupMaxEntries),
		now:        time.Now,
	}
	if secrets := cfg.secrets(); len(secrets) > 0 {
		r.verifier = newSignatureVerifier(secrets)
	}
	return r, nil
}

// Start opens the listener before returning, so a port already in use
// fails the collector's start instead of a background goroutine.
func (r *detectifyReceiver) Start(ctx context.Context, host component.Host) error {
	r.warnAboutSecrets()
	if err := r.restoreState(ctx, host); err != nil {
		return err
	}

	listener, err := r.cfg.ToListener(ctx)
	if err != nil {
		return err
	}
	r.server, err = r.cfg.ToServer(ctx, host.GetExtensions(), r.settings.TelemetrySettings, r.routes())
	if err != nil {
		return errors.Join(err, listener.Close())
	}
	r.endpoint = listener.Addr().String()
	r.settings.Logger.Info("Detectify webhook receiver listening",
		zap.String("endpoint", r.endpoint), zap.String("path", r.cfg.Path))

	r.serving.Add(1)
	go func() {
		defer r.serving.Done()
		r.serve(listener, host)
	}()
	if r.metricsConsumer != nil || r.store != nil {
		r.stopPeriodic = make(chan struct{})
		r.serving.Add(1)
		go func() {
			defer r.serving.Done()
			r.tickEvery(r.cfg.MetricsInterval, r.stopPeriodic)
		}()
	}
	return nil
}

// restoreState creates the metric state, continuing the saved one when a
// storage extension holds it: same start time, same counts, same dedup
// memory. An unusable saved state is reported and replaced.
func (r *detectifyReceiver) restoreState(ctx context.Context, host component.Host) error {
	store, err := openStateStore(ctx, host, r.cfg.StorageID, r.settings.ID)
	if err != nil {
		return err
	}
	r.store = store
	start := r.now()
	var saved *persistedState
	if store != nil {
		if saved, err = store.load(ctx); err != nil {
			r.settings.Logger.Warn("Starting with fresh counts: the saved state cannot be used", zap.Error(err))
		}
	}
	if saved != nil {
		start = saved.StartTime
	}
	r.metrics = newMetricState(r.settings, r.cfg.metricsBuilderConfig(), start)
	if saved != nil {
		r.restored = true
		r.metrics.restore(saved.Domains)
		r.deliveries.restore(saved.Deliveries, r.now())
		r.settings.Logger.Info("Restored Detectify receiver state",
			zap.Int("domains", len(saved.Domains)), zap.Int("deliveries", len(saved.Deliveries)))
	}
	return nil
}

// saveState writes the counts and the dedup memory to the storage
// extension, if there is one.
func (r *detectifyReceiver) saveState(ctx context.Context) error {
	if r.store == nil {
		return nil
	}
	return r.store.save(ctx, &persistedState{
		StartTime:  r.metrics.start,
		Domains:    r.metrics.export(),
		Deliveries: r.deliveries.export(),
	})
}

func (r *detectifyReceiver) serve(listener net.Listener, host component.Host) {
	if err := r.server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
		componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
	}
}

// Shutdown lets in-flight requests finish (until ctx ends), then waits for
// every goroutine the receiver started.
func (r *detectifyReceiver) Shutdown(ctx context.Context) error {
	var err error
	if r.server != nil {
		err = r.server.Shutdown(ctx)
	}
	r.stopOnce.Do(func() {
		if r.stopPeriodic != nil {
			close(r.stopPeriodic)
		}
	})
	r.serving.Wait()
	if r.store != nil {
		// Saved after the server stopped, so every answered request is in it.
		err = errors.Join(err, r.saveState(ctx), r.store.close(ctx))
		r.store = nil
	}
	r.telemetry.Shutdown()
	return err
}

func (r *detectifyReceiver) warnAboutSecrets() {
	if r.cfg.AllowUnsigned {
		r.settings.Logger.Warn("allow_unsigned is true: webhooks are accepted without a signature, so anyone who can reach " +
			"the endpoint can forge findings. Set secret to the key configured in Detectify.")
		return
	}
	if len(r.cfg.Secret) < minSecretLength {
		r.settings.Logger.Warn("secret is shorter than 16 characters; use a long random string")
	}
}
