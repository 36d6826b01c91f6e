package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
)

// emitMetricsEvery sends every series each interval until stop is closed,
// so exporters that expire idle series keep domains that are quiet.
func (r *detectifyReceiver) emitMetricsEvery(interval time.Duration, stop <-chan struct{}) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ticker.C:
			md := r.metrics.snapshotAll(r.now())
			if md.DataPointCount() > 0 {
				// A failure needs no retry: the next interval carries the same counts.
				_ = r.consumeMetrics(context.Background(), md)
			}
		}
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
