package e2e

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// shutdownConfig batches both pipelines, as the backend examples do: the
// batch processor is what loses data, or hangs, when a webhook reaches a
// pipeline that is already shutting down.
const shutdownConfig = `
receivers:
  detectify:
    endpoint: @ENDPOINT@
    secret: @SECRET@
processors:
  batch:
exporters:
  file/logs:
    path: @LOGS@
  file/metrics:
    path: @METRICS@
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [detectify]
      processors: [batch]
      exporters: [file/logs]
    metrics:
      receivers: [detectify]
      processors: [batch]
      exporters: [file/metrics]
`

// TestSigtermUnderLoadLosesNothingAcknowledged stops the collector while 8
// senders post distinct findings: it must exit cleanly, without a panic,
// every webhook it answered 200 must be in the output, and none twice. The collector shuts
// one pipeline down before the other, in no fixed order, so the test runs
// a few times.
func TestSigtermUnderLoadLosesNothingAcknowledged(t *testing.T) {
	for run := range 5 {
		t.Run(fmt.Sprint(run), func(t *testing.T) {
			dir := t.TempDir()
			logs := filepath.Join(dir, "logs.json")
			col := startCollector(t, "shutdown", collectorConfig{text: shutdownConfig, vars: map[string]string{
				"@LOGS@": logs, "@METRICS@": filepath.Join(dir, "metrics.json"),
			}})

			var mu sync.Mutex
			acknowledged := map[[sha256.Size]byte]bool{}
			var senders sync.WaitGroup
			for w := range 8 {
				senders.Add(1)
				go func() {
					defer senders.Done()
					// Until the collector stops answering; bounded as a guard.
					for i := range 1_000_000 {
						body := findingBody(fmt.Sprintf("w%d.example.com", w), i)
						status, _, err := postSigned(col.webhookURL, body)
						if err != nil {
							return
						}
						if status == http.StatusOK {
							mu.Lock()
							acknowledged[sha256.Sum256(body)] = true
							mu.Unlock()
						}
					}
				}()
			}
			eventuallyAcknowledged(t, &mu, acknowledged, 200)
			col.stopAndCheck()
			senders.Wait()

			if strings.Contains(col.stderr.String(), "panic") {
				t.Fatalf("the collector panicked while stopping:\n%s", col.stderr.String())
			}
			written, _, err := countFileRecords(logs)
			if err != nil {
				t.Fatal(err)
			}
			missing, duplicates := 0, 0
			for body := range acknowledged {
				if written[body] == 0 {
					missing++
				}
			}
			for _, n := range written {
				duplicates += n - 1
			}
			t.Logf("acknowledged %d, written %d, written twice %d", len(acknowledged), len(written), duplicates)
			if missing > 0 {
				t.Fatalf("%d of %d acknowledged webhooks are missing from the output", missing, len(acknowledged))
			}
			if duplicates > 0 {
				t.Fatalf("%d webhooks are in the output more than once", duplicates)
			}
		})
	}
}

// eventuallyAcknowledged waits until n webhooks were acknowledged, so the
// collector is stopped under load and not before it.
func eventuallyAcknowledged(t *testing.T, mu *sync.Mutex, acknowledged map[[sha256.Size]byte]bool, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		mu.Lock()
		got := len(acknowledged)
		mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("fewer than %d webhooks acknowledged in 2 minutes", n)
}
