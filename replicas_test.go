package detectifyreceiver

import (
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// withRedis makes a receiver a replica named replica on the Redis at addr
// (an in-process fake here; the end-to-end tests run redis-server).
func withRedis(addr, replica string) func(*Config) {
	return func(cfg *Config) {
		cfg.SharedState.Redis = &RedisConfig{Endpoint: addr, ReplicaID: replica}
	}
}

// A redelivery that lands on the other replica is a duplicate there: one
// record between them, one count.
func TestReplicasDeduplicateBetweenThem(t *testing.T) {
	m := miniredis.RunT(t)
	a, b := newHarness(t, withRedis(m.Addr(), "a")), newHarness(t, withRedis(m.Addr(), "b"))
	assert.Equal(t, answerText(answerAccepted), a.post(seedFinding).body)
	assert.Equal(t, answerText(answerDuplicate), b.post(seedFinding).body)
	assert.Len(t, a.logs.records(), 1)
	assert.Empty(t, b.logs.records())
	assert.Equal(t, int64(1), a.countedWebhooks(t)+b.countedWebhooks(t))
}

// A scan started on one replica and finished on the other still has its
// duration and what Detectify withheld; every replica exports its gauges.
func TestAScanStartedOnOneReplicaFinishedOnAnother(t *testing.T) {
	m := miniredis.RunT(t)
	a, b := newHarness(t, withRedis(m.Addr(), "a")), newHarness(t, withRedis(m.Addr(), "b"))
	a.postOK(seedScanStarted)
	b.postOK(seedFinding)
	b.setNow(testNow.Add(20 * time.Minute))
	b.postOK(seedScanFinished)
	attrs := recordAttributes(b.logs.records()[1])
	assert.Equal(t, int64(1), attrs["detectify.scan.findings.delivered"])
	assert.Equal(t, int64(2), attrs["detectify.scan.findings.undelivered"])
	assert.Equal(t, 1200.0, attrs["detectify.scan.duration"])

	a.interval()
	assert.Equal(t, 2.0, a.metrics.current(t)["detectify.scan.findings.undelivered{detectify.domain=my.domain}"],
		"the replica that did not see the finish exports it too")
}

// While Redis is unreachable a webhook is answered 503 + Retry-After (never
// accepted without its bookkeeping) and the health path says unhealthy;
// both recover by themselves.
func TestRedisUnavailable(t *testing.T) {
	m := miniredis.RunT(t)
	h := newHarness(t, withRedis(m.Addr(), "a"))
	health := func() int {
		req, err := http.NewRequest(http.MethodGet, h.baseURL+h.cfg.HealthPath, http.NoBody)
		require.NoError(t, err)
		return h.do(req).status
	}
	require.Equal(t, http.StatusOK, health())

	m.Close()
	resp := h.post(seedFinding)
	assert.Equal(t, http.StatusServiceUnavailable, resp.status)
	assert.Equal(t, "1", resp.header.Get("Retry-After"))
	assert.Equal(t, answerText(answerStateDown), resp.body)
	assert.Empty(t, h.logs.records(), "not emitted without its bookkeeping")
	assert.Equal(t, http.StatusServiceUnavailable, health())
	assert.EqualValues(t, 1, h.telemetryTotal("otelcol_receiver_detectify_redis_errors"), "the one webhook answered 503")

	require.NoError(t, m.Restart())
	assert.Equal(t, http.StatusOK, health())
	h.postOK(seedFinding)
	assert.Len(t, h.logs.records(), 1)
	assert.EqualValues(t, 1, h.telemetryTotal("otelcol_receiver_detectify_redis_errors"),
		"health checks, and round trips go-redis handles itself (NOSCRIPT), are not failures")
	latency, err := h.tel.GetMetric("otelcol_receiver_detectify_redis_latency")
	require.NoError(t, err)
	var points uint64
	for _, dp := range latency.Data.(metricdata.Histogram[float64]).DataPoints {
		points += dp.Count
	}
	assert.Positive(t, points, "round trips are timed")
}

// A replica that restarts continues its counters from Redis, with their
// start time.
func TestAReplicaRestartContinuesItsCounters(t *testing.T) {
	m := miniredis.RunT(t)
	before := newHarness(t, withRedis(m.Addr(), "a"))
	before.postOK(seedFinding)
	before.shutdown()
	after := newHarnessAt(t, componenttest.NewNopHost(), testNow.Add(time.Hour), withRedis(m.Addr(), "a"))
	require.Eventually(t, func() bool { return len(after.metrics.emissions()) > 0 }, 10*time.Second, time.Millisecond)
	assert.Equal(t, 1.0, after.metrics.current(t)[highFindings])
	assertStartTime(t, after.metrics.emissions()[0], testNow)
}

// stallingProxy forwards TCP to addr until stall is called: from then on
// it holds every byte, as a Redis that stopped answering (a full disk, a
// paused VM) does.
type stallingProxy struct {
	ln      net.Listener
	stalled atomic.Bool
}

func newStallingProxy(t *testing.T, addr string) *stallingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &stallingProxy{ln: ln}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", addr)
			if err != nil {
				_ = client.Close()
				continue
			}
			t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
			go p.pipe(server, client)
			go p.pipe(client, server)
		}
	}()
	return p
}

func (p *stallingProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		for p.stalled.Load() {
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// A Redis that stops answering does not hold webhooks or the health check
// longer than shared_state::redis::timeout (and one retry): both answer 503.
func TestAStalledRedisIsAnsweredWithinTheTimeout(t *testing.T) {
	m := miniredis.RunT(t)
	proxy := newStallingProxy(t, m.Addr())
	h := newHarness(t, func(cfg *Config) {
		withRedis(proxy.ln.Addr().String(), "a")(cfg)
		cfg.SharedState.Redis.Timeout = 200 * time.Millisecond
	})
	h.postOK(seedScanStarted)
	proxy.stalled.Store(true)
	defer proxy.stalled.Store(false)

	start := time.Now()
	resp := h.post(seedFinding)
	assert.Equal(t, http.StatusServiceUnavailable, resp.status)
	assert.Less(t, time.Since(start), 3*time.Second, "bounded by the timeout, not by go-redis's defaults")
	req, err := http.NewRequest(http.MethodGet, h.baseURL+h.cfg.HealthPath, http.NoBody)
	require.NoError(t, err)
	start = time.Now()
	assert.Equal(t, http.StatusServiceUnavailable, h.do(req).status)
	assert.Less(t, time.Since(start), 3*time.Second)
}

// A replica that stops leaves no connection to Redis behind: its state
// owns the client and closes it.
func TestAStoppedReplicaLeavesNoRedisConnection(t *testing.T) {
	m := miniredis.RunT(t)
	h := newHarness(t, withRedis(m.Addr(), "a"))
	h.postOK(seedFinding)
	require.Positive(t, m.CurrentConnectionCount())
	h.shutdown()
	assert.Eventually(t, func() bool { return m.CurrentConnectionCount() == 0 }, 5*time.Second, 10*time.Millisecond)
}
