package state

import "time"

// queue lists keys in the order they were added, each with its time, for
// the bounds and expiries of the in-memory backend. Entries are removed
// lazily: an owner that drops or re-adds a key keeps the seq of its live
// entry, which live (given the entry) tells apart from older ones; compact
// drops the others once they outnumber the live ones.
type queue[K comparable] struct {
	items   []queued[K]
	head    int
	lastSeq uint64
}

type queued[K comparable] struct {
	key K
	at  time.Time
	seq uint64
}

// push adds key and returns the seq of its entry. It first drops the
// stale entries if they outnumber the live ones (liveCount, live as in
// compact): a key re-added again and again (a domain updated, a scan
// started or finished) would otherwise leave an entry each time until the
// next maintenance, memory that every garbage collection marks.
func (q *queue[K]) push(key K, at time.Time, liveCount int, live func(queued[K]) bool) uint64 {
	q.compact(liveCount, live)
	q.lastSeq++
	q.items = append(q.items, queued[K]{key: key, at: at, seq: q.lastSeq})
	return q.lastSeq
}

// oldest returns the first entry for which live is true, dropping the
// stale ones before it.
func (q *queue[K]) oldest(live func(queued[K]) bool) (queued[K], bool) {
	for q.head < len(q.items) {
		if e := q.items[q.head]; live(e) {
			return e, true
		}
		q.pop()
	}
	return queued[K]{}, false
}

// pop drops the first entry.
func (q *queue[K]) pop() {
	q.items[q.head] = queued[K]{}
	q.head++
	if q.head > len(q.items)/2 {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items = q.items[:n]
		q.head = 0
	}
}

// each calls fn for the live entries, oldest first, until fn returns false.
func (q *queue[K]) each(live func(queued[K]) bool, fn func(queued[K]) bool) {
	for _, e := range q.items[q.head:] {
		if live(e) && !fn(e) {
			return
		}
	}
}

// compact drops the stale entries when they are more than the live ones
// (liveCount) plus some slack, so the queue stays bounded by what it lists.
func (q *queue[K]) compact(liveCount int, live func(queued[K]) bool) {
	if len(q.items)-q.head <= 2*liveCount+64 {
		return
	}
	kept := q.items[:0]
	for _, e := range q.items[q.head:] {
		if live(e) {
			kept = append(kept, e)
		}
	}
	clear(q.items[len(kept):])
	q.items, q.head = kept, 0
}
