package state

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A step whose reply is lost (a client without retries, as after a
// stopped Redis's timeouts) may have been applied: Redis counted it, the
// replica answered 503 and counted nothing, and the retry, found counted,
// adds nothing. The next maintenance raises the replica's counters to
// Redis's, and the retry does not count it again. On the fast way (the
// update script) and through WATCH and EXEC (a scan start past
// max_open_scans).
func TestALostReplysCountReachesTheReplicasCounters(t *testing.T) {
	fast := func(n int) string { return finding("d", "s", "t", "high", n) }
	findings := func(c *DomainCounts) int64 { return c.Findings["high"] }
	watched := func(n int) string { return started("d", fmt.Sprint("s", n)) }
	starts := func(c *DomainCounts) int64 { return c.Scans["started"] }
	for _, path := range []struct {
		name   string
		marker string // of the command whose reply is lost
		body   func(n int) string
		count  func(*DomainCounts) int64
		field  string
	}{
		{"update script", updateScript.Hash(), fast, findings, countField("d", "findings", "high")},
		{"watch", "$4\r\nexec\r\n", watched, starts, countField("d", "scans", "started")},
	} {
		for _, server := range tripServers {
			t.Run(path.name+"/"+server.name, func(t *testing.T) {
				addr := server.start(t)
				d := &replyDropper{marker: []byte(path.marker)}
				client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, Dialer: d.dialer(addr)})
				cfg := testConfig()
				cfg.MaxOpenScans = 1 // a second open scan takes the WATCH path
				s, err := NewRedis(context.Background(), cfg, RedisConfig{Client: client, KeyPrefix: "detectify/", Replica: "a"}, t0)
				require.NoError(t, err)
				t.Cleanup(func() { require.NoError(t, s.Close(context.Background())) })
				ctx := context.Background()
				require.NoError(t, webhookAny(ctx, s, started("d", "s")))
				require.NoError(t, webhookAny(ctx, s, path.body(1)))
				counted := func() int64 {
					m, err := s.Metrics(ctx, true)
					require.NoError(t, err)
					require.NotNil(t, m["d"].Counts)
					return path.count(m["d"].Counts)
				}
				before := counted()

				lost := path.body(2)
				d.armed.Store(true)
				require.ErrorIs(t, webhookAny(ctx, s, lost), ErrUnavailable, "the reply is lost")
				require.Equal(t, int32(1), d.hits.Load())
				check := redis.NewClient(&redis.Options{Addr: addr})
				defer check.Close()
				n, err := check.HGet(ctx, "detectify/{detectify}counts:a", path.field).Int64()
				require.NoError(t, err)
				require.Equal(t, before+1, n, "Redis applied the step")
				require.Equal(t, before, counted(), "the replica did not")

				require.NoError(t, s.Maintain(ctx, t0))
				assert.Equal(t, before+1, counted(), "raised to Redis's count")
				require.NoError(t, webhookAny(ctx, s, lost), "the retry")
				require.NoError(t, s.Maintain(ctx, t0))
				assert.Equal(t, before+1, counted(), "the retry, found counted, counts nothing")
				require.NoError(t, webhookAny(ctx, s, path.body(3)))
				require.NoError(t, s.Maintain(ctx, t0), "no read owed any more")
				assert.Equal(t, before+2, counted())
				assert.Zero(t, s.backend.(*redisBackend).reconcile.owed.Load(), "two reads after the lost reply, then none")
			})
		}
	}
}

// A read of the counters while steps run counts none of them twice: a
// step applied in Redis but not yet counted here would otherwise be in
// what the read raised the counters to, and then counted again.
func TestReadingTheCountersBackWhileStepsRunCountsEachOnce(t *testing.T) {
	const findings = 300
	s, _ := tripState(t, miniredis.RunT(t).Addr(), "a")
	b := s.backend.(*redisBackend)
	before := findingCount(t, s, "d", "high") // the warm-up's
	ctx := context.Background()
	stop := make(chan struct{})
	var reads sync.WaitGroup
	reads.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			b.reconcile.owed.Store(reconcilesAfterDoubt)
			assert.NoError(t, s.Maintain(ctx, t0))
		}
	})
	var steps sync.WaitGroup
	var next atomic.Int64
	for range 8 {
		steps.Go(func() {
			for n := next.Add(1); n <= findings; n = next.Add(1) {
				assert.NoError(t, webhook(ctx, s, finding("d", fmt.Sprint(n%tripScans), "c", "high", int(n)), t0))
			}
		})
	}
	steps.Wait()
	close(stop)
	reads.Wait()
	assert.Equal(t, before+findings, findingCount(t, s, "d", "high"))
}
