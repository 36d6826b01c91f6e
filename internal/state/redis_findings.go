package state

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// In Redis a scan's findings are two hashes beside its record
// (redisKeys.scanTitles and scanSeen), read a field at a time through the
// cache and checked by the update script like the keys it reads: a
// finding's update reads and writes its own title and key, however many
// its scan has. The record says how many fields each hash holds. A record
// an earlier version wrote holds its findings itself; they move to the
// hashes the next time it is written.

// redisScanValue is a scan's record as Redis keeps it.
type redisScanValue struct {
	ScanRecord
	// Its titles at the per-type limit: ByTitle is not in the record.
	LimitedTitles []string `json:"limited_titles,omitempty"`
	Titles        int      `json:"titles,omitempty"` // its titles hash's fields
	SeenN         int      `json:"seen_n,omitempty"` // its seen hash's fields
}

// findingsTx is what a Tx read and changed of a scan's findings.
type findingsTx struct {
	legacy               *ScanFindings // in the record an earlier version wrote
	dropTitles, dropSeen bool          // the hash is deleted first
	keepSeen             bool          // the seen hash outlives the titles: its TTL is renewed
	counts               map[string]int64
	put                  map[string]bool // titles counted
	seen                 map[string]bool // keys read (true: there) or added
	added                []string
}

// adoptLegacy takes the findings an earlier version kept in the record.
func (s *redisScan) adoptLegacy() {
	if len(s.rec.ByTitle) == 0 && len(s.rec.Seen) == 0 {
		return
	}
	s.rec.adoptLimitedTitles()
	legacy := s.rec.ScanFindings
	s.rec.ScanFindings = ScanFindings{}
	s.f.legacy, s.titles, s.seen = &legacy, len(legacy.ByTitle), len(legacy.Seen)
}

// changing is the scan whose findings a step changes; nil when it has no
// record.
func (t *redisTx) changing(id string) *redisScan {
	s := t.scans[id]
	if s == nil || s.deleted || !s.written && !s.found {
		return nil
	}
	s.written = true
	return s
}

func (t *redisTx) TitleCount(id, title string) (int64, int, error) {
	s, err := t.scan(id)
	if err != nil || s.deleted {
		return 0, 0, err
	}
	if n, ok := s.f.counts[title]; ok {
		return n, s.titles, nil
	}
	var n int64
	switch {
	case s.f.dropTitles || !s.found:
	case s.f.legacy != nil:
		n = s.f.legacy.ByTitle[title]
	default:
		raw, found, err := t.r.field(t.b.keys.scanTitles(id), title)
		if err != nil {
			return 0, 0, err
		}
		if found {
			if n, err = strconv.ParseInt(raw, 10, 64); err != nil {
				return 0, 0, fmt.Errorf("redis: scan %q's count of a title is unreadable: %w", id, err)
			}
		}
	}
	if s.f.counts == nil {
		s.f.counts = map[string]int64{}
	}
	s.f.counts[title] = n
	return n, s.titles, nil
}

// PutTitleCount is called after TitleCount, which read the count it
// replaces.
func (t *redisTx) PutTitleCount(id, title string, n int64) {
	s := t.changing(id)
	if s == nil {
		return
	}
	if s.f.counts == nil {
		s.f.counts = map[string]int64{}
	}
	if s.f.put == nil {
		s.f.put = map[string]bool{}
	}
	if s.f.counts[title] == 0 && n > 0 {
		s.titles++
	}
	s.f.counts[title], s.f.put[title] = n, true
}

func (t *redisTx) Seen(id, key string) (bool, int, error) {
	s, err := t.scan(id)
	if err != nil || s.deleted {
		return false, 0, err
	}
	if there, ok := s.f.seen[key]; ok {
		return there, s.seen, nil
	}
	var there bool
	switch {
	case s.f.dropSeen || !s.found:
	case s.f.legacy != nil:
		there = slices.Contains(s.f.legacy.Seen, key)
	default:
		if _, there, err = t.r.field(t.b.keys.scanSeen(id), key); err != nil {
			return false, 0, err
		}
	}
	if s.f.seen == nil {
		s.f.seen = map[string]bool{}
	}
	s.f.seen[key] = there
	return there, s.seen, nil
}

// AddSeen is called after Seen said key is not there.
func (t *redisTx) AddSeen(id, key string) {
	s := t.changing(id)
	if s == nil || s.f.seen[key] {
		return
	}
	if s.f.seen == nil {
		s.f.seen = map[string]bool{}
	}
	s.f.seen[key] = true
	s.f.added = append(s.f.added, key)
	s.seen++
}

// SeenKeys reads the whole hash: the slow path serves it, once a backfill.
func (t *redisTx) SeenKeys(id string) ([]string, error) {
	s, err := t.scan(id)
	if err != nil || s.deleted {
		return nil, err
	}
	var keys []string
	switch {
	case s.f.dropSeen || !s.found:
	case s.f.legacy != nil:
		keys = slices.Clone(s.f.legacy.Seen)
	default:
		if keys, err = t.r.fieldNames(t.b.keys.scanSeen(id)); err != nil {
			return nil, err
		}
	}
	for _, key := range s.f.added {
		if !slices.Contains(keys, key) {
			keys = append(keys, key)
		}
	}
	return keys, nil
}

func (t *redisTx) DropFindings(id string, keepSeen bool) {
	s := t.changing(id)
	if s == nil {
		return
	}
	s.titles, s.f.dropTitles = 0, true
	clear(s.f.counts)
	clear(s.f.put)
	if s.f.legacy != nil {
		s.f.legacy.ByTitle = nil
	}
	s.f.keepSeen = keepSeen
	if !keepSeen {
		s.seen, s.f.dropSeen, s.f.added = 0, true, nil
		clear(s.f.seen)
		if s.f.legacy != nil {
			s.f.legacy.Seen = nil
		}
	}
}

// commitFindings hands what the Tx changed of a written scan's findings
// to w. A hash written lives as long as the record written with it; the
// delivered findings kept past the finish for the backfill, as long as
// the finished record.
func (t *redisTx) commitFindings(w txWriter, id string, s *redisScan) {
	titles, seen := t.b.keys.scanTitles(id), t.b.keys.scanSeen(id)
	if s.f.dropTitles {
		w.del(titles)
	}
	if s.f.dropSeen {
		w.del(seen)
	}
	titlesSet, seenSet := len(s.f.put) > 0, len(s.f.added) > 0 || s.f.keepSeen
	if l := s.f.legacy; l != nil {
		for _, title := range slices.Sorted(maps.Keys(l.ByTitle)) {
			if !s.f.put[title] {
				w.setField(titles, title, strconv.FormatInt(l.ByTitle[title], 10))
				titlesSet = true
			}
		}
		for _, key := range l.Seen {
			w.setField(seen, key, "1")
			seenSet = true
		}
	}
	for title := range s.f.put {
		w.setField(titles, title, strconv.FormatInt(s.f.counts[title], 10))
	}
	for _, key := range s.f.added {
		w.setField(seen, key, "1")
	}
	ttl := t.b.scanTTL()
	if titlesSet {
		w.expire(titles, ttl)
	}
	if seenSet {
		w.expire(seen, ttl)
	}
}
