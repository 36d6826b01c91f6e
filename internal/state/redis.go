package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisConfig is where the shared state lives and who this replica is.
type RedisConfig struct {
	// Client is the state's from NewRedis on: the State's Close closes it,
	// and so does NewRedis when it fails.
	Client redis.UniversalClient
	// KeyPrefix starts every key, so that several collectors can share one
	// Redis.
	KeyPrefix string
	// Replica names this replica's counters (its own, as each webhook is
	// counted by the one replica that claimed it).
	Replica string
}

// Timing of the shared state.
const (
	// claimLease is how long a replica holds a body it is processing; a
	// replica that dies while holding one is taken over after it.
	claimLease = time.Minute
	// maxTxAttempts bounds the retries of an update that met another
	// replica's update of the same keys.
	maxTxAttempts = 32
	// countsRetention keeps a replica's counters this long after its last
	// write: a replica that is gone for good stops being exported.
	countsRetention = 30 * 24 * time.Hour
	// domainRetention is how long a domain's record is kept when
	// domain_idle_timeout is off.
	domainRetention = 30 * 24 * time.Hour
	// scanMargin is kept beyond closedRetention (and stale_scan_after) on
	// every scan key, so that a scan outlives the report that it stalled.
	scanMargin = 24 * time.Hour
)

// redisBackend keeps the dedup claims and the scan state in Redis, shared
// by every replica. Claims are changed by small Lua scripts (atomic by
// Redis); the scan state by the rules through optimistic transactions
// (WATCH, then MULTI/EXEC, retried when another replica got there first),
// so that the rules are written once, in Go.
type redisBackend struct {
	cfg     Config
	counts  *Counts
	client  redis.UniversalClient
	keys    redisKeys
	replica string

	mu      sync.Mutex
	changed map[string]DomainRecord // domains this replica changed since the metrics took them
	// evictedClaims counts the settled deliveries this replica's settles
	// forgot for dedup_max_entries.
	evictedClaims atomic.Int64
}

// redisKeys names every key. All share one hash tag, so that a transaction
// over several of them works on Redis Cluster too (one slot holds them).
type redisKeys struct{ prefix string }

func (k redisKeys) claim(key Key) string {
	return fmt.Sprintf("%s{detectify}claim:%x", k.prefix, key[:])
}
func (k redisKeys) scan(id string) string  { return k.prefix + "{detectify}scan:" + id }
func (k redisKeys) open() string           { return k.prefix + "{detectify}open" }
func (k redisKeys) backfills() string      { return k.prefix + "{detectify}backfills" }
func (k redisKeys) domain(n string) string { return k.prefix + "{detectify}domain:" + n }
func (k redisKeys) counts(r string) string { return k.prefix + "{detectify}counts:" + r }

// NewRedis keeps the state in Redis, shared by replicas. It loads this
// replica's counters, so that a restarted replica continues them.
func NewRedis(ctx context.Context, cfg Config, rc RedisConfig, now time.Time) (*State, error) {
	b := &redisBackend{cfg: cfg, client: rc.Client, keys: redisKeys{rc.KeyPrefix}, replica: rc.Replica,
		changed: map[string]DomainRecord{}}
	start, saved, err := b.loadCounts(ctx, now)
	if err != nil {
		return nil, errors.Join(err, rc.Client.Close())
	}
	if err := b.migrateDomainSet(ctx); err != nil {
		return nil, errors.Join(err, rc.Client.Close())
	}
	b.counts = newCounts(start, cfg.MaxDomains)
	restored := saved != nil
	b.counts.restore(start, saved)
	return &State{cfg: cfg, rules: cfg.rules(), counts: b.counts, backend: b, restored: restored}, nil
}

// unavailable marks an error of Redis itself (not of the protocol).
func unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrClaimLost) {
		return err
	}
	return fmt.Errorf("%w: redis: %w", ErrUnavailable, err)
}

func (b *redisBackend) update(ctx context.Context, h *held, now time.Time, fn func(storeTx) (Insight, error)) (Insight, error) {
	var watch []string
	if h != nil {
		watch = append(watch, b.keys.claim(h.key))
	}
	for range maxTxAttempts {
		tx := &redisTx{b: b, ctx: ctx, now: now, scans: map[string]*redisScan{}, domains: map[string]*DomainRecord{}}
		var insight Insight
		err := b.client.Watch(ctx, func(rtx *redis.Tx) error {
			tx.rtx = rtx
			if len(watch) > 0 {
				owner, err := rtx.HGet(ctx, watch[0], "owner").Result()
				if err != nil && !errors.Is(err, redis.Nil) {
					return err
				}
				if owner != h.claim.owner {
					return ErrClaimLost
				}
			}
			var err error
			if insight, err = fn(tx); err != nil {
				return err
			}
			_, err = rtx.TxPipelined(ctx, func(p redis.Pipeliner) error { return tx.commit(p, h, insight) })
			return err
		}, watch...)
		if errors.Is(err, redis.TxFailedErr) {
			continue // another replica changed what this update read: again
		}
		if err != nil {
			return Insight{}, unavailable(err)
		}
		tx.applied()
		return insight, nil
	}
	return Insight{}, fmt.Errorf("%w: redis: too many concurrent updates of the same scan", ErrUnavailable)
}

func (b *redisBackend) sync(context.Context) error { return nil } // every change is in Redis when made

func (b *redisBackend) checkpoint() {} // nothing to rewrite: Redis keeps each key

func (b *redisBackend) maintain(time.Time) {} // every key expires by itself

func (b *redisBackend) gaugesChangedRecords(records map[string]DomainRecord) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for name, rec := range records {
		if _, newer := b.changed[name]; !newer {
			b.changed[name] = rec
		}
	}
}

func (b *redisBackend) gaugesChanged(names []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	records := map[string]DomainRecord{}
	for _, name := range names {
		raw, err := b.client.Get(ctx, b.keys.domain(name)).Bytes()
		var rec DomainRecord
		if err == nil && json.Unmarshal(raw, &rec) == nil {
			records[name] = rec
		}
	}
	b.gaugesChangedRecords(records)
}

func (b *redisBackend) forgetCounts(ctx context.Context, names []string) error {
	var fields []string
	for _, name := range names {
		iter := b.client.HScan(ctx, b.keys.counts(b.replica), 0, countField(name, "*", "*"), 100).Iterator()
		for iter.Next(ctx) {
			field := iter.Val()
			if !iter.Next(ctx) { // HSCAN returns field, value pairs
				break
			}
			fields = append(fields, field)
		}
		if err := iter.Err(); err != nil {
			return unavailable(err)
		}
	}
	if len(fields) == 0 {
		return nil
	}
	return unavailable(b.client.HDel(ctx, b.keys.counts(b.replica), fields...).Err())
}

// close closes the client: it is the state's (see RedisConfig).
func (b *redisBackend) close(context.Context) error { return b.client.Close() }

// staleCandidates lists up to n open scans first seen before cutoff.
func (b *redisBackend) staleCandidates(ctx context.Context, cutoff time.Time, n int) ([]string, error) {
	ids, err := b.client.ZRangeByScore(ctx, b.keys.open(), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(cutoff.UnixMilli(), 10), Count: int64(n),
	}).Result()
	return ids, unavailable(err)
}

// healthy reports whether Redis answers.
// dueBackfills reads the index of due backfills. An entry whose scan
// expired is dropped from it here: nothing else would.
func (b *redisBackend) dueBackfills(ctx context.Context, now time.Time, n int) ([]string, error) {
	ids, err := b.client.ZRangeByScore(ctx, b.keys.backfills(), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: int64(n),
	}).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = b.keys.scan(id)
	}
	exists, err := b.client.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	live := ids[:0]
	var gone []any
	for i, id := range ids {
		if exists[i] == nil {
			gone = append(gone, id)
		} else {
			live = append(live, id)
		}
	}
	if len(gone) > 0 {
		if err := b.client.ZRem(ctx, b.keys.backfills(), gone...).Err(); err != nil {
			return nil, unavailable(err)
		}
	}
	return live, nil
}

func (b *redisBackend) healthy(ctx context.Context) error {
	return unavailable(b.client.Ping(ctx).Err())
}

// countField names one counter in the replica's hash: domain, metric and
// value, separated by a character no domain or level contains.
func countField(domain, metric, value string) string {
	return domain + "\x1f" + metric + "\x1f" + value
}

var metricNames = map[Metric]string{MetricFindings: "findings", MetricScans: "scans"}

const startField = "_start"

// loadCounts reads this replica's counters and their start time, writing
// now as the start time if there is none yet.
func (b *redisBackend) loadCounts(ctx context.Context, now time.Time) (time.Time, map[string]DomainCounts, error) {
	key := b.keys.counts(b.replica)
	if err := b.client.HSetNX(ctx, key, startField, now.UTC().Format(time.RFC3339Nano)).Err(); err != nil {
		return time.Time{}, nil, unavailable(err)
	}
	fields, err := b.client.HGetAll(ctx, key).Result()
	if err != nil {
		return time.Time{}, nil, unavailable(err)
	}
	b.client.Expire(ctx, key, countsRetention)
	start, err := time.Parse(time.RFC3339Nano, fields[startField])
	if err != nil {
		start = now
	}
	if len(fields) == 1 {
		return start, nil, nil // none counted yet
	}
	saved := map[string]DomainCounts{}
	for field, v := range fields {
		parts := strings.Split(field, "\x1f")
		n, err := strconv.ParseInt(v, 10, 64)
		if len(parts) != 3 || err != nil {
			continue
		}
		d := saved[parts[0]]
		if d.Findings == nil {
			d.Findings, d.Scans, d.Seen = map[string]int64{}, map[string]int64{}, now
		}
		if parts[1] == metricNames[MetricScans] {
			d.Scans[parts[2]] = n
		} else {
			d.Findings[parts[2]] = n
		}
		saved[parts[0]] = d
	}
	return start, saved, nil
}

// scanTTL is how long a scan key lives after its last change.
func (b *redisBackend) scanTTL() time.Duration {
	return b.cfg.closedRetention() + scanMargin
}

func (b *redisBackend) domainTTL() time.Duration {
	if b.cfg.DomainIdleTimeout > 0 {
		return b.cfg.DomainIdleTimeout
	}
	return domainRetention
}

// redisTx reads through WATCH and buffers its writes for one MULTI/EXEC.
type redisTx struct {
	b       *redisBackend
	ctx     context.Context
	rtx     *redis.Tx
	now     time.Time
	scans   map[string]*redisScan
	domains map[string]*DomainRecord // what this Tx wrote
	read    map[string]DomainRecord  // what it read
	counts  []countWrite
}

type redisScan struct {
	rec     ScanRecord
	found   bool // existed before this Tx
	wasOpen bool
	written bool
	deleted bool
}

type countWrite struct {
	key      CounterKey
	n        int64
	overflow bool
}

func (t *redisTx) Scan(id string) (ScanRecord, bool, error) {
	if s, ok := t.scans[id]; ok {
		if s.deleted {
			return ScanRecord{}, false, nil
		}
		return s.rec, s.found || s.written, nil
	}
	key := t.b.keys.scan(id)
	if err := t.rtx.Watch(t.ctx, key).Err(); err != nil {
		return ScanRecord{}, false, err
	}
	raw, err := t.rtx.Get(t.ctx, key).Bytes()
	s := &redisScan{}
	switch {
	case errors.Is(err, redis.Nil):
	case err != nil:
		return ScanRecord{}, false, err
	default:
		if err := json.Unmarshal(raw, &s.rec); err != nil {
			return ScanRecord{}, false, fmt.Errorf("redis: scan %q is unreadable: %w", id, err)
		}
		s.found, s.wasOpen = true, s.rec.Open()
	}
	t.scans[id] = s
	return s.rec, s.found, nil
}

func (t *redisTx) PutScan(id string, rec ScanRecord) {
	s := t.scans[id]
	if s == nil { // not read first: the rules always read, but be safe
		s = &redisScan{}
		t.scans[id] = s
	}
	s.rec, s.written, s.deleted = rec, true, false
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
	key := t.b.keys.domain(name)
	if err := t.rtx.Watch(t.ctx, key).Err(); err != nil {
		return DomainRecord{}, err
	}
	var rec DomainRecord
	raw, err := t.rtx.Get(t.ctx, key).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
	case err != nil:
		return DomainRecord{}, err
	default:
		if err := json.Unmarshal(raw, &rec); err != nil {
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
	if err := t.rtx.Watch(t.ctx, t.b.keys.open()).Err(); err != nil {
		return 0, err
	}
	n, err := t.rtx.ZCard(t.ctx, t.b.keys.open()).Result()
	return int(n) + t.openDelta(), err
}

func (t *redisTx) OldestOpen(n int) ([]string, error) {
	if err := t.rtx.Watch(t.ctx, t.b.keys.open()).Err(); err != nil {
		return nil, err
	}
	ids, err := t.rtx.ZRange(t.ctx, t.b.keys.open(), 0, int64(n+len(t.scans))-1).Result()
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

// commit queues the Tx's writes, and the claim marked counted.
func (t *redisTx) commit(p redis.Pipeliner, h *held, insight Insight) error {
	k := t.b.keys
	for id, s := range t.scans {
		switch {
		case s.deleted:
			p.Del(t.ctx, k.scan(id))
			p.ZRem(t.ctx, k.open(), id)
			p.ZRem(t.ctx, k.backfills(), id)
		case s.written:
			raw, err := json.Marshal(s.rec)
			if err != nil {
				return err
			}
			p.Set(t.ctx, k.scan(id), raw, t.b.scanTTL())
			if s.rec.Open() {
				p.ZAdd(t.ctx, k.open(), redis.Z{Score: float64(s.rec.FirstSeen.UnixMilli()), Member: id})
			} else {
				p.ZRem(t.ctx, k.open(), id)
			}
			if s.rec.Backfill.active() {
				p.ZAdd(t.ctx, k.backfills(), redis.Z{Score: float64(s.rec.Backfill.Due.UnixMilli()), Member: id})
			} else if s.found {
				p.ZRem(t.ctx, k.backfills(), id)
			}
		}
	}
	for name, rec := range t.domains {
		raw, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		p.Set(t.ctx, k.domain(name), raw, t.b.domainTTL())
		p.ZAdd(t.ctx, k.domainIndex(), redis.Z{Score: float64(t.now.UnixMilli()), Member: name})
	}
	if len(t.domains) > 0 {
		// The index keeps the newest max_domains; a record left out of it
		// expires with its key.
		p.ZRemRangeByRank(t.ctx, k.domainIndex(), 0, -int64(t.b.cfg.MaxDomains)-1)
	}
	if len(t.counts) > 0 {
		key := k.counts(t.b.replica)
		for _, c := range t.counts {
			p.HIncrBy(t.ctx, key, countField(c.key.Domain, metricNames[c.key.Metric], c.key.Value), c.n)
		}
		p.Expire(t.ctx, key, countsRetention)
	}
	if h != nil {
		raw, err := json.Marshal(insight)
		if err != nil {
			return err
		}
		p.HSet(t.ctx, k.claim(h.key), "counted", "1", "insight", string(raw))
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
