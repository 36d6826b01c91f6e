package state

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// The slow way to update: an optimistic transaction that WATCHes every key
// it reads, a round trip each, then applies the writes in one MULTI/EXEC,
// retried when another replica got there first. It serves what the fast
// way (redis_fast.go) cannot: the oldest open scans, read only when
// max_open_scans is exceeded.

// updateWatch runs st in WATCH/MULTI/EXEC steps until one applies.
func (b *redisBackend) updateWatch(ctx context.Context, h *held, now time.Time, st *step) (Insight, error) {
	// The open index, which a step here reads anyway: a ClusterClient
	// refuses a WATCH of no key, which a step without a claim would be.
	watch := []string{b.keys.open()}
	if h != nil {
		watch = append(watch, b.keys.claim(h.key))
	}
	for range maxTxAttempts {
		insight, err := b.watchStep(ctx, h, now, st, watch)
		if errors.Is(err, redis.TxFailedErr) {
			continue // another replica changed what this update read: again
		}
		if err != nil {
			return Insight{}, unavailable(err)
		}
		return insight, nil
	}
	return Insight{}, fmt.Errorf("%w: redis: too many concurrent updates of the same scan", ErrUnavailable)
}

// watchStep is one attempt of updateWatch. It holds the counters' read-back
// off from its transaction to its local count (redis_counts.go).
func (b *redisBackend) watchStep(ctx context.Context, h *held, now time.Time, st *step, watch []string) (Insight, error) {
	r := &watchReader{ctx: ctx, keys: b.keys, reads: map[string]cached{}}
	tx := newRedisTx(b, r, now)
	written := map[string]cached{}
	var insight Insight
	counted := false
	b.reconcile.steps.RLock()
	defer b.reconcile.steps.RUnlock()
	err := b.client.Watch(ctx, func(rtx *redis.Tx) error {
		r.rtx = rtx
		if h != nil {
			owner, err := rtx.HGet(ctx, b.keys.claim(h.key), "owner").Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			if owner != h.claim.owner {
				return ErrClaimLost
			}
		}
		var err error
		if insight, err = st.run(tx); err != nil {
			return err
		}
		counted = len(tx.counts) > 0
		_, err = rtx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			return tx.commit(pipeWriter{ctx: ctx, p: p, written: written}, h, insight)
		})
		return err
	}, watch...)
	if errors.Is(err, redis.TxFailedErr) {
		return Insight{}, err // nothing applied
	}
	b.reconcile.stepDone(counted, err)
	if err != nil {
		return Insight{}, err
	}
	// What was read and written was Redis's at the EXEC: the fast way
	// starts from it.
	b.cache.storeAll(r.reads)
	b.cache.storeAll(written)
	if r.openRead {
		b.cache.setOpen(r.open + tx.openDelta())
	}
	tx.applied()
	return insight, nil
}

// watchReader reads Redis, WATCHing every key it reads.
type watchReader struct {
	ctx      context.Context
	rtx      *redis.Tx
	keys     redisKeys
	reads    map[string]cached
	open     int
	openRead bool
}

func (r *watchReader) get(key string) (string, bool, error) {
	if err := r.rtx.Watch(r.ctx, key).Err(); err != nil {
		return "", false, err
	}
	raw, err := r.rtx.Get(r.ctx, key).Result()
	switch {
	case errors.Is(err, redis.Nil):
		r.reads[key] = cached{}
		return "", false, nil
	case err != nil:
		return "", false, err
	}
	r.reads[key] = cached{raw: raw, found: true}
	return raw, true, nil
}

func (r *watchReader) openCount() (int, error) {
	if err := r.rtx.Watch(r.ctx, r.keys.open()).Err(); err != nil {
		return 0, err
	}
	n, err := r.rtx.ZCard(r.ctx, r.keys.open()).Result()
	r.open, r.openRead = int(n), err == nil
	return int(n), err
}

func (r *watchReader) oldestOpen(n int) ([]string, error) {
	if err := r.rtx.Watch(r.ctx, r.keys.open()).Err(); err != nil {
		return nil, err
	}
	return r.rtx.ZRange(r.ctx, r.keys.open(), 0, int64(n)-1).Result()
}

func (r *watchReader) field(key, field string) (string, bool, error) {
	if err := r.rtx.Watch(r.ctx, key).Err(); err != nil {
		return "", false, err
	}
	raw, err := r.rtx.HGet(r.ctx, key, field).Result()
	switch {
	case errors.Is(err, redis.Nil):
		r.reads[fieldRef(key, field)] = cached{}
		return "", false, nil
	case err != nil:
		return "", false, err
	}
	r.reads[fieldRef(key, field)] = cached{raw: raw, found: true}
	return raw, true, nil
}

func (r *watchReader) fieldNames(key string) ([]string, error) {
	if err := r.rtx.Watch(r.ctx, key).Err(); err != nil {
		return nil, err
	}
	return r.rtx.HKeys(r.ctx, key).Result()
}

// pipeWriter queues a Tx's writes in a MULTI/EXEC.
type pipeWriter struct {
	ctx     context.Context
	p       redis.Pipeliner
	written map[string]cached // the values set or deleted, for the cache
}

func (w pipeWriter) set(key, raw string, ttl time.Duration) {
	w.p.Set(w.ctx, key, raw, ttl)
	w.written[key] = cached{raw: raw, found: true}
}

func (w pipeWriter) del(key string) {
	w.p.Del(w.ctx, key)
	w.written[key] = cached{}
}

func (w pipeWriter) zadd(key string, score float64, member string) {
	w.p.ZAdd(w.ctx, key, redis.Z{Score: score, Member: member})
}
func (w pipeWriter) zrem(key, member string)     { w.p.ZRem(w.ctx, key, member) }
func (w pipeWriter) trim(key string, keep int64) { w.p.ZRemRangeByRank(w.ctx, key, 0, -keep-1) }
func (w pipeWriter) hincrby(key, field string, n int64) {
	w.p.HIncrBy(w.ctx, key, field, n)
}
func (w pipeWriter) expire(key string, ttl time.Duration) { w.p.Expire(w.ctx, key, ttl) }
func (w pipeWriter) hset(key, field, value string)        { w.p.HSet(w.ctx, key, field, value) }
func (w pipeWriter) setField(key, field, value string) {
	w.hset(key, field, value)
	w.written[fieldRef(key, field)] = cached{raw: value, found: true}
}
