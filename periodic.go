package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"context"
	"maps"
	"slices"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
)

// runPeriodic does the receiver's own work until ctx ends: every
// metrics_flush_interval the series webhooks changed are emitted (the
// changes of many webhooks in one payload); every metrics_interval all
// series are, so exporters that expire idle series keep quiet domains, and
// stalled scans are reported.
func (r *detectifyReceiver) runPeriodic(ctx context.Context) {
	if r.state.Restored() {
		// Restored series would otherwise vanish from exporters until the
		// first interval.
		r.emitMetrics(ctx, true)
	}
	flush := time.NewTicker(r.cfg.MetricsFlushInterval)
	defer flush.Stop()
	interval := time.NewTicker(r.cfg.MetricsInterval)
	defer interval.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-flush.C:
			r.emitMetrics(ctx, false)
		case <-interval.C:
			r.everyInterval(ctx)
		}
	}
}

func (r *detectifyReceiver) everyInterval(ctx context.Context) {
	now := r.now()
	r.emitMetrics(ctx, true)
	r.reportStalledScans(ctx, now)
	if err := r.state.Maintain(ctx, now); err != nil {
		r.stateFailed(ctx, "Could not maintain the Detectify state (forget idle domains; after a lost Redis reply, read the counters back)", err)
	}
	r.recordStateTelemetry(ctx)
	r.state.Checkpoint()
}

// emitMetrics sends the series that changed since the last emission, or
// all of them. A failure needs no retry of its own: counters and gauges
// are cumulative state, so the next emission carries the same values; the
// changed domains are kept for the next flush.
func (r *detectifyReceiver) emitMetrics(ctx context.Context, all bool) {
	if r.consumers.Load().metrics == nil {
		return
	}
	domains, err := r.state.Metrics(ctx, all)
	if err != nil {
		r.stateFailed(ctx, "Could not read the Detectify metrics state", err)
		return
	}
	if len(domains) == 0 {
		return
	}
	md := r.metrics.render(domains, r.now())
	if err := r.consumeMetrics(ctx, md); err != nil && !all && !consumererror.IsPermanent(err) {
		r.state.Changed(slices.Collect(maps.Keys(domains)))
	}
}

func (r *detectifyReceiver) consumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	next := r.consumers.Load().metrics
	if next == nil || md.DataPointCount() == 0 {
		return nil
	}
	ctx = r.obsrecv.StartMetricsOp(ctx)
	err := next.ConsumeMetrics(ctx, md)
	r.obsrecv.EndMetricsOp(ctx, dataFormat, md.DataPointCount(), err)
	if err != nil {
		r.settings.Logger.Warn("Metrics pipeline refused Detectify metrics; the next emission carries them", zap.Error(err))
	}
	return err
}

// reportStalledScans emits one record per scan open for longer than
// stale_scan_after. Records the logs pipeline refuses for now are reported
// again at the next interval.
func (r *detectifyReceiver) reportStalledScans(ctx context.Context, now time.Time) {
	stalled, err := r.state.Sweep(ctx, now)
	if err != nil { // what was stalled before the error is still reported
		r.stateFailed(ctx, "Could not look for every stalled Detectify scan", err)
	}
	if len(stalled) == 0 {
		return
	}
	err = r.consumeLogs(ctx, r.translator.stalledLogs(stalled, now))
	if err != nil && !consumererror.IsPermanent(err) {
		if err := r.state.Unstall(ctx, stalled, now); err != nil {
			r.stateFailed(ctx, "Could not keep stalled Detectify scans for a retry", err)
		}
	}
}

// recordStateTelemetry counts what the state's bounds turned away.
func (r *detectifyReceiver) recordStateTelemetry(ctx context.Context) {
	t := r.state.TakeTelemetry()
	if t.EvictedScans > 0 {
		r.telemetry.ReceiverDetectifyScansEvicted.Add(ctx, t.EvictedScans)
	}
	if t.EvictedDeliveries > 0 {
		r.telemetry.ReceiverDetectifyDeliveriesEvicted.Add(ctx, t.EvictedDeliveries)
	}
	if t.OverflowedEvents > 0 {
		r.telemetry.ReceiverDetectifyDomainsOverflowed.Add(ctx, t.OverflowedEvents)
		r.settings.Logger.Warn("max_domains reached: webhooks of new domains are counted under detectify.domain=_other",
			zap.Int("max_domains", r.cfg.MaxDomains), zap.Int64("webhooks", t.OverflowedEvents))
	}
}
