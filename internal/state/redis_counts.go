package state

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// A step whose reply is lost may still have been applied: a Redis that was
// stopped runs what it was sent once it goes on, after the replica gave up
// and answered 503. Its increments are then in this replica's counters in
// Redis and not in the copy the replica exports, and the sender's retry,
// found counted, adds nothing. So after such a step the copy is raised to
// what Redis holds, at the next metrics interval and at the one after it:
// a script still waiting in Redis when the first read went out has run by
// the second.

// reconcilesAfterDoubt is how many metrics intervals read the counters
// back after a step with counts whose outcome is unknown.
const reconcilesAfterDoubt = 2

// countsReconcile keeps the replica's copy of its counters in step with
// Redis's.
type countsReconcile struct {
	// steps is held, shared, by each step from its script to its local
	// count, and whole by a read of the counters: one that lands between
	// them would count the step twice.
	steps sync.RWMutex
	owed  atomic.Int32 // reads still owed
}

// stepDone notes how a step with counts ended: err is a reply this replica
// does not have, whose step Redis may have applied.
func (c *countsReconcile) stepDone(counted bool, err error) {
	if counted && err != nil {
		c.owed.Store(reconcilesAfterDoubt)
	}
}

// reconcileCounts raises this replica's copy of its counters to Redis's
// when a step's outcome was unknown since the last read.
func (b *redisBackend) reconcileCounts(ctx context.Context, now time.Time) error {
	if b.reconcile.owed.Load() == 0 {
		return nil
	}
	b.reconcile.steps.Lock()
	defer b.reconcile.steps.Unlock()
	fields, err := b.client.HGetAll(ctx, b.keys.counts(b.replica)).Result()
	if err != nil {
		return unavailable(err)
	}
	b.counts.raise(parseCounts(fields, now), now)
	b.reconcile.owed.Add(-1)
	return nil
}

// raise brings counters up to the saved ones that are higher, and marks
// their domains changed.
func (c *Counts) raise(saved map[string]DomainCounts, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, s := range saved {
		d, known := c.domains[name]
		if !known {
			d = newDomainCounts()
			d.seen = now
			c.domains[name] = d
		}
		raised := raiseValues(d.findings, s.Findings)
		raised = raiseValues(d.scans, s.Scans) || raised
		if raised || !known {
			c.changed[name] = true
		}
	}
}

func raiseValues(values, saved map[string]int64) (raised bool) {
	for v, n := range saved {
		if n > values[v] {
			values[v] = n
			raised = true
		}
	}
	return raised
}
