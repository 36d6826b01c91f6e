package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// replayConfig is one replica with replay protection on (the README's
// recommendation) and room for only three remembered deliveries, on a
// real redis-server shared with the other.
const replayConfig = `
receivers:
  detectify:
    endpoint: @ENDPOINT@
    secret: @SECRET@
    max_message_age: 24h
    dedup_window: 24h
    dedup_max_entries: 3
    shared_state:
      redis:
        endpoint: @REDIS@
        replica_id: @REPLICA@

` + sinkExporters + `
service:
` + telemetrySection + sinkPipelines

// TestReplaysAcrossReplicasWithRedis replays captured messages at two
// replicas on one redis-server: a fresh message accepted by one is a
// duplicate at the other; a day-old one is refused by both; and the bound
// on remembered deliveries holds between them, oldest forgotten first.
func TestReplaysAcrossReplicasWithRedis(t *testing.T) {
	redis := startRedis(t)
	var urls [2]string
	var sinks [2]*otlpSink
	for i := range urls {
		sinks[i] = startOTLPSink(t)
		c := startCollector(t, fmt.Sprintf("replay%d", i), collectorConfig{text: replayConfig, vars: map[string]string{
			"@REDIS@": redis.addr, "@REPLICA@": fmt.Sprintf("replica-%d", i), "@SINK@": sinks[i].url,
		}})
		urls[i] = c.webhookURL
	}
	post := func(i int, body []byte) (int, string) {
		t.Helper()
		return postFrom(t, "127.0.0.1", urls[i], body, nil)
	}
	expect := func(what string, status int, answer string, wantStatus int, wantAnswer string) {
		t.Helper()
		if status != wantStatus || !strings.Contains(answer, wantAnswer) {
			t.Errorf("%s: %d %q, want %d %q", what, status, answer, wantStatus, wantAnswer)
		}
	}
	now := time.Now()
	captured := stampedFinding("replayed.example", now.Add(-time.Minute))
	s, a := post(0, captured)
	expect("first delivery", s, a, http.StatusOK, "accepted")
	s, a = post(1, captured)
	expect("replay at the other replica", s, a, http.StatusOK, "duplicate")
	s, a = post(1, stampedFinding("old.example", now.Add(-25*time.Hour)))
	expect("day-old message", s, a, http.StatusBadRequest, "older than max_message_age")
	s, a = post(0, stampedFinding("ahead.example", now.Add(time.Hour)))
	expect("message stamped an hour ahead", s, a, http.StatusBadRequest, "ahead of the receiver's clock")

	// Three more deliveries on the other replica push the first out of the
	// shared memory: its replay is then processed again.
	for i := range 3 {
		s, a = post(1, stampedFinding(fmt.Sprintf("other%d.example", i), now))
		expect("another delivery", s, a, http.StatusOK, "accepted")
	}
	s, a = post(0, captured)
	expect("replay of the evicted delivery", s, a, http.StatusOK, "accepted")
	if n, err := redis.do("ZCARD", "detectify/{detectify}settled"); err != nil || n != "3" {
		t.Errorf("settled deliveries in Redis: %q (%v), want 3", n, err)
	}
}
