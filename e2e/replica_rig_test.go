package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

// Helpers of replicas_test.go: two otelcol-detectify replicas sharing one
// redis-server, and a scan workload spread over them.

// replicaConfig is one replica: its state in Redis under its replica_id,
// its counters on a Prometheus page, and everything to its own in-process
// sink without a queue (sinkExporters).
const replicaConfig = `
receivers:
  detectify:
    endpoint: @ENDPOINT@
    secret: @SECRET@
    metrics_interval: 1s
    metrics_flush_interval: 100ms
    shared_state:
      redis:
        endpoint: @REDIS@
        replica_id: @REPLICA@

` + sinkExporters + `
service:
` + telemetrySection + sinkPipelines

const continuedMessage = "Continuing this replica's counters from Redis"

// replicaRig is two replicas on one Redis, each with its own sink.
type replicaRig struct {
	redis *redisServer
	cols  [2]*collector
	sinks [2]*otlpSink
	urls  []string
}

func startReplicaRig(t *testing.T) *replicaRig {
	t.Helper()
	r := &replicaRig{redis: startRedis(t)}
	for i := range r.cols {
		r.sinks[i] = startOTLPSink(t)
		r.cols[i] = startCollector(t, fmt.Sprintf("replica%d", i), collectorConfig{text: replicaConfig, vars: map[string]string{
			"@REDIS@": r.redis.addr, "@REPLICA@": fmt.Sprintf("replica-%d", i), "@SINK@": r.sinks[i].url,
		}})
		r.urls = append(r.urls, r.cols[i].webhookURL)
	}
	return r
}

// replicaScan is one scan of the workload and how its delivery went.
type replicaScan struct {
	webhooksend.ScanSummary
	started  signedMessage
	findings []signedMessage
	finished *signedMessage // nil for a scan that never finishes

	startAck, finishAck acknowledgement
}

// replicaWorkload is several scenarios' scans: some within Detectify's
// limits, some over them (findings withheld), one that never finishes.
type replicaWorkload struct {
	seed   uint64
	scans  []*replicaScan
	bodies [][]byte // every message, each distinct
}

// newReplicaWorkload makes a workload from a random seed, logged so that a
// failure can be replayed.
func newReplicaWorkload(t *testing.T) *replicaWorkload {
	t.Helper()
	seed := rand.Uint64()
	t.Logf("workload seed %d", seed)
	w := &replicaWorkload{seed: seed}
	for g, opts := range []webhooksend.ScenarioOptions{
		// Over the 10 per title limit: findings withheld.
		{Domains: domainNames("a", 4), FindingsPerScan: 40, Titles: 3},
		// Many findings of many titles: up to the 100 per scan limit.
		{Domains: domainNames("b", 2), FindingsPerScan: 160, Titles: 30},
		// Within the limits; the last scan never finishes.
		{Domains: domainNames("c", 3), FindingsPerScan: 8, Titles: 6, Unfinished: 1},
	} {
		opts.Seed = seed*10 + uint64(g)
		msgs, scans := webhooksend.Scenario(opts)
		signed := signAll(msgs)
		w.bodies = append(w.bodies, msgs...)
		i := 0
		for _, s := range scans {
			sc := &replicaScan{ScanSummary: s, started: signed[i]}
			if m := parseClassic(t, msgs[i]); m.Type != "event_scan_started" || m.Domain != s.Domain {
				t.Fatalf("scenario: %s where %s's scan starts", m.Type, s.Domain)
			}
			sc.findings = signed[i+1 : i+1+s.Sent]
			i += 1 + s.Sent
			if s.Finished {
				if m := parseClassic(t, msgs[i]); m.Type != "event_scan_finished" || m.Domain != s.Domain {
					t.Fatalf("scenario: %s where %s's scan finishes", m.Type, s.Domain)
				}
				sc.finished = &signed[i]
				i++
			}
			w.scans = append(w.scans, sc)
		}
		if i != len(msgs) {
			t.Fatalf("scenario: %d messages, %d accounted for", len(msgs), i)
		}
	}
	withheld := 0
	for _, sc := range w.scans {
		if sc.finished != nil && sc.Withheld > 0 {
			withheld++
		}
	}
	if withheld == 0 {
		t.Fatalf("no finished scan has withheld findings: the workload cannot check detectify.scan.findings.undelivered")
	}
	return w
}

// withheld lists the withheld findings of each finished scan.
func (w *replicaWorkload) withheld() []int {
	var out []int
	for _, sc := range w.scans {
		if sc.finished != nil {
			out = append(out, sc.Withheld)
		}
	}
	return out
}

func domainNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d.replicas.example.com", prefix, i)
	}
	return out
}

// startPause separates a scan's start from its findings, so that its
// duration is well above zero and checked against bounds.
const startPause = 300 * time.Millisecond

// start runs the workload in the background; wait returns its result, or
// ctx's error once ctx ends first.
func (w *replicaWorkload) start(ctx context.Context, send *persistentSender, urls []string) (wait func() error) {
	done := make(chan error, 1)
	go func() { done <- w.run(ctx, send, urls) }()
	return func() error {
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// run delivers every scan at once. A scan's start goes to one replica
// (alternating by scan), its findings to either at random, a fifth of them
// to both at the same moment (a redelivery racing the first delivery), and
// its finish to the replica that did not take its start. Retries go to the
// other replica each time, as a load balancer would send them. A scan's
// findings are sent once its start is acknowledged, its finish once every
// finding is, so that the finish's insight is exact.
func (w *replicaWorkload) run(ctx context.Context, send *persistentSender, urls []string) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(w.scans))
	for si, sc := range w.scans {
		wg.Go(func() {
			if err := w.runScan(ctx, si, sc, send, urls); err != nil {
				errs <- fmt.Errorf("scan %s of %s: %w", sc.ScanID, sc.Domain, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (w *replicaWorkload) runScan(ctx context.Context, si int, sc *replicaScan, send *persistentSender, urls []string) error {
	alternate := func(first int) func(int) int { return func(try int) int { return (first + try) % 2 } }
	var err error
	if sc.startAck, err = send.deliver(ctx, sc.started, urls, alternate(si%2)); err != nil {
		return err
	}
	time.Sleep(startPause)

	rng := rand.New(rand.NewPCG(w.seed, uint64(si)))
	type job struct {
		m     signedMessage
		first int
		twin  bool
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(sc.findings)+1)
	for range 4 {
		wg.Go(func() {
			for j := range jobs {
				if !j.twin {
					if _, err := send.deliver(ctx, j.m, urls, alternate(j.first)); err != nil {
						errs <- err
						return
					}
					continue
				}
				var twins sync.WaitGroup
				for r := range 2 {
					twins.Go(func() {
						if _, err := send.deliver(ctx, j.m, urls, alternate(r)); err != nil {
							errs <- err
						}
					})
				}
				twins.Wait()
			}
		})
	}
	for _, m := range sc.findings {
		jobs <- job{m: m, first: rng.IntN(2), twin: rng.IntN(5) == 0}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if sc.finished != nil {
		sc.finishAck, err = send.deliver(ctx, *sc.finished, urls, alternate(1-sc.startAck.target))
	}
	return err
}

// redeliverSample sends a third of the bodies again, each to a random
// replica, 16 at a time.
func (w *replicaWorkload) redeliverSample(ctx context.Context, send *persistentSender, urls []string) (int, error) {
	rng := rand.New(rand.NewPCG(w.seed, 99))
	var sample []signedMessage
	var first []int
	for _, m := range signAll(w.bodies) {
		if rng.IntN(3) == 0 {
			sample = append(sample, m)
			first = append(first, rng.IntN(2))
		}
	}
	return len(sample), send.deliverAll(ctx, 16, sample, urls, func(i, try int) int { return (first[i] + try) % 2 })
}

// redeliverAsDuplicates redelivers a sample of the workload with a sender
// of its own and fails the test unless every one is answered duplicate.
func (w *replicaWorkload) redeliverAsDuplicates(ctx context.Context, t *testing.T, urls []string) (int, *persistentSender) {
	t.Helper()
	redelivery := newPersistentSender(t)
	n, err := w.redeliverSample(ctx, redelivery, urls)
	if err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if got := redelivery.duplicate.Load(); got != int64(n) {
		t.Errorf("redelivery: %d of %d answered duplicate (%s)", got, n, redelivery)
	}
	return n, redelivery
}

// replicaCheck is what a run must satisfy; strict when nothing crashed:
// then each body is emitted and answered accepted exactly once.
type replicaCheck struct {
	strict bool
}

// checkReplicaRun holds the rig to the workload once every body is
// acknowledged: counters summed over the replicas exact, records of every
// body (exactly once when strict), finished records and gauges with the
// right duration and withheld findings. It returns a report.
func checkReplicaRun(t *testing.T, rig *replicaRig, w *replicaWorkload, send *persistentSender, c replicaCheck) string {
	t.Helper()
	sent := map[[sha256.Size]byte]bool{}
	for _, m := range signAll(w.bodies) {
		sent[m.digest] = true
	}
	if got := send.acknowledgedCount(); got != len(sent) {
		t.Fatalf("%d of %d bodies acknowledged", got, len(sent))
	}
	send.checkRefusals(t)
	if c.strict {
		if twice := send.acceptedTwice(); twice > 0 || send.accepted.Load() != int64(len(sent)) {
			t.Errorf("%d answers accepted for %d bodies, %d bodies answered accepted twice", send.accepted.Load(), len(sent), twice)
		}
	}

	// Counters: each replica its own, their sum exact.
	want := expectedCounters(t, w.bodies)
	var perReplica [2]map[string]float64
	check := func() error {
		for i, col := range rig.cols {
			page, err := detectifySeries(col.promURL)
			if err != nil {
				return err
			}
			perReplica[i] = page
		}
		if d := diffCounters(sumCounters(perReplica[0], perReplica[1]), want); d != "" {
			return fmt.Errorf("counters summed over the replicas: %s", d)
		}
		return nil
	}
	eventually(t, rig.cols[0].process, deliveryTimeout, "counters summed over the replicas", check)
	time.Sleep(1500 * time.Millisecond) // a full emission of every series since
	if err := check(); err != nil {
		t.Errorf("after a full emission: %v", err)
	}
	var findings [2]float64
	for i := range perReplica {
		for k, v := range counterSeries(perReplica[i]) {
			if strings.HasPrefix(k, "detectify_findings_total{") {
				findings[i] += v
			}
		}
		if findings[i] == 0 {
			t.Errorf("replica %d counted no finding: the workload was not spread", i)
		}
	}
	for i, s := range rig.sinks {
		if starts := s.startTimes(); len(starts) != 1 {
			t.Errorf("replica %d's counters came with %d start times, want 1: %v", i, len(starts), starts)
		}
	}

	// Records: every body, from one replica or the other.
	all := map[[sha256.Size]byte]int{}
	var emitted [2]int
	var records []sinkRecord
	for i, s := range rig.sinks {
		for d, n := range s.counts() {
			all[d] += n
			emitted[i] += n
		}
		records = append(records, s.snapshot()...)
	}
	missing, doubles, unknown := recordsReport(all, sent)
	if missing > 0 || unknown > 0 || (c.strict && doubles > 0) {
		t.Errorf("records: %d acknowledged bodies missing, %d emitted more than once, %d unknown", missing, doubles, unknown)
	}

	// Finished records and gauges of the scans.
	crossed := 0
	for _, sc := range w.scans {
		var fin []sinkRecord
		for _, r := range records {
			if r.attrs["detectify.scan.id"] == sc.ScanID && r.attrs["detectify.event.type"] == "event_scan_finished" {
				fin = append(fin, r)
			}
		}
		if sc.finished == nil {
			if len(fin) > 0 {
				t.Errorf("%s: a finished record for a scan that never finished", sc.Domain)
			}
			continue
		}
		if sc.startAck.target != sc.finishAck.target {
			crossed++
		}
		lo, hi := sc.finishAck.firstSent.Sub(sc.startAck.at), sc.finishAck.at.Sub(sc.startAck.firstSent)
		if len(fin) == 0 || (c.strict && len(fin) != 1) {
			t.Errorf("%s: %d finished records", sc.Domain, len(fin))
		}
		for _, r := range fin {
			if err := checkScanAttrs(r.attrs, sc, lo, hi); err != nil {
				t.Errorf("%s (started on replica %d, finished on %d): finished record: %v",
					sc.Domain, sc.startAck.target, sc.finishAck.target, err)
			}
		}
	}
	if crossed == 0 {
		t.Errorf("no scan started on one replica and finished on the other")
	}
	// The gauges: every replica exports every domain's last scan.
	eventually(t, rig.cols[0].process, deliveryTimeout, "scan gauges on both replicas", func() error {
		for i, col := range rig.cols {
			page, err := detectifySeries(col.promURL)
			if err != nil {
				return err
			}
			for _, sc := range w.scans {
				if err := checkScanGauges(page, sc); err != nil {
					return fmt.Errorf("replica %d: %w", i, err)
				}
			}
		}
		return nil
	})
	var outcomes [2]map[string]float64
	for i, col := range rig.cols {
		outcomes[i] = col.requestOutcomes()
	}
	if c.strict && outcomes[0]["accepted"]+outcomes[1]["accepted"] != float64(len(sent)) {
		t.Errorf("the replicas counted %v + %v requests accepted, want %d", outcomes[0]["accepted"], outcomes[1]["accepted"], len(sent))
	}
	return fmt.Sprintf("%d bodies in %d scans (%d started on one replica and finished on the other, withheld findings %v); "+
		"findings counted %v by replica; records emitted %v by replica, %d doubles; sender: %s; "+
		"requests by outcome at the replicas (since their last start): %v %v",
		len(sent), len(w.scans), crossed, w.withheld(), findings, emitted, doubles, send, outcomes[0], outcomes[1])
}

// checkScanAttrs checks a finished record's insight: the withheld findings,
// those delivered, and a duration within [lo, hi] (the receipts of the
// start and the finish lie within their attempts).
func checkScanAttrs(attrs map[string]any, sc *replicaScan, lo, hi time.Duration) error {
	if p, ok := attrs["detectify.scan.partial"]; ok && p == true {
		return fmt.Errorf("partial, though its start was delivered")
	}
	if got, ok := attrs["detectify.scan.findings.undelivered"].(int64); !ok || got != int64(sc.Withheld) {
		return fmt.Errorf("detectify.scan.findings.undelivered = %v, want %d", attrs["detectify.scan.findings.undelivered"], sc.Withheld)
	}
	if got, ok := attrs["detectify.scan.findings.delivered"].(int64); !ok || got != int64(sc.Sent) {
		return fmt.Errorf("detectify.scan.findings.delivered = %v, want %d", attrs["detectify.scan.findings.delivered"], sc.Sent)
	}
	d, ok := attrs["detectify.scan.duration"].(float64)
	if !ok {
		return fmt.Errorf("no detectify.scan.duration: %v", attrs)
	}
	return within(d, lo, hi)
}

func within(seconds float64, lo, hi time.Duration) error {
	const slack = 0.002 // the clock is read at slightly different places
	if seconds < lo.Seconds()-slack || seconds > hi.Seconds()+slack || math.IsNaN(seconds) {
		return fmt.Errorf("duration %.3fs, want within [%.3fs, %.3fs]", seconds, lo.Seconds(), hi.Seconds())
	}
	return nil
}

// checkScanGauges checks a replica's gauges of sc's domain: for a finished
// scan, its withheld findings and duration; for one that never finished,
// none.
func checkScanGauges(page map[string]float64, sc *replicaScan) error {
	undelivered, hasUndelivered := page[undeliveredKey(sc.Domain)]
	duration, hasDuration := page[fmt.Sprintf(`detectify_scan_duration_seconds{detectify_domain=%q}`, sc.Domain)]
	if sc.finished == nil {
		if hasUndelivered || hasDuration {
			return fmt.Errorf("%s: scan gauges for a domain whose scan never finished", sc.Domain)
		}
		return nil
	}
	if !hasUndelivered || undelivered != float64(sc.Withheld) {
		return fmt.Errorf("%s: detectify_scan_findings_undelivered %v (exported: %v), want %d", sc.Domain, undelivered, hasUndelivered, sc.Withheld)
	}
	if !hasDuration {
		return fmt.Errorf("%s: no detectify_scan_duration_seconds", sc.Domain)
	}
	return within(duration, sc.finishAck.firstSent.Sub(sc.startAck.at), sc.finishAck.at.Sub(sc.startAck.firstSent))
}
