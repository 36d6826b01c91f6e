package state

import (
	"sync"
	"time"
)

// knownDeliveries are the deliveries this replica knows are settled in
// Redis (it settled them, or Redis answered that they were): a settled
// delivery stays settled for dedup_window, so their redeliveries are
// answered duplicates without a round trip, which is most of what a busy
// replica with dedup on answers. Bounded by dedup_max_entries, oldest
// forgotten first.
//
// It can differ from Redis in one way only: when dedup_max_entries made
// Redis forget a delivery that this replica still knows, its redelivery is
// answered a duplicate here where Redis would have it emitted again. The
// delivery was made within dedup_window either way; the eviction counter
// is the alarm for that bound.
type knownDeliveries struct {
	window, maxEntries int64 // dedup_window in nanoseconds

	mu      sync.Mutex
	settled settledSet
}

func newKnownDeliveries(cfg Config) *knownDeliveries {
	return &knownDeliveries{window: int64(cfg.DedupWindow), maxEntries: int64(cfg.DedupMaxEntries), settled: newSettledSet()}
}

// delivered reports whether key is known settled within the window at now.
func (k *knownDeliveries) delivered(key Key, now time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	added, ok := k.settled.get(key)
	return ok && now.Sub(added) < time.Duration(k.window)
}

// remember notes key as settled, first received at added.
func (k *knownDeliveries) remember(key Key, added time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.settled.get(key); ok {
		return
	}
	for int64(k.settled.len()) >= k.maxEntries {
		if _, ok := k.settled.popOldest(); !ok {
			break
		}
	}
	k.settled.add(key, added)
	k.settled.compact()
}

// expire forgets what is older than the window at now.
func (k *knownDeliveries) expire(now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.settled.expire(now.Add(-time.Duration(k.window)), func(Key) {})
	k.settled.compact()
}
