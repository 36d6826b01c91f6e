package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"maps"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"

	"github.com/detectify-otel/detectifyreceiver/internal/metadata"
	"github.com/detectify-otel/detectifyreceiver/internal/state"
)

// metricsRenderer turns the state's per-domain figures into metrics with
// the generated MetricsBuilder.
type metricsRenderer struct {
	mu       sync.Mutex // the builder is not safe for concurrent use
	builder  *metadata.MetricsBuilder
	resource metadata.ResourceMetricsOption
}

func newMetricsRenderer(set receiver.Settings, cfg *Config, start time.Time) *metricsRenderer {
	rb := metadata.NewResourceBuilder(cfg.ResourceAttributes)
	rb.SetServiceName(serviceName)
	return &metricsRenderer{
		builder:  metadata.NewMetricsBuilder(cfg.metricsBuilderConfig(), set, metadata.WithStartTime(pcommon.NewTimestampFromTime(start))),
		resource: metadata.WithResource(rb.Emit()),
	}
}

// render records every series of the given domains, in a stable order.
func (m *metricsRenderer) render(domains map[string]state.DomainMetrics, now time.Time) pmetric.Metrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	ts := pcommon.NewTimestampFromTime(now)
	b := m.builder
	for _, name := range slices.Sorted(maps.Keys(domains)) {
		d := domains[name]
		domain := metadata.WithDetectifyDomainMetricAttribute(name)
		if c := d.Counts; c != nil {
			for _, level := range slices.Sorted(maps.Keys(c.Findings)) {
				b.RecordDetectifyFindingsDataPoint(ts, c.Findings[level], domain, metadata.WithDetectifyFindingSeverityMetricAttribute(level))
			}
			for _, st := range slices.Sorted(maps.Keys(c.Scans)) {
				b.RecordDetectifyScansDataPoint(ts, c.Scans[st], domain, metadata.WithDetectifyScanStateMetricAttribute(st))
			}
		}
		if r := d.Scans; r != nil {
			// Emitted as 0 once none is open: a series that vanished would
			// keep its last value in Prometheus until it went stale.
			b.RecordDetectifyScansOpenDataPoint(ts, int64(len(r.Open)), domain)
			if last := r.LastScan; last != nil {
				for _, category := range slices.Sorted(maps.Keys(last.Counts)) {
					if c, ok := metadata.MapAttributeDetectifyFindingCategory[category]; ok {
						b.RecordDetectifyScanFindingsDataPoint(ts, last.Counts[category], c, domain)
					}
				}
				if last.Undelivered != nil {
					b.RecordDetectifyScanFindingsUndeliveredDataPoint(ts, *last.Undelivered, domain)
				}
				if last.Duration != nil {
					b.RecordDetectifyScanDurationDataPoint(ts, *last.Duration, domain)
				}
				if last.Backfilled != nil {
					b.RecordDetectifyScanFindingsBackfilledDataPoint(ts, *last.Backfilled, domain)
				}
			}
		}
	}
	return b.Emit(m.resource)
}
