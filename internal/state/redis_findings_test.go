package state

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// updateBytes sums the arguments of the update scripts a client sends.
type updateBytes struct{ n atomic.Int64 }

func (u *updateBytes) DialHook(next redis.DialHook) redis.DialHook { return next }
func (u *updateBytes) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		args := cmd.Args()
		if len(args) > 1 && fmt.Sprint(args[1]) == updateScript.Hash() {
			for _, a := range args {
				u.n.Add(int64(len(fmt.Sprint(a))))
			}
		}
		return next(ctx, cmd)
	}
}
func (u *updateBytes) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// A finding's update sends its own title and key, not every one its scan
// has: the 100th finding's script is the size of the 2nd's.
func TestARedisFindingsUpdateDoesNotGrowWithItsScan(t *testing.T) {
	m := miniredis.RunT(t)
	sent := &updateBytes{}
	s := redisState(t, m, testConfig(), "a", sent)
	deliver(t, s, started("d", "s"), t0)
	size := make([]int64, 101)
	for i := 1; i <= 100; i++ {
		before := sent.n.Load()
		deliver(t, s, finding("d", "s", fmt.Sprintf("Title %03d", i%40), "high", i), t0)
		size[i] = sent.n.Load() - before
	}
	assert.LessOrEqual(t, size[100], size[2]+64, "only the counts' digits grow (the record is sent twice: as read and as written)")
}

// A scan an earlier version wrote keeps its findings in its record: they
// count on (the tenth message of a type reaches the limit), move to the
// hashes, and the record no longer holds them.
func TestARedisScanOfAnEarlierVersionKeepsItsFindings(t *testing.T) {
	m := miniredis.RunT(t)
	s := redisState(t, m, testConfig(), "a")
	deliver(t, s, started("d", "s"), t0)
	key := "detectify/{detectify}scan:" + scanKey("d", "s")
	legacy := fmt.Sprintf(`{"domain":"d","first_seen":%q,"started":%q,"delivered":9,"by_level":{"high":9},`+
		`"by_title":{"XSS":%d,"SQLi":1},"seen":["id:f1","id:f2"]}`, t0.Format(time.RFC3339Nano), t0.Format(time.RFC3339Nano), perTypeLimit-1)
	require.NoError(t, m.Set(key, legacy))
	other := redisState(t, m, testConfig(), "b") // its cache has not seen the scan

	got := deliver(t, other, finding("d", "s", "XSS", "high", 3), t0).Insight
	assert.Equal(t, []string{LimitPerType}, got.LimitReached)

	raw, err := m.Get(key)
	require.NoError(t, err)
	var v redisScanValue
	require.NoError(t, json.Unmarshal([]byte(raw), &v))
	assert.Equal(t, ScanFindings{}, v.ScanFindings, "the record no longer holds them")
	assert.Equal(t, 2, v.Titles)
	assert.Equal(t, 3, v.SeenN)
	assert.Equal(t, "10", m.HGet("detectify/{detectify}scan-titles:"+scanKey("d", "s"), "XSS"))
	assert.Equal(t, "1", m.HGet("detectify/{detectify}scan-titles:"+scanKey("d", "s"), "SQLi"))
	seen, err := m.HKeys("detectify/{detectify}scan-seen:" + scanKey("d", "s"))
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"id:f1", "id:f2", "id:f3"}, seen)
	assert.Equal(t, []string{"XSS"}, deliver(t, other, finished("d", "s", 0, 0, 0), t0.Add(time.Hour)).Insight.LimitedTitles)
}

// A scan's hashes expire with its record: those it writes when it writes
// them, the delivered findings a backfill needs when the scan finishes.
func TestARedisScansHashesExpireWithItsRecord(t *testing.T) {
	cfg := testConfig()
	cfg.Backfill = BackfillAlways
	m := miniredis.RunT(t)
	s := redisState(t, m, cfg, "a")
	ttl := s.backend.(*redisBackend).scanTTL()
	titles := "detectify/{detectify}scan-titles:" + scanKey("d", "s")
	seen := "detectify/{detectify}scan-seen:" + scanKey("d", "s")
	deliver(t, s, started("d", "s"), t0)
	deliver(t, s, finding("d", "s", "XSS", "high", 1), t0)
	assert.Equal(t, ttl, m.TTL(titles))
	assert.Equal(t, ttl, m.TTL(seen))

	m.FastForward(time.Hour)
	require.True(t, deliver(t, s, finished("d", "s", 0, 0, 0), t0.Add(time.Hour)).Insight.BackfillQueued)
	assert.False(t, m.Exists(titles), "a finished scan's titles are forgotten")
	assert.Equal(t, ttl, m.TTL(seen), "kept for the backfill as long as the finished scan")
	m.FastForward(ttl + time.Second)
	assert.False(t, m.Exists(seen))
	assert.False(t, m.Exists("detectify/{detectify}scan:"+scanKey("d", "s")))
}
