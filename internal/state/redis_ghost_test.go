package state

import (
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/stretchr/testify/assert"
)

// An open scan whose key expired (no message for scanTTL, stale_scan_after
// off) leaves the open index at the next eviction, and is not counted as
// one (it used to stay for good, "evicted" again by every eviction).
func TestAnExpiredOpenScanLeavesTheOpenIndex(t *testing.T) {
	m := miniredis.RunT(t)
	cfg := testConfig()
	cfg.StaleScanAfter = 0
	cfg.MaxOpenScans = 2
	s := redisState(t, m, cfg, "a")
	deliver(t, s, started("d", "ghost"), t0)
	m.FastForward(s.backend.(*redisBackend).scanTTL() + time.Second)
	for i := range 5 {
		deliver(t, s, started("e", fmt.Sprint(i)), t0.Add(time.Hour))
	}
	members, _ := m.ZMembers("detectify/{detectify}open")
	assert.NotContains(t, members, scanKey("d", "ghost"))
	assert.Equal(t, int64(3), s.TakeTelemetry().EvictedScans, "5 opened past a bound of 2")
}
