//go:generate mdatagen metadata.yaml

// Package detectifyreceiver receives signed Detectify webhooks and turns them
// into OpenTelemetry log records and severity-count metrics.
package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"
