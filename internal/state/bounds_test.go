package state

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every map of the memory state, and every queue that orders one, stays
// within its bound however many bodies, scans and domains go by; the
// queues between maintenances too, though a scan or a domain re-added
// leaves a stale entry each time.
func TestMemoryStateStaysWithinItsBounds(t *testing.T) {
	cfg := testConfig()
	cfg.DedupMaxEntries, cfg.MaxOpenScans, cfg.MaxDomains = 100, 10, 20
	s := NewMemory(cfg, t0)
	b := s.backend.(*memoryBackend)
	for round := range 4 {
		for i := range 1000 {
			n := round*1000 + i
			domain, scan := fmt.Sprintf("d%d", n%50), fmt.Sprintf("s%d", n%40)
			body := finding(domain, scan, fmt.Sprintf("t%d", n), "high", n)
			switch n % 4 {
			case 0:
				body = started(domain, scan)
			case 3:
				body = finished(domain, scan, 1, 0, 0)
			}
			deliver(t, s, body, t0)
			if i%100 == 99 {
				assertQueuesBounded(t, b, fmt.Sprintf("after %d webhooks", n+1))
			}
		}
		require.NoError(t, s.Maintain(context.Background(), t0))

		b.mu.Lock()
		assert.LessOrEqual(t, len(b.claims)+b.settled.len(), cfg.DedupMaxEntries, "claims")
		assert.LessOrEqual(t, b.openCount, cfg.MaxOpenScans, "open scans")
		assert.LessOrEqual(t, len(b.scans)-b.openCount, cfg.MaxOpenScans, "closed scans")
		assert.LessOrEqual(t, len(b.domains), cfg.MaxDomains, "domain records")
		b.mu.Unlock()
		assertQueuesBounded(t, b, fmt.Sprintf("after round %d", round))
	}
}

// The queues stay bounded between maintenances when nothing is evicted
// either: a few domains, well within max_domains, whose scans start and
// finish again and again (the macro benchmark's mix), re-add a domain and a
// scan on every message.
func TestMemoryQueuesStayBoundedWithinTheBounds(t *testing.T) {
	s := NewMemory(testConfig(), t0)
	b := s.backend.(*memoryBackend)
	for n := range 4000 {
		domain, scan := fmt.Sprintf("d%d", n%5), fmt.Sprintf("s%d", n%15)
		switch n % 3 {
		case 0:
			deliver(t, s, started(domain, scan), t0)
		case 1:
			deliver(t, s, finding(domain, scan, fmt.Sprintf("t%d", n), "high", n), t0)
		case 2:
			deliver(t, s, finished(domain, scan, 1, 0, n), t0)
		}
		if n%100 == 99 {
			assertQueuesBounded(t, b, fmt.Sprintf("after %d webhooks", n+1))
		}
	}
}

// assertQueuesBounded checks that each queue of b lists at most twice its
// live entries plus compact's slack, and the entries of the last push
// (the one just added, the one it made stale).
func assertQueuesBounded(t *testing.T, b *memoryBackend, when string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for name, q := range map[string]struct{ items, live int }{
		"claim order":   {len(b.claimOrder.items) - b.claimOrder.head, len(b.claims)},
		"settled order": {len(b.settled.keys[b.settled.head:]), b.settled.len()},
		"open order":    {len(b.openOrder.items) - b.openOrder.head, b.openCount},
		"closed order":  {len(b.closedOrder.items) - b.closedOrder.head, len(b.scans) - b.openCount},
		"domain order":  {len(b.domainOrder.items) - b.domainOrder.head, len(b.domains)},
	} {
		assert.LessOrEqual(t, q.items, 2*q.live+64+2, "%s %s", name, when)
	}
}

// A domain lists at most maxOpenPerDomain open scans, and a scan counts at
// most maxTitlesPerScan titles: a title first seen past that bound is not
// counted, so it never reaches the per-type limit.
func TestARecordsListsAreBounded(t *testing.T) {
	forEachBackend(t, testConfig(), func(t *testing.T, s *State) {
		for i := range maxOpenPerDomain + 4 {
			deliver(t, s, started("d", fmt.Sprintf("s%d", i)), t0)
		}
		open := domainRecord(t, s, "d").Open
		assert.Len(t, open, maxOpenPerDomain)
		assert.Equal(t, scanKey("d", fmt.Sprintf("s%d", maxOpenPerDomain+3)), open[len(open)-1], "the newest kept")

		n := 0
		for i := range maxTitlesPerScan {
			deliver(t, s, finding("d", "s0", fmt.Sprintf("title %d", i), "high", n), t0)
			n++
		}
		for range perTypeLimit {
			deliver(t, s, finding("d", "s0", "late", "high", n), t0)
			n++
		}
		got := deliver(t, s, finished("d", "s0", n, 0, 0), t0).Insight
		assert.Contains(t, got.LimitReached, LimitPerScan)
		assert.NotContains(t, got.LimitedTitles, "late")
	})
}

// A queue whose oldest entry stays live (a quiet domain) drops the stale
// entries behind it (a busy domain's earlier updates).
func TestMemoryQueuesDropWhatTheyNoLongerList(t *testing.T) {
	s := NewMemory(testConfig(), t0)
	b := s.backend.(*memoryBackend)
	deliver(t, s, started("quiet", "s"), t0)
	for i := range 1000 {
		deliver(t, s, started("busy", fmt.Sprintf("s%d", i)), t0)
		deliver(t, s, finished("busy", fmt.Sprintf("s%d", i), 0, 0, 0), t0)
	}
	require.NoError(t, s.Maintain(context.Background(), t0))

	b.mu.Lock()
	defer b.mu.Unlock()
	assert.LessOrEqual(t, len(b.domainOrder.items)-b.domainOrder.head, 2*len(b.domains)+64)
}

// Past max_domains, the domain records kept (and exported) are the most
// recently updated, on every backend.
func TestTheDomainBoundKeepsTheMostRecentlyUpdated(t *testing.T) {
	cfg := testConfig()
	cfg.MaxDomains = 3
	forEachBackend(t, cfg, func(t *testing.T, s *State) {
		deliver(t, s, started("a", "s1"), t0)
		deliver(t, s, started("b", "s1"), t0.Add(time.Minute))
		deliver(t, s, started("c", "s1"), t0.Add(2*time.Minute))
		deliver(t, s, started("a", "s2"), t0.Add(3*time.Minute)) // a updated again
		deliver(t, s, started("d", "s1"), t0.Add(4*time.Minute))
		m, err := s.Metrics(context.Background(), true)
		require.NoError(t, err)
		var kept []string
		for name, d := range m {
			if d.Scans != nil {
				kept = append(kept, name)
			}
		}
		assert.ElementsMatch(t, []string{"a", "c", "d"}, kept, "b, the least recently updated, is not")
	})
}
