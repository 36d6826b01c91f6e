package state

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

func (b *redisBackend) update(ctx context.Context, h *held, now time.Time, fn func(storeTx) (Insight, error)) (Insight, error) {
	return b.updateWatch(ctx, h, now, fn)
}

// An update as an optimistic transaction: it WATCHes every key it reads, a
// round trip each, then applies the writes in one MULTI/EXEC, retried when
// another replica got there first.

// updateWatch runs fn in WATCH/MULTI/EXEC steps until one applies.
func (b *redisBackend) updateWatch(ctx context.Context, h *held, now time.Time, fn func(storeTx) (Insight, error)) (Insight, error) {
	var watch []string
	if h != nil {
		watch = append(watch, b.keys.claim(h.key))
	}
	for range maxTxAttempts {
		r := &watchReader{ctx: ctx, keys: b.keys}
		tx := newRedisTx(b, r, now)
		var insight Insight
		err := b.client.Watch(ctx, func(rtx *redis.Tx) error {
			r.rtx = rtx
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
			_, err = rtx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				return tx.commit(pipeWriter{ctx: ctx, p: p}, h, insight)
			})
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

// watchReader reads Redis, WATCHing every key it reads.
type watchReader struct {
	ctx  context.Context
	rtx  *redis.Tx
	keys redisKeys
}

func (r *watchReader) get(key string) (string, bool, error) {
	if err := r.rtx.Watch(r.ctx, key).Err(); err != nil {
		return "", false, err
	}
	raw, err := r.rtx.Get(r.ctx, key).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return "", false, nil
	case err != nil:
		return "", false, err
	}
	return raw, true, nil
}

func (r *watchReader) openCount() (int, error) {
	if err := r.rtx.Watch(r.ctx, r.keys.open()).Err(); err != nil {
		return 0, err
	}
	n, err := r.rtx.ZCard(r.ctx, r.keys.open()).Result()
	return int(n), err
}

func (r *watchReader) oldestOpen(n int) ([]string, error) {
	if err := r.rtx.Watch(r.ctx, r.keys.open()).Err(); err != nil {
		return nil, err
	}
	return r.rtx.ZRange(r.ctx, r.keys.open(), 0, int64(n)-1).Result()
}

// pipeWriter queues a Tx's writes in a MULTI/EXEC.
type pipeWriter struct {
	ctx context.Context
	p   redis.Pipeliner
}

func (w pipeWriter) set(key, raw string, ttl time.Duration) {
	w.p.Set(w.ctx, key, raw, ttl)
}

func (w pipeWriter) del(key string) {
	w.p.Del(w.ctx, key)
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
