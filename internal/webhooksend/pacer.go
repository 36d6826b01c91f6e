package webhooksend

import (
	"context"
	"sync"
	"time"
)

// pacer spaces requests evenly at a fixed rate across all workers. Each
// caller reserves the next free slot, so there is no burst: the receiver
// sees at most one request per interval.
type pacer struct {
	interval time.Duration

	mu   sync.Mutex
	next time.Time
}

// newPacer returns nil, which never waits, for an unlimited rate.
func newPacer(perSecond float64) *pacer {
	if perSecond <= 0 {
		return nil
	}
	return &pacer{interval: time.Duration(float64(time.Second) / perSecond)}
}

// wait blocks until the caller's slot; it fails only when ctx ends first.
func (p *pacer) wait(ctx context.Context) bool {
	if p == nil {
		return ctx.Err() == nil
	}
	p.mu.Lock()
	now := time.Now()
	slot := p.next
	if slot.Before(now) {
		slot = now
	}
	p.next = slot.Add(p.interval)
	p.mu.Unlock()
	return sleep(ctx, slot.Sub(now))
}
