package state

import (
	"encoding/json"
	"fmt"
	"time"
)

// redisTx is one step of the rules on the state in Redis: it reads through
// a txReader and buffers its writes, which commit hands to a txWriter. The
// same Tx serves both ways of updating (redis_watch.go, redis_fast.go).
type redisTx struct {
	b       *redisBackend
	r       txReader
	now     time.Time
	scans   map[string]*redisScan
	domains map[string]*DomainRecord // what this Tx wrote
	read    map[string]DomainRecord  // what it read
	counts  []countWrite
}

// txReader is where a redisTx reads: Redis under WATCH, or this replica's
// cache of it (checked by the script that applies the writes).
type txReader interface {
	// get returns a key's value; found is false when it has none.
	get(key string) (raw string, found bool, err error)
	// openCount is the size of the index of open scans.
	openCount() (int, error)
	// oldestOpen lists the first n of the index of open scans.
	oldestOpen(n int) ([]string, error)
	// field returns a hash's field; found is false when it has none.
	field(key, field string) (raw string, found bool, err error)
	// fieldNames lists a hash's fields.
	fieldNames(key string) ([]string, error)
}

// txWriter is where a redisTx's writes go: a MULTI/EXEC, or the script's
// list of operations.
type txWriter interface {
	set(key, raw string, ttl time.Duration)
	del(key string)
	zadd(key string, score float64, member string)
	zrem(key, member string)
	// trim keeps the keep highest-scored members of a sorted set.
	trim(key string, keep int64)
	hincrby(key, field string, n int64)
	expire(key string, ttl time.Duration)
	hset(key, field, value string)
	// setField is hset of a field a txReader reads.
	setField(key, field, value string)
}

func newRedisTx(b *redisBackend, r txReader, now time.Time) *redisTx {
	return &redisTx{b: b, r: r, now: now, scans: map[string]*redisScan{}, domains: map[string]*DomainRecord{}}
}

type redisScan struct {
	rec     ScanRecord // without its findings
	found   bool       // existed before this Tx
	wasOpen bool
	written bool
	deleted bool
	// What its hashes hold, and what this Tx read and changed of them
	// (redis_findings.go).
	titles, seen int
	f            findingsTx
}

type countWrite struct {
	key      CounterKey
	n        int64
	overflow bool
}

// Scan returns the record without its findings (see ScanRecord).
func (t *redisTx) Scan(id string) (ScanRecord, bool, error) {
	s, err := t.scan(id)
	if err != nil || s.deleted {
		return ScanRecord{}, false, err
	}
	return s.rec, s.found || s.written, nil
}

// scan is the scan as this Tx has it, read first if it was not.
func (t *redisTx) scan(id string) (*redisScan, error) {
	if s, ok := t.scans[id]; ok {
		return s, nil
	}
	raw, found, err := t.r.get(t.b.keys.scan(id))
	if err != nil {
		return nil, err
	}
	s := &redisScan{}
	if found {
		var v redisScanValue
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			return nil, fmt.Errorf("redis: scan %q is unreadable: %w", id, err)
		}
		s.rec, s.titles, s.seen = v.ScanRecord, v.Titles, v.SeenN
		s.rec.LimitedTitles = v.LimitedTitles
		s.adoptLegacy()
		s.found, s.wasOpen = true, s.rec.Open()
	}
	t.scans[id] = s
	return s, nil
}

// PutScan keeps the scan's findings.
func (t *redisTx) PutScan(id string, rec ScanRecord) {
	s := t.scans[id]
	if s == nil { // not read first: the rules always read, but be safe
		s = &redisScan{}
		t.scans[id] = s
	}
	if s.deleted {
		// Deleted, then opened again: its old hashes go first. A scan
		// without a record has none: they are written with its record,
		// and expire with it or before it.
		s.titles, s.seen, s.f = 0, 0, findingsTx{dropTitles: true, dropSeen: true}
	}
	s.rec, s.written, s.deleted = rec.core(), true, false
}

func (t *redisTx) DeleteScan(id string) {
	s := t.scans[id]
	if s == nil {
		s = &redisScan{}
		t.scans[id] = s
	}
	s.deleted, s.written = true, false
}

func (t *redisTx) Domain(name string) (DomainRecord, error) {
	if d, ok := t.domains[name]; ok {
		return *d, nil
	}
	if t.read == nil {
		t.read = map[string]DomainRecord{}
	}
	if d, ok := t.read[name]; ok {
		return d, nil
	}
	raw, found, err := t.r.get(t.b.keys.domain(name))
	if err != nil {
		return DomainRecord{}, err
	}
	var rec DomainRecord
	if found {
		if err := json.Unmarshal([]byte(raw), &rec); err != nil {
			return DomainRecord{}, fmt.Errorf("redis: domain %q is unreadable: %w", name, err)
		}
	}
	t.read[name] = rec
	return rec, nil
}

func (t *redisTx) PutDomain(name string, rec DomainRecord) { t.domains[name] = &rec }

// openDelta is how many scans this Tx opens, less those it closes.
func (t *redisTx) openDelta() int {
	n := 0
	for _, s := range t.scans {
		open := s.written && s.rec.Open()
		switch {
		case open && !s.wasOpen:
			n++
		case !open && s.wasOpen && (s.written || s.deleted):
			n--
		}
	}
	return n
}

func (t *redisTx) OpenScans() (int, error) {
	n, err := t.r.openCount()
	return n + t.openDelta(), err
}

func (t *redisTx) OldestOpen(n int) ([]string, error) {
	ids, err := t.r.oldestOpen(n + len(t.scans))
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, n)
	for _, id := range ids {
		if s, ok := t.scans[id]; ok && (s.deleted || s.written && !s.rec.Open()) {
			continue // closed by this Tx
		}
		if len(out) < n {
			out = append(out, id)
		}
	}
	return out, nil
}

func (t *redisTx) Count(k CounterKey, n int64) {
	resolved, overflow := t.b.counts.resolve(k, t.now)
	t.counts = append(t.counts, countWrite{key: resolved, n: n, overflow: overflow})
}

// commit hands the Tx's writes to w, and the claim marked counted.
func (t *redisTx) commit(w txWriter, h *held, insight Insight) error {
	k := t.b.keys
	for id, s := range t.scans {
		switch {
		case s.deleted:
			w.del(k.scan(id))
			w.del(k.scanTitles(id))
			w.del(k.scanSeen(id))
			w.zrem(k.open(), id)
			w.zrem(k.backfills(), id)
		case s.written:
			raw, err := json.Marshal(redisScanValue{ScanRecord: s.rec, LimitedTitles: s.rec.LimitedTitles, Titles: s.titles, SeenN: s.seen})
			if err != nil {
				return err
			}
			w.set(k.scan(id), string(raw), t.b.scanTTL())
			t.commitFindings(w, id, s)
			if s.rec.Open() {
				w.zadd(k.open(), float64(s.rec.FirstSeen.UnixMilli()), id)
			} else {
				w.zrem(k.open(), id)
			}
			if s.rec.Backfill.active() {
				w.zadd(k.backfills(), float64(s.rec.Backfill.Due.UnixMilli()), id)
			} else if s.found {
				w.zrem(k.backfills(), id)
			}
		}
	}
	for name, rec := range t.domains {
		raw, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		w.set(k.domain(name), string(raw), t.b.domainTTL())
		w.zadd(k.domainIndex(), float64(t.now.UnixMilli()), name)
	}
	if len(t.domains) > 0 {
		// The index keeps the newest max_domains; a record left out of it
		// expires with its key.
		w.trim(k.domainIndex(), int64(t.b.cfg.MaxDomains))
	}
	if len(t.counts) > 0 {
		key := k.counts(t.b.replica)
		for _, c := range t.counts {
			w.hincrby(key, countField(c.key.Domain, metricNames[c.key.Metric], c.key.Value), c.n)
		}
		w.expire(key, countsRetention)
	}
	if h != nil {
		raw, err := json.Marshal(insight)
		if err != nil {
			return err
		}
		w.hset(k.claim(h.key), "counted", "1")
		w.hset(k.claim(h.key), "insight", string(raw))
	}
	return nil
}

// applied brings this replica's copy up to date once the Tx committed.
func (t *redisTx) applied() {
	for _, c := range t.counts {
		t.b.counts.addResolved(c.key, c.n, c.overflow, t.now)
	}
	t.b.mu.Lock()
	defer t.b.mu.Unlock()
	for name, rec := range t.domains {
		t.b.changed[name] = *rec
	}
}
