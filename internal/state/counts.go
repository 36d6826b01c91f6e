package state

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// OverflowDomain is the domain label new domains are counted under once
// max_domains domains are known.
const OverflowDomain = "_other"

// maxValuesPerDomain bounds the levels (and the scan states) counted per
// domain: Detectify has a handful; what a hostile sender invents beyond
// them is counted under OverflowDomain's value.
const maxValuesPerDomain = 16

// levelsStartedAtZero are the finding levels whose series exist from the
// moment a domain is seen, so the first such finding is an increase that
// rate() and increase() can see.
var levelsStartedAtZero = []string{"critical", "high", "medium"}

// Counts are this receiver's cumulative counters per domain. They are not
// shared between replicas: each webhook is counted by the one replica that
// claimed it, so sums over replicas are exact. Safe for concurrent use.
type Counts struct {
	mu         sync.Mutex
	start      time.Time
	maxDomains int
	domains    map[string]*domainCounts
	changed    map[string]bool
	// overflowed counts events put under OverflowDomain since the last
	// call to takeOverflow.
	overflowed int64
}

type domainCounts struct {
	findings map[string]int64
	scans    map[string]int64
	seen     time.Time
}

// newDomainCounts is a domain's counters when it is first counted: its
// first levels' series start at 0.
func newDomainCounts() *domainCounts {
	d := &domainCounts{findings: make(map[string]int64), scans: make(map[string]int64)}
	for _, level := range levelsStartedAtZero {
		d.findings[level] = 0
	}
	return d
}

// DomainCounts is a copy of one domain's counters.
type DomainCounts struct {
	Findings map[string]int64 `json:"findings,omitempty"`
	Scans    map[string]int64 `json:"scans,omitempty"`
	Seen     time.Time        `json:"seen"`
}

func newCounts(start time.Time, maxDomains int) *Counts {
	return &Counts{start: start, maxDomains: maxDomains, domains: make(map[string]*domainCounts), changed: make(map[string]bool)}
}

// Start is the start time of every cumulative series.
func (c *Counts) Start() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.start
}

// resolve returns the counter k is counted under: its domain, or
// OverflowDomain once max_domains others are known (overflow is then
// true); and its value, or OverflowDomain when the domain has too many. It
// reserves the domain, so that concurrent resolutions agree with the bound.
func (c *Counts) resolve(k CounterKey, now time.Time) (resolved CounterKey, overflow bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resolveLocked(k, now)
}

func (c *Counts) resolveLocked(k CounterKey, now time.Time) (resolved CounterKey, overflow bool) {
	d, ok := c.domains[k.Domain]
	if !ok {
		if len(c.domains) >= c.maxDomains && k.Domain != OverflowDomain {
			k.Domain = OverflowDomain
			k, _ = c.resolveLocked(k, now)
			return k, true
		}
		d = newDomainCounts()
		c.domains[k.Domain] = d
		c.changed[k.Domain] = true
	}
	d.seen = now
	values := d.findings
	if k.Metric == MetricScans {
		values = d.scans
	}
	if _, known := values[k.Value]; !known && len(values) >= maxValuesPerDomain {
		k.Value = OverflowDomain
	}
	return k, false
}

// add resolves k and adds n to it under one lock, and returns the counter
// it went to: for a backend that applies a count as it is made.
func (c *Counts) add(k CounterKey, n int64, now time.Time) (resolved CounterKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	resolved, overflow := c.resolveLocked(k, now)
	c.addResolvedLocked(resolved, n, overflow)
	return resolved
}

// addResolved adds n to a counter resolve returned.
func (c *Counts) addResolved(k CounterKey, n int64, overflow bool, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, _ = c.resolveLocked(k, now) // the domain may have been forgotten since
	c.addResolvedLocked(k, n, overflow)
}

func (c *Counts) addResolvedLocked(k CounterKey, n int64, overflow bool) {
	if overflow {
		c.overflowed++
	}
	d := c.domains[k.Domain]
	if k.Metric == MetricScans {
		d.scans[k.Value] += n
	} else {
		d.findings[k.Value] += n
	}
	c.changed[k.Domain] = true
}

// snapshot copies the counters of the given domains.
func (c *Counts) snapshot(domains []string) map[string]DomainCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]DomainCounts, len(domains))
	for _, name := range domains {
		if d, ok := c.domains[name]; ok {
			out[name] = DomainCounts{Findings: maps.Clone(d.findings), Scans: maps.Clone(d.scans), Seen: d.seen}
		}
	}
	return out
}

// all lists every domain counted.
func (c *Counts) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Collect(maps.Keys(c.domains))
}

// takeChanged returns the domains whose counters changed since the last
// call, and forgets them.
func (c *Counts) takeChanged() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Collect(maps.Keys(c.changed))
	clear(c.changed)
	return out
}

// markChanged puts domains back for the next takeChanged, e.g. when their
// emission failed.
func (c *Counts) markChanged(domains []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range domains {
		c.changed[d] = true
	}
}

// forgetIdle drops the domains not seen since before, and returns them.
func (c *Counts) forgetIdle(before time.Time) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for name, d := range c.domains {
		if d.seen.Before(before) {
			delete(c.domains, name)
			delete(c.changed, name)
			out = append(out, name)
		}
	}
	return out
}

// takeOverflow returns how many events were counted under OverflowDomain
// for want of room since the last call, and how many domains are known.
func (c *Counts) takeOverflow() (overflowed int64, domains int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	overflowed, c.overflowed = c.overflowed, 0
	return overflowed, len(c.domains)
}

// restore loads saved counters, before any event is counted.
func (c *Counts) restore(start time.Time, saved map[string]DomainCounts) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.start = start
	for name, s := range saved {
		d := &domainCounts{findings: maps.Clone(s.Findings), scans: maps.Clone(s.Scans), seen: s.Seen}
		if d.findings == nil {
			d.findings = make(map[string]int64)
		}
		if d.scans == nil {
			d.scans = make(map[string]int64)
		}
		c.domains[name] = d
	}
}

// appendJSON appends the counters of each of names to o, a journal
// entry's counts: null for a domain no longer counted.
func (c *Counts) appendJSON(o *jsonObject, names map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name := range names {
		w := o.key(name)
		if d, ok := c.domains[name]; ok {
			w.domainCounts(d)
		} else {
			w.null()
		}
	}
}
