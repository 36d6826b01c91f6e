package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/detectify-otel/detectifyreceiver/internal/metadata"
)

// NewFactory creates the factory of the detectify receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		func() component.Config { return createDefaultConfig() },
		receiver.WithLogs(createLogs, metadata.LogsStability),
		receiver.WithMetrics(createMetrics, metadata.MetricsStability),
	)
}

func createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	return receivers.acquire(cfg.(*Config), set,
		func(c *consumers) { c.logs = next },
		func(c *consumers) { c.logs = nil })
}

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	return receivers.acquire(cfg.(*Config), set,
		func(c *consumers) { c.metrics = next },
		func(c *consumers) { c.metrics = nil })
}
