package state

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func backfillConfig(mode BackfillMode) Config {
	cfg := testConfig()
	cfg.Backfill, cfg.BackfillDelay = mode, time.Minute
	return cfg
}

// findingWithID is a classic finding whose finding URL names profile
// "tok", the scan and the finding's id.
func findingWithID(domain, scan, title, level, id string) string {
	return fmt.Sprintf(`{"type":"event_finding_%s","domain":%q,"title":%q,"finding_url":"https://detectify.com/report/tok/%s/%s"}`,
		level, domain, title, scan, id)
}

// apiFinding is what the API lists of finding id.
func apiFinding(id, title, level string) BackfillFinding {
	return BackfillFinding{Keys: FindingKeys(id, title, "", level), Level: level}
}

const lease = 30 * time.Second

// playScan delivers a scan of d with the given finding ids (all high) and
// a finish reporting reported critical findings.
func playScan(t *testing.T, s *State, d, scan string, ids []string, reported int, at time.Time) {
	t.Helper()
	deliver(t, s, started(d, scan), at)
	for _, id := range ids {
		deliver(t, s, findingWithID(d, scan, "XSS "+id, "high", id), at)
	}
	deliver(t, s, finished(d, scan, reported, 0, 0), at)
}

func TestBackfillIsQueuedByTheFinishItsModeNames(t *testing.T) {
	tests := []struct {
		name                string
		mode                BackfillMode
		delivered, reported int
		want                bool
	}{
		{"when limited: fewer delivered than reported", BackfillWhenLimited, 3, 5, true},
		{"when limited: every finding delivered", BackfillWhenLimited, 3, 3, false},
		{"when limited: a per-type limit reached", BackfillWhenLimited, 10, 10, true},
		{"always, even when nothing is missing", BackfillAlways, 3, 3, true},
		{"never", BackfillNever, 3, 5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachBackend(t, backfillConfig(tt.mode), func(t *testing.T, s *State) {
				ids := make([]string, tt.delivered)
				for i := range ids {
					ids[i] = fmt.Sprintf("f%d", i)
				}
				deliver(t, s, started("d", "s"), t0)
				for _, id := range ids {
					title := "XSS " + id
					if tt.name == "when limited: a per-type limit reached" {
						title = "XSS" // ten of one title: Detectify's last of it
					}
					deliver(t, s, findingWithID("d", "s", title, "high", id), t0)
				}
				d := deliver(t, s, finished("d", "s", tt.reported, 0, 0), t0)
				assert.Equal(t, tt.want, d.Insight.BackfillQueued)

				ctx := context.Background()
				due, err := s.DueBackfills(ctx, t0.Add(59*time.Second), 10)
				require.NoError(t, err)
				assert.Empty(t, due, "not due before the delay")
				due, err = s.DueBackfills(ctx, t0.Add(time.Minute), 10)
				require.NoError(t, err)
				if !tt.want {
					assert.Empty(t, due)
					assert.Nil(t, domainRecord(t, s, "d").LastScan.Backfilled, "no backfilled series without a backfill")
					return
				}
				assert.Equal(t, []string{scanKey("d", "s")}, due)
				assert.Equal(t, ptr[int64](0), domainRecord(t, s, "d").LastScan.Backfilled, "the series exists from the finish")
			})
		})
	}
}

func TestBackfillNeedsTheScansProfileAndReport(t *testing.T) {
	forEachBackend(t, backfillConfig(BackfillAlways), func(t *testing.T, s *State) {
		// A current-format scan that names no profile token.
		deliver(t, s, `{"event_type":"scan_started","scan":{"id":"s1","asset":"d"}}`, t0)
		d := deliver(t, s, `{"event_type":"scan_completed","scan":{"id":"s1","asset":"d","high_level_findings":4}}`, t0)
		assert.False(t, d.Insight.BackfillQueued)
		// The same with its profile token.
		deliver(t, s, `{"event_type":"scan_started","scan":{"id":"s2","asset":"d","scan_profile_token":"p"}}`, t0)
		d = deliver(t, s, `{"event_type":"scan_completed","scan":{"id":"s2","asset":"d","high_level_findings":4}}`, t0)
		assert.True(t, d.Insight.BackfillQueued)
	})
}

func TestBackfillCountsWhatNoWebhookDelivered(t *testing.T) {
	forEachBackend(t, backfillConfig(BackfillWhenLimited), func(t *testing.T, s *State) {
		ctx := context.Background()
		playScan(t, s, "d", "s", []string{"f0", "f1", "f2"}, 6, t0)
		assert.Equal(t, int64(3), findingCount(t, s, "d", "high"))
		assert.Equal(t, ptr[int64](3), domainRecord(t, s, "d").LastScan.Undelivered)

		now := t0.Add(time.Minute)
		advance(s, now)
		job, taken, err := s.TakeBackfill(ctx, scanKey("d", "s"), "w1", now, lease)
		require.NoError(t, err)
		require.True(t, taken)
		assert.Equal(t, BackfillJob{ID: scanKey("d", "s"), Domain: "d", ScanID: "s", Profile: "tok", owner: "w1"}, job)

		listed := []BackfillFinding{
			apiFinding("f0", "XSS f0", "high"),          // a webhook delivered it
			apiFinding("f3", "SQLi", "critical"),        // withheld
			apiFinding("f4", "XSS f4", "high"),          // withheld
			apiFinding("f3", "SQLi", "critical"),        // listed twice
			apiFinding("f5", "Open Redirect", "medium"), // withheld
		}
		emit, err := s.CountBackfill(ctx, job, listed, now)
		require.NoError(t, err)
		assert.Equal(t, []int{1, 2, 4}, emit)
		assert.Equal(t, int64(4), findingCount(t, s, "d", "high"))
		assert.Equal(t, int64(1), findingCount(t, s, "d", "critical"))
		assert.Equal(t, int64(1), findingCount(t, s, "d", "medium"))
		last := domainRecord(t, s, "d").LastScan
		assert.Equal(t, ptr[int64](0), last.Undelivered, "what is still missing")
		assert.Equal(t, ptr[int64](3), last.Backfilled)
		require.NoError(t, s.EndBackfill(ctx, job, BackfillEndDone, time.Time{}, now))
		due, err := s.DueBackfills(ctx, now.Add(time.Hour), 10)
		require.NoError(t, err)
		assert.Empty(t, due, "done")

		// Webhooks that come after: one the API delivered is neither
		// counted nor emitted again; another is counted for the domain.
		later := now.Add(time.Minute)
		assert.True(t, deliver(t, s, findingWithID("d", "s", "SQLi", "critical", "f3"), later).Insight.FromAPI)
		assert.False(t, deliver(t, s, findingWithID("d", "s", "XSS f9", "high", "f9"), later).Insight.FromAPI)
		assert.Equal(t, int64(1), findingCount(t, s, "d", "critical"))
		assert.Equal(t, int64(5), findingCount(t, s, "d", "high"))
	})
}

// A finding without an id is recognised by its title, location and level.
func TestBackfillRecognisesAFindingWithoutAnIDByItsFingerprint(t *testing.T) {
	forEachBackend(t, backfillConfig(BackfillAlways), func(t *testing.T, s *State) {
		ctx := context.Background()
		deliver(t, s, `{"event_type":"scan_started","scan":{"id":"s","asset":"d","scan_profile_token":"p"}}`, t0)
		deliver(t, s, `{"event_type":"finding","finding":{"title":"SQLi","severity":"high","asset":"d","url":"https://d/x","scan_id":"s"}}`, t0)
		deliver(t, s, `{"event_type":"scan_completed","scan":{"id":"s","asset":"d","high_level_findings":2}}`, t0)
		now := t0.Add(time.Minute)
		advance(s, now)
		job, taken, err := s.TakeBackfill(ctx, scanKey("d", "s"), "w", now, lease)
		require.NoError(t, err)
		require.True(t, taken)
		emit, err := s.CountBackfill(ctx, job, []BackfillFinding{
			{Keys: FindingKeys("u1", "SQLi", "https://d/x", "high"), Level: "high"}, // the webhook's, by fingerprint
			{Keys: FindingKeys("u2", "SQLi", "https://d/y", "high"), Level: "high"}, // another location
		}, now)
		require.NoError(t, err)
		assert.Equal(t, []int{1}, emit)
		assert.Equal(t, int64(2), findingCount(t, s, "d", "high"))
	})
}

func TestBackfillIsTakenByOneWorkerAtATime(t *testing.T) {
	forEachBackend(t, backfillConfig(BackfillWhenLimited), func(t *testing.T, s *State) {
		ctx := context.Background()
		playScan(t, s, "d", "s", []string{"f0"}, 3, t0)
		now := t0.Add(time.Minute)
		advance(s, now)
		first, taken, err := s.TakeBackfill(ctx, scanKey("d", "s"), "w1", now, lease)
		require.NoError(t, err)
		require.True(t, taken)
		_, taken, err = s.TakeBackfill(ctx, scanKey("d", "s"), "w2", now.Add(lease-time.Second), lease)
		require.NoError(t, err)
		assert.False(t, taken, "held until its lease ends")

		// w1 counted, then died before its records were accepted: w2 takes
		// the job over and emits the same findings without counting them.
		listed := []BackfillFinding{apiFinding("f1", "a", "high"), apiFinding("f2", "b", "high")}
		emit, err := s.CountBackfill(ctx, first, listed, now)
		require.NoError(t, err)
		assert.Equal(t, []int{0, 1}, emit)
		later := now.Add(lease)
		advance(s, later)
		second, taken, err := s.TakeBackfill(ctx, scanKey("d", "s"), "w2", later, lease)
		require.NoError(t, err)
		require.True(t, taken)
		assert.True(t, second.Counted)
		emit, err = s.CountBackfill(ctx, second, append(listed, apiFinding("f0", "XSS f0", "high"), apiFinding("f7", "new since", "high")), later)
		require.NoError(t, err)
		assert.Equal(t, []int{0, 1}, emit, "the findings counted before, only")
		assert.Equal(t, int64(3), findingCount(t, s, "d", "high"))

		// The one that lost its hold can change nothing.
		_, err = s.CountBackfill(ctx, first, listed, later)
		assert.ErrorIs(t, err, ErrClaimLost)
		assert.ErrorIs(t, s.EndBackfill(ctx, first, BackfillEndDone, time.Time{}, later), ErrClaimLost)
		require.NoError(t, s.EndBackfill(ctx, second, BackfillEndDone, time.Time{}, later))
	})
}

func TestBackfillRetriesAtItsTimeAndGivesUp(t *testing.T) {
	forEachBackend(t, backfillConfig(BackfillWhenLimited), func(t *testing.T, s *State) {
		ctx := context.Background()
		playScan(t, s, "d", "s", []string{"f0"}, 3, t0)
		now := t0.Add(time.Minute)
		advance(s, now)
		job, _, err := s.TakeBackfill(ctx, scanKey("d", "s"), "w", now, lease)
		require.NoError(t, err)
		require.NoError(t, s.EndBackfill(ctx, job, BackfillEndRetry, now.Add(10*time.Minute), now))
		due, err := s.DueBackfills(ctx, now.Add(9*time.Minute), 10)
		require.NoError(t, err)
		assert.Empty(t, due)
		_, taken, err := s.TakeBackfill(ctx, scanKey("d", "s"), "w", now.Add(9*time.Minute), lease)
		require.NoError(t, err)
		assert.False(t, taken, "not before its retry time")

		later := now.Add(10 * time.Minute)
		advance(s, later)
		due, err = s.DueBackfills(ctx, later, 10)
		require.NoError(t, err)
		assert.Equal(t, []string{scanKey("d", "s")}, due)
		job, taken, err = s.TakeBackfill(ctx, scanKey("d", "s"), "w", later, lease)
		require.NoError(t, err)
		require.True(t, taken)
		assert.Equal(t, 1, job.Attempts)
		require.NoError(t, s.EndBackfill(ctx, job, BackfillEndGiveUp, time.Time{}, later))
		due, err = s.DueBackfills(ctx, later.Add(24*time.Hour), 10)
		require.NoError(t, err)
		assert.Empty(t, due, "given up")
	})
}

func TestAPendingBackfillSurvivesARestart(t *testing.T) {
	store := newFakeStorage()
	s := NewMemory(backfillConfig(BackfillWhenLimited), t0)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	_, err := s.Persist(ctx, store, t0)
	require.NoError(t, err)
	playScan(t, s, "d", "s", []string{"f0"}, 3, t0)
	now := t0.Add(time.Minute)
	_, taken, err := s.TakeBackfill(ctx, scanKey("d", "s"), "w", now, time.Hour)
	require.NoError(t, err)
	require.True(t, taken)
	require.NoError(t, s.Sync(ctx))
	crash(s)

	s = NewMemory(backfillConfig(BackfillWhenLimited), now)
	_, err = s.Persist(ctx, store, now)
	require.NoError(t, err)
	due, err := s.DueBackfills(ctx, now, 10)
	require.NoError(t, err)
	assert.Equal(t, []string{scanKey("d", "s")}, due)
	_, taken, err = s.TakeBackfill(ctx, scanKey("d", "s"), "w2", now, lease)
	require.NoError(t, err)
	assert.True(t, taken, "the hold of the process that stopped is gone with it")
	require.NoError(t, s.Close(context.Background()))
}

func TestABackfillQueuedOnOneReplicaIsDoneByAnother(t *testing.T) {
	m := miniredis.RunT(t)
	cfg := backfillConfig(BackfillWhenLimited)
	a, b := replicaWith(t, m, "a", cfg), replicaWith(t, m, "b", cfg)
	ctx := context.Background()
	playScan(t, a, "d", "s", []string{"f0"}, 3, t0)
	now := t0.Add(time.Minute)
	due, err := b.DueBackfills(ctx, now, 10)
	require.NoError(t, err)
	require.Equal(t, []string{scanKey("d", "s")}, due)
	job, taken, err := b.TakeBackfill(ctx, due[0], "wb", now, lease)
	require.NoError(t, err)
	require.True(t, taken)
	_, taken, err = a.TakeBackfill(ctx, due[0], "wa", now, lease)
	require.NoError(t, err)
	assert.False(t, taken)
	_, err = b.CountBackfill(ctx, job, []BackfillFinding{apiFinding("f1", "a", "high"), apiFinding("f2", "b", "high")}, now)
	require.NoError(t, err)
	require.NoError(t, b.EndBackfill(ctx, job, BackfillEndDone, time.Time{}, now))
	m.FastForward(0)
	assert.Equal(t, ptr[int64](2), domainRecord(t, a, "d").LastScan.Backfilled, "every replica reads the last scan from Redis")
	assert.Equal(t, ptr[int64](0), domainRecord(t, a, "d").LastScan.Undelivered)
}

func replicaWith(t *testing.T, m *miniredis.Miniredis, name string, cfg Config) *State {
	s := replicaOn(t, m, name, t0)
	s.cfg, s.rules = cfg, cfg.rules()
	s.backend.(*redisBackend).cfg = cfg
	return s
}

// A finding whose webhook comes after the finish, before the backfill
// counts: the backfill leaves it out, and the withheld count falls by it.
func TestAFindingAfterTheFinishIsNotBackfilledAgain(t *testing.T) {
	forEachBackend(t, backfillConfig(BackfillWhenLimited), func(t *testing.T, s *State) {
		ctx := context.Background()
		playScan(t, s, "d", "s", []string{"f0"}, 3, t0)
		deliver(t, s, findingWithID("d", "s", "XSS f1", "high", "f1"), t0)
		assert.Equal(t, ptr[int64](1), domainRecord(t, s, "d").LastScan.Undelivered)
		now := t0.Add(time.Minute)
		advance(s, now)
		job, taken, err := s.TakeBackfill(ctx, scanKey("d", "s"), "w", now, lease)
		require.NoError(t, err)
		require.True(t, taken)
		emit, err := s.CountBackfill(ctx, job, []BackfillFinding{apiFinding("f0", "XSS f0", "high"),
			apiFinding("f1", "XSS f1", "high"), apiFinding("f2", "XSS f2", "high")}, now)
		require.NoError(t, err)
		assert.Equal(t, []int{2}, emit)
		assert.Equal(t, int64(3), findingCount(t, s, "d", "high"), "each once")
		assert.Equal(t, ptr[int64](0), domainRecord(t, s, "d").LastScan.Undelivered)
	})
}

// Findings of levels the withheld count does not cover are counted, but do
// not lower it.
func TestBackfilledLevelsOutsideTheReportLeaveTheWithheldCount(t *testing.T) {
	forEachBackend(t, backfillConfig(BackfillWhenLimited), func(t *testing.T, s *State) {
		ctx := context.Background()
		playScan(t, s, "d", "s", []string{"f0"}, 3, t0)
		now := t0.Add(time.Minute)
		advance(s, now)
		job, _, err := s.TakeBackfill(ctx, scanKey("d", "s"), "w", now, lease)
		require.NoError(t, err)
		_, err = s.CountBackfill(ctx, job, []BackfillFinding{apiFinding("l1", "Cookie", "low"), apiFinding("f1", "XSS", "high")}, now)
		require.NoError(t, err)
		last := domainRecord(t, s, "d").LastScan
		assert.Equal(t, ptr[int64](1), last.Undelivered, "one high of two withheld came; the low one was never in the count")
		assert.Equal(t, ptr[int64](2), last.Backfilled)
		assert.Equal(t, int64(1), findingCount(t, s, "d", "low"))
	})
}

// A worker renews its hold while it lists; another cannot take the job
// meanwhile, and a lost hold cannot be renewed.
func TestABackfillHoldIsRenewed(t *testing.T) {
	forEachBackend(t, backfillConfig(BackfillWhenLimited), func(t *testing.T, s *State) {
		ctx := context.Background()
		playScan(t, s, "d", "s", []string{"f0"}, 3, t0)
		now := t0.Add(time.Minute)
		advance(s, now)
		job, _, err := s.TakeBackfill(ctx, scanKey("d", "s"), "w1", now, lease)
		require.NoError(t, err)
		later := now.Add(lease - time.Second)
		advance(s, later)
		require.NoError(t, s.RenewBackfill(ctx, job, later, lease))
		_, taken, err := s.TakeBackfill(ctx, scanKey("d", "s"), "w2", now.Add(lease+time.Second), lease)
		require.NoError(t, err)
		assert.False(t, taken, "renewed")
		past := later.Add(lease)
		advance(s, past)
		_, taken, err = s.TakeBackfill(ctx, scanKey("d", "s"), "w2", past, lease)
		require.NoError(t, err)
		require.True(t, taken)
		assert.ErrorIs(t, s.RenewBackfill(ctx, job, past, lease), ErrClaimLost)
	})
}

// With a backfill, a finished scan is kept past a short stale_scan_after:
// its job outlives the retries.
func TestAFinishedScanWithABackfillOutlivesAShortStaleScanAfter(t *testing.T) {
	cfg := backfillConfig(BackfillWhenLimited)
	cfg.StaleScanAfter = 5 * time.Minute
	forEachBackend(t, cfg, func(t *testing.T, s *State) {
		ctx := context.Background()
		playScan(t, s, "d", "s", []string{"f0"}, 3, t0)
		later := t0.Add(time.Hour)
		advance(s, later)
		require.NoError(t, s.Maintain(ctx, later))
		due, err := s.DueBackfills(ctx, later, 10)
		require.NoError(t, err)
		assert.Equal(t, []string{scanKey("d", "s")}, due)
	})
}
