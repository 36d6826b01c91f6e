package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/detectify-otel/detectifyreceiver/internal/message"
)

// persisted starts a State on store, as the receiver's Start does; its
// writes' context ends with the test.
func persisted(t *testing.T, store *fakeStorage, now time.Time) *State {
	t.Helper()
	return persistedWith(t, testConfig(), store, now)
}

// persistedWith is persisted with cfg.
func persistedWith(t *testing.T, cfg Config, store *fakeStorage, now time.Time) *State {
	t.Helper()
	s := NewMemory(cfg, now)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	_, err := s.Persist(ctx, store, now)
	require.NoError(t, err)
	return s
}

// crash stops s's writer the way SIGKILL would: nothing more is written.
func crash(s *State) {
	j := s.backend.(*memoryBackend).journal
	close(j.stop)
	<-j.stopped
}

func TestRestartMidScanLosesNothing(t *testing.T) {
	store := newFakeStorage()
	s := persisted(t, store, t0)
	deliver(t, s, started("d", "s"), t0)
	for i := range 3 {
		deliver(t, s, finding("d", "s", "XSS", "high", i), t0.Add(time.Minute))
	}
	crash(s)

	s = persisted(t, store, t0.Add(5*time.Minute))
	assert.True(t, s.Restored())
	assert.Equal(t, t0, s.Start(), "the series continue with their start time")
	assert.Equal(t, int64(3), findingCount(t, s, "d", "high"))
	assert.Equal(t, ClaimDuplicate, deliver(t, s, finding("d", "s", "XSS", "high", 1), t0.Add(5*time.Minute)).Status,
		"a redelivery of a body acknowledged before the crash")
	got := deliver(t, s, finished("d", "s", 5, 0, 0), t0.Add(2*time.Hour)).Insight
	assert.Equal(t, Insight{Delivered: ptr[int64](3), Undelivered: ptr[int64](2), Duration: ptr(7200.0)}, got)
	require.NoError(t, s.Close(context.Background()))
}

func TestAClaimInFlightAtACrashIsRetriedNotCountedTwice(t *testing.T) {
	store := newFakeStorage()
	s := persisted(t, store, t0)
	ctx := context.Background()
	body := finding("d", "", "t", "high", 1)
	e, err := message.Parse([]byte(body))
	require.NoError(t, err)
	_, err = s.Accept(ctx, KeyOf([]byte(body)), &e, t0) // counted; its record not yet accepted
	require.NoError(t, err)
	deliver(t, s, finding("d", "", "t", "high", 2), t0) // another request's write carries it
	crash(s)

	s = persisted(t, store, t0.Add(time.Minute))
	assert.Equal(t, ClaimCounted, deliver(t, s, body, t0.Add(time.Minute)).Status, "emitted again, not counted again")
	assert.Equal(t, int64(2), findingCount(t, s, "d", "high"))
	require.NoError(t, s.Close(ctx))
}

func TestConcurrentRequestsShareWrites(t *testing.T) {
	store := newFakeStorage()
	s := persisted(t, store, t0)
	require.Eventually(t, func() bool { return store.writes() > 0 }, 5*time.Second, time.Millisecond) // the first snapshot
	blocked := make(chan struct{})
	store.setBlock(blocked)
	before := store.writes()

	const requests = 50
	var wg sync.WaitGroup
	for i := range requests {
		wg.Go(func() { deliver(t, s, finding("d", "", "t", "high", i), t0) })
	}
	time.Sleep(50 * time.Millisecond) // let them pile up behind the blocked write
	close(blocked)
	wg.Wait()
	writes := store.writes() - before
	assert.LessOrEqual(t, writes, 3, "%d requests took %d writes", requests, writes)
	assert.Equal(t, int64(requests), findingCount(t, s, "d", "high"))
	require.NoError(t, s.Close(context.Background()))

	s = persisted(t, store, t0)
	assert.Equal(t, int64(requests), findingCount(t, s, "d", "high"))
	require.NoError(t, s.Close(context.Background()))
}

func TestSyncFailsWhileStorageFailsAndHealsAfter(t *testing.T) {
	store := newFakeStorage()
	s := persisted(t, store, t0)
	ctx := context.Background()
	store.setFail(errors.New("disk full"))
	body := finding("d", "", "t", "high", 1)
	e, err := message.Parse([]byte(body))
	require.NoError(t, err)
	d, err := s.Accept(ctx, KeyOf([]byte(body)), &e, t0)
	require.NoError(t, err)
	require.NoError(t, s.Settle(ctx, &d, true, t0))
	err = s.Sync(ctx)
	require.ErrorIs(t, err, ErrUnavailable)
	assert.NotContains(t, err.Error(), "disk full\x00", "the cause is kept for the log")

	store.setFail(nil)
	require.NoError(t, s.Sync(ctx), "the failed changes are written by the next write")
	crash(s)
	s = persisted(t, store, t0)
	assert.Equal(t, int64(1), findingCount(t, s, "d", "high"))
	require.NoError(t, s.Close(ctx))
}

func TestSyncHonoursItsContext(t *testing.T) {
	store := newFakeStorage()
	s := persisted(t, store, t0)
	store.setBlock(make(chan struct{})) // a storage that never answers
	deliverAccepted := func() Delivery {
		body := finding("d", "", "t", "high", 1)
		e, err := message.Parse([]byte(body))
		require.NoError(t, err)
		d, err := s.Accept(context.Background(), KeyOf([]byte(body)), &e, t0)
		require.NoError(t, err)
		return d
	}
	deliverAccepted()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	require.ErrorIs(t, s.Sync(ctx), ErrUnavailable)
	assert.Less(t, time.Since(start), 5*time.Second)

	closeCtx, cancelClose := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelClose()
	start = time.Now()
	require.Error(t, s.Close(closeCtx), "the final write could not be made")
	assert.Less(t, time.Since(start), 5*time.Second, "Close honours its context too")
}

func TestSnapshotDropsTheJournal(t *testing.T) {
	store := newFakeStorage()
	s := persisted(t, store, t0)
	for i := range 5 {
		deliver(t, s, finding("d", "", "t", "high", i), t0)
	}
	assert.Contains(t, store.keys(), entryKey(1))
	require.NoError(t, s.Close(context.Background()))
	assert.Equal(t, []string{chunkKey(1, 0), manifestKey}, store.keys(),
		"a clean shutdown leaves the compacted state and its manifest, no entry and no older chunk")

	s = persisted(t, store, t0)
	assert.Equal(t, int64(5), findingCount(t, s, "d", "high"))
	deliver(t, s, finding("d", "", "t", "high", 6), t0)
	crash(s)
	s = persisted(t, store, t0)
	assert.Equal(t, int64(6), findingCount(t, s, "d", "high"), "snapshot then journal")
	require.NoError(t, s.Close(context.Background()))
}

func TestUnusableStateIsReplacedAndItsJournalIgnored(t *testing.T) {
	store := newFakeStorage()
	s := persisted(t, store, t0)
	for i := range 3 {
		deliver(t, s, finding("d", "", "t", "high", i), t0)
	}
	crash(s)
	require.NoError(t, store.Set(context.Background(), manifestKey, []byte("{not json")))

	s = NewMemory(testConfig(), t0)
	restored, err := s.Persist(context.Background(), store, t0)
	require.ErrorIs(t, err, errUnusableState)
	assert.False(t, restored)
	deliver(t, s, finding("d", "", "t", "high", 10), t0)
	crash(s)

	s = persisted(t, store, t0)
	assert.Equal(t, int64(1), findingCount(t, s, "d", "high"), "the old run's journal entries are not replayed")
	require.NoError(t, s.Close(context.Background()))
}

func TestStorageUnreachableAtStartFailsIt(t *testing.T) {
	store := newFakeStorage()
	s := NewMemory(testConfig(), t0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	store.setBlock(make(chan struct{}))
	failing := &failingGets{fakeStorage: store}
	_, err := s.Persist(ctx, failing, t0)
	require.ErrorIs(t, err, ErrUnavailable)
}

type failingGets struct{ *fakeStorage }

func (f *failingGets) Get(context.Context, string) ([]byte, error) {
	return nil, errors.New("connection refused")
}

func TestUpgradeFromTheStateOfEarlierReceivers(t *testing.T) {
	findingKey := KeyOf([]byte(finding("my.domain", "s", "t", "high", 1)))
	pendingKey := KeyOf([]byte(finding("my.domain", "s", "t", "high", 2)))
	v1 := fmt.Sprintf(`{"version":1,"start_time":%q,
		"domains":{"my.domain":{"findings":{"high":3,"medium":0},"scans":{"started":1,"finished":1},"last_scan":[1,2,null]}},
		"deliveries":[{"key":%s,"settled":3,"counted":true,"added":%q},{"key":%s,"settled":2,"counted":true,"added":%q}]}`,
		t0.Format(time.RFC3339Nano), jsonBytes(findingKey[:]), t0.Add(time.Minute).Format(time.RFC3339Nano),
		jsonBytes(pendingKey[:]), t0.Add(time.Minute).Format(time.RFC3339Nano))
	store := newFakeStorage()
	require.NoError(t, store.Set(context.Background(), version1Key, []byte(v1)))

	s := persisted(t, store, t0.Add(2*time.Minute))
	assert.True(t, s.Restored())
	assert.Equal(t, t0, s.Start())
	assert.Equal(t, int64(3), findingCount(t, s, "my.domain", "high"))
	assert.Equal(t, map[string]int64{"critical": 1, "medium": 2}, domainRecord(t, s, "my.domain").LastScan.Counts)
	assert.Equal(t, ClaimDuplicate, deliver(t, s, finding("my.domain", "s", "t", "high", 1), t0.Add(3*time.Minute)).Status)
	assert.Equal(t, ClaimCounted, deliver(t, s, finding("my.domain", "s", "t", "high", 2), t0.Add(3*time.Minute)).Status,
		"its metrics were settled, its record was not")
	require.NoError(t, s.Close(context.Background()))
}

func jsonBytes(b []byte) string {
	raw, _ := json.Marshal(b)
	return string(raw)
}
