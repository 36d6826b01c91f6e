package state

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/detectify-otel/detectifyreceiver/internal/message"
)

// Round trips to Redis per webhook: a readCounter (redis_domains_test.go)
// on the client counts each command and each pipeline as one.

// tripScans are the open scans the measured findings belong to.
const tripScans = 4

// tripState is a replica on m whose scans are open, its round trips
// counted from here on.
func tripState(tb testing.TB, m *miniredis.Miniredis, replica string) (*State, *readCounter) {
	tb.Helper()
	trips := &readCounter{}
	client := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1, PoolSize: 64})
	client.AddHook(trips)
	s, err := NewRedis(context.Background(), testConfig(), RedisConfig{Client: client, KeyPrefix: "detectify/", Replica: replica}, t0)
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, s.Close(context.Background())) })
	for i := range tripScans {
		require.NoError(tb, webhook(context.Background(), s, started("d", fmt.Sprint(i)), t0))
	}
	// Warm: the scripts loaded, each scan seen once since.
	for i := range 2 * tripScans {
		require.NoError(tb, webhook(context.Background(), s, tripFinding(-1-i), t0))
	}
	trips.take()
	return s, trips
}

// tripFinding is the nth new finding, of one of the open scans.
func tripFinding(n int) string {
	return finding("d", fmt.Sprint((n%tripScans+tripScans)%tripScans), fmt.Sprintf("t%d", n%50), "high", n)
}

// webhook is what the handler does with a body whose record is accepted:
// claim, record, settle.
func webhook(ctx context.Context, s *State, body string, now time.Time) error {
	e, err := message.Parse([]byte(body))
	if err != nil {
		return err
	}
	d, err := s.Accept(ctx, KeyOf([]byte(body)), &e, now)
	if err != nil {
		return err
	}
	if d.Status != ClaimNew {
		return fmt.Errorf("status %d", d.Status)
	}
	return s.Settle(ctx, d, true, now)
}

// BenchmarkRedisWebhook reports the round trips to Redis a new finding of
// an open scan costs, one webhook at a time and 32×GOMAXPROCS at once.
func BenchmarkRedisWebhook(b *testing.B) {
	b.Run("sequential", func(b *testing.B) {
		s, trips := tripState(b, miniredis.RunT(b), "a")
		b.ResetTimer()
		for i := range b.N {
			if err := webhook(context.Background(), s, tripFinding(i), t0); err != nil {
				b.Fatal(err)
			}
		}
		n, _ := trips.take()
		b.ReportMetric(float64(n)/float64(b.N), "roundtrips/op")
	})
	b.Run("concurrent", func(b *testing.B) {
		s, trips := tripState(b, miniredis.RunT(b), "a")
		var next atomic.Int64
		b.SetParallelism(32)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := webhook(context.Background(), s, tripFinding(int(next.Add(1))), t0); err != nil {
					b.Error(err)
					return
				}
			}
		})
		n, _ := trips.take()
		b.ReportMetric(float64(n)/float64(b.N), "roundtrips/op")
	})
}
