package state

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/detectify-otel/detectifyreceiver/internal/message"
)

// Round trips to Redis per webhook: a readCounter (redis_domains_test.go)
// on the client counts each command and each pipeline as one.

// tripServers are the Redis servers the round trips are measured on: the
// in-process fake, and redis-server when it is on PATH.
var tripServers = []struct {
	name  string
	start func(tb testing.TB) string // its address
}{
	{"miniredis", func(tb testing.TB) string { return miniredis.RunT(tb).Addr() }},
	{"redis-server", startRedisServer},
}

// startRedisServer runs redis-server on a free loopback port until the
// test ends; the test is skipped without one.
func startRedisServer(tb testing.TB) string {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Skip("redis-server is not on PATH")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	require.NoError(tb, ln.Close())
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--dir", tb.TempDir(), "--logfile", "")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(tb, cmd.Start())
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := "127.0.0.1:" + port
	client := redis.NewClient(&redis.Options{Addr: addr})
	defer client.Close()
	require.Eventually(tb, func() bool { return client.Ping(context.Background()).Err() == nil }, 10*time.Second, 10*time.Millisecond)
	return addr
}

// tripScans are the open scans the measured findings belong to.
const tripScans = 4

// tripState is a replica on the Redis at addr whose scans are open, its
// round trips counted from here on.
func tripState(tb testing.TB, addr, replica string, hooks ...redis.Hook) (*State, *readCounter) {
	tb.Helper()
	return tripStateWith(tb, testConfig(), addr, replica, hooks...)
}

func tripStateWith(tb testing.TB, cfg Config, addr, replica string, hooks ...redis.Hook) (*State, *readCounter) {
	tb.Helper()
	trips := &readCounter{}
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 64})
	client.AddHook(trips)
	for _, h := range hooks {
		client.AddHook(h)
	}
	s, err := NewRedis(context.Background(), cfg, RedisConfig{Client: client, KeyPrefix: "detectify/", Replica: replica}, t0)
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, s.Close(context.Background())) })
	for i := range tripScans { // another replica may have opened them
		if err := webhook(context.Background(), s, started("d", fmt.Sprint(i)), t0); err != nil {
			require.ErrorContains(tb, err, "status")
		}
	}
	// Warm: the scripts loaded, each scan seen twice since.
	for i := range 2 * tripScans {
		body := finding("d", fmt.Sprint(i%tripScans), "warm-"+replica, "high", i)
		require.NoError(tb, webhook(context.Background(), s, body, t0))
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
	d, e, err := claimed(ctx, s, body, now)
	if err != nil {
		return err
	}
	if err := s.Record(ctx, &d, &e, now); err != nil {
		return err
	}
	return s.Settle(ctx, &d, true, now)
}

// claimed claims a body that must be new.
func claimed(ctx context.Context, s *State, body string, now time.Time) (Delivery, message.Event, error) {
	e, err := message.Parse([]byte(body))
	if err != nil {
		return Delivery{}, e, err
	}
	d, err := s.Claim(ctx, KeyOf([]byte(body)), now)
	if err == nil && d.Status != ClaimNew {
		err = fmt.Errorf("status %d", d.Status)
	}
	return d, e, err
}

// In steady state a new finding costs two round trips to claim and record
// (the claim; then the counts and the scan rule in one script) and one to
// settle. A step through WATCH would cost one per key it read.
func TestAWebhookCostsTwoRoundTripsAndItsSettle(t *testing.T) {
	for _, server := range tripServers {
		t.Run(server.name, func(t *testing.T) {
			s, trips := tripState(t, server.start(t), "a")
			ctx := context.Background()
			for i := range 3 * tripScans {
				d, e, err := claimed(ctx, s, tripFinding(i), t0)
				require.NoError(t, err)
				require.NoError(t, s.Record(ctx, &d, &e, t0))
				recorded, _ := trips.take()
				require.NoError(t, s.Settle(ctx, &d, true, t0))
				settled, _ := trips.take()
				assert.Equal(t, 2, recorded, "claim and record of finding %d", i)
				assert.Equal(t, 1, settled, "settle of finding %d", i)
			}
		})
	}
}

// On either server, a replica whose cached scan another replica changed
// costs one retry, and the scan counts both replicas' findings.
func TestAStaleCacheCostsOneRetry(t *testing.T) {
	for _, server := range tripServers {
		t.Run(server.name, func(t *testing.T) {
			addr := server.start(t)
			a, trips := tripState(t, addr, "a")
			b, _ := tripState(t, addr, "b")
			ctx := context.Background()
			require.NoError(t, webhook(ctx, b, tripFinding(tripScans), t0)) // scan 0, behind a's back
			d, e, err := claimed(ctx, a, tripFinding(2*tripScans), t0)      // scan 0 again
			require.NoError(t, err)
			trips.take()
			require.NoError(t, a.Record(ctx, &d, &e, t0))
			got, _ := trips.take()
			assert.Equal(t, 2, got, "the script, then again on what it answered")
			require.NoError(t, a.Settle(ctx, &d, true, t0))
			client := redis.NewClient(&redis.Options{Addr: addr})
			defer client.Close()
			raw, err := client.Get(ctx, "detectify/{detectify}scan:"+scanKey("d", "0")).Result()
			require.NoError(t, err)
			var rec ScanRecord
			require.NoError(t, json.Unmarshal([]byte(raw), &rec))
			// Warm-ups: 2 findings of scan 0 by each replica, then one each.
			assert.Equal(t, int64(6), rec.Delivered)
		})
	}
}

// Three replicas on either server, webhooks at once: findings of open
// scans are each counted once, and new scans past max_open_scans (the
// WATCH path) evict exactly the excess between them.
func TestReplicasAtOnceCountEachOnce(t *testing.T) {
	for _, server := range tripServers {
		t.Run(server.name, func(t *testing.T) {
			addr := server.start(t)
			cfg := testConfig()
			cfg.MaxOpenScans = 10
			var rs []*State
			for _, name := range []string{"a", "b", "c"} {
				s, _ := tripStateWith(t, cfg, addr, name)
				rs = append(rs, s)
			}
			const findings, opened = 90, 30
			// The findings first: an evicted scan would be opened again
			// by a late one.
			atOnce := func(n int, body func(i int) string) {
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() { assert.NoError(t, webhook(context.Background(), rs[i%3], body(i), t0)) })
				}
				wg.Wait()
			}
			atOnce(findings, tripFinding)
			atOnce(opened, func(i int) string { return started(fmt.Sprintf("new%d", i), "s") })
			var total, evicted int64
			for _, s := range rs {
				m, err := s.Metrics(context.Background(), true)
				require.NoError(t, err)
				total += m["d"].Counts.Findings["high"]
				evicted += s.TakeTelemetry().EvictedScans
			}
			assert.Equal(t, int64(findings+3*2*tripScans), total, "with the warm-ups")
			client := redis.NewClient(&redis.Options{Addr: addr})
			defer client.Close()
			open, err := client.ZCard(context.Background(), "detectify/{detectify}open").Result()
			require.NoError(t, err)
			assert.Equal(t, int64(cfg.MaxOpenScans), open)
			assert.Equal(t, int64(tripScans+opened)-open, evicted)
		})
	}
}

// A Redis that forgot the scripts (restarted, SCRIPT FLUSH) is sent them
// again: by the update's EVALSHA, and by each settle of a group.
func TestScriptsForgottenByRedisAreSentAgain(t *testing.T) {
	m := miniredis.RunT(t)
	s, trips := tripState(t, m.Addr(), "a")
	client := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer client.Close()
	require.NoError(t, client.ScriptFlush(context.Background()).Err())
	require.NoError(t, webhook(context.Background(), s, tripFinding(0), t0))
	got, _ := trips.take()
	assert.Equal(t, 6, got, "claim, update and settle: each EVALSHA answered NOSCRIPT, then EVAL")
	require.NoError(t, webhook(context.Background(), s, tripFinding(1), t0))
	got, _ = trips.take()
	assert.Equal(t, 3, got, "loaded again")
}

// gate holds every pipeline, once armed, until it is opened.
type gate struct {
	armed   atomic.Bool
	held    atomic.Int64 // the commands held
	open    chan struct{}
	opening sync.Once
}

func (g *gate) release() { g.opening.Do(func() { close(g.open) }) }

func (g *gate) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (g *gate) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (g *gate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if g.armed.Load() {
			g.held.Add(int64(len(cmds)))
			<-g.open
		}
		return next(ctx, cmds)
	}
}

// waitForOneGroupHeld waits until n scripts are either in the group the
// gate holds or queued behind it.
func waitForOneGroupHeld(t *testing.T, s *State, held *gate, n int) {
	t.Helper()
	q := &s.backend.(*redisBackend).batch
	require.Eventually(t, func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		return int(held.held.Load())+len(q.queued) == n
	}, 10*time.Second, time.Millisecond)
}

// Settles of concurrent requests go out together: while one group is in
// flight the others queue, and the next group takes them all, in one
// round trip. Each request gets its own settle's answer: a claim taken
// over by another replica is ErrClaimLost, the others are settled.
func TestConcurrentSettlesShareARoundTrip(t *testing.T) {
	const n = 16
	m := miniredis.RunT(t)
	held := &gate{open: make(chan struct{})}
	s, trips := tripState(t, m.Addr(), "a", held)
	ctx := context.Background()
	var ds [n]Delivery
	for i := range n {
		var err error
		ds[i], _, err = claimed(ctx, s, tripFinding(i), t0)
		require.NoError(t, err)
	}
	other := redisState(t, m, testConfig(), "b")
	later := t0.Add(claimLease + time.Second)
	_, _, err := claimed(ctx, other, tripFinding(0), later) // takes over the first
	require.NoError(t, err)
	trips.take()

	held.armed.Store(true)
	defer held.release()
	var errs [n]error
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = s.Settle(ctx, &ds[i], true, t0) })
	}
	waitForOneGroupHeld(t, s, held, n)
	held.release()
	wg.Wait()
	got, _ := trips.take()
	assert.LessOrEqual(t, got, 2, "%d settles in two groups at most", n)
	assert.ErrorIs(t, errs[0], ErrClaimLost)
	for i := 1; i < n; i++ {
		require.NoError(t, errs[i])
		d, err := s.Claim(ctx, KeyOf([]byte(tripFinding(i))), t0)
		require.NoError(t, err)
		assert.Equal(t, ClaimDuplicate, d.Status, "settled: a redelivery is a duplicate")
	}
}

// BenchmarkRedisWebhook reports the round trips to Redis a new finding of
// an open scan costs, one webhook at a time and 32×GOMAXPROCS at once.
func BenchmarkRedisWebhook(b *testing.B) {
	for _, server := range tripServers {
		b.Run(server.name+"/sequential", func(b *testing.B) {
			s, trips := tripState(b, server.start(b), "a")
			b.ResetTimer()
			for i := range b.N {
				if err := webhook(context.Background(), s, tripFinding(i), t0); err != nil {
					b.Fatal(err)
				}
			}
			n, _ := trips.take()
			b.ReportMetric(float64(n)/float64(b.N), "roundtrips/op")
		})
		b.Run(server.name+"/concurrent", func(b *testing.B) {
			s, trips := tripState(b, server.start(b), "a")
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
}

// Claims of concurrent requests go out together too, in the same groups
// as the settles: sixteen claims in at most two round trips, each new.
func TestConcurrentClaimsShareARoundTrip(t *testing.T) {
	const n = 16
	m := miniredis.RunT(t)
	held := &gate{open: make(chan struct{})}
	s, trips := tripState(t, m.Addr(), "a", held)
	ctx := context.Background()
	held.armed.Store(true)
	defer held.release()
	var got [n]Delivery
	var errs [n]error
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i], errs[i] = s.Claim(ctx, KeyOf([]byte(tripFinding(i))), t0) })
	}
	waitForOneGroupHeld(t, s, held, n)
	held.release()
	wg.Wait()
	trip, _ := trips.take()
	assert.LessOrEqual(t, trip, 2, "%d claims in two groups at most", n)
	for i := range n {
		require.NoError(t, errs[i])
		assert.Equal(t, ClaimNew, got[i].Status)
	}
}

// A request that gives up while its claim is in flight gets unavailable,
// and its late answer reaches nobody else: the next claims, one at a
// time, each get their own (a delivered body is a duplicate, not the
// abandoned claim's new).
func TestAnAbandonedClaimsAnswerReachesNoOtherClaim(t *testing.T) {
	m := miniredis.RunT(t)
	held := &gate{open: make(chan struct{})}
	s, _ := tripState(t, m.Addr(), "a", held)
	delivered := tripFinding(0)
	require.NoError(t, webhook(context.Background(), s, delivered, t0))

	held.armed.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	abandoned := make(chan error, 1)
	go func() {
		_, err := s.Claim(ctx, KeyOf([]byte(tripFinding(1))), t0)
		abandoned <- err
	}()
	require.Eventually(t, func() bool { return held.held.Load() == 1 }, 10*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-abandoned, ErrUnavailable)
	held.armed.Store(false)
	held.release()

	for range 8 {
		d, err := s.Claim(context.Background(), KeyOf([]byte(delivered)), t0)
		require.NoError(t, err)
		require.Equal(t, ClaimDuplicate, d.Status)
	}
}

// BenchmarkRedisRedelivery measures what a redelivery costs this process
// (CPU per claim answered duplicate, from getrusage) and in round trips,
// with 32 claims at once per GOMAXPROCS: what `dedup_window` on costs with
// Redis in the macro benchmark, whose signed mix is all redeliveries after
// its first 32 bodies.
func BenchmarkRedisRedelivery(b *testing.B) {
	for _, server := range tripServers {
		b.Run(server.name, func(b *testing.B) {
			s, trips := tripState(b, server.start(b), "a")
			ctx := context.Background()
			const bodies = 32
			keys := make([]Key, bodies)
			for i := range keys {
				body := tripFinding(i)
				require.NoError(b, webhook(ctx, s, body, t0))
				keys[i] = KeyOf([]byte(body))
			}
			trips.take()
			var next atomic.Int64
			b.SetParallelism(32)
			before := cpuTime(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					d, err := s.Claim(ctx, keys[next.Add(1)%bodies], t0)
					if err != nil || d.Status != ClaimDuplicate {
						b.Errorf("a redelivery: status %d, %v", d.Status, err)
						return
					}
				}
			})
			b.StopTimer()
			n, _ := trips.take()
			b.ReportMetric(float64(n)/float64(b.N), "roundtrips/op")
			b.ReportMetric(float64(cpuTime(b)-before)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	require.NoError(tb, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
