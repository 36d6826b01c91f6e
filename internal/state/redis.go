package state

import (
	"context"
	"encoding/hex"
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
	// stepTokenTTL keeps the token of a step without a claim (dedup off)
	// for as long as go-redis may send its script again after a lost reply
	// (at once, within the client's timeouts): a key per webhook, so kept
	// short, where the claim's hash keeps it otherwise.
	stepTokenTTL = 15 * time.Second
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
// Redis); the scan state by the rules, written once, in Go, through
// optimistic steps: run on this replica's cache of Redis and applied by a
// script if what they read is still so (redis_fast.go), else run again;
// or, for what the cache cannot serve, through WATCH and MULTI/EXEC
// (redis_watch.go).
type redisBackend struct {
	cfg     Config
	counts  *Counts
	client  redis.UniversalClient
	keys    redisKeys
	replica string
	cache   *valueCache
	locks   *keyLocks
	batch   scriptBatch // claims and settles, sent in groups
	// reconcile raises the counters to Redis's after a lost reply.
	reconcile countsReconcile
	// names are this process's unique names for claims and steps: a
	// random prefix and a counter, cheaper than random bytes each time.
	names uniqueNames

	mu      sync.Mutex
	changed map[string]DomainRecord // domains this replica changed since the metrics took them
	// evictedClaims counts the settled deliveries this replica's settles
	// forgot for dedup_max_entries.
	evictedClaims atomic.Int64
}

// redisKeys names every key. All share one hash tag, so that a transaction
// over several of them works on Redis Cluster too (one slot holds them).
type redisKeys struct {
	prefix  string
	settled string // every claim and settle names it
}

func newRedisKeys(prefix string) redisKeys {
	return redisKeys{prefix: prefix, settled: prefix + "{detectify}settled"}
}

// claim is built in one allocation: every claim and settle names one.
func (k redisKeys) claim(key Key) string {
	const tag = "{detectify}claim:"
	var hexed [2 * len(Key{})]byte
	hex.Encode(hexed[:], key[:])
	var b strings.Builder
	b.Grow(len(k.prefix) + len(tag) + len(hexed))
	b.WriteString(k.prefix)
	b.WriteString(tag)
	b.Write(hexed[:])
	return b.String()
}
func (k redisKeys) scan(id string) string { return k.prefix + "{detectify}scan:" + id }

// A scan's findings are two hashes beside its record: its counts by title,
// and its delivered findings' keys (the fields, each "1").
func (k redisKeys) scanTitles(id string) string { return k.prefix + "{detectify}scan-titles:" + id }
func (k redisKeys) scanSeen(id string) string   { return k.prefix + "{detectify}scan-seen:" + id }
func (k redisKeys) open() string                { return k.prefix + "{detectify}open" }
func (k redisKeys) backfills() string           { return k.prefix + "{detectify}backfills" }
func (k redisKeys) domain(n string) string      { return k.prefix + "{detectify}domain:" + n }
func (k redisKeys) counts(r string) string      { return k.prefix + "{detectify}counts:" + r }

// step is where a step without a claim keeps its token (redis_fast.go).
func (k redisKeys) step(token string) string { return k.prefix + "{detectify}step:" + token }

// NewRedis keeps the state in Redis, shared by replicas. It loads this
// replica's counters, so that a restarted replica continues them.
func NewRedis(ctx context.Context, cfg Config, rc RedisConfig, now time.Time) (*State, error) {
	b := &redisBackend{cfg: cfg, client: rc.Client, keys: newRedisKeys(rc.KeyPrefix), replica: rc.Replica,
		changed: map[string]DomainRecord{}, cache: newValueCache(cfg), locks: newKeyLocks(), names: uniqueNames{prefix: newEpoch()}}
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

func (b *redisBackend) sync(context.Context) error { return nil } // every change is in Redis when made

func (b *redisBackend) checkpoint() {} // nothing to rewrite: Redis keeps each key

// maintain has nothing to forget (every key expires by itself); it raises
// the replica's counters to Redis's after a lost reply (redis_counts.go).
func (b *redisBackend) maintain(ctx context.Context, now time.Time) error {
	return b.reconcileCounts(ctx, now)
}

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

// close closes the client, once the claims and settles in flight are
// answered: it is the state's (see RedisConfig).
func (b *redisBackend) close(context.Context) error {
	b.batch.mu.Lock()
	b.batch.closed = true
	b.batch.mu.Unlock()
	b.batch.senders.Wait()
	return b.client.Close()
}

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
	return start, parseCounts(fields, now), nil
}

// parseCounts reads the fields of a replica's counters hash; seen is the
// domains' time of last use.
func parseCounts(fields map[string]string, seen time.Time) map[string]DomainCounts {
	saved := map[string]DomainCounts{}
	for field, v := range fields {
		parts := strings.Split(field, "\x1f")
		n, err := strconv.ParseInt(v, 10, 64)
		if len(parts) != 3 || err != nil {
			continue
		}
		d := saved[parts[0]]
		if d.Findings == nil {
			d.Findings, d.Scans, d.Seen = map[string]int64{}, map[string]int64{}, seen
		}
		if parts[1] == metricNames[MetricScans] {
			d.Scans[parts[2]] = n
		} else {
			d.Findings[parts[2]] = n
		}
		saved[parts[0]] = d
	}
	return saved
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

// uniqueNames names claims and steps uniquely across replicas and restarts.
type uniqueNames struct {
	prefix string
	n      atomic.Uint64
}

func (u *uniqueNames) next() string {
	var digits [13]byte // the longest uint64 in base 36
	n := strconv.AppendUint(digits[:0], u.n.Add(1), 36)
	var b strings.Builder
	b.Grow(len(u.prefix) + 1 + len(n))
	b.WriteString(u.prefix)
	b.WriteByte('.')
	b.Write(n)
	return b.String()
}
