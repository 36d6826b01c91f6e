package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

// restartConfig is the receiver with a Prometheus exporter for its metrics
// and, when @STORAGE_*@ are filled in, a file_storage extension for its
// state. Logs go to the nop exporter: these tests are about the counts and
// the dedup memory.
const restartConfig = `
@STORAGE_EXTENSION@
receivers:
  detectify:
    endpoint: @ENDPOINT@
    secret: @SECRET@
    metrics_interval: 1s
    @STORAGE_SETTING@

exporters:
  nop:
  prometheus:
    endpoint: @PROM@

service:
  @STORAGE_SERVICE@
` + telemetrySection + `
  pipelines:
    logs:
      receivers: [detectify]
      exporters: [nop]
    metrics:
      receivers: [detectify]
      exporters: [prometheus]
`

// restartVars fills restartConfig's storage placeholders: file_storage on
// dir, or no storage when dir is "".
func restartVars(dir string) map[string]string {
	if dir == "" {
		return map[string]string{"@STORAGE_EXTENSION@": "", "@STORAGE_SETTING@": "", "@STORAGE_SERVICE@": ""}
	}
	return map[string]string{
		"@STORAGE_EXTENSION@": "extensions:\n  file_storage/detectify:\n    directory: " + dir + "\n",
		"@STORAGE_SETTING@":   "storage: file_storage/detectify",
		"@STORAGE_SERVICE@":   "extensions: [file_storage/detectify]",
	}
}

// startRestartCollector runs restartConfig with storage on storageDir ("" for none).
func startRestartCollector(t *testing.T, storageDir string) *collector {
	t.Helper()
	return startCollector(t, "restart", collectorConfig{text: restartConfig, vars: restartVars(storageDir)})
}

const restartDomain = "restart.example.com"

// sendBeforeRestart sends Detectify's three example messages and five
// findings for restartDomain, and waits until the exporter shows them.
func sendBeforeRestart(t *testing.T, col *collector) map[string]float64 {
	t.Helper()
	sendSeed(t, col.webhookURL, e2eSecret)
	for i := range 5 {
		mustPost(t, col.webhookURL, findingBody(restartDomain, i), "accepted")
	}
	return waitDetectifySamples(t, col, func(s map[string]float64) error {
		return wantSamples(s, map[string]float64{
			findingsKey(seedDomain, "high"):    1,
			findingsKey(restartDomain, "high"): 5,
			scansKey(seedDomain, "finished"):   1,
		})
	})
}

// TestRestartWithStorageContinuesTheCounts stops the distribution with
// SIGTERM and starts it again on the same file_storage directory: every
// series comes back with its value before any new event, a redelivery of a
// webhook accepted before the restart is answered duplicate, and a new
// finding adds one to the restored count.
func TestRestartWithStorageContinuesTheCounts(t *testing.T) {
	storage := t.TempDir()
	first := startRestartCollector(t, storage)
	before := sendBeforeRestart(t, first)
	first.stopAndCheck()

	second := startRestartCollector(t, storage)
	if !strings.Contains(second.stderr.String(), "Restored the Detectify receiver's state") {
		t.Errorf("the restarted receiver did not log that it restored its state")
	}
	// Right after the restart, before any new event: the same series with
	// the same values, emitted from the saved state.
	waitDetectifySamples(t, second, func(s map[string]float64) error {
		return sameSamples(s, before)
	})

	mustPost(t, second.webhookURL, []byte(seedByType(t)[typeFindingHigh]), "duplicate")
	mustPost(t, second.webhookURL, findingBody(restartDomain, 4), "duplicate")
	mustPost(t, second.webhookURL, findingBody(restartDomain, 5), "accepted")

	after := maps.Clone(before)
	after[findingsKey(restartDomain, "high")]++
	waitDetectifySamples(t, second, func(s map[string]float64) error {
		return sameSamples(s, after)
	})
	t.Logf("with storage: %d series restored with their values; redeliveries answered duplicate; a new finding took %s from %v to %v",
		len(before), findingsKey(restartDomain, "high"), before[findingsKey(restartDomain, "high")], after[findingsKey(restartDomain, "high")])
}

// TestRestartWithoutStorageStartsFromZero: without storage nothing is
// remembered: no series until new events, a redelivery is accepted again,
// and the counts start from zero.
func TestRestartWithoutStorageStartsFromZero(t *testing.T) {
	first := startRestartCollector(t, "")
	sendBeforeRestart(t, first)
	first.stopAndCheck()

	second := startRestartCollector(t, "")
	if s := waitDetectifySamples(t, second, func(map[string]float64) error { return nil }); len(s) != 0 {
		t.Errorf("series before any event after a restart without storage: %v", s)
	}

	mustPost(t, second.webhookURL, []byte(seedByType(t)[typeFindingHigh]), "accepted")
	waitDetectifySamples(t, second, func(s map[string]float64) error {
		return wantSamples(s, map[string]float64{findingsKey(seedDomain, "high"): 1})
	})
	// Once a periodic emission (every series, every metrics_interval) has
	// followed, anything remembered would show: nothing else may.
	points := second.telemetryTotal("otelcol_receiver_accepted_metric_points_total")
	eventually(t, second.process, deliveryTimeout, "a periodic emission", func() error {
		if now := second.telemetryTotal("otelcol_receiver_accepted_metric_points_total"); now <= points {
			return fmt.Errorf("no metric points emitted since the event (%v)", now)
		}
		return nil
	})
	got := waitDetectifySamples(t, second, func(map[string]float64) error { return nil })
	// The finding's domain starts its critical, high and medium series; the
	// finding opens its scan (its start was lost with the first
	// collector's memory), which starts the open scans gauge and the
	// stalled scans series.
	want := map[string]float64{
		findingsKey(seedDomain, "critical"): 0,
		findingsKey(seedDomain, "high"):     1,
		findingsKey(seedDomain, "medium"):   0,
		scansKey(seedDomain, "stalled"):     0,
		scansOpenKey(seedDomain):            1,
	}
	if err := sameSamples(got, want); err != nil {
		t.Errorf("after a restart without storage and one finding: %v", err)
	}
}

// TestRestartUnderLoadWithStorageCountsEachFindingOnce stops the
// distribution with SIGTERM while eight senders post distinct findings as
// fast as it answers, then starts it again on the same storage: the
// restored count covers every acknowledged finding and nothing that was
// never sent; redelivering everything that was sent then leaves each
// finding counted exactly once, and every acknowledged one is answered
// duplicate.
func TestRestartUnderLoadWithStorageCountsEachFindingOnce(t *testing.T) {
	const senders = 8
	storage := t.TempDir()
	first := startRestartCollector(t, storage)

	var mu sync.Mutex
	var attempted [][]byte
	acknowledged := map[[sha256.Size]byte]bool{}
	var answered atomic.Int64
	var wg sync.WaitGroup
	for w := range senders {
		wg.Go(func() {
			for i := 0; ; i++ {
				body := findingBody(fmt.Sprintf("load%d.example.com", w), i)
				mu.Lock()
				attempted = append(attempted, body)
				mu.Unlock()
				status, _, err := postSigned(first.webhookURL, body)
				if err != nil {
					return // the collector is shutting down
				}
				if status != http.StatusOK {
					t.Errorf("answered %d while running", status)
					return
				}
				mu.Lock()
				acknowledged[sha256.Sum256(body)] = true
				mu.Unlock()
				answered.Add(1)
			}
		})
	}
	eventually(t, first.process, time.Minute, "load before SIGTERM", func() error {
		if n := answered.Load(); n < 1000 {
			return fmt.Errorf("%d findings answered so far", n)
		}
		return nil
	})
	first.stopAndCheck()
	wg.Wait()

	second := startRestartCollector(t, storage)
	var restored float64
	waitDetectifySamples(t, second, func(s map[string]float64) error {
		restored = sumSamples(s, "detectify_findings_total")
		if restored < float64(len(acknowledged)) {
			return fmt.Errorf("restored count %v is below the %d acknowledged findings", restored, len(acknowledged))
		}
		return nil
	})
	if restored > float64(len(attempted)) {
		t.Errorf("restored count %v is above the %d findings ever sent", restored, len(attempted))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sum, err := webhooksend.Run(ctx, webhooksend.Config{
		URL: second.webhookURL, Messages: attempted, Secret: []byte(e2eSecret), Concurrency: senders, Timeout: time.Minute,
	})
	if err != nil || !sum.OK() {
		t.Fatalf("redelivery after the restart: %v\n%s", err, sum)
	}
	outcomes := second.requestOutcomes()
	if outcomes["duplicate"] < float64(len(acknowledged)) {
		t.Errorf("%v redeliveries answered duplicate, want at least the %d acknowledged before the restart", outcomes["duplicate"], len(acknowledged))
	}
	waitDetectifySamples(t, second, func(s map[string]float64) error {
		if got := sumSamples(s, "detectify_findings_total"); got != float64(len(attempted)) {
			return fmt.Errorf("detectify_findings_total sums to %v, want %d: each finding sent counted once", got, len(attempted))
		}
		return nil
	})
	t.Logf("SIGTERM under load: %d sent, %d acknowledged before SIGTERM, %v counted after the restart; "+
		"redelivery of all %d: %v duplicate, %v accepted; final count %d",
		len(attempted), len(acknowledged), restored, len(attempted), outcomes["duplicate"], outcomes["accepted"], len(attempted))
}

// waitDetectifySamples waits until the exporter's page satisfies check and
// returns its series.
func waitDetectifySamples(t *testing.T, col *collector, check func(map[string]float64) error) map[string]float64 {
	t.Helper()
	var samples map[string]float64
	eventually(t, col.process, deliveryTimeout, "series at "+col.promURL, func() error {
		var err error
		if samples, err = detectifySeries(col.promURL); err != nil {
			return err
		}
		return check(samples)
	})
	return samples
}

// wantSamples checks the series of want, leaving the others alone.
func wantSamples(got, want map[string]float64) error {
	for _, k := range slices.Sorted(maps.Keys(want)) {
		v, ok := got[k]
		switch {
		case !ok:
			return fmt.Errorf("no series %s", k)
		case v != want[k]:
			return fmt.Errorf("%s = %v, want %v", k, v, want[k])
		}
	}
	return nil
}

// sameSamples checks that got holds exactly the series of want.
func sameSamples(got, want map[string]float64) error {
	if err := wantSamples(got, want); err != nil {
		return err
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			return fmt.Errorf("unexpected series %s = %v", k, got[k])
		}
	}
	return nil
}

func sumSamples(s map[string]float64, name string) float64 {
	var total float64
	for k, v := range s {
		if strings.HasPrefix(k, name+"{") {
			total += v
		}
	}
	return total
}
