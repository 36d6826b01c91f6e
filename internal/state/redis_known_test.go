package state

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A redelivery of what a replica settled, or learnt was settled, is
// answered without a round trip; past dedup_window Redis is asked again.
func TestAKnownDeliveryCostsNoRoundTrip(t *testing.T) {
	for _, server := range tripServers {
		t.Run(server.name, func(t *testing.T) {
			addr := server.start(t)
			a, tripsA := tripState(t, addr, "a")
			b, tripsB := tripState(t, addr, "b")
			ctx := context.Background()
			body := tripFinding(1000)
			require.NoError(t, webhook(ctx, a, body, t0))
			tripsA.take()

			claimOn := func(s *State, at time.Time) ClaimStatus {
				d, err := s.Claim(ctx, KeyOf([]byte(body)), at)
				require.NoError(t, err)
				return d.Status
			}
			assert.Equal(t, ClaimDuplicate, claimOn(a, t0.Add(time.Minute)))
			trips, _ := tripsA.take()
			assert.Zero(t, trips, "the replica that settled it")

			assert.Equal(t, ClaimDuplicate, claimOn(b, t0.Add(time.Minute)))
			trips, _ = tripsB.take()
			assert.Equal(t, 1, trips, "another replica asks Redis once")
			assert.Equal(t, ClaimDuplicate, claimOn(b, t0.Add(2*time.Minute)))
			trips, _ = tripsB.take()
			assert.Zero(t, trips, "then knows")

			late := t0.Add(testConfig().DedupWindow + time.Minute)
			assert.Equal(t, ClaimNew, claimOn(a, late), "past the window it is new again")
			trips, _ = tripsA.take()
			assert.Equal(t, 1, trips)
		})
	}
}

func TestKnownDeliveriesAreBounded(t *testing.T) {
	cfg := testConfig()
	cfg.DedupMaxEntries = 3
	k := newKnownDeliveries(cfg)
	for i := range 10 {
		k.remember(KeyOf([]byte{byte(i)}), t0.Add(time.Duration(i)*time.Second))
	}
	assert.Equal(t, 3, k.settled.len())
	assert.True(t, k.delivered(KeyOf([]byte{9}), t0.Add(time.Minute)), "the newest are kept")
	assert.False(t, k.delivered(KeyOf([]byte{0}), t0.Add(time.Minute)))
	k.expire(t0.Add(cfg.DedupWindow + time.Hour))
	assert.Zero(t, k.settled.len(), "and forgotten past the window")
}
