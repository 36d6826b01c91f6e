package state

import (
	"context"
	"slices"
	"sync"
)

// keyLocks lets one update of this replica at a time work on a key, from
// its read of the cache to the script's answer. So concurrent webhooks of
// one scan take turns, each one round trip, rather than each invalidating
// the others' reads; and a key's cached value is only changed by the
// update holding it, in the order Redis applied them. Updates of
// different keys do not wait for each other.
type keyLocks struct {
	mu   sync.Mutex
	held map[string]*keyLock // bounded by the updates in flight
}

type keyLock struct {
	ch   chan struct{} // holds a value while taken
	refs int           // the holder and the waiters
}

func newKeyLocks() *keyLocks { return &keyLocks{held: map[string]*keyLock{}} }

// lock takes every key, in order so that two updates never wait for each
// other; unlock gives them back.
func (l *keyLocks) lock(ctx context.Context, keys []string) (unlock func(), err error) {
	keys = slices.Compact(slices.Sorted(slices.Values(keys)))
	taken := make([]*keyLock, 0, len(keys))
	unlock = func() {
		for i, k := range taken {
			<-k.ch
			l.release(keys[i], k)
		}
	}
	for _, key := range keys {
		l.mu.Lock()
		k := l.held[key]
		if k == nil {
			k = &keyLock{ch: make(chan struct{}, 1)}
			l.held[key] = k
		}
		k.refs++
		l.mu.Unlock()
		select {
		case k.ch <- struct{}{}:
			taken = append(taken, k)
		case <-ctx.Done():
			l.release(key, k)
			unlock()
			return nil, ctx.Err()
		}
	}
	return unlock, nil
}

func (l *keyLocks) release(key string, k *keyLock) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if k.refs--; k.refs == 0 {
		delete(l.held, key)
	}
}
