package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

// crashConfig keeps the receiver's state in file_storage, exports its
// counters to a Prometheus page and everything to an in-process sink with
// no queue in between (sinkExporters), and serves the collector's own
// metrics.
const crashConfig = `
extensions:
  file_storage/detectify:
    directory: @STORAGE@

receivers:
  detectify:
    endpoint: @ENDPOINT@
    secret: @SECRET@
    metrics_interval: 1s
    metrics_flush_interval: 100ms
    storage: file_storage/detectify

` + sinkExporters + `
service:
  extensions: [file_storage/detectify]
` + telemetrySection + sinkPipelines

const restoredMessage = "Restored the Detectify receiver's state"

// startCrashCollector runs crashConfig on storage, exporting to sink.
func startCrashCollector(t *testing.T, storage string, sink *otlpSink) *collector {
	t.Helper()
	return startCollector(t, "crash", collectorConfig{text: crashConfig, vars: map[string]string{"@STORAGE@": storage, "@SINK@": sink.url}})
}

// waitStartTime waits until the sink has counters from the collector and
// returns their start time, failing if they do not all have the same.
func waitStartTime(t *testing.T, c *collector, sink *otlpSink) time.Time {
	t.Helper()
	var start time.Time
	eventually(t, c.process, deliveryTimeout, "counters at the sink", func() error {
		starts := sink.startTimes()
		switch len(starts) {
		case 0:
			return fmt.Errorf("no counter received yet")
		case 1:
			for s := range starts {
				start = s
			}
			return nil
		}
		t.Fatalf("counters arrived with %d different start times: %v", len(starts), starts)
		return nil
	})
	return start
}

// waitCounters waits until the Prometheus page's counters are want.
func waitCounters(t *testing.T, c *collector, want map[string]float64) {
	t.Helper()
	eventually(t, c.process, deliveryTimeout, "counters on "+c.promURL, func() error {
		page, err := detectifySeries(c.promURL)
		if err != nil {
			return err
		}
		if d := diffCounters(counterSeries(page), want); d != "" {
			return fmt.Errorf("%s", d)
		}
		return nil
	})
}

// TestCrashAcknowledgedWebhooksSurviveSigkill sends N distinct webhooks to
// a collector with file_storage, every one answered 200 accepted, then
// kills it with SIGKILL after a delay of 0 to 2s (no shutdown, so nothing
// but what each 200 made durable is saved) and starts it again on the same
// directory. The counters must count each webhook exactly once from the
// first scrape on, with the first run's start time; every redelivery must
// be answered duplicate and emit nothing.
func TestCrashAcknowledgedWebhooksSurviveSigkill(t *testing.T) {
	const n = 300
	// 0 is the hardest case: killed right after the last 200.
	for run, delay := range []time.Duration{0, rand.N(time.Second), time.Second + rand.N(time.Second)} {
		t.Run(fmt.Sprintf("kill_after_%dms", delay.Milliseconds()), func(t *testing.T) {
			storage := t.TempDir()
			sink := startOTLPSink(t)
			col := startCrashCollector(t, storage, sink)
			send := newPersistentSender(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // liveness guard only
			defer cancel()
			url := []string{col.webhookURL}
			one := func(int, int) int { return 0 }

			// A first webhook, for the start time of the counters: the kill
			// below may come before the first run has exported any.
			primer := findingBody(fmt.Sprintf("primer%d.crash.example.com", run), 0)
			if err := send.deliverAll(ctx, 1, signAll([][]byte{primer}), url, one); err != nil {
				t.Fatal(err)
			}
			firstStart := waitStartTime(t, col, sink)

			bodies := append(webhooksend.UniqueFindings(n, uint64(1000+run)), primer)
			msgs := signAll(bodies[:n])
			if err := send.deliverAll(ctx, 16, msgs, url, one); err != nil {
				t.Fatalf("first delivery: %v (%s)", err, send)
			}
			time.Sleep(delay)
			col.kill()
			killedAt := time.Now()

			if send.accepted.Load() != n+1 || send.duplicate.Load() != 0 || send.attempts.Load() != n+1 {
				t.Fatalf("before the kill every webhook must be accepted at the first attempt: %s", send)
			}
			sent := map[[sha256.Size]byte]bool{}
			for _, m := range signAll(bodies) {
				sent[m.digest] = true
			}
			// Acknowledged, so emitted: the exporter has no queue.
			if missing, doubles, unknown := recordsReport(sink.counts(), sent); missing+doubles+unknown > 0 {
				t.Fatalf("before the kill: %d acknowledged webhooks not emitted, %d emitted twice, %d unknown records", missing, doubles, unknown)
			}
			recordsBefore := len(sink.snapshot())
			sink.resetStartTimes()

			took := col.restart()
			restored, err := loggedStartTime(col.stderr.String(), restoredMessage)
			if err != nil {
				t.Fatalf("the restarted receiver did not say it restored its state: %v", err)
			}
			// zap writes the field to the millisecond.
			if d := restored.Sub(firstStart); d < -time.Millisecond || d > time.Millisecond {
				t.Errorf("restored start time %s, want the first run's %s", restored, firstStart)
			}
			want := expectedCounters(t, bodies)
			// Before any new webhook: the restored counts, emitted at start.
			waitCounters(t, col, want)
			if got := waitStartTime(t, col, sink); !got.Equal(firstStart) {
				t.Errorf("counters after the restart start at %s, want the first run's %s", got, firstStart)
			}

			// Every body again, to the restarted collector: all duplicates.
			redelivery := newPersistentSender(t)
			if err := redelivery.deliverAll(ctx, 16, signAll(bodies), url, one); err != nil {
				t.Fatalf("redelivery: %v (%s)", err, redelivery)
			}
			if got := redelivery.duplicate.Load(); got != n+1 {
				t.Errorf("redelivery after the crash: %d of %d answered duplicate (%s)", got, n+1, redelivery)
			}
			// A new webhook goes through the same pipeline after them: once
			// it is at the sink, anything the redeliveries emitted is too.
			marker := findingBody(fmt.Sprintf("marker%d.crash.example.com", run), 1)
			if err := redelivery.deliverAll(ctx, 1, signAll([][]byte{marker}), url, one); err != nil {
				t.Fatal(err)
			}
			after := sink.snapshot()[recordsBefore:]
			if len(after) != 1 || after[0].digest != sha256.Sum256(marker) {
				t.Errorf("after the restart the sink got %d records, want only the new webhook's: redeliveries were emitted", len(after))
			}
			want[findingsKey(fmt.Sprintf("marker%d.crash.example.com", run), "high")]++
			waitCounters(t, col, want)
			send.closeIdle()
			redelivery.closeIdle()
			col.stopAndCheck()
			t.Logf("%d webhooks acknowledged, SIGKILL %s after the last 200 (at %s), ready again %s after the restart on the same storage; "+
				"first run's start time %s; redelivery of all: %s",
				n+1, delay, killedAt.Format("15:04:05.000"), took.Round(time.Millisecond), firstStart.Format(time.RFC3339Nano), redelivery)
		})
	}
}

// TestCrashUnderLoadCountsEachAcknowledgedWebhookOnce kills the collector
// (SIGKILL) twice while 32 senders post distinct findings, and starts it
// again each time on the same port and storage. The senders retry every
// refused connection, reset and 503 until each body is answered 200. Then
// each body must be counted exactly once, none twice, none lost; each
// emitted at least once (a record emitted just before a crash whose 200 was
// never sent is emitted again on the retry: at-least-once, reported); and a
// redelivery of a sample answered duplicate.
func TestCrashUnderLoadCountsEachAcknowledgedWebhookOnce(t *testing.T) {
	const (
		n       = 4000
		senders = 32
		kills   = 2
	)
	storage := t.TempDir()
	sink := startOTLPSink(t)
	col := startCrashCollector(t, storage, sink)
	bodies := webhooksend.UniqueFindings(n, 77)
	msgs := signAll(bodies)
	send := newPersistentSender(t)
	url := []string{col.webhookURL}
	one := func(int, int) int { return 0 }
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // liveness guard only
	defer cancel()

	began := time.Now()
	done := make(chan error, 1)
	go func() { done <- send.deliverAll(ctx, senders, msgs, url, one) }()

	var firstStart time.Time
	var restarts []time.Duration
	var ackedAtKill []int
	for k := range kills {
		// Killed mid-run: after a third, then two thirds, of the bodies.
		threshold := n * (k + 1) / (kills + 1)
		eventually(t, col.process, 2*time.Minute, "load before the kill", func() error {
			if got := send.acknowledgedCount(); got < threshold {
				return fmt.Errorf("%d of %d bodies acknowledged", got, threshold)
			}
			return nil
		})
		if k == 0 {
			firstStart = waitStartTime(t, col, sink)
		}
		col.kill()
		ackedAtKill = append(ackedAtKill, send.acknowledgedCount())
		// Refused connections meanwhile: the senders must keep retrying.
		time.Sleep(300 * time.Millisecond)
		restarts = append(restarts, col.restart())
		restored, err := loggedStartTime(col.stderr.String(), restoredMessage)
		if err != nil {
			t.Fatalf("restart %d: %v", k+1, err)
		}
		if d := restored.Sub(firstStart); d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("restart %d: restored start time %s, want the first run's %s", k+1, restored, firstStart)
		}
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(3 * time.Minute):
		t.Fatalf("the senders did not finish (%s)", send)
	}
	if err != nil {
		t.Fatalf("delivery: %v (%s)", err, send)
	}
	elapsed := time.Since(began)
	if got := send.acknowledgedCount(); got != n {
		t.Fatalf("%d of %d bodies acknowledged", got, n)
	}
	if send.transportErrors.Load() == 0 {
		t.Fatalf("no sender saw a transport error: the kills did not happen under load (%s)", send)
	}
	if twice := send.acceptedTwice(); twice > 0 {
		t.Errorf("%d bodies were answered accepted twice: processed again after their 200", twice)
	}
	send.checkRefusals(t)

	want := expectedCounters(t, bodies)
	waitCounters(t, col, want)
	// And still so after a full emission (every series, from the state).
	time.Sleep(1500 * time.Millisecond)
	waitCounters(t, col, want)

	sent := map[[sha256.Size]byte]bool{}
	for _, m := range msgs {
		sent[m.digest] = true
	}
	missing, doubles, unknown := recordsReport(sink.counts(), sent)
	if missing > 0 || unknown > 0 {
		t.Errorf("%d acknowledged webhooks never emitted, %d records of bodies never sent", missing, unknown)
	}

	// A sample again: all duplicates, nothing counted.
	sample := make([]signedMessage, 0, 400)
	for i := range msgs {
		if i%10 == 0 {
			sample = append(sample, msgs[i])
		}
	}
	redelivery := newPersistentSender(t)
	if err := redelivery.deliverAll(ctx, 16, sample, url, one); err != nil {
		t.Fatal(err)
	}
	if got := redelivery.duplicate.Load(); got != int64(len(sample)) {
		t.Errorf("redelivery: %d of %d answered duplicate", got, len(sample))
	}
	time.Sleep(1500 * time.Millisecond)
	waitCounters(t, col, want)
	send.closeIdle()
	redelivery.closeIdle()
	col.stopAndCheck()

	t.Logf("%d distinct findings, %d senders, %d SIGKILLs (at %v acknowledged), restarts took %v; run %s; sender: %s; "+
		"records: %d emitted twice (at-least-once at a crash), %d missing",
		n, senders, kills, ackedAtKill, restarts, elapsed.Round(time.Millisecond), send, doubles, missing)
}
