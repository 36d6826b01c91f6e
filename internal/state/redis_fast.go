package state

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The fast way to update, one round trip: the rules run on this replica's
// cache of Redis (redis_cache.go), noting what they read; one script then
// checks that Redis still holds what was read and, if so, applies the
// writes. If not, it answers what Redis holds, and the rules run again on
// that. With one replica the cache is always right; with several, a stale
// value costs a retry, as a failed WATCH did.

// updateScript checks a step's reads and applies its writes, or nothing.
//
// KEYS: the open index, then the keys checked and written. ARGV: the held
// claim's key index (0: none) and owner; the step's key index (0: none)
// and token, and that key's TTL in ms (0: it keeps its own, the claim's);
// the open index's size the step read (empty: not read); the number of
// checks, then each check as a key index, the value read ('=' and the
// value, or '!': absent) and the hash field read (empty for the key's value,
// else 'h' and the field's name); then the writes, each an operation and
// its arguments (see opWriter).
//
// A step that writes is applied once: its token is kept in the step's key
// (the claim's hash, else a key of its own for stepTokenTTL), and the same
// script sent again (go-redis resends a command whose reply was lost) is
// answered as applied, not checked again against its own writes.
//
// It answers {-1} when the claim was lost; {1, open before, open after}
// when applied (or {1, 0, what it changed of the open index} when applied
// before); {0, open size, the checked keys' values} when not.
var updateScript = redis.NewScript(`
local step = tonumber(ARGV[3])
if step > 0 and redis.call('HGET', KEYS[step], 'step') == ARGV[4] then
  return {1, 0, tonumber(redis.call('HGET', KEYS[step], 'opened')) or 0}
end
local claim = tonumber(ARGV[1])
if claim > 0 and redis.call('HGET', KEYS[claim], 'owner') ~= ARGV[2] then
  return {-1}
end
local open = redis.call('ZCARD', KEYS[1])
local stale = ARGV[6] ~= '' and open ~= tonumber(ARGV[6])
local n = tonumber(ARGV[7])
local reply = {0, open}
for c = 0, n - 1 do
  local k, f = KEYS[tonumber(ARGV[8 + 3 * c])], ARGV[10 + 3 * c]
  local v
  if f == '' then
    v = redis.call('GET', k)
  else
    v = redis.call('HGET', k, string.sub(f, 2))
  end
  local want = ARGV[9 + 3 * c]
  if v then
    stale = stale or want ~= '=' .. v
  else
    stale = stale or want ~= '!'
  end
  reply[3 + c] = v
end
if stale then
  return reply
end
local a = 8 + 3 * n
while a <= #ARGV do
  local op, k = ARGV[a], KEYS[tonumber(ARGV[a + 1])]
  if op == 'set' then
    redis.call('SET', k, ARGV[a + 2], 'PX', ARGV[a + 3])
    a = a + 4
  elseif op == 'del' then
    redis.call('DEL', k)
    a = a + 2
  elseif op == 'zadd' then
    redis.call('ZADD', k, ARGV[a + 2], ARGV[a + 3])
    a = a + 4
  elseif op == 'zrem' then
    redis.call('ZREM', k, ARGV[a + 2])
    a = a + 3
  elseif op == 'trim' then
    redis.call('ZREMRANGEBYRANK', k, 0, -tonumber(ARGV[a + 2]) - 1)
    a = a + 3
  elseif op == 'hincrby' then
    redis.call('HINCRBY', k, ARGV[a + 2], ARGV[a + 3])
    a = a + 4
  elseif op == 'pexpire' then
    redis.call('PEXPIRE', k, ARGV[a + 2])
    a = a + 3
  elseif op == 'hset' then
    redis.call('HSET', k, ARGV[a + 2], ARGV[a + 3])
    a = a + 4
  else
    return redis.error_reply('unknown operation ' .. op)
  end
end
local after = redis.call('ZCARD', KEYS[1])
if step > 0 then
  redis.call('HSET', KEYS[step], 'step', ARGV[4], 'opened', after - open)
  if ARGV[5] ~= '0' then
    redis.call('PEXPIRE', KEYS[step], ARGV[5])
  end
end
return {1, open, after}
`)

// errSlowPath stops a step that asked the cache for what only Redis under
// WATCH serves.
var errSlowPath = errors.New("redis: the step needs the slow path")

// update runs st on the cache and has updateScript check and apply it,
// again on what the script answered until it applies; st's error too is
// only returned once what it read is checked.
func (b *redisBackend) update(ctx context.Context, h *held, now time.Time, st *step) (Insight, error) {
	var locked []string
	unlock := func() {}
	defer func() { unlock() }()
	// Each turn either takes the locks a step needs or makes a round trip.
	for range 2 * maxTxAttempts {
		r := &cacheReader{cache: b.cache, reads: map[string]cached{}}
		tx := newRedisTx(b, r, now)
		insight, fnErr := st.run(tx)
		if r.slow {
			unlock()
			unlock = func() {}
			return b.updateWatch(ctx, h, now, st)
		}
		if keys := r.touched(tx); !subset(keys, locked) {
			unlock()
			var err error
			if unlock, err = b.locks.lock(ctx, keys); err != nil {
				unlock = func() {}
				return Insight{}, unavailable(err)
			}
			locked = keys
			if !r.current() {
				continue // changed while this waited: again, on what is cached now
			}
		}
		w := newOpWriter(b.keys.open())
		if fnErr == nil {
			if err := tx.commit(w, h, insight); err != nil {
				return Insight{}, unavailable(err)
			}
		}
		if h == nil && len(r.reads) == 0 && !r.openRead && len(w.ops) == 0 {
			return insight, unavailable(fnErr) // nothing to check, nothing to write
		}
		b.reconcile.steps.RLock()
		applied, err := b.runUpdate(ctx, h, r, w)
		b.reconcile.stepDone(fnErr == nil && len(tx.counts) > 0, err)
		if err == nil && applied && fnErr == nil {
			tx.applied()
		}
		b.reconcile.steps.RUnlock()
		if err != nil {
			return Insight{}, unavailable(err)
		}
		if !applied {
			continue // another replica changed what the step read: again
		}
		if fnErr != nil {
			return Insight{}, unavailable(fnErr) // not of a stale cache: checked
		}
		return insight, nil
	}
	return Insight{}, fmt.Errorf("%w: redis: too many concurrent updates of the same scan", ErrUnavailable)
}

// runUpdate sends the step's checks and writes in one script, and brings
// the cache up to date with its answer: what was written, or what Redis
// holds.
func (b *redisBackend) runUpdate(ctx context.Context, h *held, r *cacheReader, w *opWriter) (applied bool, err error) {
	claim, owner := "0", ""
	if h != nil {
		claim, owner = w.key(b.keys.claim(h.key)), h.claim.owner
	}
	// A step that writes carries a token, so that the script sent again
	// after a lost reply is not applied twice.
	step, token, stepTTL := "0", "", int64(0)
	if len(w.ops) > 0 {
		token = b.names.next()
		if h != nil {
			step = claim
		} else {
			step, stepTTL = w.key(b.keys.step(token)), stepTokenTTL.Milliseconds()
		}
	}
	open := ""
	if r.openRead {
		open = strconv.Itoa(r.open)
	}
	checked := make([]string, 0, len(r.reads))
	args := make([]any, 0, 7+3*len(r.reads)+len(w.ops))
	args = append(args, claim, owner, step, token, stepTTL, open, len(r.reads))
	for read, v := range r.reads {
		want := "!"
		if v.found {
			want = "=" + v.raw
		}
		checked = append(checked, read)
		key, field := read, ""
		if k, f, ok := splitFieldRef(read); ok {
			key, field = k, "h"+f
		}
		args = append(args, w.key(key), want, field)
	}
	args = append(args, w.ops...)
	res, err := updateScript.Run(ctx, b.client, w.keys, args...).Slice()
	if err != nil {
		return false, err
	}
	if len(res) == 1 {
		return false, ErrClaimLost
	}
	if len(res) < 2 {
		return false, fmt.Errorf("redis: unexpected answer %v", res)
	}
	status, _ := res[0].(int64)
	if status == 1 && len(res) == 3 {
		before, _ := res[1].(int64)
		after, _ := res[2].(int64)
		b.cache.addOpen(int(after - before))
		b.cache.storeAll(w.written)
		return true, nil
	}
	open64, _ := res[1].(int64)
	b.cache.setOpen(int(open64))
	for i, key := range checked {
		var v cached
		if 2+i < len(res) {
			v.raw, v.found = res[2+i].(string)
		}
		b.cache.store(key, v)
	}
	return false, nil
}

// cacheReader reads a step from the cache and notes what it read, for the
// script to check.
type cacheReader struct {
	cache    *valueCache
	reads    map[string]cached
	open     int
	openRead bool
	slow     bool
}

func (r *cacheReader) get(key string) (string, bool, error) {
	v := r.cache.get(key)
	r.reads[key] = v
	return v.raw, v.found, nil
}

func (r *cacheReader) openCount() (int, error) {
	r.open, r.openRead = r.cache.openCount(), true
	return r.open, nil
}

// oldestOpen is only needed past max_open_scans: the slow path serves it
// (a range of the index cannot be checked as cheaply as its size).
func (r *cacheReader) oldestOpen(int) ([]string, error) {
	r.slow = true
	return nil, errSlowPath
}

func (r *cacheReader) field(key, field string) (string, bool, error) {
	return r.get(fieldRef(key, field))
}

// fieldNames is only needed by a backfill, once a scan: the slow path
// serves it.
func (r *cacheReader) fieldNames(string) ([]string, error) {
	r.slow = true
	return nil, errSlowPath
}

// fieldRef names a hash's field where a key is named (the cache, the
// reads checked): a key never starts with a NUL byte, and the key's
// length says where the field's name starts.
func fieldRef(key, field string) string {
	return "\x00" + strconv.Itoa(len(key)) + ":" + key + field
}

// splitFieldRef returns the hash and the field a fieldRef names; ok is
// false for a key.
func splitFieldRef(ref string) (key, field string, ok bool) {
	rest, found := strings.CutPrefix(ref, "\x00")
	if !found {
		return "", "", false
	}
	n, rest, found := strings.Cut(rest, ":")
	size, err := strconv.Atoi(n)
	if !found || err != nil || size > len(rest) {
		return "", "", false
	}
	return rest[:size], rest[size:], true
}

// current reports whether the cache still holds what the step read.
func (r *cacheReader) current() bool {
	for key, v := range r.reads {
		if r.cache.get(key) != v {
			return false
		}
	}
	return !r.openRead || r.cache.openCount() == r.open
}

// touched are the keys the step read or wrote, and the open index when it
// read its size: those it locks.
func (r *cacheReader) touched(tx *redisTx) []string {
	keys := make([]string, 0, len(r.reads)+len(tx.scans)+len(tx.domains)+1)
	for key := range r.reads {
		// A scan's findings are read with its record, whose lock is theirs.
		if _, _, isField := splitFieldRef(key); !isField {
			keys = append(keys, key)
		}
	}
	for id := range tx.scans {
		keys = append(keys, tx.b.keys.scan(id))
	}
	for name := range tx.domains {
		keys = append(keys, tx.b.keys.domain(name))
	}
	if r.openRead {
		keys = append(keys, tx.b.keys.open())
	}
	return keys
}

// subset reports whether every key is in locked.
func subset(keys, locked []string) bool {
	for _, k := range keys {
		found := false
		for _, l := range locked {
			if k == l {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// opWriter encodes a step's writes for updateScript: keys as indexes
// into KEYS, each write an operation name and its arguments.
type opWriter struct {
	keys    []string
	index   map[string]string
	ops     []any
	written map[string]cached // the values set or deleted, for the cache
}

func newOpWriter(open string) *opWriter {
	return &opWriter{keys: []string{open}, index: map[string]string{open: "1"}, written: map[string]cached{}}
}

// key is key's index in KEYS, added if new.
func (w *opWriter) key(key string) string {
	i, ok := w.index[key]
	if !ok {
		w.keys = append(w.keys, key)
		i = strconv.Itoa(len(w.keys))
		w.index[key] = i
	}
	return i
}

// millis is a TTL in ms for the script: at least 1, as go-redis rounds it,
// since SET PX 0 fails after the step's earlier writes were made.
func millis(ttl time.Duration) int64 { return max(1, ttl.Milliseconds()) }

func (w *opWriter) set(key, raw string, ttl time.Duration) {
	w.ops = append(w.ops, "set", w.key(key), raw, millis(ttl))
	w.written[key] = cached{raw: raw, found: true}
}

func (w *opWriter) del(key string) {
	w.ops = append(w.ops, "del", w.key(key))
	w.written[key] = cached{}
}

func (w *opWriter) zadd(key string, score float64, member string) {
	w.ops = append(w.ops, "zadd", w.key(key), strconv.FormatFloat(score, 'f', -1, 64), member)
}

func (w *opWriter) zrem(key, member string) { w.ops = append(w.ops, "zrem", w.key(key), member) }
func (w *opWriter) trim(key string, keep int64) {
	w.ops = append(w.ops, "trim", w.key(key), keep)
}
func (w *opWriter) hincrby(key, field string, n int64) {
	w.ops = append(w.ops, "hincrby", w.key(key), field, n)
}
func (w *opWriter) expire(key string, ttl time.Duration) {
	w.ops = append(w.ops, "pexpire", w.key(key), millis(ttl))
}
func (w *opWriter) hset(key, field, value string) {
	w.ops = append(w.ops, "hset", w.key(key), field, value)
}
func (w *opWriter) setField(key, field, value string) {
	w.hset(key, field, value)
	w.written[fieldRef(key, field)] = cached{raw: value, found: true}
}
