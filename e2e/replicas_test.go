package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestReplicasShareDedupScansAndCounters runs two replicas on one Redis and
// spreads a scan workload over them, with concurrency: starts and finishes
// of each scan on different replicas, findings on either at random, a fifth
// of them to both at the same moment, then a third of everything again.
// Every webhook must be emitted exactly once in total and answered accepted
// exactly once (a racing copy is answered duplicate, or 503 and then
// duplicate); the counters summed over the replicas must be exact; a scan
// finished on the other replica than the one it started on must have its
// duration and withheld findings right, on its record and on both
// replicas' gauges.
func TestReplicasShareDedupScansAndCounters(t *testing.T) {
	rig := startReplicaRig(t)
	w := newReplicaWorkload(t)
	send := newPersistentSender(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // liveness guard only
	defer cancel()

	began := time.Now()
	if err := w.run(ctx, send, rig.urls); err != nil {
		t.Fatalf("delivery: %v (%s)", err, send)
	}
	elapsed := time.Since(began)
	if n := send.transportErrors.Load() + send.stateDown503.Load() + send.other503.Load(); n > 0 {
		t.Errorf("%d transport errors or 503s other than a body in flight elsewhere, with nothing failing (%s)", n, send)
	}
	report := checkReplicaRun(t, rig, w, send, replicaCheck{strict: true})

	emitted := totalRecords(rig)
	n, redelivery := w.redeliverAsDuplicates(ctx, t, rig.urls)
	// Answered after their records would have been exported: none.
	if got := totalRecords(rig); got != emitted {
		t.Errorf("the redeliveries emitted %d records", got-emitted)
	}
	checkReplicaRun(t, rig, w, send, replicaCheck{strict: true})
	t.Logf("run %s: %s; redelivery of %d: %s", elapsed.Round(time.Millisecond), report, n, redelivery)
}

// TestReplicasSigkillOfOneReplicaMidRun kills one replica with SIGKILL in
// the middle of the workload and starts it again (same replica_id, same
// port) a second later; the sender retries on the other replica. A body
// the killed replica held is turned away as in flight (503) until its
// one-minute lease runs out, then taken over. Nothing acknowledged may be
// lost, no body counted twice (the killed replica's counters continue from
// Redis, with their start time), no body answered accepted twice; records
// are emitted at least once (doubles reported).
func TestReplicasSigkillOfOneReplicaMidRun(t *testing.T) {
	rig := startReplicaRig(t)
	w := newReplicaWorkload(t)
	send := newPersistentSender(t)
	// Above the one-minute lease of a claim the killed replica held.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	victim := rig.cols[0]
	// The victim holds each claim 50ms while its record is exported, so
	// that the kill finds claims held, to be taken over after their lease.
	rig.sinks[0].logsDelay.Store(int64(50 * time.Millisecond))
	began := time.Now()
	wait := w.start(ctx, send, rig.urls)

	eventually(t, victim.process, time.Minute, "the workload under way", func() error {
		if got := send.acknowledgedCount(); got < len(w.bodies)/3 {
			return fmt.Errorf("%d of %d bodies acknowledged", got, len(w.bodies))
		}
		return nil
	})
	start := waitStartTime(t, victim, rig.sinks[0])
	var inFlightAtKill int64
	eventually(t, victim.process, 30*time.Second, "requests under way to the victim", func() error {
		if inFlightAtKill = send.inFlight[0].Load(); inFlightAtKill < 3 {
			return fmt.Errorf("%d requests under way", inFlightAtKill)
		}
		return nil
	})
	victim.kill()
	killedAt := time.Now()
	ackedAtKill := send.acknowledgedCount()
	time.Sleep(time.Second)
	victim.restart()
	continued, err := loggedStartTime(victim.stderr.String(), continuedMessage)
	if err != nil {
		t.Fatalf("the restarted replica: %v", err)
	}
	if d := continued.Sub(start); d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("the restarted replica's counters start at %s, want %s", continued, start)
	}

	if err := wait(); err != nil {
		t.Fatalf("delivery: %v (%s)", err, send)
	}
	elapsed := time.Since(began)
	if send.transportErrors.Load() == 0 {
		t.Errorf("no transport error: the kill did not happen under load (%s)", send)
	}
	if twice := send.acceptedTwice(); twice > 0 {
		t.Errorf("%d bodies answered accepted twice: processed again after their 200", twice)
	}
	report := checkReplicaRun(t, rig, w, send, replicaCheck{})
	// Bodies acknowledged only once the lease of the killed replica's claim
	// on them ran out: taken over.
	takenOver := send.acknowledgedAfter(killedAt.Add(50 * time.Second))
	if takenOver == 0 {
		t.Errorf("no body waited for a lease of the killed replica: the kill found no claim held, the test proved less than it should")
	}

	n, redelivery := w.redeliverAsDuplicates(ctx, t, rig.urls)
	t.Logf("SIGKILL of replica 0 at %d of %d bodies acknowledged, %d requests to it in flight, restarted 1s later; "+
		"%d bodies taken over after the lease; run %s: %s; redelivery of %d: %s",
		ackedAtKill, len(w.bodies), inFlightAtKill, takenOver, elapsed.Round(time.Millisecond), report, n, redelivery)
}

// TestReplicasRedisOutageMidRun takes Redis away for a few seconds in the
// middle of the workload: stopped (SIGSTOP, commands hang until go-redis's
// timeouts) or shut down (connections refused) and started again on the
// same port with its data. Meanwhile webhooks are answered 503 with
// Retry-After (and retried), /health answers 503 on both replicas; after
// it, /health answers 200 again and the workload completes by itself.
// Nothing acknowledged may be lost, no body counted twice.
func TestReplicasRedisOutageMidRun(t *testing.T) {
	for _, mode := range []string{"suspended", "restarted"} {
		t.Run(mode, func(t *testing.T) {
			rig := startReplicaRig(t)
			w := newReplicaWorkload(t)
			send := newPersistentSender(t)
			// Above the one-minute lease: a claim whose script Redis ran
			// after the replica gave up on it waits for it.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()

			began := time.Now()
			wait := w.start(ctx, send, rig.urls)
			eventually(t, rig.cols[0].process, time.Minute, "the workload under way", func() error {
				if got := send.acknowledgedCount(); got < len(w.bodies)*2/5 {
					return fmt.Errorf("%d of %d bodies acknowledged", got, len(w.bodies))
				}
				return nil
			})

			// go-redis gives up on a stalled Redis after 5 to 10s (dial and
			// read timeouts, retries): only then is a webhook refused.
			outage := 3 * time.Second
			if mode == "suspended" {
				outage = 12 * time.Second
			}
			down := time.Now()
			ackedAtOutage := send.acknowledgedCount()
			if mode == "suspended" {
				rig.redis.suspend()
			} else {
				rig.redis.shutdownSaving()
			}
			unhealthyAfter := waitHealth(t, rig, http.StatusServiceUnavailable, 20*time.Second)
			time.Sleep(time.Until(down.Add(outage)))
			ackedDuringOutage := send.acknowledgedCount() - ackedAtOutage
			up := time.Now()
			if mode == "suspended" {
				rig.redis.resume()
			} else {
				rig.redis.startAgain()
			}
			healthyAfter := waitHealth(t, rig, http.StatusOK, 30*time.Second)

			if err := wait(); err != nil {
				t.Fatalf("delivery: %v (%s)", err, send)
			}
			elapsed := time.Since(began)
			if send.stateDown503.Load() == 0 {
				t.Errorf("no webhook was answered 503 for the state while Redis was away (%s)", send)
			}
			report := checkReplicaRun(t, rig, w, send, replicaCheck{})
			twice := send.acceptedTwice()
			t.Logf("Redis %s for %s at %d of %d bodies acknowledged (%d more acknowledged meanwhile): /health 503 on both "+
				"replicas within %s, 200 again %s after Redis was back; run %s: %s; %d bodies answered accepted twice",
				mode, up.Sub(down).Round(time.Millisecond), ackedAtOutage, len(w.bodies), ackedDuringOutage,
				unhealthyAfter.Round(time.Millisecond), healthyAfter.Round(time.Millisecond), elapsed.Round(time.Millisecond), report, twice)
		})
	}
}

// waitHealth polls /health of both replicas until each has answered want,
// and returns how long that took.
func waitHealth(t *testing.T, rig *replicaRig, want int, timeout time.Duration) time.Duration {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	began := time.Now()
	for i, col := range rig.cols {
		eventually(t, col.process, timeout, fmt.Sprintf("replica %d's /health answering %d", i, want), func() error {
			resp, err := client.Get(col.healthURL)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				return fmt.Errorf("%s", resp.Status)
			}
			return nil
		})
	}
	return time.Since(began)
}

// totalRecords is the number of records both sinks have.
func totalRecords(rig *replicaRig) int {
	n := 0
	for _, s := range rig.sinks {
		n += len(s.snapshot())
	}
	return n
}
