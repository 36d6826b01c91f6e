package state

import (
	"encoding/hex"
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEntryJSONAsEncodingJSON holds the journal's hand-written JSON to
// encoding/json's: entries of records with every field set, none set,
// deleted, and with names that need escaping decode to what
// json.Marshal of the same entry (entryFileLocked) decodes to.
func TestEntryJSONAsEncodingJSON(t *testing.T) {
	at := time.Date(2026, 12, 5, 10, 11, 12, 123456789, time.FixedZone("x", 3600))
	later := at.Add(90 * time.Minute).UTC()
	odd := "quote\" back\\slash <tag> & \u2028 é \x01 \xff"
	quoted := `"quoted" and \back\slashed` // ASCII, yet to be escaped
	for _, tc := range []struct {
		name string
		fill func(j *journal)
	}{
		{"nothing changed but a fresh entry", func(*journal) {}},
		{"every field set", func(j *journal) {
			b := j.b
			key, settledKey, goneKey := Key{1}, Key{2}, Key{3}
			b.claims[key] = &memClaim{claimRecord: claimRecord{
				State: claimInFlight, Owner: "o-1", Lease: later, Counted: true, Added: at,
				Insight: Insight{Delivered: ptr[int64](3), Undelivered: ptr[int64](0), Partial: true,
					LimitReached: []string{LimitPerType}, LimitedTitles: []string{"XSS", odd}, Duration: ptr(0.5), FromAPI: true},
			}}
			b.settled.add(settledKey, at)
			j.dirty.claims[key], j.dirty.claims[settledKey], j.dirty.claims[goneKey] = true, true, true

			whole := &memScan{ScanRecord: ScanRecord{
				Domain: "d.example", FirstSeen: at, Started: at, Delivered: 7, ByLevel: map[string]int64{"high": 5, "low": 2},
				Finished: true, Stalled: true, Closed: later, Profile: "p1",
				Backfill:     &Backfill{State: BackfillPending, Due: later, Attempts: 2, Owner: "o", Lease: later, Counted: []string{"k1", odd}},
				ScanFindings: ScanFindings{ByTitle: map[string]int64{"XSS": 3, odd: 1, quoted: 2}, Seen: []string{"f1"}},
			}}
			big := &memScan{ScanRecord: ScanRecord{Domain: odd, FirstSeen: at,
				ScanFindings: ScanFindings{ByTitle: map[string]int64{}, Seen: []string{}}}}
			for i := range wholeFindings + 1 {
				big.ByTitle[string(rune('a'+i))] = int64(i)
			}
			b.scans["whole"], b.scans["big"], b.scans["big-unchanged"] = whole, big, big
			j.dirty.scans["whole"], j.dirty.scans["big"], j.dirty.scans["big-unchanged"], j.dirty.scans["gone"] = true, true, true, true
			j.dirty.findings["big"] = &findingsDirt{dropTitles: true, dropSeen: true, titles: []string{"a", "c"}, seen: []string{"s1", odd}}

			b.domains["d.example"] = &memDomain{DomainRecord: DomainRecord{Open: []string{"s1", "s2"}, Updated: at,
				LastScan: &LastScan{Counts: map[string]int64{"high": 1}, Undelivered: ptr[int64](4), Duration: ptr(1e-9),
					Backfilled: ptr[int64](2), Scan: "s0"}}}
			b.domains[odd] = &memDomain{DomainRecord: DomainRecord{Updated: later, LastScan: &LastScan{}}}
			j.dirty.domains["d.example"], j.dirty.domains[odd], j.dirty.domains["gone"] = true, true, true

			b.counts.add(CounterKey{Domain: "d.example", Metric: MetricFindings, Value: "high"}, 2, at)
			b.counts.add(CounterKey{Domain: odd, Metric: MetricScans, Value: "completed"}, 1, later)
			j.dirty.counts["d.example"], j.dirty.counts[odd], j.dirty.counts["gone"] = true, true, true
		}},
		{"records with nothing but their required fields", func(j *journal) {
			j.b.claims[Key{9}] = &memClaim{claimRecord: claimRecord{State: claimPending}}
			j.dirty.claims[Key{9}] = true
			j.b.scans["s"] = &memScan{}
			j.dirty.scans["s"] = true
			j.b.domains["d"] = &memDomain{}
			j.dirty.domains["d"] = true
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := newJournal(newMemoryBackend(testConfig(), newCounts(at, 100)), newFakeStorage())
			j.epoch = "e1"
			tc.fill(j)

			got, err := j.appendEntryLocked(nil, 42)
			require.NoError(t, err)
			want, err := json.Marshal(j.entryFileLocked(42))
			require.NoError(t, err)
			var gotEntry, wantEntry entryFile
			require.NoError(t, json.Unmarshal(got, &gotEntry), "%s", got)
			require.NoError(t, json.Unmarshal(want, &wantEntry))
			assert.Equal(t, wantEntry, gotEntry, "hand-written: %s\nencoding/json: %s", got, want)
		})
	}
}

// TestJournalEntriesOwnTheirBuffers: a storage extension may keep the
// value it is given (this one does), so each entry is written into a
// buffer of its own, never into the last one's.
func TestJournalEntriesOwnTheirBuffers(t *testing.T) {
	store := newFakeStorage()
	store.keepValues = true
	s := persisted(t, store, t0)
	for i := range 3 {
		deliver(t, s, finding("d", "s", "XSS", "high", i), t0)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	entries := 0
	for key, raw := range store.data {
		if !strings.HasPrefix(key, entryKeyPrefix) {
			continue
		}
		entries++
		var e entryFile
		require.NoError(t, json.Unmarshal(raw, &e), "%s: %s", key, raw)
		assert.Equal(t, key, entryKey(e.Seq), "the entry kept under %s", key)
	}
	assert.GreaterOrEqual(t, entries, 3)
}

// TestEntryJSONRefusesWhatEncodingJSONRefuses: a value with no JSON form
// fails the write, as json.Marshal's error did, instead of writing an
// entry that cannot be read back.
func TestEntryJSONRefusesWhatEncodingJSONRefuses(t *testing.T) {
	for name, rec := range map[string]DomainRecord{
		"NaN duration":     {LastScan: &LastScan{Duration: ptr(math.NaN())}},
		"infinite":         {LastScan: &LastScan{Duration: ptr(math.Inf(1))}},
		"year after 9999":  {Updated: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"year before zero": {Updated: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
		"offset of a day":  {Updated: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("far", 24*3600))},
	} {
		t.Run(name, func(t *testing.T) {
			j := newJournal(newMemoryBackend(testConfig(), newCounts(time.Time{}, 100)), newFakeStorage())
			j.b.domains["d"] = &memDomain{DomainRecord: rec}
			j.dirty.domains["d"] = true
			_, want := json.Marshal(j.entryFileLocked(1))
			require.Error(t, want)
			_, err := j.appendEntryLocked(nil, 1)
			assert.Error(t, err)
		})
	}
}

// entryFileLocked is the entry appendEntryLocked writes, as the values
// encoding/json wrote before it: the reference it is held to.
func (j *journal) entryFileLocked(seq uint64) entryFile {
	b := j.b
	e := entryFile{Epoch: j.epoch, Seq: seq, Claims: map[string]*claimRecord{}, Scans: map[string]*entryScan{},
		Domains: map[string]*DomainRecord{}, Counts: map[string]*DomainCounts{}}
	for key := range j.dirty.claims {
		var rec *claimRecord
		if c, ok := b.claimRecordLocked(key); ok {
			saved := savedClaimRecord(c)
			rec = &saved
		}
		e.Claims[hex.EncodeToString(key[:])] = rec
	}
	for id := range j.dirty.scans {
		s, ok := b.scans[id]
		d := j.dirty.findings[id]
		switch {
		case !ok:
			e.Scans[id] = nil
		case len(s.ByTitle)+len(s.Seen) <= wholeFindings || d != nil && d.whole:
			e.Scans[id] = &entryScan{ScanRecord: &s.ScanRecord}
		default:
			core := s.core()
			e.Scans[id] = &entryScan{ScanRecord: &core, Changed: d.delta(s)}
		}
	}
	for name := range j.dirty.domains {
		var rec *DomainRecord
		if d, ok := b.domains[name]; ok {
			rec = &d.DomainRecord
		}
		e.Domains[name] = rec
	}
	counts := b.counts.snapshot(slices.Collect(maps.Keys(j.dirty.counts)))
	for name := range j.dirty.counts {
		var rec *DomainCounts
		if c, ok := counts[name]; ok {
			rec = &c
		}
		e.Counts[name] = rec
	}
	return e
}

// TestASavedClaimLeavesOutAnEmptyInsight: the hand-written entry and
// encoding/json agree, through Insight.IsZero, on when a claim's insight
// is written: not when it sets nothing a record carries.
func TestASavedClaimLeavesOutAnEmptyInsight(t *testing.T) {
	for name, tc := range map[string]struct {
		insight Insight
		written bool
	}{
		"none":                     {Insight{}, false},
		"only a queued backfill":   {Insight{BackfillQueued: true}, false},
		"empty lists, not nil":     {Insight{LimitReached: []string{}, LimitedTitles: []string{}}, false},
		"partial":                  {Insight{Partial: true}, true},
		"a count of zero":          {Insight{Undelivered: ptr[int64](0)}, true},
		"a limit reached":          {Insight{LimitReached: []string{LimitPerScan}}, true},
		"counted by the API first": {Insight{FromAPI: true}, true},
	} {
		t.Run(name, func(t *testing.T) {
			c := claimRecord{State: claimPending, Counted: true, Insight: tc.insight, Added: t0}
			w := &jsonOut{}
			w.claim(c)
			require.NoError(t, w.err)
			want, err := json.Marshal(c)
			require.NoError(t, err)
			assert.Equal(t, tc.written, strings.Contains(string(w.b), `"insight"`), "hand-written: %s", w.b)
			assert.Equal(t, tc.written, strings.Contains(string(want), `"insight"`), "encoding/json: %s", want)
		})
	}
}
