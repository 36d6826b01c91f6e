package state

import (
	"container/list"
	"sync"
)

// Bounds of a replica's cache of Redis.
const (
	// cacheMargin is kept beyond max_open_scans + max_domains entries: for
	// finished scans still held by their backfill, and keys read absent.
	cacheMargin = 1024
	// cacheFields is kept for the fields of scans' findings (a title's
	// count, a delivered finding): those of 64 scans at their bounds, the
	// scans receiving findings now; an idle scan's are evicted first.
	cacheFields = 64 * (maxTitlesPerScan + maxSeenPerScan)
	// cacheMaxBytes bounds the values kept, whatever their number.
	cacheMaxBytes = 64 << 20
)

// valueCache is what this replica last saw of the scan and domain keys in
// Redis, of the fields of the scans' findings, and of the size of the
// index of open scans: the fast way to
// update reads it instead of Redis, and its script checks what was read.
// A value missing here reads as absent; a wrong one costs a retry, never a
// wrong update. Bounded: the least recently used values go first.
type valueCache struct {
	mu         sync.Mutex
	maxEntries int
	bytes      int
	entries    map[string]*list.Element // of *cacheEntry
	order      *list.List               // most recently used first
	open       int                      // ZCARD of the open index, if openKnown
	openKnown  bool
}

// cached is a key's value; found is false when it has none.
type cached struct {
	raw   string
	found bool
}

type cacheEntry struct {
	key string
	raw string
}

func newValueCache(cfg Config) *valueCache {
	return &valueCache{maxEntries: cfg.MaxOpenScans + cfg.MaxDomains + cacheMargin + cacheFields,
		entries: map[string]*list.Element{}, order: list.New()}
}

func (c *valueCache) get(key string) cached {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return cached{}
	}
	c.order.MoveToFront(e)
	return cached{raw: e.Value.(*cacheEntry).raw, found: true}
}

// store remembers v as key's value; an absent one is forgotten, as that is
// what a miss reads as.
func (c *valueCache) store(key string, v cached) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		c.remove(e)
	}
	if !v.found || len(v.raw) > cacheMaxBytes {
		return
	}
	c.entries[key] = c.order.PushFront(&cacheEntry{key: key, raw: v.raw})
	c.bytes += len(key) + len(v.raw)
	for len(c.entries) > c.maxEntries || c.bytes > cacheMaxBytes {
		c.remove(c.order.Back())
	}
}

func (c *valueCache) storeAll(values map[string]cached) {
	for key, v := range values {
		c.store(key, v)
	}
}

func (c *valueCache) remove(e *list.Element) {
	entry := c.order.Remove(e).(*cacheEntry)
	delete(c.entries, entry.key)
	c.bytes -= len(entry.key) + len(entry.raw)
}

// openCount is the size of the open index last seen, 0 when unknown.
func (c *valueCache) openCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open
}

func (c *valueCache) setOpen(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open, c.openKnown = n, true
}

// addOpen adds what an update changed of the open index: updates applied
// in one order and answered in another still add up to the right size.
func (c *valueCache) addOpen(delta int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.openKnown {
		c.open += delta
	}
}

func (c *valueCache) len() (entries, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries), c.bytes
}
