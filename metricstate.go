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
)

// levelsStartedAtZero are the finding levels whose series exist from the
// moment a domain is seen, so the first such finding is an increase that
// rate() and increase() can see.
var levelsStartedAtZero = []string{"high", "medium"}

// domainState is everything the metrics remember about one domain. Memory
// grows with domains, levels and states, never with events.
type domainState struct {
	findings map[string]int64 // by finding level
	scans    map[string]int64 // by scan state
	lastScan [3]optional[int64]
}

// scanCategories are the categories of a finished scan's counts, in the
// order of domainState.lastScan.
var scanCategories = [3]metadata.AttributeDetectifyFindingCategory{
	metadata.AttributeDetectifyFindingCategoryCritical,
	metadata.AttributeDetectifyFindingCategoryMedium,
	metadata.AttributeDetectifyFindingCategoryNotice,
}

// metricState holds the cumulative counts per domain and renders them with
// the generated MetricsBuilder. Safe for concurrent use.
type metricState struct {
	mu       sync.Mutex
	domains  map[string]*domainState
	builder  *metadata.MetricsBuilder
	resource pcommon.Resource
}

func newMetricState(set receiver.Settings, cfg metadata.MetricsBuilderConfig, start time.Time) *metricState {
	rb := metadata.NewResourceBuilder(cfg.ResourceAttributes)
	rb.SetServiceName(serviceName)
	return &metricState{
		domains:  make(map[string]*domainState),
		builder:  metadata.NewMetricsBuilder(cfg, set, metadata.WithStartTime(pcommon.NewTimestampFromTime(start))),
		resource: rb.Emit(),
	}
}

// record counts e. It must be called once per delivery.
func (s *metricState) record(e event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.domainLocked(e.domain.value)
	switch {
	case e.kind == eventFinding:
		d.findings[e.findingLevel]++
	case e.scanState != "":
		d.scans[e.scanState]++
	}
	if e.kind == eventScanFinished {
		d.lastScan = [3]optional[int64]{e.critical, e.medium, e.notice}
	}
}

func (s *metricState) domainLocked(domain string) *domainState {
	d, ok := s.domains[domain]
	if !ok {
		d = &domainState{findings: make(map[string]int64, 2), scans: make(map[string]int64, 2)}
		for _, level := range levelsStartedAtZero {
			d.findings[level] = 0
		}
		s.domains[domain] = d
	}
	return d
}

// snapshotDomain renders the series of one domain, as sent with each event.
func (s *metricState) snapshotDomain(domain string, now time.Time) pmetric.Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.domains[domain]; ok {
		s.recordLocked(domain, d, pcommon.NewTimestampFromTime(now))
	}
	return s.builder.Emit(metadata.WithResource(s.resource))
}

// snapshotAll renders every series, as sent each metrics_interval. It
// returns empty metrics while no domain was seen.
func (s *metricState) snapshotAll(now time.Time) pmetric.Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := pcommon.NewTimestampFromTime(now)
	for _, domain := range slices.Sorted(maps.Keys(s.domains)) {
		s.recordLocked(domain, s.domains[domain], ts)
	}
	if len(s.domains) == 0 {
		return pmetric.NewMetrics()
	}
	return s.builder.Emit(metadata.WithResource(s.resource))
}

// recordLocked records d's series in a stable order: sorted output reads
// well in the debug exporter and compares exactly in tests.
func (s *metricState) recordLocked(domain string, d *domainState, ts pcommon.Timestamp) {
	domainAttr := metadata.WithDetectifyDomainMetricAttribute(domain)
	for _, level := range slices.Sorted(maps.Keys(d.findings)) {
		s.builder.RecordDetectifyFindingsDataPoint(ts, d.findings[level], domainAttr, metadata.WithDetectifyFindingSeverityMetricAttribute(level))
	}
	for _, state := range slices.Sorted(maps.Keys(d.scans)) {
		s.builder.RecordDetectifyScansDataPoint(ts, d.scans[state], domainAttr, metadata.WithDetectifyScanStateMetricAttribute(state))
	}
	for i, count := range d.lastScan {
		if count.ok {
			s.builder.RecordDetectifyScanFindingsDataPoint(ts, count.value, scanCategories[i], domainAttr)
		}
	}
}
