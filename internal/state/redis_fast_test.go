package state

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/detectify-otel/detectifyreceiver/internal/message"
)

// redisScanRecord reads a scan's record from Redis itself.
func redisScanRecord(t *testing.T, m *miniredis.Miniredis, id string) ScanRecord {
	t.Helper()
	raw, err := m.Get("detectify/{detectify}scan:" + id)
	require.NoError(t, err)
	var rec ScanRecord
	require.NoError(t, json.Unmarshal([]byte(raw), &rec))
	return rec
}

// A step runs on the replica's cache; when Redis holds something else
// (another replica changed it, this one never read it, or it expired) the
// script applies nothing and says what Redis holds, and the step runs
// again on that: one more round trip, and the same end as without a cache.
func TestAStepOnAWrongCacheIsRunAgain(t *testing.T) {
	for _, tc := range []struct {
		name string
		// before changes Redis behind the replica's back; it returns the
		// replica that then records the third finding.
		before func(t *testing.T, m *miniredis.Miniredis, a, b *State) *State
		trips  int // of that finding's update
		// delivered is what the scan counts after it.
		delivered int64
	}{
		{"the cache is right", func(*testing.T, *miniredis.Miniredis, *State, *State) *State {
			return nil
		}, 1, 3},
		{"another replica changed the scan", func(t *testing.T, _ *miniredis.Miniredis, a, b *State) *State {
			deliver(t, b, finding("d", "s", "t", "high", 10), t0)
			return nil
		}, 2, 4},
		{"never read by this replica", func(t *testing.T, m *miniredis.Miniredis, a, b *State) *State {
			return replicaOn(t, m, "a", t0) // restarted: its cache is empty
		}, 2, 3},
		{"expired in Redis", func(t *testing.T, m *miniredis.Miniredis, a, b *State) *State {
			m.FastForward(a.backend.(*redisBackend).scanTTL() + time.Second)
			return nil
		}, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := miniredis.RunT(t)
			trips := &readCounter{}
			a := redisState(t, m, testConfig(), "a", trips)
			b := redisState(t, m, testConfig(), "b")
			deliver(t, a, started("d", "s"), t0)
			deliver(t, a, finding("d", "s", "t", "high", 1), t0)
			deliver(t, a, finding("d", "s", "t", "high", 2), t0)
			s := a
			if again := tc.before(t, m, a, b); again != nil {
				s = again
			}
			body := finding("d", "s", "t", "high", 3)
			d, err := s.Claim(context.Background(), KeyOf([]byte(body)), t0)
			require.NoError(t, err)
			e, err := message.Parse([]byte(body))
			require.NoError(t, err)
			trips.take()
			require.NoError(t, s.Record(context.Background(), &d, &e, t0))
			if s == a {
				got, _ := trips.take()
				assert.Equal(t, tc.trips, got, "round trips of the update")
			}
			require.NoError(t, s.Settle(context.Background(), &d, true, t0))
			assert.Equal(t, tc.delivered, redisScanRecord(t, m, scanKey("d", "s")).Delivered)
		})
	}
}

// A replica whose claim was taken over (its lease ran out) has nothing of
// its step applied: ErrClaimLost, in the one round trip.
func TestARecordWithALostClaimAppliesNothing(t *testing.T) {
	m := miniredis.RunT(t)
	a, b := redisState(t, m, testConfig(), "a"), redisState(t, m, testConfig(), "b")
	deliver(t, a, started("d", "s"), t0)
	body := finding("d", "s", "t", "high", 1)
	d, err := a.Claim(context.Background(), KeyOf([]byte(body)), t0)
	require.NoError(t, err)
	later := t0.Add(claimLease + time.Second)
	taken, err := b.Claim(context.Background(), KeyOf([]byte(body)), later)
	require.NoError(t, err)
	require.Equal(t, ClaimNew, taken.Status, "taken over")

	e, err := message.Parse([]byte(body))
	require.NoError(t, err)
	assert.ErrorIs(t, a.Record(context.Background(), &d, &e, t0), ErrClaimLost)
	assert.Zero(t, redisScanRecord(t, m, scanKey("d", "s")).Delivered, "not counted in the scan")
	counts, err := m.HKeys("detectify/{detectify}counts:a")
	require.NoError(t, err)
	for _, field := range counts {
		assert.False(t, strings.Contains(field, "findings"), "not counted for the domain: %q", field)
	}
}

// The cache keeps max_open_scans + max_domains + margins values (for
// keys read absent, and for the fields of scans' findings), and
// cacheMaxBytes of them, forgetting the least recently used first.
func TestTheCacheStaysWithinItsBound(t *testing.T) {
	cfg := Config{MaxOpenScans: 10, MaxDomains: 5}
	limit := cfg.MaxOpenScans + cfg.MaxDomains + cacheMargin + cacheFields
	for _, tc := range []struct {
		name    string
		n, size int // values stored, and the size of each
		entries int // kept after
	}{
		{"few", 10, 10, 10},
		{"by number", 3 * limit, 10, limit},
		{"by size", 20, cacheMaxBytes / 8, 7},
		{"one too big", 1, cacheMaxBytes + 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newValueCache(cfg)
			value := strings.Repeat("x", tc.size)
			for i := range tc.n {
				c.get("0") // used before each store: kept
				c.store(fmt.Sprint(i), cached{raw: value, found: true})
			}
			entries, bytes := c.len()
			assert.Equal(t, tc.entries, entries)
			assert.LessOrEqual(t, bytes, cacheMaxBytes)
			if tc.entries > 0 {
				assert.True(t, c.get(fmt.Sprint(tc.n-1)).found, "the newest kept")
			}
			if tc.entries > 1 && tc.entries < tc.n {
				assert.True(t, c.get("0").found, "the recently used kept")
				assert.False(t, c.get("1").found, "the least recently used forgotten")
			}
		})
	}
}

// A replica's cache stays within its bound however many scans pass it
// (a bound of 10 here, for a short test), and a value it forgot costs a
// retry, not a wrong count.
func TestAReplicasCacheStaysWithinItsBound(t *testing.T) {
	m := miniredis.RunT(t)
	s := redisState(t, m, testConfig(), "a")
	cache := s.backend.(*redisBackend).cache
	cache.maxEntries = 10
	for i := range 30 {
		deliver(t, s, started(fmt.Sprintf("d%d", i%7), fmt.Sprint(i)), t0)
	}
	entries, _ := cache.len()
	assert.Equal(t, 10, entries)
	deliver(t, s, finding("d0", "0", "t", "high", 1), t0)
	assert.Equal(t, int64(1), redisScanRecord(t, m, scanKey("d0", "0")).Delivered)
}
