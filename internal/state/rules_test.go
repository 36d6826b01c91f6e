package state

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/detectify-otel/detectifyreceiver/internal/message"
)

var t0 = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

func testConfig() Config {
	return Config{DedupWindow: 10 * time.Minute, DedupMaxEntries: 10_000, MaxOpenScans: 100,
		StaleScanAfter: 48 * time.Hour, MaxDomains: 100}
}

// backendCase makes a State on one backend; every rule is tested on each.
type backendCase struct {
	name string
	make func(t *testing.T, cfg Config) *State
}

var backendCases = []backendCase{
	{name: "memory", make: func(_ *testing.T, cfg Config) *State { return NewMemory(cfg, t0) }},
	{name: "memory with storage", make: func(t *testing.T, cfg Config) *State {
		s := NewMemory(cfg, t0)
		ctx, cancel := context.WithCancel(context.Background())
		_, err := s.Persist(ctx, newFakeStorage(), t0)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close(context.Background())); cancel() })
		return s
	}},
	{name: "redis", make: func(t *testing.T, cfg Config) *State {
		m := miniredis.RunT(t)
		client := redis.NewClient(&redis.Options{Addr: m.Addr()})
		s, err := NewRedis(context.Background(), cfg, RedisConfig{Client: client, KeyPrefix: "test/", Replica: "r1"}, t0)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close(context.Background())) })
		// Redis expires keys by its own clock: move it with the test's.
		last := t0
		redisClocks.Store(s, func(now time.Time) {
			if now.After(last) {
				m.FastForward(now.Sub(last))
				last = now
			}
		})
		return s
	}},
}

// redisClocks moves each Redis test backend's clock (a func(time.Time))
// to the time of the next step.
var redisClocks sync.Map

func advance(s *State, now time.Time) {
	if f, ok := redisClocks.Load(s); ok {
		f.(func(time.Time))(now)
	}
}

// forEachBackend runs test on each backend.
func forEachBackend(t *testing.T, cfg Config, test func(t *testing.T, s *State)) {
	for _, b := range backendCases {
		t.Run(b.name, func(t *testing.T) { test(t, b.make(t, cfg)) })
	}
}

// Classic messages, as Detectify sends them.
func started(domain, scan string) string {
	return fmt.Sprintf(`{"type":"event_scan_started","domain":%q,"report_url":"https://detectify.com/report/tok/%s"}`, domain, scan)
}

func finding(domain, scan, title, level string, n int) string {
	return fmt.Sprintf(`{"type":"event_finding_%s","domain":%q,"title":%q,"finding_url":"https://detectify.com/report/tok/%s/f%d"}`,
		level, domain, title, scan, n)
}

func finished(domain, scan string, critical, medium, notice int) string {
	return fmt.Sprintf(`{"type":"event_scan_finished","domain":%q,"report_url":"https://detectify.com/report/tok/%s","critical_findings":%d,"medium_findings":%d,"notice_findings":%d}`,
		domain, scan, critical, medium, notice)
}

// deliver does what the handler does with a body whose record is accepted.
func deliver(t *testing.T, s *State, body string, now time.Time) Delivery {
	t.Helper()
	advance(s, now)
	ctx := context.Background()
	e, err := message.Parse([]byte(body))
	require.NoError(t, err)
	d, err := s.Accept(ctx, KeyOf([]byte(body)), &e, now)
	require.NoError(t, err)
	if d.Status == ClaimNew || d.Status == ClaimCounted {
		require.NoError(t, s.Settle(ctx, &d, true, now))
	}
	require.NoError(t, s.Sync(ctx))
	return d
}

func ptr[T any](v T) *T { return &v }

func domainRecord(t *testing.T, s *State, domain string) DomainRecord {
	t.Helper()
	m, err := s.Metrics(context.Background(), true)
	require.NoError(t, err)
	require.NotNil(t, m[domain].Scans, "no scan record for %s", domain)
	return *m[domain].Scans
}

func findingCount(t *testing.T, s *State, domain, level string) int64 {
	t.Helper()
	m, err := s.Metrics(context.Background(), true)
	require.NoError(t, err)
	require.NotNil(t, m[domain].Counts, "no counts for %s", domain)
	return m[domain].Counts.Findings[level]
}

func TestSeedScanSaysWhatWasWithheld(t *testing.T) {
	forEachBackend(t, testConfig(), func(t *testing.T, s *State) {
		assert.Equal(t, Insight{}, deliver(t, s, started("my.domain", "s1"), t0).Insight)
		assert.Equal(t, Insight{}, deliver(t, s, finding("my.domain", "s1", "CSRF", "high", 1), t0.Add(time.Minute)).Insight)
		assert.Equal(t, []string{scanKey("my.domain", "s1")}, domainRecord(t, s, "my.domain").Open)

		got := deliver(t, s, finished("my.domain", "s1", 1, 2, 4), t0.Add(90*time.Minute)).Insight
		// Reported: critical 1 + medium 2 (the classic summary counts high
		// as critical); delivered: 1.
		assert.Equal(t, Insight{Delivered: ptr[int64](1), Undelivered: ptr[int64](2), Duration: ptr(5400.0)}, got)
		rec := domainRecord(t, s, "my.domain")
		assert.Empty(t, rec.Open)
		assert.Equal(t, &LastScan{Counts: map[string]int64{"critical": 1, "medium": 2, "notice": 4},
			Undelivered: ptr[int64](2), Duration: ptr(5400.0)}, rec.LastScan)
	})
}

func TestPerTypeLimitExactlyAtTen(t *testing.T) {
	forEachBackend(t, testConfig(), func(t *testing.T, s *State) {
		deliver(t, s, started("d", "s"), t0)
		for i := 1; i <= 11; i++ {
			got := deliver(t, s, finding("d", "s", "XSS", "high", i), t0).Insight
			if i == 10 {
				assert.Equal(t, Insight{LimitReached: []string{LimitPerType}, LimitedTitles: []string{"XSS"}}, got, "the 10th")
			} else {
				assert.Equal(t, Insight{}, got, "finding %d", i)
			}
		}
		deliver(t, s, finding("d", "s", "SQLi", "medium", 12), t0)
		got := deliver(t, s, finished("d", "s", 20, 5, 0), t0.Add(time.Hour)).Insight
		assert.Equal(t, ptr[int64](12), got.Delivered)
		assert.Equal(t, ptr[int64](13), got.Undelivered)
		assert.Equal(t, []string{LimitPerType}, got.LimitReached)
		assert.Equal(t, []string{"XSS"}, got.LimitedTitles)
	})
}

func TestPerScanLimitExactlyAtHundred(t *testing.T) {
	forEachBackend(t, testConfig(), func(t *testing.T, s *State) {
		deliver(t, s, started("d", "s"), t0)
		for i := 1; i <= 100; i++ {
			got := deliver(t, s, finding("d", "s", fmt.Sprintf("type %d", i%20), "medium", i), t0).Insight
			if i == 100 {
				assert.Equal(t, []string{LimitPerScan}, got.LimitReached, "the 100th")
			} else {
				assert.Empty(t, got.LimitReached, "finding %d", i)
			}
		}
		got := deliver(t, s, finished("d", "s", 0, 130, 3), t0.Add(time.Hour)).Insight
		assert.Equal(t, ptr[int64](100), got.Delivered)
		assert.Equal(t, ptr[int64](30), got.Undelivered)
		assert.Equal(t, []string{LimitPerScan}, got.LimitReached)
		assert.Empty(t, got.LimitedTitles)
	})
}

func TestScanWhoseStartWasNotSeenIsPartial(t *testing.T) {
	forEachBackend(t, testConfig(), func(t *testing.T, s *State) {
		deliver(t, s, finding("d", "s", "XSS", "high", 1), t0)
		assert.Equal(t, []string{scanKey("d", "s")}, domainRecord(t, s, "d").Open, "a finding opens its scan")
		got := deliver(t, s, finished("d", "s", 5, 0, 0), t0.Add(time.Hour)).Insight
		assert.Equal(t, Insight{Delivered: ptr[int64](1), Partial: true}, got, "no withheld count and no duration: they would be guesses")
		rec := domainRecord(t, s, "d")
		assert.Nil(t, rec.LastScan.Undelivered)
		assert.Nil(t, rec.LastScan.Duration)
		assert.Equal(t, map[string]int64{"critical": 5, "medium": 0, "notice": 0}, rec.LastScan.Counts)

		got = deliver(t, s, finished("d", "never-seen", 1, 0, 0), t0.Add(2*time.Hour)).Insight
		assert.Equal(t, Insight{Delivered: ptr[int64](0), Partial: true}, got)
	})
}

func TestFinishWithoutFindings(t *testing.T) {
	forEachBackend(t, testConfig(), func(t *testing.T, s *State) {
		deliver(t, s, started("d", "s"), t0)
		got := deliver(t, s, finished("d", "s", 0, 3, 1), t0.Add(time.Second)).Insight
		assert.Equal(t, Insight{Delivered: ptr[int64](0), Undelivered: ptr[int64](3), Duration: ptr(1.0)}, got)
	})
}

func TestMessagesWithoutScanIDBelongToTheDomainsOpenScan(t *testing.T) {
	forEachBackend(t, testConfig(), func(t *testing.T, s *State) {
		deliver(t, s, `{"event_type":"scan_started","scan":{"asset":"app.example.com"}}`, t0)
		for i := range 3 {
			body := fmt.Sprintf(`{"event_type":"finding","finding":{"asset":"app.example.com","title":"t%d","severity":"critical"}}`, i)
			deliver(t, s, body, t0)
		}
		got := deliver(t, s, `{"event_type":"scan_completed","scan":{"asset":"app.example.com","critical_level_findings":2,"high_level_findings":2,"medium_level_findings":1,"low_level_findings":9}}`,
			t0.Add(time.Minute)).Insight
		// Reported: critical + high + medium = 5 (low is not sent).
		assert.Equal(t, Insight{Delivered: ptr[int64](3), Undelivered: ptr[int64](2), Duration: ptr(60.0)}, got)
		assert.Empty(t, domainRecord(t, s, "app.example.com").Open)

		// With no open scan, a finding is counted for the domain only.
		before := findingCount(t, s, "app.example.com", "critical")
		assert.Equal(t, Insight{}, deliver(t, s, `{"event_type":"finding","finding":{"asset":"app.example.com","title":"late","severity":"critical"}}`, t0.Add(2*time.Minute)).Insight)
		assert.Equal(t, before+1, findingCount(t, s, "app.example.com", "critical"))
		assert.Empty(t, domainRecord(t, s, "app.example.com").Open)
	})
}

func TestFindingForAFinishedScanDoesNotReopenIt(t *testing.T) {
	forEachBackend(t, testConfig(), func(t *testing.T, s *State) {
		deliver(t, s, started("d", "s"), t0)
		deliver(t, s, finished("d", "s", 0, 0, 0), t0.Add(time.Minute))
		deliver(t, s, finding("d", "s", "late", "high", 1), t0.Add(2*time.Minute))
		assert.Equal(t, int64(1), findingCount(t, s, "d", "high"), "counted for the domain")
		assert.Empty(t, domainRecord(t, s, "d").Open, "not reopened")
	})
}

// Scans are a domain's: a message of another domain that names the same
// scan id is another scan, and leaves the first one as it was.
func TestAScanIDIsScopedToItsDomain(t *testing.T) {
	forEachBackend(t, testConfig(), func(t *testing.T, s *State) {
		deliver(t, s, started("a.com", "s"), t0)
		deliver(t, s, finding("b.com", "s", "x", "high", 1), t0)
		got := deliver(t, s, finished("b.com", "s", 1, 0, 0), t0.Add(time.Minute)).Insight
		assert.True(t, got.Partial, "b.com's scan s was never started")
		assert.Equal(t, []string{scanKey("a.com", "s")}, domainRecord(t, s, "a.com").Open, "a.com's scan s is still open")
		got = deliver(t, s, finished("a.com", "s", 0, 0, 0), t0.Add(2*time.Minute)).Insight
		assert.Equal(t, ptr[int64](0), got.Delivered, "b.com's finding was not a.com's")
		assert.False(t, got.Partial)
	})
}

func TestDuplicatesAndRetriesCountOnce(t *testing.T) {
	forEachBackend(t, testConfig(), func(t *testing.T, s *State) {
		ctx := context.Background()
		deliver(t, s, started("d", "s"), t0)
		body := finding("d", "s", "XSS", "high", 1)
		e, err := message.Parse([]byte(body))
		require.NoError(t, err)

		// The logs pipeline refuses the first delivery: released.
		d, err := s.Accept(ctx, KeyOf([]byte(body)), &e, t0)
		require.NoError(t, err)
		require.Equal(t, ClaimNew, d.Status)
		busy, err := s.Accept(ctx, KeyOf([]byte(body)), &e, t0)
		require.NoError(t, err)
		assert.Equal(t, ClaimBusy, busy.Status, "an identical delivery in flight waits")
		require.NoError(t, s.Settle(ctx, &d, false, t0))

		retry := deliver(t, s, body, t0.Add(time.Second))
		assert.Equal(t, ClaimCounted, retry.Status, "counted by the first delivery")
		again := deliver(t, s, body, t0.Add(2*time.Second))
		assert.Equal(t, ClaimDuplicate, again.Status)
		assert.Equal(t, int64(1), findingCount(t, s, "d", "high"))

		got := deliver(t, s, finished("d", "s", 1, 0, 0), t0.Add(time.Minute)).Insight
		assert.Equal(t, ptr[int64](1), got.Delivered, "the scan counted it once too")
	})
}

func TestRetryCarriesTheFirstInsight(t *testing.T) {
	forEachBackend(t, testConfig(), func(t *testing.T, s *State) {
		ctx := context.Background()
		deliver(t, s, started("d", "s"), t0)
		body := finished("d", "s", 3, 0, 0)
		e, err := message.Parse([]byte(body))
		require.NoError(t, err)
		first, err := s.Accept(ctx, KeyOf([]byte(body)), &e, t0.Add(time.Minute))
		require.NoError(t, err)
		require.NoError(t, s.Settle(ctx, &first, false, t0.Add(time.Minute)))
		retry := deliver(t, s, body, t0.Add(5*time.Minute))
		assert.Equal(t, ClaimCounted, retry.Status)
		assert.Equal(t, first.Insight, retry.Insight, "the same duration and counts, not recomputed")
		assert.Equal(t, ptr(60.0), retry.Insight.Duration)
	})
}

func TestDedupWindow(t *testing.T) {
	forEachBackend(t, testConfig(), func(t *testing.T, s *State) {
		body := finding("d", "", "t", "high", 1)
		assert.Equal(t, ClaimNew, deliver(t, s, body, t0).Status)
		assert.Equal(t, ClaimDuplicate, deliver(t, s, body, t0.Add(10*time.Minute-time.Nanosecond)).Status)
		assert.Equal(t, ClaimNew, deliver(t, s, body, t0.Add(10*time.Minute)).Status, "the window counts from the first delivery")
		assert.Equal(t, int64(2), findingCount(t, s, "d", "high"))
	})
	cfg := testConfig()
	cfg.DedupWindow = 0
	forEachBackend(t, cfg, func(t *testing.T, s *State) {
		body := finding("d", "", "t", "high", 1)
		assert.Equal(t, ClaimNew, deliver(t, s, body, t0).Status)
		assert.Equal(t, ClaimNew, deliver(t, s, body, t0).Status, "dedup off: every delivery counts")
		assert.Equal(t, int64(2), findingCount(t, s, "d", "high"))
	})
}

func TestOpenScansAreBoundedOldestEvictedFirst(t *testing.T) {
	cfg := testConfig()
	cfg.MaxOpenScans = 3
	forEachBackend(t, cfg, func(t *testing.T, s *State) {
		for i := range 5 {
			deliver(t, s, started(fmt.Sprintf("d%d", i), fmt.Sprintf("s%d", i)), t0.Add(time.Duration(i)*time.Second))
		}
		assert.Equal(t, int64(2), s.TakeTelemetry().EvictedScans)
		for i := range 5 {
			rec := domainRecord(t, s, fmt.Sprintf("d%d", i))
			if i < 2 {
				assert.Empty(t, rec.Open, "d%d's scan was evicted", i)
			} else {
				assert.Equal(t, []string{scanKey(fmt.Sprintf("d%d", i), fmt.Sprintf("s%d", i))}, rec.Open)
			}
		}
		got := deliver(t, s, finished("d0", "s0", 1, 0, 0), t0.Add(time.Minute)).Insight
		assert.True(t, got.Partial, "an evicted scan's start is forgotten")
		got = deliver(t, s, finished("d4", "s4", 1, 0, 0), t0.Add(time.Minute)).Insight
		assert.False(t, got.Partial)
	})
}

func TestStalledScans(t *testing.T) {
	forEachBackend(t, testConfig(), func(t *testing.T, s *State) {
		ctx := context.Background()
		deliver(t, s, started("d", "s"), t0)
		deliver(t, s, finding("d", "unstarted", "x", "high", 1), t0.Add(time.Hour))

		stalled, err := s.Sweep(ctx, t0.Add(48*time.Hour-time.Nanosecond))
		require.NoError(t, err)
		assert.Empty(t, stalled)

		stalled, err = s.Sweep(ctx, t0.Add(49*time.Hour))
		require.NoError(t, err)
		assert.Equal(t, []Stalled{{ScanID: "s", Domain: "d", OpenFor: 49 * time.Hour, id: scanKey("d", "s")}}, stalled)
		assert.Equal(t, []string{scanKey("d", "unstarted")}, domainRecord(t, s, "d").Open, "no longer open")

		// Once per scan; a scan whose start was not seen stalls from its
		// first message.
		stalled, err = s.Sweep(ctx, t0.Add(49*time.Hour+time.Minute))
		require.NoError(t, err)
		assert.Equal(t, []Stalled{{ScanID: "unstarted", Domain: "d", OpenFor: 48*time.Hour + time.Minute, id: scanKey("d", "unstarted")}}, stalled)
		stalled, err = s.Sweep(ctx, t0.Add(50*time.Hour))
		require.NoError(t, err)
		assert.Empty(t, stalled)

		// A record that could not be delivered is reported again.
		require.NoError(t, s.Unstall(ctx, []Stalled{{ScanID: "s", Domain: "d", id: scanKey("d", "s")}}, t0.Add(50*time.Hour)))
		stalled, err = s.Sweep(ctx, t0.Add(51*time.Hour))
		require.NoError(t, err)
		require.Len(t, stalled, 1)
		assert.Equal(t, "s", stalled[0].ScanID)
		m, err := s.Metrics(ctx, true)
		require.NoError(t, err)
		assert.Equal(t, int64(2), m["d"].Counts.Scans[ScanStateStalled], "two scans stalled, each counted once")

		// A stalled scan that finishes after all still has its duration.
		got := deliver(t, s, finished("d", "s", 0, 0, 0), t0.Add(60*time.Hour)).Insight
		assert.Equal(t, ptr(60*3600.0), got.Duration)
	})
	cfg := testConfig()
	cfg.StaleScanAfter = 0
	forEachBackend(t, cfg, func(t *testing.T, s *State) {
		deliver(t, s, started("d", "s"), t0)
		stalled, err := s.Sweep(context.Background(), t0.Add(365*24*time.Hour))
		require.NoError(t, err)
		assert.Empty(t, stalled, "0 disables it")
	})
}

func TestAScanWithoutIDStallsUnnamed(t *testing.T) {
	forEachBackend(t, testConfig(), func(t *testing.T, s *State) {
		deliver(t, s, `{"event_type":"scan_started","scan":{"asset":"a.com"}}`, t0)
		stalled, err := s.Sweep(context.Background(), t0.Add(49*time.Hour))
		require.NoError(t, err)
		require.Len(t, stalled, 1)
		assert.Empty(t, stalled[0].ScanID, "the id the receiver made up is not shown")
		assert.Equal(t, "a.com", stalled[0].Domain)
	})
}

func TestCountsPerDomainAndLevel(t *testing.T) {
	forEachBackend(t, testConfig(), func(t *testing.T, s *State) {
		deliver(t, s, started("d", "s"), t0)
		m, err := s.Metrics(context.Background(), true)
		require.NoError(t, err)
		assert.Equal(t, map[string]int64{"critical": 0, "high": 0, "medium": 0}, m["d"].Counts.Findings,
			"a new domain's critical, high and medium series start at 0")
		assert.Equal(t, map[string]int64{"started": 1, ScanStateStalled: 0}, m["d"].Counts.Scans,
			"the stalled series starts at 0 with the domain's first scan")
		for i, level := range []string{"critical", "high", "medium", "low", "information", "information", "weird"} {
			deliver(t, s, finding("d", "s", "t", level, i), t0)
		}
		m, err = s.Metrics(context.Background(), true)
		require.NoError(t, err)
		assert.Equal(t, map[string]int64{"critical": 1, "high": 1, "medium": 1, "low": 1, "information": 2, "weird": 1}, m["d"].Counts.Findings)
		deliver(t, s, `{"type":"event_finding_high"}`, t0)
		_, counted := m[""]
		assert.False(t, counted, "a message without a domain is not counted")
	})
}

func TestDomainsAreBounded(t *testing.T) {
	cfg := testConfig()
	cfg.MaxDomains = 3
	forEachBackend(t, cfg, func(t *testing.T, s *State) {
		for i := range 10 {
			deliver(t, s, finding(fmt.Sprintf("d%d", i), "", "t", "high", i), t0)
		}
		m, err := s.Metrics(context.Background(), true)
		require.NoError(t, err)
		var counted []string
		for name, dm := range m {
			if dm.Counts != nil {
				counted = append(counted, name)
			}
		}
		assert.ElementsMatch(t, []string{"d0", "d1", "d2", OverflowDomain}, counted)
		assert.Equal(t, int64(7), m[OverflowDomain].Counts.Findings["high"])
		tel := s.TakeTelemetry()
		assert.Equal(t, int64(7), tel.OverflowedEvents)
		assert.Equal(t, 4, tel.Domains)
		assert.Zero(t, s.TakeTelemetry().OverflowedEvents, "counted once")
	})
}

func TestLevelsPerDomainAreBounded(t *testing.T) {
	forEachBackend(t, testConfig(), func(t *testing.T, s *State) {
		for i := range 40 {
			deliver(t, s, finding("d", "", "t", fmt.Sprintf("level%d", i), i), t0)
		}
		m, err := s.Metrics(context.Background(), true)
		require.NoError(t, err)
		assert.Len(t, m["d"].Counts.Findings, maxValuesPerDomain+1)
		assert.Equal(t, int64(40-(maxValuesPerDomain-3)), m["d"].Counts.Findings[OverflowDomain])
	})
}

func TestIdleDomainsAreForgotten(t *testing.T) {
	cfg := testConfig()
	cfg.DomainIdleTimeout = time.Hour
	forEachBackend(t, cfg, func(t *testing.T, s *State) {
		deliver(t, s, finding("old", "", "t", "high", 1), t0)
		deliver(t, s, finding("new", "", "t", "high", 2), t0.Add(2*time.Hour))
		require.NoError(t, s.Maintain(context.Background(), t0.Add(2*time.Hour)))
		m, err := s.Metrics(context.Background(), true)
		require.NoError(t, err)
		assert.Contains(t, m, "new")
		assert.NotContains(t, m, "old")
	})
}

// A domain forgotten for idleness stays forgotten after a restart: the
// forgetting is saved with storage, and done in Redis.
func TestForgottenDomainsStayForgottenAfterARestart(t *testing.T) {
	cfg := testConfig()
	cfg.DomainIdleTimeout = time.Hour
	tests := []struct {
		name string
		// backend returns how to start a State on one backend's saved
		// state, and how to end it as a crash would.
		backend func(t *testing.T) (start func(now time.Time) *State, crash func(*State))
	}{
		{"memory with storage", func(t *testing.T) (func(time.Time) *State, func(*State)) {
			store := newFakeStorage()
			return func(now time.Time) *State { return persistedWith(t, cfg, store, now) }, crash
		}},
		{"redis", func(t *testing.T) (func(time.Time) *State, func(*State)) {
			m := miniredis.RunT(t)
			return func(now time.Time) *State {
				client := redis.NewClient(&redis.Options{Addr: m.Addr()})
				t.Cleanup(func() { _ = client.Close() })
				s, err := NewRedis(context.Background(), cfg, RedisConfig{Client: client, KeyPrefix: "test/", Replica: "r1"}, now)
				require.NoError(t, err)
				return s
			}, func(*State) {}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, crash := tt.backend(t)
			s := start(t0)
			deliver(t, s, finding("old", "", "t", "high", 1), t0)
			deliver(t, s, finding("new", "", "t", "high", 2), t0.Add(2*time.Hour))
			require.NoError(t, s.Maintain(context.Background(), t0.Add(2*time.Hour)))
			require.NoError(t, s.Sync(context.Background()))
			crash(s)

			m, err := start(t0.Add(3*time.Hour)).Metrics(context.Background(), true)
			require.NoError(t, err)
			assert.Contains(t, m, "new")
			assert.NotContains(t, m, "old")
		})
	}
}

func TestMetricsReturnWhatChanged(t *testing.T) {
	forEachBackend(t, testConfig(), func(t *testing.T, s *State) {
		ctx := context.Background()
		deliver(t, s, started("a", "s1"), t0)
		deliver(t, s, started("b", "s2"), t0)
		m, err := s.Metrics(ctx, false)
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{"a", "b"}, sortedNames(m))
		m, err = s.Metrics(ctx, false)
		require.NoError(t, err)
		assert.Empty(t, m, "nothing changed since")
		deliver(t, s, finding("b", "s2", "t", "high", 1), t0)
		m, err = s.Metrics(ctx, false)
		require.NoError(t, err)
		assert.Equal(t, []string{"b"}, sortedNames(m))
		s.Changed([]string{"b"}) // its emission failed
		m, err = s.Metrics(ctx, false)
		require.NoError(t, err)
		assert.Equal(t, []string{"b"}, sortedNames(m))
		require.NotNil(t, m["b"].Scans)
		assert.Equal(t, []string{scanKey("b", "s2")}, m["b"].Scans.Open)
	})
}
