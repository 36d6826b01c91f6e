package state

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/detectify-otel/detectifyreceiver/internal/message"
)

// Config bounds the state.
type Config struct {
	// DedupWindow is how long a body is remembered; 0 disables dedup.
	DedupWindow time.Duration
	// DedupMaxEntries bounds the bodies remembered in memory.
	DedupMaxEntries int
	// MaxOpenScans bounds the open scans, oldest evicted first.
	MaxOpenScans int
	// StaleScanAfter is how long a scan may stay open before it is
	// reported as stalled; 0 disables that.
	StaleScanAfter time.Duration
	// MaxDomains bounds the domains counted; past it new domains are
	// counted under OverflowDomain.
	MaxDomains int
	// DomainIdleTimeout forgets domains not seen for that long; 0 keeps
	// them.
	DomainIdleTimeout time.Duration
	// Backfill says which finished scans get an API backfill job, due
	// BackfillDelay after their finish.
	Backfill      BackfillMode
	BackfillDelay time.Duration
}

// dedup reports whether bodies are remembered at all. The State asks it
// before every claim and settle, so the backends only ever see claims.
func (c Config) dedup() bool { return c.DedupWindow > 0 }

func (c Config) rules() rules {
	return rules{maxOpenScans: c.MaxOpenScans, backfill: c.Backfill, backfillDelay: c.BackfillDelay}
}

// defaultClosedRetention is how long a finished or stalled scan is
// remembered when stale_scan_after is off.
const defaultClosedRetention = 48 * time.Hour

// closedRetention is how long what is kept of a finished or stalled scan
// stays: long enough that a late finding does not open it again.
func (c Config) closedRetention() time.Duration {
	keep := defaultClosedRetention
	if c.StaleScanAfter > 0 {
		keep = c.StaleScanAfter
	}
	if c.Backfill != BackfillNever {
		// A finished scan holds its backfill job: kept past the job's
		// retries and pauses, whatever stale_scan_after says.
		keep = max(keep, defaultClosedRetention)
	}
	return keep
}

// State is what the receiver remembers between webhooks, whatever keeps
// it. Safe for concurrent use.
type State struct {
	cfg      Config
	rules    rules
	counts   *Counts
	backend  backend
	restored bool
	// evictedScans counts the open scans max_open_scans forgot since the
	// last TakeTelemetry.
	evictedScans atomic.Int64
}

// NewMemory keeps the state in this process, starting now.
func NewMemory(cfg Config, now time.Time) *State {
	counts := newCounts(now, cfg.MaxDomains)
	return &State{cfg: cfg, rules: cfg.rules(), counts: counts, backend: newMemoryBackend(cfg, counts)}
}

// Persist writes every change of an in-memory state through client from
// now on, after loading what it saved before. ctx bounds the writes: the
// receiver cancels it at shutdown. It reports whether a saved state was
// loaded; one that cannot be used is reported and replaced.
func (s *State) Persist(ctx context.Context, client storage.Client, now time.Time) (restored bool, err error) {
	mem, ok := s.backend.(*memoryBackend)
	if !ok {
		return false, errors.New("only a state in memory is saved through a storage extension")
	}
	j := newJournal(mem, client)
	mem.journal = j
	restored, err = j.load(ctx, now)
	if err != nil && !errors.Is(err, errUnusableState) {
		mem.journal = nil
		return false, err
	}
	if !restored {
		// So the start time is saved, and the entries are replayed, even
		// before the first compaction.
		if ferr := j.startFresh(); ferr != nil {
			mem.journal = nil
			return false, ferr
		}
	}
	j.start(ctx)
	s.restored = restored
	return restored, err
}

// Restored reports whether the state continued a saved one.
func (s *State) Restored() bool { return s.restored }

// Start is the start time of the cumulative series.
func (s *State) Start() time.Time { return s.counts.Start() }

// Delivery is a request's hold on one body.
type Delivery struct {
	// Status says what to do: emit (New, Counted), answer a duplicate, or
	// ask for a retry (Busy).
	Status ClaimStatus
	// Insight is what the record says of the body's scan.
	Insight Insight
	h       held
	// step is Record's: a backend runs it within the call and keeps
	// nothing of it, so it lives where the Delivery does (the handler's
	// scratch) instead of in a heap allocation (256 B) for every webhook.
	step step
}

// ClaimInto claims the body with key for this request, into *d. A Delivery
// with status New or Counted must be recorded (New) and settled. The
// handler claims into its scratch space: a returned Delivery would be two
// more copies of it in the handler's frame.
func (s *State) ClaimInto(ctx context.Context, key Key, now time.Time, d *Delivery) error {
	if !s.cfg.dedup() {
		*d = Delivery{Status: ClaimNew}
		return nil
	}
	c, err := s.backend.claim(ctx, key, now)
	if err != nil {
		*d = Delivery{}
		return err
	}
	*d = Delivery{Status: c.Status, Insight: c.Insight, h: held{key: key, claim: c}}
	return nil
}

// Record applies e for a New delivery: counts, scan state, and the claim
// marked counted with what the record says of the scan, in one step. A
// delivery counted before is left as it is. On an error the claim is
// released, so that the sender's retry is processed.
func (s *State) Record(ctx context.Context, d *Delivery, e *message.Event, now time.Time) error {
	if d.Status != ClaimNew {
		return nil
	}
	st := &d.step
	*st = step{rules: s.rules, now: now}
	st.observed.from(e)
	var h *held // without dedup there is no claim to mark counted
	if s.cfg.dedup() {
		// A copy: the backend may keep h past this call (a batched
		// Redis script a cancelled caller left behind), and the
		// caller's Delivery is reused.
		claim := d.h
		h = &claim
	}
	insight, err := s.runStep(ctx, h, now, st)
	if err != nil {
		return errors.Join(err, s.Settle(ctx, d, false, now))
	}
	d.Insight = insight
	return nil
}

// Settle ends a delivery: done when its record was accepted or refused for
// good (a redelivery is then a duplicate), else released for a retry.
func (s *State) Settle(ctx context.Context, d *Delivery, done bool, now time.Time) error {
	if !s.cfg.dedup() {
		return nil
	}
	return s.backend.settle(ctx, &d.h, done, now)
}

// Sync returns once every change made before it was called is durable:
// written to the storage extension, or in Redis.
func (s *State) Sync(ctx context.Context) error { return s.backend.sync(ctx) }

// sweepBatch bounds the scans one sweep looks at.
const sweepBatch = 1000

// Sweep reports the scans open for longer than stale_scan_after, each
// once; after it they no longer count as open. If their records cannot be
// delivered, Unstall puts them back for the next sweep. Each scan is
// stalled in its own update, so that replicas sweeping at once report it
// once between them.
func (s *State) Sweep(ctx context.Context, now time.Time) ([]Stalled, error) {
	if s.cfg.StaleScanAfter <= 0 {
		return nil, nil
	}
	cutoff := now.Add(-s.cfg.StaleScanAfter)
	ids, err := s.backend.staleCandidates(ctx, cutoff, sweepBatch)
	if err != nil {
		return nil, err
	}
	var out []Stalled
	for _, id := range ids {
		var st *Stalled
		_, err := s.update(ctx, nil, now, func(tx Tx) (Insight, error) {
			var err error
			st, err = s.rules.stall(tx, id, cutoff, now)
			return Insight{}, err
		})
		if err != nil {
			return out, err
		}
		if st != nil {
			out = append(out, *st)
		}
	}
	return out, nil
}

// Healthy reports whether the state can be reached, for the health path.
func (s *State) Healthy(ctx context.Context) error { return s.backend.healthy(ctx) }

// Unstall opens stalled scans again, for the next sweep to report.
func (s *State) Unstall(ctx context.Context, stalled []Stalled, now time.Time) error {
	_, err := s.update(ctx, nil, now, func(tx Tx) (Insight, error) {
		for _, st := range stalled {
			scan, found, err := tx.Scan(st.id)
			if err != nil {
				return Insight{}, err
			}
			if found && scan.Stalled {
				if err := s.rules.open(tx, st.id, scan, true); err != nil {
					return Insight{}, err
				}
				// Counted again when it is reported again. The metrics
				// never saw the count: they are emitted before sweeps.
				tx.Count(CounterKey{Domain: scan.Domain, Metric: MetricScans, Value: ScanStateStalled}, -1)
			}
		}
		return Insight{}, nil
	})
	return err
}

// Checkpoint asks for the saved state to be rewritten whole, so that a
// restart replays no more than what came after; the receiver calls it
// every metrics_interval.
func (s *State) Checkpoint() { s.backend.checkpoint() }

// Maintain forgets what has outlived its time, and brings the counters
// up to what Redis holds after a lost reply; the receiver calls it every
// metrics_interval.
func (s *State) Maintain(ctx context.Context, now time.Time) error {
	if err := s.backend.maintain(ctx, now); err != nil {
		return err
	}
	if s.cfg.DomainIdleTimeout > 0 {
		if idle := s.counts.forgetIdle(now.Add(-s.cfg.DomainIdleTimeout)); len(idle) > 0 {
			return s.backend.forgetCounts(ctx, idle)
		}
	}
	return nil
}

// DomainMetrics are what the metrics show of one domain.
type DomainMetrics struct {
	// Counts are this receiver's counters; nil when it counted nothing for
	// the domain.
	Counts *DomainCounts
	// Scans is the domain's scan record; nil when it has none.
	Scans *DomainRecord
}

// Metrics returns the domains whose metrics changed since the last call,
// or all of them. Domains whose emission failed go back with Changed.
func (s *State) Metrics(ctx context.Context, all bool) (map[string]DomainMetrics, error) {
	names := s.counts.all()
	if !all {
		names = s.counts.takeChanged()
	}
	records, err := s.backend.domainRecords(ctx, all)
	if err != nil {
		s.counts.markChanged(names)
		return nil, err
	}
	counts := s.counts.snapshot(names)
	out := make(map[string]DomainMetrics, len(counts)+len(records))
	for name, c := range counts {
		out[name] = DomainMetrics{Counts: &c}
	}
	for name, r := range records {
		m := out[name]
		m.Scans = &r
		out[name] = m
	}
	return out, nil
}

// Changed puts domains back for the next Metrics(false), e.g. when their
// emission failed.
func (s *State) Changed(domains []string) {
	s.counts.markChanged(domains)
	s.backend.gaugesChanged(domains)
}

// Telemetry are what the bounds turned away since the last call.
type Telemetry struct {
	EvictedScans int64 // open scans forgotten for max_open_scans
	// EvictedDeliveries are remembered deliveries forgotten for
	// dedup_max_entries: a redelivery of one is emitted again.
	EvictedDeliveries int64
	OverflowedEvents  int64 // events counted under OverflowDomain
	Domains           int   // domains counted
}

// TakeTelemetry returns the Telemetry since the last call.
func (s *State) TakeTelemetry() Telemetry {
	overflowed, domains := s.counts.takeOverflow()
	return Telemetry{EvictedScans: s.evictedScans.Swap(0), EvictedDeliveries: s.backend.evictedDeliveries(),
		OverflowedEvents: overflowed, Domains: domains}
}

// step is one change of the state, run on the backend's Tx: the rules
// applied to a webhook's observation, or fn (a sweep, a backfill). It
// counts the open scans it evicted. The backend runs it once, or again
// when another replica interfered (Redis); each run starts afresh.
type step struct {
	storeTx
	evicted int
	fn      func(Tx) (Insight, error)
	// A webhook's step (fn nil) applies rules to observed, and lives
	// in its Delivery: no allocation, where a closure over them took
	// three (docs/PERFORMANCE.md, sixth and seventh sessions).
	rules    rules
	observed observed
	now      time.Time
}

func (t *step) Evicted(n int) { t.evicted += n }

// run runs the step on the backend's tx.
func (t *step) run(tx storeTx) (Insight, error) {
	t.storeTx, t.evicted = tx, 0
	if t.fn != nil {
		return t.fn(t)
	}
	return t.rules.apply(t, &t.observed, t.now)
}

// update runs fn as one step of the backend.
func (s *State) update(ctx context.Context, h *held, now time.Time, fn func(Tx) (Insight, error)) (Insight, error) {
	return s.runStep(ctx, h, now, &step{fn: fn})
}

// runStep runs st on the backend, and counts the open scans it evicted
// once it is applied: a step the backend runs again counts afresh, one
// that fails counts nothing.
func (s *State) runStep(ctx context.Context, h *held, now time.Time, st *step) (Insight, error) {
	insight, err := s.backend.update(ctx, h, now, st)
	if err == nil {
		s.evictedScans.Add(int64(st.evicted))
	}
	return insight, err
}

// Close saves what is left and releases the backend.
func (s *State) Close(ctx context.Context) error { return s.backend.close(ctx) }
