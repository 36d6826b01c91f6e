package state

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func journalOf(s *State) *journal { return s.backend.(*memoryBackend).journal }

// compactNow runs a compaction as the compactor does, and waits for it.
func compactNow(t *testing.T, s *State) error {
	t.Helper()
	j := journalOf(s)
	return j.compact(context.Background(), j.sync)
}

func TestAWebhookWritesOnlyWhatItChanged(t *testing.T) {
	store := newFakeStorage()
	s := persisted(t, store, t0)
	for i := range 2000 {
		deliver(t, s, started(fmt.Sprintf("d%d", i), "s"), t0)
	}
	require.NoError(t, compactNow(t, s))
	before := store.sizes()

	deliver(t, s, finding("d7", "s", "XSS", "high", 1), t0)

	var written []string
	size := 0
	for k, n := range store.sizes() {
		if before[k] != n {
			written = append(written, k)
			size += n
		}
	}
	assert.Equal(t, []string{entryKey(journalOf(s).seq)}, written, "one journal entry, nothing rewritten")
	assert.Less(t, size, 2048, "the entry holds the scan, the domain and the counts it changed, not the state")
	require.NoError(t, s.Close(context.Background()))
}

func TestNoStoredValueIsLarge(t *testing.T) {
	store := newFakeStorage()
	s := persisted(t, store, t0)
	for i := range 3000 {
		deliver(t, s, started(fmt.Sprintf("a-long-domain-name-%d.example.com", i), "s"), t0)
	}
	require.NoError(t, s.Close(context.Background()))
	chunks := 0
	for k, n := range store.sizes() {
		assert.LessOrEqual(t, n, chunkSize+4096, "%s holds %d bytes", k, n)
		if strings.HasPrefix(k, chunkKeyPrefix) {
			chunks++
		}
	}
	assert.Greater(t, chunks, 1, "the state is cut into chunks")

	s = persisted(t, store, t0)
	assert.Equal(t, int64(3000), scanEventCount(t, s, "started"))
	require.NoError(t, s.Close(context.Background()))
}

// Compactions run while webhooks change the state they read; a crash
// after them loses nothing acknowledged and counts nothing twice.
func TestCompactionDuringWebhooksLosesNothing(t *testing.T) {
	store := newFakeStorage()
	s := persisted(t, store, t0)
	const workers, each = 8, 60
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				domain := fmt.Sprintf("d%d", i%5)
				deliver(t, s, finding(domain, "s", fmt.Sprintf("t%d", i%7), "high", w*each+i), t0)
			}
		})
	}
	compactions := 0
	for done := false; !done; {
		require.NoError(t, compactNow(t, s))
		compactions++
		done = waitTimeout(&wg, time.Millisecond)
	}
	require.NoError(t, compactNow(t, s))
	deliver(t, s, finding("d0", "s", "late", "high", 10_000), t0) // after the last compaction: journal only
	crash(s)

	s = persisted(t, store, t0)
	total := int64(0)
	for i := range 5 {
		total += findingCount(t, s, fmt.Sprintf("d%d", i), "high")
	}
	assert.Equal(t, int64(workers*each+1), total, "after %d compactions", compactions)
	delivered := int64(0)
	for i := range 5 {
		scan, found := scanRecordOf(t, s, fmt.Sprintf("d%d", i))
		require.True(t, found)
		delivered += scan.Delivered
	}
	assert.Equal(t, int64(workers*each+1), delivered, "each scan record is whole, not one read half way")
	require.NoError(t, s.Close(context.Background()))
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// A webhook that changes a record after the compaction read it is in the
// journal the manifest replays.
func TestAChangeDuringACompactionIsReplayed(t *testing.T) {
	store := newFakeStorage()
	s := persisted(t, store, t0)
	deliver(t, s, finding("d", "s", "t", "high", 0), t0)
	var once sync.Once
	store.setBeforeWrite(func(key string) {
		if strings.HasPrefix(key, chunkKeyPrefix) {
			once.Do(func() { deliver(t, s, finding("d", "s", "t", "high", 1), t0) })
		}
	})
	require.NoError(t, compactNow(t, s))
	store.setBeforeWrite(nil)
	crash(s)

	s = persisted(t, store, t0)
	assert.Equal(t, int64(2), findingCount(t, s, "d", "high"))
	scan, _ := scanRecordOf(t, s, "d")
	assert.Equal(t, int64(2), scan.Delivered)
	require.NoError(t, s.Close(context.Background()))
}

func TestACompactionThatFailsBeforeItsManifestChangesNothing(t *testing.T) {
	store := newFakeStorage()
	s := persisted(t, store, t0)
	for i := range 5 {
		deliver(t, s, finding("d", "s", "t", "high", i), t0)
	}
	store.setFailKey(func(k string) bool { return k == manifestKey })
	require.ErrorIs(t, compactNow(t, s), ErrUnavailable)
	deliver(t, s, finding("d", "s", "t", "high", 5), t0)
	crash(s)
	store.setFailKey(nil)

	s = persisted(t, store, t0)
	assert.Equal(t, int64(6), findingCount(t, s, "d", "high"), "the old manifest and the whole journal")
	require.NoError(t, s.Close(context.Background()))
}

func TestAStartFinishesAnInterruptedPurge(t *testing.T) {
	store := newFakeStorage()
	s := persisted(t, store, t0)
	for i := range 5 {
		deliver(t, s, finding("d", "s", "t", "high", i), t0)
	}
	store.setFailKey(func(k string) bool {
		return strings.HasPrefix(k, entryKeyPrefix) && k <= entryKey(5) && k != entryKey(6)
	})
	deliver(t, s, finding("d", "s", "t", "high", 6), t0) // entry 6 is written; the purge of 1-5 fails below
	require.ErrorIs(t, compactNow(t, s), ErrUnavailable)
	crash(s)
	assert.Contains(t, store.keys(), entryKey(1), "left behind")
	store.setFailKey(nil)

	s = persisted(t, store, t0)
	require.Eventually(t, func() bool { return !strings.Contains(strings.Join(store.keys(), " "), entryKey(1)) },
		5*time.Second, time.Millisecond, "the start deletes what the compaction left")
	assert.Equal(t, int64(6), findingCount(t, s, "d", "high"))
	require.NoError(t, s.Close(context.Background()))
}

// A state written by the last version (one snapshot value, decimal
// journal keys) is read, then rewritten in chunks and deleted.
func TestUpgradeFromTheLastVersionsJournal(t *testing.T) {
	store := newFakeStorage()
	ctx := context.Background()
	snap := snapshotFile{Version: legacySnapshotVer, Epoch: "e1", Seq: 2, Start: t0,
		Counts: map[string]DomainCounts{"d": {Findings: map[string]int64{"high": 3}, Scans: map[string]int64{}, Seen: t0}}}
	raw, err := json.Marshal(snap)
	require.NoError(t, err)
	require.NoError(t, store.Set(ctx, legacySnapshotKey, raw))
	entry := func(seq, high int) []byte {
		return fmt.Appendf(nil, `{"epoch":"e1","seq":%d,"counts":{"d":{"findings":{"high":%d},"seen":%q}}}`, seq, high, t0.Format(time.RFC3339Nano))
	}
	require.NoError(t, store.Set(ctx, legacyJournalPrefix+"3", entry(3, 4)))
	require.NoError(t, store.Set(ctx, entryKey(4), entry(4, 5))) // written by this version before its first compaction

	s := persisted(t, store, t0.Add(time.Minute))
	assert.True(t, s.Restored())
	assert.Equal(t, t0, s.Start())
	assert.Equal(t, int64(5), findingCount(t, s, "d", "high"), "the snapshot, then both versions' entries")
	require.Eventually(t, func() bool {
		keys := strings.Join(store.keys(), " ")
		return !strings.Contains(keys, legacySnapshotKey) && !strings.Contains(keys, legacyJournalPrefix)
	}, 5*time.Second, time.Millisecond, "the first compaction deletes the old files")
	require.NoError(t, s.Close(ctx))

	s = persisted(t, store, t0.Add(2*time.Minute))
	assert.Equal(t, int64(5), findingCount(t, s, "d", "high"))
	require.NoError(t, s.Close(ctx))
}

// scanEventCount sums the scans counted in state across domains.
func scanEventCount(t *testing.T, s *State, state string) int64 {
	t.Helper()
	m, err := s.Metrics(context.Background(), true)
	require.NoError(t, err)
	n := int64(0)
	for _, d := range m {
		if d.Counts != nil {
			n += d.Counts.Scans[state]
		}
	}
	return n
}

// scanRecordOf returns the in-memory record of the scan "s" of domain.
func scanRecordOf(t *testing.T, s *State, domain string) (ScanRecord, bool) {
	t.Helper()
	b := s.backend.(*memoryBackend)
	b.mu.Lock()
	defer b.mu.Unlock()
	scan, ok := b.scans[scanKey(domain, "s")]
	if !ok {
		return ScanRecord{}, false
	}
	return scan.ScanRecord, true
}
