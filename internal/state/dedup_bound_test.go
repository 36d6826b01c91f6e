package state

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// longWindow is a dedup_window as long as the README's max_message_age.
func longWindow(maxEntries int) Config {
	cfg := testConfig()
	cfg.DedupWindow, cfg.DedupMaxEntries = 24*time.Hour, maxEntries
	return cfg
}

func bodyN(i int) string { return finding("d", "s", "t", "high", i) }

// claimStatus claims body at now and lets the claim go, for a look at what
// the state remembers of it.
func claimStatus(t *testing.T, s *State, body string, now time.Time) ClaimStatus {
	t.Helper()
	advance(s, now)
	d, err := s.Claim(context.Background(), KeyOf([]byte(body)), now)
	require.NoError(t, err)
	if d.Status == ClaimNew || d.Status == ClaimCounted {
		require.NoError(t, s.Settle(context.Background(), &d, false, now))
	}
	return d.Status
}

// However long dedup_window, at most dedup_max_entries deliveries are
// remembered: the oldest are forgotten first, and counted.
func TestRememberedDeliveriesAreBoundedOldestFirstAndCounted(t *testing.T) {
	forEachBackend(t, longWindow(3), func(t *testing.T, s *State) {
		for i := range 5 {
			deliver(t, s, bodyN(i), t0.Add(time.Duration(i)*time.Minute))
		}
		assert.Equal(t, int64(2), s.TakeTelemetry().EvictedDeliveries)
		now := t0.Add(time.Hour)
		for i := 2; i < 5; i++ {
			assert.Equal(t, ClaimDuplicate, claimStatus(t, s, bodyN(i), now), "body %d is remembered", i)
		}
		assert.Equal(t, ClaimNew, claimStatus(t, s, bodyN(0), now), "the oldest was forgotten")
	})
}

// A saved dedup memory is loaded within the bound the receiver now runs
// with: a dedup_max_entries lowered across a restart evicts the oldest,
// counted.
func TestARestartKeepsTheBound(t *testing.T) {
	store := newFakeStorage()
	s := persistedWith(t, longWindow(10), store, t0)
	for i := range 4 {
		deliver(t, s, bodyN(i), t0.Add(time.Duration(i)*time.Minute))
	}
	require.NoError(t, s.Close(context.Background()))

	now := t0.Add(12 * time.Hour)
	s = persistedWith(t, longWindow(2), store, now)
	assert.Equal(t, int64(2), s.TakeTelemetry().EvictedDeliveries)
	assert.Equal(t, 2, s.backend.(*memoryBackend).settled.len(), "loaded in the compact form")
	assert.Equal(t, ClaimDuplicate, claimStatus(t, s, bodyN(3), now))
	assert.Equal(t, ClaimDuplicate, claimStatus(t, s, bodyN(2), now))
	assert.Equal(t, ClaimNew, claimStatus(t, s, bodyN(0), now))
	require.NoError(t, s.Close(context.Background()))
}

// Replicas share one bound: deliveries settled on either count towards it,
// the replica whose settle went past it counts the eviction, and a settled
// delivery leaves no key of its own behind (only a member of one set).
func TestReplicasShareTheBound(t *testing.T) {
	m := miniredis.RunT(t)
	replica := func(name string) *State {
		client := redis.NewClient(&redis.Options{Addr: m.Addr()})
		t.Cleanup(func() { require.NoError(t, client.Close()) })
		s, err := NewRedis(context.Background(), longWindow(3), RedisConfig{Client: client, KeyPrefix: "test/", Replica: name}, t0)
		require.NoError(t, err)
		return s
	}
	a, b := replica("a"), replica("b")
	for i := range 3 {
		deliver(t, a, bodyN(i), t0.Add(time.Duration(i)*time.Minute))
	}
	for i := 3; i < 5; i++ {
		deliver(t, b, bodyN(i), t0.Add(time.Duration(i)*time.Minute))
	}
	assert.Equal(t, int64(0), a.TakeTelemetry().EvictedDeliveries)
	assert.Equal(t, int64(2), b.TakeTelemetry().EvictedDeliveries)
	for _, key := range m.Keys() {
		assert.NotContains(t, key, "claim:", "a settled delivery keeps no hash of its own")
	}
	members, err := m.ZMembers("test/{detectify}settled")
	require.NoError(t, err)
	assert.Len(t, members, 3)
	for _, member := range members {
		assert.Len(t, member, len(Key{}), "a raw key: %q", strings.ToValidUTF8(member, "?"))
	}
	now := t0.Add(time.Hour)
	assert.Equal(t, ClaimDuplicate, claimStatus(t, a, bodyN(4), now))
	assert.Equal(t, ClaimDuplicate, claimStatus(t, a, bodyN(2), now))
	assert.Equal(t, ClaimNew, claimStatus(t, b, bodyN(1), now))
}
