package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.uber.org/zap"

	"github.com/detectify-otel/detectifyreceiver/internal/metadata"
	"github.com/detectify-otel/detectifyreceiver/internal/state"
)

// minSecretLength is the shortest secret accepted without a warning.
const minSecretLength = 16

// consumers are the pipelines a receiver feeds; replaced whole, so that a
// pipeline joining a receiver that already serves is seen by every request
// without a lock.
type consumers struct {
	logs    consumer.Logs
	metrics consumer.Metrics
}

// detectifyReceiver serves one listener for the logs and the metrics
// pipeline created from the same Config. It can be started again after a
// shutdown (see shared.go).
type detectifyReceiver struct {
	cfg        *Config
	settings   receiver.Settings
	obsrecv    *receiverhelper.ObsReport
	telemetry  *metadata.TelemetryBuilder
	outcomes   outcomeCounter
	verifier   *signatureVerifier // nil when unsigned webhooks are allowed
	translator *recordTranslator
	now        func() time.Time
	consumers  atomic.Pointer[consumers]

	// Made by each start.
	state    *state.State
	metrics  *metricsRenderer
	server   *http.Server
	listener net.Listener
	endpoint string // the address actually listened on, e.g. with port 0
	// run is cancelled by Shutdown: everything the receiver starts itself
	// (periodic emission, state writes) and every request runs under it.
	run       context.Context
	cancelRun context.CancelFunc
	serving   sync.WaitGroup
	periodic  sync.WaitGroup
	inFlight  atomic.Int64
	// reportStatus reports a status event to every started pipeline's host.
	reportStatus func(*componentstatus.Event)
	// backfill fetches withheld findings from Detectify's API; nil
	// without api:.
	backfill *backfiller
}

func newDetectifyReceiver(cfg *Config, set receiver.Settings) (*detectifyReceiver, error) {
	transport := "http"
	if cfg.TLS.HasValue() {
		transport = "https"
	}
	obsrecv, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID:             set.ID,
		Transport:              transport,
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
		translator: newRecordTranslator(set, cfg),
		now:        time.Now,
	}
	r.consumers.Store(&consumers{})
	if secrets := cfg.secrets(); len(secrets) > 0 {
		r.verifier = newSignatureVerifier(secrets)
	}
	return r, nil
}

// setConsumers changes the pipelines fed, with a copy.
func (r *detectifyReceiver) setConsumers(change func(*consumers)) {
	c := *r.consumers.Load()
	change(&c)
	r.consumers.Store(&c)
}

// start opens the state and the listener before returning, so that a port
// in use or an unreachable storage fails the collector's start instead of a
// background goroutine.
func (r *detectifyReceiver) start(ctx context.Context, host component.Host, reportStatus func(*componentstatus.Event)) error {
	r.warnAboutSecrets()
	r.run, r.cancelRun = context.WithCancel(context.Background())
	r.reportStatus = reportStatus
	if err := r.openState(ctx, host); err != nil {
		r.cancelRun()
		return err
	}
	if r.cfg.API != nil && r.cfg.API.backfillMode() != state.BackfillNever {
		var err error
		if r.backfill, err = newBackfiller(ctx, r, host); err != nil {
			return errors.Join(err, r.closeState(ctx))
		}
	}
	listener, err := r.cfg.ToListener(ctx)
	if err != nil {
		return errors.Join(err, r.closeState(ctx))
	}
	r.server, err = r.cfg.ToServer(ctx, host.GetExtensions(), r.settings.TelemetrySettings, r.routes())
	if err != nil {
		return errors.Join(err, listener.Close(), r.closeState(ctx))
	}
	// Requests run under the receiver's context: a pipeline that blocks
	// them is cancelled when Shutdown gives up waiting.
	r.server.BaseContext = func(net.Listener) context.Context { return r.run }
	r.listener, r.endpoint = listener, listener.Addr().String()
	r.settings.Logger.Info("Detectify webhook receiver listening",
		zap.String("endpoint", r.endpoint), zap.String("path", r.cfg.Path))

	r.serving.Add(1)
	go func() {
		defer r.serving.Done()
		if err := r.server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.reportStatus(componentstatus.NewFatalErrorEvent(err))
		}
	}()
	r.periodic.Add(1)
	go func() {
		defer r.periodic.Done()
		r.runPeriodic(r.run)
	}()
	if r.backfill != nil {
		r.backfill.start(r.run)
	}
	return nil
}

// openState creates the state, continuing the saved one when a storage
// extension holds it: same start time, same counts, scans and dedup memory.
func (r *detectifyReceiver) openState(ctx context.Context, host component.Host) error {
	if r.cfg.SharedState.Redis != nil {
		if err := r.openSharedState(ctx, r.cfg.SharedState.Redis); err != nil {
			return err
		}
		if r.state.Restored() {
			r.settings.Logger.Info("Continuing this replica's counters from Redis", zap.Time("start_time", r.state.Start()))
		}
		r.metrics = newMetricsRenderer(r.settings, r.cfg, r.state.Start())
		return nil
	}
	r.state = state.NewMemory(r.cfg.stateConfig(), r.now())
	if r.cfg.StorageID != nil {
		client, err := storageClient(ctx, host, *r.cfg.StorageID, r.settings.ID)
		if err != nil {
			return err
		}
		restored, err := r.state.Persist(r.run, client, r.now())
		switch {
		case err != nil && !restored && errors.Is(err, state.ErrUnavailable):
			return errors.Join(fmt.Errorf("storage: %w", err), client.Close(ctx))
		case err != nil:
			r.settings.Logger.Warn("Starting with a fresh state: the saved one cannot be used", zap.Error(err))
		case restored:
			r.settings.Logger.Info("Restored the Detectify receiver's state", zap.Time("start_time", r.state.Start()))
		}
	}
	r.metrics = newMetricsRenderer(r.settings, r.cfg, r.state.Start())
	return nil
}

// closeState undoes openState when start fails after it.
func (r *detectifyReceiver) closeState(ctx context.Context) error {
	r.cancelRun()
	return r.state.Close(ctx)
}

// shutdown lets in-flight requests finish until ctx ends, then stops what
// the receiver runs and saves the state. It returns by ctx's deadline, with
// an error that says what was still running.
func (r *detectifyReceiver) shutdown(ctx context.Context) error {
	if r.server == nil {
		return nil
	}
	var errs []error
	// In-flight webhooks get most of the time; the rest is kept for stopping
	// what they leave running and saving the state.
	drainCtx, cancelDrain := drainContext(ctx)
	defer cancelDrain()
	if err := r.server.Shutdown(drainCtx); err != nil {
		errs = append(errs, fmt.Errorf("%d webhooks still in flight: %w", r.inFlight.Load(), err))
	}
	r.cancelRun()
	var running []string
	if !waitUntil(ctx, &r.serving) {
		running = append(running, "the HTTP server")
	}
	if !waitUntil(ctx, &r.periodic) {
		running = append(running, "the periodic metrics emission")
	}
	if r.backfill != nil && !r.backfill.stop(ctx) {
		running = append(running, "the API backfill")
	}
	if len(running) > 0 {
		errs = append(errs, fmt.Errorf("shutdown deadline passed with %s still running", strings.Join(running, " and ")))
	} else {
		// The changes of the last moments, before the exporters stop.
		r.emitMetrics(ctx, false)
	}
	if err := r.state.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	r.server, r.backfill = nil, nil
	return errors.Join(errs...)
}

// drainShare is the part of Shutdown's time in-flight webhooks may take.
const drainShare = 0.8

// drainContext ends at drainShare of ctx's remaining time, if it has a
// deadline.
func drainContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, time.Duration(float64(time.Until(deadline))*drainShare))
}

// waitUntil waits for wg until ctx ends, reporting whether it finished.
func waitUntil(ctx context.Context, wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
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
