package state

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/detectify-otel/detectifyreceiver/internal/message"
)

// replicas are States on one Redis (an in-process fake: the end-to-end
// tests use redis-server), as several collectors behind a load balancer.
func replicas(t *testing.T, names ...string) (*miniredis.Miniredis, []*State) {
	m := miniredis.RunT(t)
	var out []*State
	for _, name := range names {
		out = append(out, replicaOn(t, m, name, t0))
	}
	return m, out
}

func replicaOn(t *testing.T, m *miniredis.Miniredis, name string, now time.Time) *State {
	client := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	s, err := NewRedis(context.Background(), testConfig(), RedisConfig{Client: client, KeyPrefix: "detectify/", Replica: name}, now)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close(context.Background())) })
	return s
}

func accept(t *testing.T, s *State, body string, now time.Time) Delivery {
	t.Helper()
	e, err := message.Parse([]byte(body))
	require.NoError(t, err)
	d, err := s.Accept(context.Background(), KeyOf([]byte(body)), &e, now)
	require.NoError(t, err)
	return d
}

// Two replicas receiving the same body at the same moment: one processes
// it, the other is asked to retry while it does, and gets a duplicate once
// it settled.
func TestOneBodyTwoReplicas(t *testing.T) {
	_, rs := replicas(t, "a", "b")
	body := finding("d", "s", "XSS", "high", 1)
	first := accept(t, rs[0], body, t0)
	require.Equal(t, ClaimNew, first.Status)
	assert.Equal(t, ClaimBusy, accept(t, rs[1], body, t0).Status)
	require.NoError(t, rs[0].Settle(context.Background(), &first, true, t0))
	assert.Equal(t, ClaimDuplicate, accept(t, rs[1], body, t0).Status)
}

func TestConcurrentClaimsOfOneBody(t *testing.T) {
	_, rs := replicas(t, "a", "b", "c", "d")
	body := finding("d", "s", "XSS", "high", 1)
	var mu sync.Mutex
	statuses := map[ClaimStatus]int{}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			d := accept(t, rs[i%len(rs)], body, t0)
			mu.Lock()
			statuses[d.Status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	assert.Equal(t, 1, statuses[ClaimNew], "exactly one claim wins: %v", statuses)
	assert.Equal(t, 39, statuses[ClaimBusy])
}

// What a replica remembered of a body (counted, with its insight) is what
// another replica finds when it retries it.
func TestARetryOnAnotherReplicaIsNotCountedAgain(t *testing.T) {
	_, rs := replicas(t, "a", "b")
	deliver(t, rs[0], started("d", "s"), t0)
	body := finished("d", "s", 3, 0, 0)
	first := accept(t, rs[0], body, t0.Add(time.Minute))
	require.NoError(t, rs[0].Settle(context.Background(), &first, false, t0.Add(time.Minute))) // logs refused
	retry := deliver(t, rs[1], body, t0.Add(2*time.Minute))
	assert.Equal(t, ClaimCounted, retry.Status)
	assert.Equal(t, first.Insight, retry.Insight)
	counts := func(s *State) int64 {
		m, err := s.Metrics(context.Background(), true)
		require.NoError(t, err)
		if m["d"].Counts == nil {
			return 0
		}
		return m["d"].Counts.Scans["finished"]
	}
	assert.Equal(t, int64(1), counts(rs[0])+counts(rs[1]), "counted once, by the replica that claimed it first")
}

// A replica that dies holding a claim (SIGKILL) is taken over once its
// lease ran out; what it counted is not counted again.
func TestADeadReplicasClaimIsTakenOverAfterItsLease(t *testing.T) {
	_, rs := replicas(t, "a", "b")
	body := finding("d", "", "t", "high", 1)
	accept(t, rs[0], body, t0) // counted, then the replica dies
	assert.Equal(t, ClaimBusy, accept(t, rs[1], body, t0.Add(claimLease-time.Second)).Status)
	taken := deliver(t, rs[1], body, t0.Add(claimLease+time.Second))
	assert.Equal(t, ClaimCounted, taken.Status)
}

// A scan that starts on one replica and finishes on another has its
// duration and its withheld findings; findings arrive on both at once.
func TestAScanAcrossReplicas(t *testing.T) {
	_, rs := replicas(t, "a", "b", "c")
	deliver(t, rs[0], started("d", "s"), t0)
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Go(func() {
			deliver(t, rs[i%3], finding("d", "s", fmt.Sprintf("t%d", i%6), "high", i), t0.Add(time.Minute))
		})
	}
	wg.Wait()
	got := deliver(t, rs[1], finished("d", "s", 90, 0, 0), t0.Add(time.Hour)).Insight
	assert.Equal(t, Insight{Delivered: ptr[int64](60), Undelivered: ptr[int64](30), Duration: ptr(3600.0),
		LimitReached: []string{LimitPerType}, LimitedTitles: []string{"t0", "t1", "t2", "t3", "t4", "t5"}}, got)

	// Every replica exports the domain's last scan, whoever recorded it.
	m, err := rs[2].Metrics(context.Background(), true)
	require.NoError(t, err)
	require.NotNil(t, m["d"].Scans)
	assert.Equal(t, ptr[int64](30), m["d"].Scans.LastScan.Undelivered)
	var total int64
	for _, r := range rs {
		m, err := r.Metrics(context.Background(), true)
		require.NoError(t, err)
		if c := m["d"].Counts; c != nil {
			total += c.Findings["high"]
		}
	}
	assert.Equal(t, int64(60), total, "the replicas' counters sum to the findings")
}

// A replica that restarts continues its counters, with their start time.
func TestARestartedReplicaContinuesItsCounters(t *testing.T) {
	m, rs := replicas(t, "a")
	deliver(t, rs[0], finding("d", "", "t", "high", 1), t0)
	again := replicaOn(t, m, "a", t0.Add(time.Hour))
	assert.True(t, again.Restored())
	assert.Equal(t, t0, again.Start())
	assert.Equal(t, int64(1), findingCount(t, again, "d", "high"))
	other := replicaOn(t, m, "b", t0.Add(time.Hour))
	assert.False(t, other.Restored(), "another replica has counters of its own")
	assert.Equal(t, t0.Add(time.Hour), other.Start())
}

// While Redis is down, webhooks cannot be claimed: an error (the receiver
// answers 503) and an unhealthy state; it recovers by itself.
func TestRedisDownAndBack(t *testing.T) {
	m, rs := replicas(t, "a")
	ctx := context.Background()
	require.NoError(t, rs[0].Healthy(ctx))
	m.Close()
	body := finding("d", "", "t", "high", 1)
	e, err := message.Parse([]byte(body))
	require.NoError(t, err)
	_, err = rs[0].Accept(ctx, KeyOf([]byte(body)), &e, t0)
	require.ErrorIs(t, err, ErrUnavailable)
	require.ErrorIs(t, rs[0].Healthy(ctx), ErrUnavailable)

	require.NoError(t, m.Restart())
	require.NoError(t, rs[0].Healthy(ctx))
	assert.Equal(t, ClaimNew, deliver(t, rs[0], body, t0).Status)
}

// A body whose bookkeeping cannot be written (here: its scan's record in
// Redis is unreadable) is not left claimed: the sender's retry is
// processed, not turned away as in flight for the claim's lease.
func TestAFailedRecordReleasesTheClaim(t *testing.T) {
	m, rs := replicas(t, "a")
	require.NoError(t, m.Set("detectify/{detectify}scan:"+scanKey("d", "s"), "not json"))
	body := finding("d", "s", "XSS", "high", 1)
	e, err := message.Parse([]byte(body))
	require.NoError(t, err)
	_, err = rs[0].Accept(context.Background(), KeyOf([]byte(body)), &e, t0)
	require.ErrorContains(t, err, "unreadable")
	d, err := rs[0].Claim(context.Background(), KeyOf([]byte(body)), t0)
	require.NoError(t, err)
	assert.Equal(t, ClaimNew, d.Status, "the retry is processed")
}

// Replicas sweeping at the same time report a stalled scan once.
func TestStalledScanReportedOnceAcrossReplicas(t *testing.T) {
	_, rs := replicas(t, "a", "b", "c")
	deliver(t, rs[0], started("d", "s"), t0)
	var mu sync.Mutex
	var all []Stalled
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() {
			st, err := r.Sweep(context.Background(), t0.Add(49*time.Hour))
			assert.NoError(t, err)
			mu.Lock()
			all = append(all, st...)
			mu.Unlock()
		})
	}
	wg.Wait()
	assert.Len(t, all, 1)
}

// Replicas opening scans at once evict beyond max_open_scans between them,
// and each eviction is counted once, by the replica whose step applied it
// (a step Redis made them run again counts afresh).
func TestEvictionsCountedOnceAcrossReplicas(t *testing.T) {
	m := miniredis.RunT(t)
	cfg := testConfig()
	cfg.MaxOpenScans = 5
	var rs []*State
	for _, name := range []string{"a", "b", "c"} {
		client := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
		s, err := NewRedis(context.Background(), cfg, RedisConfig{Client: client, KeyPrefix: "detectify/", Replica: name}, t0)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close(context.Background())) })
		rs = append(rs, s)
	}
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Go(func() {
			deliver(t, rs[i%3], started(fmt.Sprintf("d%d", i), "s"), t0.Add(time.Duration(i)*time.Millisecond))
		})
	}
	wg.Wait()
	var evicted int64
	for _, s := range rs {
		evicted += s.TakeTelemetry().EvictedScans
	}
	open, err := m.ZMembers("detectify/{detectify}open")
	require.NoError(t, err)
	assert.Len(t, open, cfg.MaxOpenScans)
	assert.Equal(t, int64(60-cfg.MaxOpenScans), evicted)
}

// The shared state is in Redis: a storage extension has nothing to save,
// and Persist says so rather than writing a journal beside it.
func TestPersistRefusesARedisState(t *testing.T) {
	_, rs := replicas(t, "a")
	storage := newFakeStorage()
	_, err := rs[0].Persist(context.Background(), storage, t0)
	require.Error(t, err)
	assert.Empty(t, storage.data, "nothing written")
}

// The client is the state's: closing the state closes it, and a NewRedis
// that fails closes it too, so that no caller has a client left to close.
func TestTheStateOwnsItsRedisClient(t *testing.T) {
	m := miniredis.RunT(t)
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: m.Addr()})
	s, err := NewRedis(ctx, testConfig(), RedisConfig{Client: client, KeyPrefix: "detectify/", Replica: "a"}, t0)
	require.NoError(t, err)
	require.NoError(t, client.Ping(ctx).Err())
	require.NoError(t, s.Close(ctx))
	require.ErrorIs(t, client.Ping(ctx).Err(), redis.ErrClosed)

	addr := m.Addr()
	m.Close()
	client = redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	_, err = NewRedis(ctx, testConfig(), RedisConfig{Client: client, KeyPrefix: "detectify/", Replica: "a"}, t0)
	require.ErrorIs(t, err, ErrUnavailable)
	require.ErrorIs(t, client.Ping(ctx).Err(), redis.ErrClosed, "closed by the NewRedis that failed")
}
