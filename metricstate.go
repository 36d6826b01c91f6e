package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"maps"
	"slices"
	"strings"
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

// scanCategories are the categories of a finished scan's counts, in the
// order of domainState.lastScan.
var scanCategories = [3]metadata.AttributeDetectifyFindingCategory{
	metadata.AttributeDetectifyFindingCategoryCritical,
	metadata.AttributeDetectifyFindingCategoryMedium,
	metadata.AttributeDetectifyFindingCategoryNotice,
}

// series is one counter of a domain. Its attribute option is built once,
// so rendering it allocates nothing of ours.
type series struct {
	name      string
	attribute metadata.MetricAttributeOption
	count     int64
}

// seriesList is a domain's counters of one metric, sorted by name: a few
// entries, where a slice beats a map and keeps the output in a stable order.
type seriesList []series

// find returns the index of the series called name, or where it belongs.
func (l seriesList) find(name string) (int, bool) {
	return slices.BinarySearchFunc(l, name, func(s series, name string) int {
		return strings.Compare(s.name, name)
	})
}

// add adds n to the series called name, creating it (with the attribute
// newAttribute makes) when it is new.
func (l *seriesList) add(name string, n int64, newAttribute func(string) metadata.MetricAttributeOption) {
	i, found := l.find(name)
	if !found {
		name = strings.Clone(name) // kept for good: must not pin the body it came from
		*l = slices.Insert(*l, i, series{name: name, attribute: newAttribute(name)})
	}
	(*l)[i].count += n
}

// domainState is everything the metrics remember about one domain. Memory
// grows with domains, levels and states, never with events.
type domainState struct {
	attribute metadata.MetricAttributeOption
	findings  seriesList // by finding level
	scans     seriesList // by scan state
	lastScan  [3]optional[int64]
}

// metricState holds the cumulative counts per domain and renders them with
// the generated MetricsBuilder. Safe for concurrent use.
type metricState struct {
	start   time.Time // of every cumulative series
	mu      sync.Mutex
	domains map[string]*domainState
	// Two builders, because a builder sizes each emission by the largest it
	// made: shared, every event would allocate room for all the domains.
	domainBuilder *metadata.MetricsBuilder // one domain, per event
	allBuilder    *metadata.MetricsBuilder // every domain, per interval
	resource      metadata.ResourceMetricsOption
}

func newMetricState(set receiver.Settings, cfg metadata.MetricsBuilderConfig, start time.Time) *metricState {
	rb := metadata.NewResourceBuilder(cfg.ResourceAttributes)
	rb.SetServiceName(serviceName)
	startTime := metadata.WithStartTime(pcommon.NewTimestampFromTime(start))
	return &metricState{
		start:         start,
		domains:       make(map[string]*domainState),
		domainBuilder: metadata.NewMetricsBuilder(cfg, set, startTime),
		allBuilder:    metadata.NewMetricsBuilder(cfg, set, startTime),
		resource:      metadata.WithResource(rb.Emit()),
	}
}

// record counts e and reports whether it was its domain's first event. It
// must be called once per delivery. Messages without a domain are not
// counted: a series with an empty domain label alerts nobody useful.
func (s *metricState) record(e event) (newDomain bool) {
	if !e.domain.ok || e.domain.value == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, known := s.domains[e.domain.value]
	d := s.domainLocked(e.domain.value)
	switch {
	case e.kind == eventFinding:
		d.findings.add(e.findingLevel, 1, metadata.WithDetectifyFindingSeverityMetricAttribute)
	case e.scanState != "":
		d.scans.add(e.scanState, 1, metadata.WithDetectifyScanStateMetricAttribute)
	}
	if e.kind == eventScanFinished {
		d.lastScan = [3]optional[int64]{e.critical, e.medium, e.notice}
	}
	return !known
}

func (s *metricState) domainLocked(domain string) *domainState {
	d, ok := s.domains[domain]
	if !ok {
		domain = strings.Clone(domain) // kept for good: must not pin the body it came from
		d = &domainState{attribute: metadata.WithDetectifyDomainMetricAttribute(domain)}
		for _, level := range levelsStartedAtZero {
			d.findings.add(level, 0, metadata.WithDetectifyFindingSeverityMetricAttribute)
		}
		s.domains[domain] = d
	}
	return d
}

// snapshotEvent renders the series e moved, as sent with each event. The
// first event of a domain sends all the domain's series, so the ones that
// start at 0 are exported before their first increase; later events send
// only theirs, and metrics_interval sends the rest.
func (s *metricState) snapshotEvent(e event, newDomain bool, now time.Time) pmetric.Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.domains[e.domain.value]; ok {
		ts := pcommon.NewTimestampFromTime(now)
		if newDomain {
			recordDomain(s.domainBuilder, d, ts)
		} else {
			recordEventSeries(s.domainBuilder, d, e, ts)
		}
	}
	return s.domainBuilder.Emit(s.resource)
}

// snapshotAll renders every series, as sent each metrics_interval, domains
// in order. It returns empty metrics while no domain was seen.
func (s *metricState) snapshotAll(now time.Time) pmetric.Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.domains) == 0 {
		return pmetric.NewMetrics()
	}
	ts := pcommon.NewTimestampFromTime(now)
	for _, domain := range slices.Sorted(maps.Keys(s.domains)) {
		recordDomain(s.allBuilder, s.domains[domain], ts)
	}
	return s.allBuilder.Emit(s.resource)
}

// recordDomain records d's series into b, in a stable order.
func recordDomain(b *metadata.MetricsBuilder, d *domainState, ts pcommon.Timestamp) {
	for _, f := range d.findings {
		b.RecordDetectifyFindingsDataPoint(ts, f.count, d.attribute, f.attribute)
	}
	for _, sc := range d.scans {
		b.RecordDetectifyScansDataPoint(ts, sc.count, d.attribute, sc.attribute)
	}
	recordLastScan(b, d, ts)
}

// recordEventSeries records into b the series of d that e moved.
func recordEventSeries(b *metadata.MetricsBuilder, d *domainState, e event, ts pcommon.Timestamp) {
	switch {
	case e.kind == eventFinding:
		if i, ok := d.findings.find(e.findingLevel); ok {
			b.RecordDetectifyFindingsDataPoint(ts, d.findings[i].count, d.attribute, d.findings[i].attribute)
		}
	case e.scanState != "":
		if i, ok := d.scans.find(e.scanState); ok {
			b.RecordDetectifyScansDataPoint(ts, d.scans[i].count, d.attribute, d.scans[i].attribute)
		}
	}
	if e.kind == eventScanFinished {
		recordLastScan(b, d, ts)
	}
}

func recordLastScan(b *metadata.MetricsBuilder, d *domainState, ts pcommon.Timestamp) {
	for i, count := range d.lastScan {
		if count.ok {
			b.RecordDetectifyScanFindingsDataPoint(ts, count.value, scanCategories[i], d.attribute)
		}
	}
}

// export copies the counts for persistence.
func (s *metricState) export() map[string]persistedDomain {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]persistedDomain, len(s.domains))
	for domain, d := range s.domains {
		p := persistedDomain{Findings: d.findings.export(), Scans: d.scans.export()}
		for i, count := range d.lastScan {
			if count.ok {
				p.LastScan[i] = &count.value
			}
		}
		out[domain] = p
	}
	return out
}

// restore loads counts saved by export, before any event is recorded.
func (s *metricState) restore(domains map[string]persistedDomain) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for domain, p := range domains {
		d := s.domainLocked(domain)
		for level, count := range p.Findings {
			d.findings.add(level, count, metadata.WithDetectifyFindingSeverityMetricAttribute)
		}
		for state, count := range p.Scans {
			d.scans.add(state, count, metadata.WithDetectifyScanStateMetricAttribute)
		}
		for i, count := range p.LastScan {
			if count != nil {
				d.lastScan[i] = optional[int64]{value: *count, ok: true}
			}
		}
	}
}

func (l seriesList) export() map[string]int64 {
	out := make(map[string]int64, len(l))
	for _, s := range l {
		out[s.name] = s.count
	}
	return out
}
