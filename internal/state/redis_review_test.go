package state

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/detectify-otel/detectifyreceiver/internal/message"
)

// replyDropper loses the reply of the next command that carries marker once
// armed: Redis runs the command, the client sees its connection close (as on
// a timeout or a network blip), and go-redis sends it again.
type replyDropper struct {
	marker []byte
	armed  atomic.Bool
	hits   atomic.Int32
}

type dropConn struct {
	net.Conn
	d    *replyDropper
	mu   sync.Mutex
	drop bool
}

func (c *dropConn) Write(p []byte) (int, error) {
	if bytes.Contains(p, c.d.marker) && c.d.armed.CompareAndSwap(true, false) {
		c.mu.Lock()
		c.drop = true
		c.mu.Unlock()
		c.d.hits.Add(1)
	}
	return c.Conn.Write(p)
}

func (c *dropConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	drop := c.drop
	c.mu.Unlock()
	if drop {
		// Redis runs everything sent before the end of the stream: end it,
		// then read the replies until Redis closes. Closing with a reply
		// unread would reset the connection, and a reset can discard
		// commands Redis had not read yet (miniredis, 1 run in 40).
		if tcp, ok := c.Conn.(*net.TCPConn); ok {
			_ = tcp.CloseWrite()
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.Copy(io.Discard, c.Conn)
		_ = c.Close()
		return 0, io.EOF
	}
	return c.Conn.Read(p)
}

func (d *replyDropper) dialer(addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var nd net.Dialer
		conn, err := nd.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &dropConn{Conn: conn, d: d}, nil
	}
}

// A client that retries (the receiver's does, once) sends the update
// script again when the reply of one Redis applied is lost: it is answered
// as applied, not checked against its own writes and the step run, and
// counted, a second time. With a claim (its hash keeps the step's token)
// and without (dedup off: a key of its own, which expires).
func TestALostReplyOfAnAppliedUpdateIsNotAppliedAgain(t *testing.T) {
	for _, server := range tripServers {
		for _, dedup := range []bool{true, false} {
			name := server.name + "/with a claim"
			if !dedup {
				name = server.name + "/without"
			}
			t.Run(name, func(t *testing.T) {
				addr := server.start(t)
				d := &replyDropper{marker: []byte(updateScript.Hash())}
				client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: 1, Dialer: d.dialer(addr)})
				cfg := testConfig()
				if !dedup {
					cfg.DedupWindow = 0
				}
				s, err := NewRedis(context.Background(), cfg, RedisConfig{Client: client, KeyPrefix: "detectify/", Replica: "a"}, t0)
				require.NoError(t, err)
				t.Cleanup(func() { require.NoError(t, s.Close(context.Background())) })
				ctx := context.Background()
				require.NoError(t, webhookAny(ctx, s, started("d", "s")))
				require.NoError(t, webhookAny(ctx, s, finding("d", "s", "t", "high", 1)))
				d.armed.Store(true)
				require.NoError(t, webhookAny(ctx, s, finding("d", "s", "t", "high", 2)))
				require.Equal(t, int32(1), d.hits.Load(), "the reply was lost once")

				check := redis.NewClient(&redis.Options{Addr: addr})
				defer check.Close()
				raw, err := check.Get(ctx, "detectify/{detectify}scan:"+scanKey("d", "s")).Result()
				require.NoError(t, err)
				assert.Contains(t, raw, `"delivered":2,`, "the second finding counted once in the scan")
				n, err := check.HGet(ctx, "detectify/{detectify}counts:a", countField("d", "findings", "high")).Result()
				require.NoError(t, err)
				assert.Equal(t, "2", n, "and once for the domain")
				assert.Equal(t, int64(2), findingCount(t, s, "d", "high"), "and in the replica's counters")
				steps, err := check.Keys(ctx, "detectify/{detectify}step:*").Result()
				require.NoError(t, err)
				for _, key := range steps {
					ttl, err := check.PTTL(ctx, key).Result()
					require.NoError(t, err)
					assert.Positive(t, ttl, "a step's token expires: %s", key)
					assert.LessOrEqual(t, ttl, claimLease)
				}
			})
		}
	}
}

// webhookAny claims (when dedup is on), records and settles a body.
func webhookAny(ctx context.Context, s *State, body string) error {
	e, err := message.Parse([]byte(body))
	if err != nil {
		return err
	}
	d, err := s.Claim(ctx, KeyOf([]byte(body)), t0)
	if err != nil {
		return err
	}
	if err := s.Record(ctx, &d, &e, t0); err != nil {
		return err
	}
	return s.Settle(ctx, &d, true, t0)
}

// On Redis Cluster (a ClusterClient, which refuses a WATCH of no key), a
// step without a claim that takes the WATCH path applies: a scan start
// with dedup off past max_open_scans, evicting the oldest.
func TestASlowStepWithoutAClaimRunsOnRedisCluster(t *testing.T) {
	m := miniredis.RunT(t)
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{m.Addr()}, MaxRetries: -1})
	cfg := testConfig()
	cfg.DedupWindow = 0
	cfg.MaxOpenScans = 1
	s, err := NewRedis(context.Background(), cfg, RedisConfig{Client: client, KeyPrefix: "detectify/", Replica: "a"}, t0)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close(context.Background())) })
	for _, body := range []string{started("d", "1"), started("d", "2")} {
		require.NoError(t, webhookAny(context.Background(), s, body), "start of %s", body)
	}
	assert.Equal(t, int64(1), s.TakeTelemetry().EvictedScans)
	members, err := m.ZMembers("detectify/{detectify}open")
	require.NoError(t, err)
	assert.Equal(t, []string{scanKey("d", "2")}, members)
}

// A TTL under a millisecond (domain_idle_timeout allows one) is sent as
// 1 ms, as go-redis rounds it: SET ... PX 0 would fail the script after
// the scan's writes were made, half applying every scan start.
func TestASubMillisecondTTLDoesNotFailTheScript(t *testing.T) {
	for _, server := range tripServers {
		t.Run(server.name, func(t *testing.T) {
			addr := server.start(t)
			cfg := testConfig()
			cfg.DomainIdleTimeout = 500 * time.Microsecond
			client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
			s, err := NewRedis(context.Background(), cfg, RedisConfig{Client: client, KeyPrefix: "detectify/", Replica: "a"}, t0)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, s.Close(context.Background())) })
			require.NoError(t, webhookAny(context.Background(), s, started("d", "s")))
			require.NoError(t, webhookAny(context.Background(), s, finding("d", "s", "t", "high", 1)))
		})
	}
}

// Settles still arriving while the state closes (handlers past the drain
// deadline): close does not race the settle queue's WaitGroup (go test
// -race), and a settle after it is ErrUnavailable, never sent.
func TestSettlesDuringCloseDoNotRaceIt(t *testing.T) {
	for range 20 {
		m := miniredis.RunT(t)
		client := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
		s, err := NewRedis(context.Background(), testConfig(), RedisConfig{Client: client, KeyPrefix: "detectify/", Replica: "a"}, t0)
		require.NoError(t, err)
		var ds []Delivery
		for i := range 32 {
			d, _, err := claimed(context.Background(), s, tripFinding(i), t0)
			require.NoError(t, err)
			ds = append(ds, d)
		}
		var wg sync.WaitGroup
		for _, d := range ds[1:] {
			wg.Go(func() { _ = s.Settle(context.Background(), &d, true, t0) })
		}
		require.NoError(t, s.Close(context.Background()))
		wg.Wait()
		assert.ErrorIs(t, s.Settle(context.Background(), &ds[0], true, t0), ErrUnavailable)
	}
}
