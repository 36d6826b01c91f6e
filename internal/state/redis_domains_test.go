package state

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readCounter counts a client's round trips and the values their replies
// carried: the members of a range or a set, the values of an MGET.
type readCounter struct {
	mu            sync.Mutex
	trips, values int
}

func (c *readCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *readCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		c.add(cmd)
		return err
	}
}

func (c *readCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		c.add(cmds...)
		return err
	}
}

func (c *readCounter) add(cmds ...redis.Cmder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trips++
	for _, cmd := range cmds {
		switch cmd := cmd.(type) {
		case *redis.SliceCmd:
			c.values += len(cmd.Val())
		case *redis.StringSliceCmd:
			c.values += len(cmd.Val())
		}
	}
}

func (c *readCounter) take() (trips, values int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	trips, values = c.trips, c.values
	c.trips, c.values = 0, 0
	return trips, values
}

// legacyDomains writes what a version before the index left in Redis: the
// set of every domain name and each domain's record, updated at updated[i].
func legacyDomains(t *testing.T, m *miniredis.Miniredis, prefix string, updated map[string]time.Time) {
	t.Helper()
	for name, at := range updated {
		raw, err := json.Marshal(DomainRecord{LastScan: &LastScan{Counts: map[string]int64{"critical": 1}}, Updated: at})
		require.NoError(t, err)
		require.NoError(t, m.Set(prefix+"{detectify}domain:"+name, string(raw)))
		_, err = m.SAdd(prefix+"{detectify}domains", name)
		require.NoError(t, err)
	}
}

func redisState(t *testing.T, m *miniredis.Miniredis, cfg Config, replica string, hooks ...redis.Hook) *State {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	for _, h := range hooks {
		client.AddHook(h)
	}
	s, err := NewRedis(context.Background(), cfg, RedisConfig{Client: client, KeyPrefix: "detectify/", Replica: replica}, t0)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close(context.Background())) })
	return s
}

func domainsWithRecords(t *testing.T, s *State) []string {
	t.Helper()
	m, err := s.Metrics(context.Background(), true)
	require.NoError(t, err)
	var out []string
	for name, d := range m {
		if d.Scans != nil {
			out = append(out, name)
		}
	}
	return out
}

// The set of domains an earlier version kept is moved, once, into the
// index by update time, bounded by max_domains, and deleted. A domain an
// upgraded replica updated since keeps its newer place; one whose record
// expired is left out.
func TestTheDomainSetOfEarlierVersionsIsMigrated(t *testing.T) {
	m := miniredis.RunT(t)
	updated := map[string]time.Time{}
	for i := range 5 {
		updated[fmt.Sprintf("d%d", i)] = t0.Add(time.Duration(i) * time.Minute)
	}
	legacyDomains(t, m, "detectify/", updated)
	_, err := m.SAdd("detectify/{detectify}domains", "expired")
	require.NoError(t, err)
	_, err = m.ZAdd("detectify/{detectify}domains:updated", float64(t0.Add(10*time.Minute).UnixMilli()), "d0")
	require.NoError(t, err)

	cfg := testConfig()
	cfg.MaxDomains = 3
	s := redisState(t, m, cfg, "a")
	assert.False(t, m.Exists("detectify/{detectify}domains"), "the earlier set is deleted")
	index, err := m.ZMembers("detectify/{detectify}domains:updated")
	require.NoError(t, err)
	assert.Equal(t, []string{"d3", "d4", "d0"}, index, "the newest three, oldest first")
	assert.ElementsMatch(t, []string{"d0", "d3", "d4"}, domainsWithRecords(t, s))
	assert.Equal(t, &LastScan{Counts: map[string]int64{"critical": 1}}, domainRecord(t, s, "d3").LastScan, "the records as they were")

	again := redisState(t, m, cfg, "b") // a second start finds nothing to move
	assert.ElementsMatch(t, []string{"d0", "d3", "d4"}, domainsWithRecords(t, again))
}

// Every update trims the index to max_domains, as the memory backend keeps
// no more records than that.
func TestTheRedisDomainIndexStaysWithinMaxDomains(t *testing.T) {
	m := miniredis.RunT(t)
	cfg := testConfig()
	cfg.MaxDomains = 10
	s := redisState(t, m, cfg, "a")
	for i := range 25 {
		deliver(t, s, started(fmt.Sprintf("d%02d", i), "s"), t0.Add(time.Duration(i)*time.Second))
	}
	index, err := m.ZMembers("detectify/{detectify}domains:updated")
	require.NoError(t, err)
	assert.Len(t, index, cfg.MaxDomains)
	assert.Equal(t, "d24", index[len(index)-1])
}

// With 10,000 domains in Redis (left by replicas with a larger
// max_domains), a replica reads the newest max_domains of them each
// metrics_interval, not all: two round trips and 2×max_domains values
// (the names, then their records).
func TestTheDomainReadIsBoundedByMaxDomains(t *testing.T) {
	m := miniredis.RunT(t)
	const domains = 10_000
	updated := make(map[string]time.Time, domains)
	for i := range domains {
		updated[fmt.Sprintf("d%05d", i)] = t0.Add(time.Duration(i) * time.Second)
	}
	legacyDomains(t, m, "detectify/", updated)
	big := testConfig()
	big.MaxDomains = domains
	redisState(t, m, big, "big") // moves the earlier set into the index
	index, err := m.ZMembers("detectify/{detectify}domains:updated")
	require.NoError(t, err)
	require.Len(t, index, domains)

	cfg := testConfig()
	cfg.MaxDomains = 100
	reads := &readCounter{}
	s := redisState(t, m, cfg, "small", reads)
	reads.take()
	got := domainsWithRecords(t, s)
	trips, values := reads.take()
	t.Logf("metrics_interval read with %d domains and max_domains %d: %d round trips, %d values", domains, cfg.MaxDomains, trips, values)
	assert.LessOrEqual(t, trips, 2)
	assert.LessOrEqual(t, values, 2*cfg.MaxDomains)
	require.Len(t, got, cfg.MaxDomains)
	for i := domains - cfg.MaxDomains; i < domains; i++ {
		assert.Contains(t, got, fmt.Sprintf("d%05d", i), "the newest kept")
	}
}
