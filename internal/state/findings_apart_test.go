package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/detectify-otel/detectifyreceiver/internal/message"
)

// A scan's findings are journaled one at a time once it has more than a
// few: the entry of its 100th finding is the size of its 10th's, not of
// everything the scan saw.
func TestAFindingsEntryDoesNotGrowWithItsScan(t *testing.T) {
	store := newFakeStorage()
	s := persisted(t, store, t0)
	deliver(t, s, started("d", "s"), t0)
	entrySize := make([]int, 101)
	for i := 1; i <= 100; i++ {
		deliver(t, s, finding("d", "s", fmt.Sprintf("Title %03d", i%40), "high", i), t0)
		entrySize[i] = store.sizes()[entryKey(journalOf(s).seq)]
	}
	assert.LessOrEqual(t, entrySize[100], entrySize[wholeFindings+2]+16, "only the counts' digits grow")
	require.NoError(t, s.Close(context.Background()))
}

// The counts by title and the delivered findings come back after a crash
// from the entries that wrote them one at a time: the tenth message of a
// type after the restart is the one that reaches Detectify's limit.
func TestAScansFindingsSurviveACrash(t *testing.T) {
	store := newFakeStorage()
	s := persisted(t, store, t0)
	deliver(t, s, started("d", "s"), t0)
	for i := range perTypeLimit - 1 {
		deliver(t, s, finding("d", "s", "XSS", "high", i), t0)
	}
	crash(s)

	s = persisted(t, store, t0)
	rec, ok := scanRecordOf(t, s, "d")
	require.True(t, ok)
	assert.Equal(t, map[string]int64{"XSS": perTypeLimit - 1}, rec.ByTitle)
	assert.Len(t, rec.Seen, perTypeLimit-1)
	got := deliver(t, s, finding("d", "s", "XSS", "high", perTypeLimit), t0).Insight
	assert.Equal(t, []string{LimitPerType}, got.LimitReached)
	crash(s)

	s = persisted(t, store, t0)
	assert.Equal(t, []string{"XSS"}, deliver(t, s, finished("d", "s", 0, 0, 0), t0.Add(time.Hour)).Insight.LimitedTitles,
		"the titles at the limit come back from the counts")
	crash(s)

	s = persisted(t, store, t0.Add(time.Hour))
	rec, ok = scanRecordOf(t, s, "d")
	require.True(t, ok)
	assert.Equal(t, ScanFindings{}, rec.ScanFindings, "a finished scan without a backfill keeps none")
	require.NoError(t, s.Close(context.Background()))
}

// The findings a write that failed was to carry are written by the next
// one, with those changed while it failed.
func TestAFailedWritesFindingsAreWrittenByTheNext(t *testing.T) {
	store := newFakeStorage()
	s := persisted(t, store, t0)
	ctx := context.Background()
	deliver(t, s, started("d", "s"), t0)
	for i := range wholeFindings {
		deliver(t, s, finding("d", "s", "XSS", "high", 100+i), t0) // past the scans written whole
	}
	record := func(i int) {
		e, err := message.Parse([]byte(finding("d", "s", "XSS", "high", i)))
		require.NoError(t, err)
		d, err := s.Claim(ctx, Key{byte(i)}, t0)
		require.NoError(t, err)
		require.NoError(t, s.Record(ctx, &d, &e, t0))
	}
	release, writing := make(chan struct{}), make(chan struct{}, 1)
	store.setFail(errors.New("disk full"))
	store.setBlock(release)
	store.setBeforeWrite(func(string) {
		select {
		case writing <- struct{}{}:
		default:
		}
	})
	record(0)
	failed := make(chan error, 1)
	go func() { failed <- s.Sync(ctx) }()
	<-writing // the write that is to fail has taken the first finding
	record(1)
	close(release)
	require.ErrorIs(t, <-failed, ErrUnavailable)
	store.setFail(nil)
	require.NoError(t, s.Sync(ctx))
	crash(s)

	s = persisted(t, store, t0)
	rec, ok := scanRecordOf(t, s, "d")
	require.True(t, ok)
	assert.Equal(t, map[string]int64{"XSS": wholeFindings + 2}, rec.ByTitle)
	assert.Len(t, rec.Seen, wholeFindings+2)
	require.NoError(t, s.Close(ctx))
}

// An entry an earlier version wrote holds each scan whole, its findings
// in it: they are read, and the titles that reached the limit then are
// reported at the finish.
func TestAnEarlierVersionsEntryKeepsItsScansFindings(t *testing.T) {
	store := newFakeStorage()
	s := persisted(t, store, t0)
	deliver(t, s, started("d", "s"), t0)
	j := journalOf(s)
	epoch, seq := j.epoch, j.seq
	crash(s)
	rec := fmt.Sprintf(`{"domain":"d","first_seen":%q,"started":%q,"delivered":10,"by_level":{"high":10},`+
		`"by_title":{"XSS":%d},"seen":["id:f1","id:f2"]}`, t0.Format(time.RFC3339Nano), t0.Format(time.RFC3339Nano), perTypeLimit)
	id, err := json.Marshal(scanKey("d", "s"))
	require.NoError(t, err)
	require.NoError(t, store.Set(context.Background(), entryKey(seq+1),
		fmt.Appendf(nil, `{"epoch":%q,"seq":%d,"scans":{%s:%s}}`, epoch, seq+1, id, rec)))

	s = persisted(t, store, t0)
	restored, ok := scanRecordOf(t, s, "d")
	require.True(t, ok)
	assert.Equal(t, ScanFindings{ByTitle: map[string]int64{"XSS": perTypeLimit}, Seen: []string{"id:f1", "id:f2"}}, restored.ScanFindings)
	got := deliver(t, s, finished("d", "s", 0, 0, 0), t0.Add(time.Hour)).Insight
	assert.Equal(t, []string{"XSS"}, got.LimitedTitles)
	require.NoError(t, s.Close(context.Background()))
}

// A scan forgotten and seen again in one write starts with no findings
// after a restart: the entry says the old ones are gone.
func TestAScanForgottenAndSeenAgainInOneWriteKeepsOnlyItsNewFindings(t *testing.T) {
	store := newFakeStorage()
	cfg := testConfig()
	cfg.MaxOpenScans = 1
	s := persistedWith(t, cfg, store, t0)
	ctx := context.Background()
	deliver(t, s, started("d", "a"), t0)
	deliver(t, s, finding("d", "a", "XSS", "high", 1), t0)
	store.setFail(errors.New("disk full"))
	bodies := []string{started("d", "b")} // evicts a
	var seen []string
	for i := range wholeFindings + 1 { // open a again, past the scans written whole
		bodies = append(bodies, finding("d", "a", "SQLi", "high", 2+i))
		seen = append(seen, fmt.Sprint("id:f", 2+i))
	}
	for i, body := range bodies {
		recordUnsynced(t, s, i, body)
	}
	store.setFail(nil)
	require.NoError(t, s.Sync(ctx))
	crash(s)

	s = persistedWith(t, cfg, store, t0)
	b := s.backend.(*memoryBackend)
	b.mu.Lock()
	a := b.scans[scanKey("d", "a")]
	b.mu.Unlock()
	require.NotNil(t, a)
	assert.Equal(t, ScanFindings{ByTitle: map[string]int64{"SQLi": wholeFindings + 1}, Seen: seen}, a.ScanFindings)
	require.NoError(t, s.Close(ctx))
}

// A scan started again under the id of one that finished is a new scan:
// none of the findings its predecessor delivered (kept for its backfill)
// are its own.
func TestAScanStartedAgainHasNoFindingsOfTheLastOne(t *testing.T) {
	cfg := testConfig()
	cfg.Backfill = BackfillAlways
	forEachBackend(t, cfg, func(t *testing.T, s *State) {
		deliver(t, s, started("d", "s"), t0)
		deliver(t, s, finding("d", "s", "XSS", "high", 1), t0)
		require.True(t, deliver(t, s, finished("d", "s", 0, 0, 0), t0.Add(time.Hour)).Insight.BackfillQueued)
		seenKeys := func() []string {
			var keys []string
			_, err := s.update(context.Background(), nil, t0, func(tx Tx) (Insight, error) {
				var err error
				keys, err = tx.SeenKeys(scanKey("d", "s"))
				return Insight{}, err
			})
			require.NoError(t, err)
			return keys
		}
		assert.Equal(t, []string{"id:f1"}, seenKeys(), "kept for the backfill")
		deliver(t, s, started("d", "s"), t0.Add(2*time.Hour))
		assert.Empty(t, seenKeys())
	})
}

// A scan that passes wholeFindings in one write is written whole there:
// its changes before that were not tracked.
func TestAScanPastTheWholeSizeInOneWriteKeepsEveryFinding(t *testing.T) {
	store := newFakeStorage()
	s := persisted(t, store, t0)
	ctx := context.Background()
	deliver(t, s, started("d", "s"), t0)
	deliver(t, s, finding("d", "s", "XSS", "high", 0), t0)
	store.setFail(errors.New("disk full"))
	for i := 1; i <= wholeFindings; i++ {
		recordUnsynced(t, s, i, finding("d", "s", fmt.Sprint("title ", i), "high", i))
	}
	store.setFail(nil)
	require.NoError(t, s.Sync(ctx))
	before, ok := scanRecordOf(t, s, "d")
	require.True(t, ok)
	crash(s)

	s = persisted(t, store, t0)
	after, ok := scanRecordOf(t, s, "d")
	require.True(t, ok)
	assert.Equal(t, before.ScanFindings, after.ScanFindings)
	assert.Len(t, after.Seen, wholeFindings+1)
	require.NoError(t, s.Close(ctx))
}

// recordUnsynced records body, the nth of its test, while the storage
// fails: its write fails, and the next one is to carry it.
func recordUnsynced(t *testing.T, s *State, n int, body string) {
	t.Helper()
	ctx := context.Background()
	e, err := message.Parse([]byte(body))
	require.NoError(t, err)
	d, err := s.Claim(ctx, Key{byte(n)}, t0)
	require.NoError(t, err)
	require.NoError(t, s.Record(ctx, &d, &e, t0))
	require.ErrorIs(t, s.Sync(ctx), ErrUnavailable)
}
