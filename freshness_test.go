package detectifyreceiver

import (
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/detectify-otel/detectifyreceiver/internal/message"
)

func TestFreshness(t *testing.T) {
	parsed := func(body []byte) *message.Event {
		e, err := message.Parse(body)
		require.NoError(t, err)
		return &e
	}
	day := 24 * time.Hour
	tests := []struct {
		name   string
		body   []byte
		maxAge time.Duration
		want   *answer // nil: fresh
	}{
		{name: "off: any age passes", body: stampedAt(-10 * 365 * day)},
		{name: "off: a missing timestamp passes", body: stamped("")},
		{name: "just fresh", body: stampedAt(-day), maxAge: day},
		{name: "a nanosecond too old", body: stampedAt(-day - time.Nanosecond), maxAge: day, want: &answerTooOld},
		{name: "ahead within the skew", body: stampedAt(maxFutureSkew), maxAge: day},
		{name: "ahead past the skew", body: stampedAt(maxFutureSkew + time.Nanosecond), maxAge: day, want: &answerFromFuture},
		{name: "unreadable", body: stamped(`"27/11/2026"`), maxAge: day, want: &answerTimestampInvalid},
		{name: "missing", body: stamped(""), maxAge: day, want: &answerTimestampMissing},
		{name: "classic: no timestamp, not checked", body: seedFinding, maxAge: day},
		{name: "classic: a timestamp field is not the signed date of the format", body: []byte(`{"type":"event_finding_high","domain":"a.com","timestamp":"2001-01-01T00:00:00Z"}`), maxAge: day},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, fresh := freshness(parsed(tt.body), tt.maxAge, testNow)
			if tt.want == nil {
				assert.True(t, fresh, "refused with %q", a.reason)
				return
			}
			assert.False(t, fresh)
			assert.Equal(t, *tt.want, a)
		})
	}
}

// withMaxMessageAge is the README's recommendation.
func withMaxMessageAge(cfg *Config) { configPresets["max_message_age"](cfg) }

// A refused message leaves nothing in flight: the same body sent again is
// refused the same way (not "in flight", not a duplicate), and once the
// receiver's clock allows it (here: a message stamped ahead of it), the
// same body is accepted.
func TestAStaleMessageIsReleased(t *testing.T) {
	h := newHarness(t, withMaxMessageAge)
	body := stampedAt(maxFutureSkew + time.Minute)
	for range 2 {
		assert.Equal(t, answerText(answerFromFuture), h.post(body).body)
	}
	h.setNow(testNow.Add(time.Minute))
	assert.Equal(t, answerText(answerAccepted), h.post(body).body)
	assert.Len(t, h.logs.records(), 1)
	assert.Equal(t, map[string]int64{"stale": 2, "accepted": 1}, h.outcomeCounts())
}

// The gap between the checks is closed: a message stamped ahead of the
// receiver's clock passes the age check for max_message_age after its
// stamp, so it is remembered for dedup_window plus the allowed skew.
func TestAReplayStampedAheadIsRememberedForTheSkew(t *testing.T) {
	h := newHarness(t, withMaxMessageAge)
	body := stampedAt(maxFutureSkew)
	h.postOK(body)
	// Past dedup_window since receipt, still within max_message_age of the stamp.
	h.setNow(testNow.Add(24*time.Hour + maxFutureSkew - time.Second))
	assert.Equal(t, answerText(answerDuplicate), h.post(body).body)
	// And once the stamp is too old, the age check takes over.
	h.setNow(testNow.Add(24*time.Hour + maxFutureSkew + time.Second))
	assert.Equal(t, answerText(answerTooOld), h.post(body).body)
	assert.Len(t, h.logs.records(), 1)
}

// A captured message replayed after a restart is a duplicate while it is
// fresh (the dedup memory was saved) and refused once it is old.
func TestAReplayAcrossARestartWithStorage(t *testing.T) {
	host := startFileStorage(t, t.TempDir())
	configure := func(cfg *Config) { withStorage(cfg); withMaxMessageAge(cfg) }
	before := newHarnessOn(t, host, configure)
	body := stampedAt(-time.Minute)
	before.postOK(body)
	before.shutdown()

	after := newHarnessAt(t, host, testNow.Add(12*time.Hour), configure)
	assert.Equal(t, answerText(answerDuplicate), after.post(body).body, "remembered across the restart")
	after.setNow(testNow.Add(25 * time.Hour))
	assert.Equal(t, answerText(answerTooOld), after.post(body).body)
	assert.Empty(t, after.logs.records())
	assert.Equal(t, map[string]int64{"duplicate": 1, "stale": 1}, after.outcomeCounts())
}

// A captured message replayed to another replica is a duplicate while it
// is fresh and refused once it is old, on every replica.
func TestAReplayAcrossReplicas(t *testing.T) {
	m := miniredis.RunT(t)
	a := newHarness(t, func(cfg *Config) { withRedis(m.Addr(), "a")(cfg); withMaxMessageAge(cfg) })
	b := newHarness(t, func(cfg *Config) { withRedis(m.Addr(), "b")(cfg); withMaxMessageAge(cfg) })
	body := stampedAt(-time.Minute)
	a.postOK(body)

	b.setNow(testNow.Add(23 * time.Hour))
	m.FastForward(23 * time.Hour) // Redis expires keys by its own clock
	assert.Equal(t, answerText(answerDuplicate), b.post(body).body)
	b.setNow(testNow.Add(25 * time.Hour))
	m.FastForward(2 * time.Hour)
	assert.Equal(t, answerText(answerTooOld), b.post(body).body)
	assert.Len(t, a.logs.records(), 1)
	assert.Empty(t, b.logs.records())
}
