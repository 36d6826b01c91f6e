package state

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Settles are group-committed: a request queues its settle, and one sender
// sends every settle queued while the last group was in flight in one
// pipeline, one round trip. Each request still waits for its own settle's
// answer, so after a 200 a redelivery is a duplicate, as before.

// settleQueue holds the settles waiting for the sender.
type settleQueue struct {
	mu      sync.Mutex
	queued  []*settleReq
	sending bool
	closed  bool           // no settle is queued after close
	senders sync.WaitGroup // close waits for the sender
}

// errClosed is a settle after close.
var errClosed = errors.New("redis: the state is closed")

type settleReq struct {
	h    held
	done bool
	now  time.Time
	res  chan error // its answer, once
}

func (b *redisBackend) settle(ctx context.Context, h held, done bool, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err) // not sent, as a cancelled command is not
	}
	req := &settleReq{h: h, done: done, now: now, res: make(chan error, 1)}
	q := &b.settles
	q.mu.Lock()
	if q.closed {
		// So that no sender is added while close waits for them.
		q.mu.Unlock()
		return unavailable(errClosed)
	}
	q.queued = append(q.queued, req)
	start := !q.sending
	if start {
		q.sending = true
		q.senders.Add(1)
	}
	q.mu.Unlock()
	if start {
		// Its settle is not the sender's only: one request's cancellation
		// does not fail the others'.
		go b.sendSettles(context.WithoutCancel(ctx))
	}
	select {
	case err := <-req.res:
		return err
	case <-ctx.Done():
		return unavailable(ctx.Err())
	}
}

// sendSettles sends the queued settles, a group per round trip, until none
// is left.
func (b *redisBackend) sendSettles(ctx context.Context) {
	q := &b.settles
	defer q.senders.Done()
	for {
		q.mu.Lock()
		group := q.queued
		q.queued = nil
		if len(group) == 0 {
			q.sending = false
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		b.sendGroup(ctx, group)
	}
}

// sendGroup sends one group of settles in one pipeline and answers each.
func (b *redisBackend) sendGroup(ctx context.Context, group []*settleReq) {
	cmds := make([]*redis.Cmd, len(group))
	run := func(i int, p redis.Pipeliner, sha bool) {
		r := group[i]
		flag := "0"
		if r.done {
			flag = "1"
		}
		keys := []string{b.keys.claim(r.h.key), b.keys.settled()}
		args := []any{r.h.claim.owner, flag, r.now.UnixMilli(), b.cfg.DedupWindow.Milliseconds(), b.cfg.DedupMaxEntries, r.h.key[:]}
		if sha {
			cmds[i] = settleScript.EvalSha(ctx, p, keys, args...)
		} else {
			cmds[i] = settleScript.Eval(ctx, p, keys, args...)
		}
	}
	_, _ = b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range group {
			run(i, p, true)
		}
		return nil
	})
	// Redis does not know the script yet (it restarted, or this is the
	// first settle): those settles were not run; send them with it.
	var again []int
	for i, cmd := range cmds {
		if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		_, _ = b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, i := range again {
				run(i, p, false)
			}
			return nil
		})
	}
	for i, r := range group {
		err := b.settled(cmds[i])
		if err == nil && r.done {
			b.known.remember(r.h.key, r.h.claim.added)
		}
		r.res <- err
	}
}

// settled is a settle's answer: -1 when the claim was lost, else how many
// settled keys dedup_max_entries evicted.
func (b *redisBackend) settled(cmd *redis.Cmd) error {
	evicted, err := cmd.Int64()
	if err != nil {
		return unavailable(err)
	}
	if evicted < 0 {
		return ErrClaimLost
	}
	b.evictedClaims.Add(evicted)
	return nil
}
