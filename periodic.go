package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
)

// tickEvery runs the periodic work until stop is closed: every series is
// sent again, so exporters that expire idle series keep domains that are
// quiet, and the state is saved, so a crash loses one interval at most.
func (r *detectifyReceiver) tickEvery(interval time.Duration, stop <-chan struct{}) {
	if r.restored {
		// Restored series would otherwise vanish from exporters until the
		// first tick, or until their domain's next event.
		r.emitAllMetrics()
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ticker.C:
			r.emitAllMetrics()
			if err := r.saveState(context.Background()); err != nil {
				r.settings.Logger.Warn("Could not save the Detectify receiver state", zap.Error(err))
			}
		}
	}
}

func (r *detectifyReceiver) emitAllMetrics() {
	if r.metricsConsumer == nil {
		return
	}
	if md := r.metrics.snapshotAll(r.now()); md.DataPointCount() > 0 {
		// A failure needs no retry: the next interval carries the same counts.
		_ = r.consumeMetrics(context.Background(), md)
	}
}

func (r *detectifyReceiver) consumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	ctx = r.obsrecv.StartMetricsOp(ctx)
	err := r.metricsConsumer.ConsumeMetrics(ctx, md)
	r.obsrecv.EndMetricsOp(ctx, dataFormat, md.DataPointCount(), err)
	if err != nil {
		r.settings.Logger.Warn("Metrics pipeline refused Detectify metrics", zap.Error(err),
			zap.Bool("retryable", !consumererror.IsPermanent(err)))
	}
	return err
}
