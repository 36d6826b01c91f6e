package state

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// memoryBackend keeps the state in this process, every part of it bounded;
// with a journal, each change is written to a storage extension before the
// webhook that made it is answered.
type memoryBackend struct {
	cfg    Config
	counts *Counts

	mu sync.Mutex
	// claims and settled remember bodies for dedup_window, at most
	// dedup_max_entries between them, oldest settled forgotten first (one
	// in flight is never forgotten). claims are those in flight or waiting
	// for a retry, with all a retry needs; settled the done ones, compact.
	claims     map[Key]*memClaim
	claimOrder queue[Key]
	settled    settledSet
	// evictedClaims counts the deliveries forgotten for dedup_max_entries.
	evictedClaims atomic.Int64
	lastOwner     uint64
	// scans holds the open scans (at most max_open_scans, oldest evicted
	// by the rules) and, for closedRetention, the closed ones (as many).
	scans       map[string]*memScan
	openOrder   queue[string]
	openCount   int
	closedOrder queue[string]
	// domains holds the domains' scan records, at most max_domains, the
	// least recently updated forgotten first.
	domains     map[string]*memDomain
	domainOrder queue[string]
	// changedDomains are the domains whose record changed since the
	// metrics last took them.
	changedDomains map[string]bool
	// backfills indexes the scans whose backfill has work, by when it is
	// due (they are among scans, so as bounded).
	backfills map[string]time.Time

	journal *journal // nil without a storage extension

	// tx is the transaction of the step that holds mu: a step's backend
	// is an interface, so a fresh one would be an allocation per webhook.
	tx memoryTx
}

type memClaim struct {
	claimRecord
	seq uint64 // of its claimOrder entry
}

type memScan struct {
	ScanRecord
	openSeq, closedSeq uint64 // of its live entry in openOrder or closedOrder
}

type memDomain struct {
	DomainRecord
	seq uint64
}

func newMemoryBackend(cfg Config, counts *Counts) *memoryBackend {
	return &memoryBackend{
		cfg:            cfg,
		counts:         counts,
		claims:         make(map[Key]*memClaim),
		settled:        newSettledSet(),
		scans:          make(map[string]*memScan),
		domains:        make(map[string]*memDomain),
		changedDomains: make(map[string]bool),
		backfills:      make(map[string]time.Time),
	}
}

func (b *memoryBackend) claim(_ context.Context, key Key, now time.Time) (Claim, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expireClaimsLocked(now)
	if added, found := b.settled.get(key); found {
		if now.Sub(added) < b.cfg.DedupWindow {
			return Claim{Status: ClaimDuplicate}, nil
		}
		b.settled.delete(key) // settled late, expired since: claimed anew
	}
	if c, found := b.claims[key]; found {
		switch c.State {
		case claimSettled:
			return Claim{Status: ClaimDuplicate}, nil
		case claimInFlight:
			// In one process a request in flight cannot be lost without
			// the process: never taken over.
			return Claim{Status: ClaimBusy}, nil
		}
		status := ClaimNew
		if c.Counted {
			status = ClaimCounted
		}
		c.State, c.Owner = claimInFlight, b.newOwnerLocked()
		b.markClaimLocked(key)
		return Claim{Status: status, Insight: c.Insight, owner: c.Owner}, nil
	}
	for len(b.claims)+b.settled.len() >= b.cfg.DedupMaxEntries {
		if !b.evictOldestClaimLocked(now) {
			break
		}
	}
	c := &memClaim{claimRecord: claimRecord{State: claimInFlight, Owner: b.newOwnerLocked(), Added: now}}
	c.seq = b.claimOrder.push(key, now, len(b.claims), b.claimLive)
	b.claims[key] = c
	b.markClaimLocked(key)
	return Claim{Status: ClaimNew, owner: c.Owner}, nil
}

func (b *memoryBackend) newOwnerLocked() string {
	b.lastOwner++
	return strconv.FormatUint(b.lastOwner, 36)
}

func (b *memoryBackend) claimLive(e queued[Key]) bool {
	c, ok := b.claims[e.key]
	return ok && c.seq == e.seq
}

// expireClaimsLocked forgets the claims older than dedup_window.
func (b *memoryBackend) expireClaimsLocked(now time.Time) {
	b.settled.expire(now.Add(-b.cfg.DedupWindow), b.markClaimLocked)
	for {
		e, ok := b.claimOrder.oldest(b.claimLive)
		if !ok || now.Sub(e.at) < b.cfg.DedupWindow || !b.forgetOldestClaimLocked(now) {
			return
		}
	}
}

// forgetOldestClaimLocked forgets the oldest claim. One in flight is queued
// again instead: forgetting it would let a redelivery run beside it, so
// the map can exceed its bound by the requests in flight, no more. It
// reports false when every claim is in flight.
func (b *memoryBackend) forgetOldestClaimLocked(now time.Time) bool {
	for range len(b.claims) {
		e, ok := b.claimOrder.oldest(b.claimLive)
		if !ok {
			return false
		}
		b.claimOrder.pop()
		c := b.claims[e.key]
		if c.State == claimInFlight {
			c.seq = b.claimOrder.push(e.key, now, len(b.claims), b.claimLive)
			continue
		}
		delete(b.claims, e.key)
		b.markClaimLocked(e.key)
		return true
	}
	return false
}

// evictOldestClaimLocked forgets a delivery for dedup_max_entries, and
// counts it: the oldest settled one, else the oldest waiting for a retry
// (which then counts again if it comes back).
func (b *memoryBackend) evictOldestClaimLocked(now time.Time) bool {
	if key, ok := b.settled.popOldest(); ok {
		b.markClaimLocked(key)
	} else if !b.forgetOldestClaimLocked(now) {
		return false
	}
	b.evictedClaims.Add(1)
	return true
}

// claimRecordLocked returns what is remembered of key, from either tier.
func (b *memoryBackend) claimRecordLocked(key Key) (claimRecord, bool) {
	if c, ok := b.claims[key]; ok {
		return c.claimRecord, true
	}
	if added, ok := b.settled.get(key); ok {
		return claimRecord{State: claimSettled, Added: added}, true
	}
	return claimRecord{}, false
}

// ownedLocked returns key's claim if c still holds it.
func (b *memoryBackend) ownedLocked(key Key, c Claim) (*memClaim, error) {
	mc, found := b.claims[key]
	if !found || mc.State != claimInFlight || mc.Owner != c.owner {
		return nil, ErrClaimLost
	}
	return mc, nil
}

func (b *memoryBackend) update(_ context.Context, h *held, now time.Time, st *step) (Insight, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var mc *memClaim
	if h != nil {
		var err error
		if mc, err = b.ownedLocked(h.key, h.claim); err != nil {
			return Insight{}, err
		}
	}
	b.tx = memoryTx{b: b, now: now}
	insight, err := st.run(&b.tx)
	if err != nil {
		return Insight{}, err
	}
	if mc != nil {
		mc.Counted, mc.Insight = true, insight
		b.markClaimLocked(h.key)
	}
	return insight, nil
}

func (b *memoryBackend) settle(_ context.Context, h *held, done bool, _ time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	mc, err := b.ownedLocked(h.key, h.claim)
	if err != nil {
		return err
	}
	if done {
		// Only the key and its time are kept from now on.
		delete(b.claims, h.key)
		b.settled.add(h.key, mc.Added)
	} else {
		mc.State, mc.Owner = claimPending, ""
	}
	b.markClaimLocked(h.key)
	return nil
}

func (b *memoryBackend) gaugesChanged(names []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, name := range names {
		if _, ok := b.domains[name]; ok {
			b.changedDomains[name] = true
		}
	}
}

func (b *memoryBackend) forgetCounts(_ context.Context, names []string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, name := range names {
		b.markCountsLocked(name)
	}
	return nil
}

func (b *memoryBackend) evictedDeliveries() int64 { return b.evictedClaims.Swap(0) }

func (b *memoryBackend) staleCandidates(_ context.Context, cutoff time.Time, n int) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	b.openOrder.each(b.openLive, func(e queued[string]) bool {
		if b.scans[e.key].FirstSeen.Before(cutoff) {
			out = append(out, e.key)
		}
		return len(out) < n
	})
	return out, nil
}

func (b *memoryBackend) dueBackfills(_ context.Context, now time.Time, n int) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var due []string
	for id, at := range b.backfills {
		if !at.After(now) {
			due = append(due, id)
		}
	}
	slices.SortFunc(due, func(x, y string) int { return b.backfills[x].Compare(b.backfills[y]) })
	return due[:min(n, len(due))], nil
}

func (b *memoryBackend) healthy(context.Context) error { return nil }

func (b *memoryBackend) sync(ctx context.Context) error {
	if b.journal == nil {
		return nil
	}
	return b.journal.sync(ctx)
}

func (b *memoryBackend) checkpoint() {
	if b.journal != nil {
		b.journal.requestSnapshot()
	}
}

func (b *memoryBackend) domainRecords(_ context.Context, all bool) (map[string]DomainRecord, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	names := slices.Collect(maps.Keys(b.changedDomains))
	if all {
		names = slices.Collect(maps.Keys(b.domains))
	}
	clear(b.changedDomains)
	out := make(map[string]DomainRecord, len(names))
	for _, name := range names {
		if d, ok := b.domains[name]; ok {
			out[name] = d.DomainRecord
		}
	}
	return out, nil
}

// maintain forgets what has outlived its time: closed scans after
// closedRetention, domains idle for domain_idle_timeout.
func (b *memoryBackend) maintain(_ context.Context, now time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expireClaimsLocked(now)
	for {
		e, ok := b.closedOrder.oldest(b.closedLive)
		if !ok || now.Sub(e.at) < b.cfg.closedRetention() {
			break
		}
		b.deleteScanLocked(e.key)
	}
	if b.cfg.DomainIdleTimeout > 0 {
		for {
			e, ok := b.domainOrder.oldest(b.domainLive)
			if !ok || now.Sub(e.at) < b.cfg.DomainIdleTimeout {
				break
			}
			b.deleteDomainLocked(e.key)
		}
	}
	b.claimOrder.compact(len(b.claims), b.claimLive)
	b.settled.compact()
	b.openOrder.compact(b.openCount, b.openLive)
	b.closedOrder.compact(len(b.scans)-b.openCount, b.closedLive)
	b.domainOrder.compact(len(b.domains), b.domainLive)
	return nil
}

func (b *memoryBackend) openLive(e queued[string]) bool {
	s, ok := b.scans[e.key]
	return ok && s.openSeq == e.seq
}

func (b *memoryBackend) closedLive(e queued[string]) bool {
	s, ok := b.scans[e.key]
	return ok && s.closedSeq == e.seq
}

func (b *memoryBackend) domainLive(e queued[string]) bool {
	d, ok := b.domains[e.key]
	return ok && d.seq == e.seq
}

// putScanLocked stores rec and keeps the open and closed indexes in step.
func (b *memoryBackend) putScanLocked(id string, rec ScanRecord, now time.Time) {
	s, found := b.scans[id]
	if !found {
		s = &memScan{}
		b.scans[id] = s
	}
	wasOpen, closedBefore := found && s.Open(), s.Closed
	findings := s.ScanFindings
	s.ScanRecord = rec.core()
	s.ScanFindings = findings
	if rec.Backfill.active() {
		b.backfills[id] = rec.Backfill.Due
	} else {
		delete(b.backfills, id)
	}
	switch {
	case rec.Open() && !wasOpen:
		s.openSeq, s.closedSeq = b.openOrder.push(id, now, b.openCount, b.openLive), 0
		b.openCount++
	case !rec.Open() && (wasOpen || !found || !rec.Closed.Equal(closedBefore)):
		s.openSeq, s.closedSeq = 0, b.closedOrder.push(id, rec.Closed, len(b.scans)-b.openCount, b.closedLive)
		if wasOpen {
			b.openCount--
		}
		// The closed are bounded like the open.
		for len(b.scans)-b.openCount > b.cfg.MaxOpenScans {
			e, ok := b.closedOrder.oldest(b.closedLive)
			if !ok {
				break
			}
			b.deleteScanLocked(e.key)
		}
	}
	b.markScanLocked(id)
}

func (b *memoryBackend) deleteScanLocked(id string) {
	if s, ok := b.scans[id]; ok {
		if s.Open() {
			b.openCount--
		}
		delete(b.scans, id)
		delete(b.backfills, id)
		b.markScanLocked(id)
	}
}

func (b *memoryBackend) putDomainLocked(name string, rec DomainRecord, now time.Time) {
	d, found := b.domains[name]
	if !found {
		for len(b.domains) >= b.cfg.MaxDomains {
			e, ok := b.domainOrder.oldest(b.domainLive)
			if !ok {
				break
			}
			b.deleteDomainLocked(e.key)
		}
		d = &memDomain{}
		b.domains[name] = d
	}
	d.DomainRecord = rec
	d.seq = b.domainOrder.push(name, now, len(b.domains), b.domainLive)
	b.changedDomains[name] = true
	b.markDomainLocked(name)
}

func (b *memoryBackend) deleteDomainLocked(name string) {
	delete(b.domains, name)
	delete(b.changedDomains, name)
	b.markDomainLocked(name)
}

func (b *memoryBackend) markClaimLocked(key Key) {
	if b.journal != nil {
		b.journal.dirty.claims[key] = true
		b.journal.changed++
	}
}

func (b *memoryBackend) markScanLocked(id string) {
	if b.journal != nil {
		b.journal.dirty.scans[id] = true
		b.journal.changed++
	}
}

// findingsDirtLocked is what the next journal entry writes of the scan's
// findings; nil without a journal.
func (b *memoryBackend) findingsDirtLocked(id string) *findingsDirt {
	if b.journal == nil {
		return nil
	}
	b.markScanLocked(id) // written with its record
	d := b.journal.dirty.findings[id]
	if d == nil {
		d = &findingsDirt{}
		b.journal.dirty.findings[id] = d
	}
	return d
}

// findingAddedLocked journals a finding added to s, which had before
// findings: only the changes of a scan past wholeFindings are tracked (a
// smaller one is written whole), so the one that takes it past them asks
// for it whole. It returns where to note the change; nil when untracked.
func (b *memoryBackend) findingAddedLocked(id string, s *memScan, before int) *findingsDirt {
	switch {
	case b.journal == nil:
	case before > wholeFindings:
		return b.findingsDirtLocked(id)
	case b.journal.dirty.findings[id] != nil || len(s.ByTitle)+len(s.Seen) > wholeFindings:
		// Changes of this write were not tracked.
		b.findingsDirtLocked(id).whole = true
	default:
		b.markScanLocked(id) // written whole
	}
	return nil
}

func (b *memoryBackend) markDomainLocked(name string) {
	if b.journal != nil {
		b.journal.dirty.domains[name] = true
		b.journal.changed++
	}
}

func (b *memoryBackend) markCountsLocked(domain string) {
	if b.journal != nil {
		b.journal.dirty.counts[domain] = true
		b.journal.changed++
	}
}

func (b *memoryBackend) close(ctx context.Context) error {
	if b.journal == nil {
		return nil
	}
	return b.journal.close(ctx)
}

// memoryTx works on the maps directly, under the backend's lock: in memory
// nothing can fail half way.
type memoryTx struct {
	b   *memoryBackend
	now time.Time
}

// Scan returns the stored record, without its findings; the rules may
// change its maps in place, as they write it back under the same lock.
func (t *memoryTx) Scan(id string) (ScanRecord, bool, error) {
	s, ok := t.b.scans[id]
	if !ok {
		return ScanRecord{}, false, nil
	}
	return s.core(), true, nil
}

func (t *memoryTx) TitleCount(id, title string) (int64, int, error) {
	s, ok := t.b.scans[id]
	if !ok {
		return 0, 0, nil
	}
	return s.ByTitle[title], len(s.ByTitle), nil
}

func (t *memoryTx) PutTitleCount(id, title string, n int64) {
	s, ok := t.b.scans[id]
	if !ok {
		return // evicted in this step
	}
	if s.ByTitle == nil {
		s.ByTitle = make(map[string]int64)
	}
	before := len(s.ByTitle) + len(s.Seen)
	s.ByTitle[title] = n
	if d := t.b.findingAddedLocked(id, s, before); d != nil {
		d.countTitle(title)
	}
}

func (t *memoryTx) Seen(id, key string) (bool, int, error) {
	s, ok := t.b.scans[id]
	if !ok {
		return false, 0, nil
	}
	return slices.Contains(s.Seen, key), len(s.Seen), nil
}

func (t *memoryTx) AddSeen(id, key string) {
	s, ok := t.b.scans[id]
	if !ok {
		return
	}
	before := len(s.ByTitle) + len(s.Seen)
	s.Seen = append(s.Seen, key)
	if d := t.b.findingAddedLocked(id, s, before); d != nil {
		d.seen = append(d.seen, key)
	}
}

func (t *memoryTx) SeenKeys(id string) ([]string, error) {
	if s, ok := t.b.scans[id]; ok {
		return slices.Clone(s.Seen), nil
	}
	return nil, nil
}

func (t *memoryTx) DropFindings(id string, keepSeen bool) {
	s, ok := t.b.scans[id]
	if !ok || s.ByTitle == nil && (keepSeen || s.Seen == nil) {
		return // nothing to forget, nothing to journal
	}
	s.ByTitle = nil
	if !keepSeen {
		s.Seen = nil
	}
	if d := t.b.findingsDirtLocked(id); d != nil {
		d.reset(!keepSeen)
	}
}

func (t *memoryTx) PutScan(id string, rec ScanRecord) { t.b.putScanLocked(id, rec, t.now) }

func (t *memoryTx) DeleteScan(id string) { t.b.deleteScanLocked(id) }

func (t *memoryTx) Domain(name string) (DomainRecord, error) {
	d, ok := t.b.domains[name]
	if !ok {
		return DomainRecord{}, nil
	}
	rec := d.DomainRecord
	rec.Open = slices.Clone(rec.Open)
	return rec, nil
}

func (t *memoryTx) PutDomain(name string, rec DomainRecord) { t.b.putDomainLocked(name, rec, t.now) }

func (t *memoryTx) OpenScans() (int, error) { return t.b.openCount, nil }

func (t *memoryTx) OldestOpen(n int) ([]string, error) {
	out := make([]string, 0, n)
	t.b.openOrder.each(t.b.openLive, func(e queued[string]) bool {
		out = append(out, e.key)
		return len(out) < n
	})
	return out, nil
}

func (t *memoryTx) Count(k CounterKey, n int64) {
	t.b.markCountsLocked(t.b.counts.add(k, n, t.now).Domain)
}
