package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

// overloadConfig puts memory_limiter in front of both pipelines and exports
// through a queue to a backend (the test's otlpSink) that is down at first:
// the queue holds every accepted webhook in memory, so the heap grows past
// the soft limit and memory_limiter refuses, and keeps refusing until the
// backend comes back and the queue drains. The pressure is live data, not
// garbage, which makes the refusals certain once enough has been sent.
//
// Limits: the collector idles at about 4 MiB of heap; the soft limit
// (limit_mib - spike_limit_mib) is 24 MiB, which overloadWebhooks bodies of
// overloadBodySize bytes exceed four times over.
const overloadConfig = `
receivers:
  detectify:
    endpoint: @ENDPOINT@
    secret: @SECRET@
    metrics_interval: 1s

processors:
  memory_limiter:
    check_interval: 100ms
    limit_mib: 32
    spike_limit_mib: 8
    min_gc_interval_when_soft_limited: 500ms

exporters:
  otlp_http:
    endpoint: @SINK@
    encoding: json
    compression: none
    retry_on_failure:
      enabled: true
      initial_interval: 50ms
      max_interval: 200ms
      max_elapsed_time: 0s   # never drop: the backend comes back
    sending_queue:
      enabled: true
      num_consumers: 4
      queue_size: 1000000    # memory_limiter, not a full queue, must push back

service:
` + telemetrySection + `
  pipelines:
    logs:
      receivers: [detectify]
      processors: [memory_limiter]
      exporters: [otlp_http]
    metrics:
      receivers: [detectify]
      processors: [memory_limiter]
      exporters: [otlp_http]
`

const (
	overloadWebhooks = 3000
	overloadBodySize = 32 << 10
)

// TestOverloadMemoryLimiterPushesBackNothingLost sends unique findings to the
// distribution while its exporter's backend is down. memory_limiter must
// refuse (the receiver answers 503 with Retry-After), the sender retries as
// Detectify does, and once the backend is back every webhook reaches it
// exactly once, and is counted once.
func TestOverloadMemoryLimiterPushesBackNothingLost(t *testing.T) {
	sink := startOTLPSink(t)
	sink.setDown(true)
	col := startCollector(t, "overload", collectorConfig{text: overloadConfig, vars: map[string]string{"@SINK@": sink.url}})

	msgs := paddedFindings(overloadWebhooks, overloadBodySize)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // liveness guard only
	defer cancel()
	type result struct {
		sum webhooksend.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := webhooksend.Run(ctx, webhooksend.Config{
			URL:         col.webhookURL,
			Messages:    msgs,
			Secret:      []byte(e2eSecret),
			Concurrency: 8,
			Retries:     1_000_000,             // retry until delivered; ctx bounds the run
			MaxBackoff:  50 * time.Millisecond, // honour Retry-After, capped to keep the test short
			BackoffBase: 10 * time.Millisecond,
			Timeout:     time.Minute, // a slow machine must not turn a 200 into a transport error
		})
		done <- result{sum, err}
	}()

	// The backend stays down until memory_limiter has refused; if the
	// sender finishes first, the limits are too high to prove anything.
	var refused float64
	var res *result
	eventually(t, col.process, 3*time.Minute, "memory_limiter to refuse", func() error {
		select {
		case r := <-done:
			res = &r
			return nil
		default:
		}
		refused = col.requestOutcomes()["refused"]
		if refused == 0 {
			return fmt.Errorf("no 503 yet")
		}
		return nil
	})
	if res != nil {
		t.Fatalf("every webhook was accepted before memory_limiter refused any; lower its limits or send more\n%s", res.sum)
	}
	rssAtRefusal := col.procStats().rss

	// While the backend is down the queue cannot shrink, so the limiter keeps
	// refusing: a probe sees the 503 and its Retry-After.
	probes, refusedProbe := probeRefusal(t, col)

	sink.setDown(false)
	deliverProbe(t, col, refusedProbe)
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatalf("the sender did not finish: %v", ctx.Err())
	}
	if r.err != nil {
		t.Fatalf("sender: %v\n%s", r.err, r.sum)
	}
	sum := r.sum
	t.Logf("sender:\n%s", sum)
	if sum.Sent != overloadWebhooks || sum.Delivered != overloadWebhooks || sum.Failed != 0 {
		t.Fatalf("sent %d, delivered %d, failed %d; want all %d delivered", sum.Sent, sum.Delivered, sum.Failed, overloadWebhooks)
	}
	if sum.AttemptStatus[http.StatusServiceUnavailable] == 0 {
		t.Fatalf("the sender never saw a 503: the test proved nothing")
	}
	if !strings.Contains(col.stderr.String(), "Refusing data") {
		t.Errorf("memory_limiter never logged that it refused data; the 503s came from elsewhere")
	}

	want := map[[sha256.Size]byte]bool{}
	for _, m := range append(msgs, probes...) {
		want[sha256.Sum256(m)] = true
	}
	eventually(t, col.process, 2*time.Minute, "every webhook at the backend", func() error {
		if got := len(sink.counts()); got < len(want) {
			return fmt.Errorf("%d of %d webhooks at the backend", got, len(want))
		}
		return nil
	})
	outcomes := col.requestOutcomes()
	totals, err := scrapeTotals(col.telemetryURL)
	if err != nil {
		t.Fatal(err)
	}
	col.stopAndCheck() // drains the queue: anything still in it would arrive now

	missing, duplicates, unknown := recordsReport(sink.counts(), want)
	bodies := len(want) - missing
	t.Logf("overload: %d webhooks + %d probes, %d attempts, %d answered 503 (Retry-After honoured, capped at 50ms), "+
		"RSS at first refusal %.1f MiB; backend got %d unique records, %d duplicates; receiver outcomes %v; "+
		"pipeline refusals: %v log records, %v metric points",
		overloadWebhooks, len(probes), sum.Attempts, sum.AttemptStatus[http.StatusServiceUnavailable],
		mib(rssAtRefusal), bodies, duplicates, outcomes,
		totals["otelcol_receiver_refused_log_records_total"]+totals["otelcol_receiver_failed_log_records_total"],
		totals["otelcol_receiver_refused_metric_points_total"]+totals["otelcol_receiver_failed_metric_points_total"])
	if bodies != len(want) || duplicates != 0 || unknown != 0 {
		t.Errorf("backend has %d of %d webhooks, %d duplicates, %d unknown bodies; want each exactly once", bodies, len(want), duplicates, unknown)
	}
	if got := sink.findingsTotal(); got != int64(len(want)) {
		t.Errorf("detectify.findings sums to %d at the backend, want %d: each finding counted once", got, len(want))
	}
	if got := int(outcomes["accepted"]); got != len(want) {
		t.Errorf("the receiver counted %d accepted webhooks, want %d", got, len(want))
	}
}

// probeRefusal posts fresh findings until one is refused, and checks that
// the refusal is a 503 with Retry-After: 1. It returns every probe sent:
// the accepted ones must reach the backend, and the refused one is
// delivered later with deliverProbe.
func probeRefusal(t *testing.T, col *collector) (probes [][]byte, refused []byte) {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // liveness guard only
	for i := 0; ; i++ {
		body := []byte(strings.Replace(string(findingBody("probe.example.com", i)), "{", `{"probe":true,`, 1))
		status, answer, header, err := postSignedHeader(col.webhookURL, body)
		if err != nil {
			t.Fatalf("probe: %v", err)
		}
		probes = append(probes, body)
		switch status {
		case http.StatusOK:
		case http.StatusServiceUnavailable:
			if ra := header.Get("Retry-After"); ra != "1" {
				t.Errorf("503 with Retry-After %q, want 1", ra)
			}
			return probes, body
		default:
			t.Fatalf("probe answered %d %s", status, answer)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no probe was refused within a minute while the backend was down")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// deliverProbe retries body as Detectify would until it is accepted.
func deliverProbe(t *testing.T, col *collector, body []byte) {
	t.Helper()
	eventually(t, col.process, 2*time.Minute, "the refused probe accepted on retry", func() error {
		status, answer, err := postSigned(col.webhookURL, body)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("%d %s", status, answer)
		}
		return nil
	})
}

// postSignedHeader is postSigned that also returns the answer's header.
func postSignedHeader(url string, body []byte) (int, string, http.Header, error) {
	var header http.Header
	status, answer, err := postSignedWith(url, body, func(h http.Header) { header = h })
	return status, answer, header, err
}

// paddedFindings returns n distinct findings of about size bytes each: a
// finding as Detectify sends it, plus a field the receiver keeps in the
// body only.
func paddedFindings(n, size int) [][]byte {
	msgs := webhooksend.UniqueFindings(n, 7)
	for i, m := range msgs {
		pad := max(size-len(m)-20, 0)
		msgs[i] = []byte(`{"padding":"` + strings.Repeat("p", pad) + `",` + string(m[1:]))
	}
	return msgs
}
