package state

import "time"

// settledSet remembers the bodies whose delivery is done, as little as
// that can be: the body's fixed-size key (a SHA-256, whatever the body's
// size) and when it was first received, in the order they were settled.
// A redelivery only needs to know that it is one, so nothing else of the
// claim (owner, lease, counted, the record's insight) is kept: this is what
// lets dedup_window reach max_message_age (a day) at dedup_max_entries
// without the memory of a full claim per delivery.
type settledSet struct {
	entries map[Key]settledEntry
	// keys are in the order they were settled; keys[i] was given seq
	// firstSeq+i, so an entry is live when its map entry has that seq.
	// Keys leave only from the front (expiry and eviction), or are
	// forgotten early by delete, which leaves a stale key behind.
	keys     []Key
	head     uint64 // index of the first key still listed
	firstSeq uint64
}

type settledEntry struct {
	added int64 // first received, Unix nanoseconds
	seq   uint64
}

func newSettledSet() settledSet { return settledSet{entries: map[Key]settledEntry{}} }

func (s *settledSet) len() int { return len(s.entries) }

// get returns when key was first received, if it is remembered.
func (s *settledSet) get(key Key) (time.Time, bool) {
	e, ok := s.entries[key]
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(0, e.added).UTC(), true
}

// add remembers key as settled, first received at added. Stale keys are
// dropped first when they outnumber the live ones, as a queue's push does.
func (s *settledSet) add(key Key, added time.Time) {
	s.compact()
	s.entries[key] = settledEntry{added: added.UnixNano(), seq: s.firstSeq + uint64(len(s.keys))}
	s.keys = append(s.keys, key)
}

// delete forgets key.
func (s *settledSet) delete(key Key) { delete(s.entries, key) }

// oldest returns the first live key, dropping stale ones before it.
func (s *settledSet) oldest() (Key, settledEntry, bool) {
	for s.head < uint64(len(s.keys)) {
		key := s.keys[s.head]
		if e, ok := s.entries[key]; ok && e.seq == s.firstSeq+s.head {
			return key, e, true
		}
		s.pop()
	}
	return Key{}, settledEntry{}, false
}

// pop drops the first key from the order (not from the map), and gives
// back the space of the dropped ones once they are half the slice.
func (s *settledSet) pop() {
	s.head++
	if s.head > uint64(len(s.keys))/2 {
		n := copy(s.keys, s.keys[s.head:])
		s.keys = s.keys[:n]
		s.firstSeq += s.head
		s.head = 0
	}
}

// popOldest forgets the oldest live key and returns it.
func (s *settledSet) popOldest() (Key, bool) {
	key, _, ok := s.oldest()
	if !ok {
		return Key{}, false
	}
	delete(s.entries, key)
	s.pop()
	return key, true
}

// expire forgets the keys at the front first received before cutoff; it
// stops at the first that is not, so one settled late may outlive its
// window by as long as its delivery took (get's caller checks the age).
func (s *settledSet) expire(cutoff time.Time, forgot func(Key)) {
	for {
		key, e, ok := s.oldest()
		if !ok || e.added > cutoff.UnixNano() {
			return
		}
		delete(s.entries, key)
		s.pop()
		forgot(key)
	}
}

// each calls fn for the live keys, oldest first.
func (s *settledSet) each(fn func(Key, time.Time)) {
	seq := s.firstSeq + s.head
	for _, key := range s.keys[s.head:] {
		if e, ok := s.entries[key]; ok && e.seq == seq {
			fn(key, time.Unix(0, e.added).UTC())
		}
		seq++
	}
}

// compact drops the stale keys once they outnumber the live ones, so the
// order stays bounded by what it lists.
func (s *settledSet) compact() {
	if uint64(len(s.keys))-s.head <= 2*uint64(len(s.entries))+64 {
		return
	}
	kept := s.keys[:0]
	seq := s.firstSeq + s.head
	for _, key := range s.keys[s.head:] {
		if e, ok := s.entries[key]; ok && e.seq == seq {
			e.seq = uint64(len(kept))
			s.entries[key] = e
			kept = append(kept, key)
		}
		seq++
	}
	s.keys, s.head, s.firstSeq = kept, 0, 0
}

// restoreClaimLocked puts a saved claim back in its tier, oldest first,
// within dedup_max_entries: a bound lowered since it was saved evicts the
// oldest, counted like any eviction.
func (b *memoryBackend) restoreClaimLocked(key Key, rec claimRecord) {
	for len(b.claims)+b.settled.len() >= b.cfg.DedupMaxEntries {
		if !b.evictOldestClaimLocked(rec.Added) {
			break
		}
	}
	if rec.State == claimSettled {
		b.settled.add(key, rec.Added)
		return
	}
	mc := &memClaim{claimRecord: rec}
	mc.seq = b.claimOrder.push(key, mc.Added, len(b.claims), b.claimLive)
	b.claims[key] = mc
}
