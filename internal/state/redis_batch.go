package state

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Claims and settles are group-committed: a request queues its script, and
// one sender sends every script queued while the last group was in flight
// in one pipeline, one round trip. Each request still waits for its own
// script's answer, so nothing about a claim or a settle changes but its
// cost: most of a round trip's CPU is the socket's, paid once per group.

// scriptBatch holds the scripts waiting for the sender.
type scriptBatch struct {
	mu      sync.Mutex
	queued  []*scriptCall
	sending bool
	closed  bool           // nothing is queued after close
	senders sync.WaitGroup // close waits for the sender
}

// errClosed is a claim or a settle after close.
var errClosed = errors.New("redis: the state is closed")

type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
	res    chan *redis.Cmd // its answer, once
}

// runBatched runs script in the next group and returns its answer.
func (b *redisBackend) runBatched(ctx context.Context, script *redis.Script, keys []string, args ...any) (*redis.Cmd, error) {
	if err := ctx.Err(); err != nil {
		return nil, unavailable(err) // not sent, as a cancelled command is not
	}
	call := scriptCalls.Get().(*scriptCall)
	call.script, call.keys, call.args = script, keys, args
	q := &b.batch
	q.mu.Lock()
	if q.closed {
		// So that no sender is added while close waits for them.
		q.mu.Unlock()
		return nil, unavailable(errClosed)
	}
	q.queued = append(q.queued, call)
	start := !q.sending
	if start {
		q.sending = true
		q.senders.Add(1)
	}
	q.mu.Unlock()
	if start {
		// Its script is not the sender's only: one request's cancellation
		// does not fail the others'.
		go b.sendBatches(context.WithoutCancel(ctx))
	}
	select {
	case cmd := <-call.res:
		*call = scriptCall{res: call.res}
		scriptCalls.Put(call)
		return cmd, nil
	case <-ctx.Done():
		// Not reused: the sender will still answer it.
		return nil, unavailable(ctx.Err())
	}
}

// scriptCalls are reused once answered, with their channel.
var scriptCalls = sync.Pool{New: func() any { return &scriptCall{res: make(chan *redis.Cmd, 1)} }}

// sendBatches sends the queued scripts, a group per round trip, until none
// is left.
func (b *redisBackend) sendBatches(ctx context.Context) {
	q := &b.batch
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

// sendGroup sends one group of scripts in one pipeline and answers each.
func (b *redisBackend) sendGroup(ctx context.Context, group []*scriptCall) {
	cmds := make([]*redis.Cmd, len(group))
	run := func(i int, p redis.Pipeliner, sha bool) {
		c := group[i]
		if sha {
			cmds[i] = c.script.EvalSha(ctx, p, c.keys, c.args...)
		} else {
			cmds[i] = c.script.Eval(ctx, p, c.keys, c.args...)
		}
	}
	_, _ = b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range group {
			run(i, p, true)
		}
		return nil
	})
	// Redis does not know the script yet (it restarted, or this is its
	// first use): those were not run; send them with it.
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
	for i, c := range group {
		c.res <- cmds[i]
	}
}

func (b *redisBackend) settle(ctx context.Context, h *held, done bool, now time.Time) error {
	flag := "0"
	if done {
		flag = "1"
	}
	// A copy: the batch may send the script after a cancelled caller has
	// returned, and h with it.
	key := h.key
	cmd, err := b.runBatched(ctx, settleScript, []string{b.keys.claim(key), b.keys.settled},
		h.claim.owner, flag, now.UnixMilli(), b.cfg.DedupWindow.Milliseconds(), b.cfg.DedupMaxEntries, key[:])
	if err != nil {
		return err
	}
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
