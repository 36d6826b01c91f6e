package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

// soakEnv sets the soak's duration: `make soak` sets it to 5m; unset, the
// soak runs for defaultSoak as part of the end-to-end tests.
const (
	soakEnv     = "DETECTIFY_SOAK"
	defaultSoak = 20 * time.Second
	soakRate    = 200 // requests per second
)

// soakConfig is a production-like pipeline: memory_limiter in front, logs
// to a file, metrics to Prometheus, the collector's own metrics on a pull
// endpoint.
const soakConfig = `
receivers:
  detectify:
    endpoint: @ENDPOINT@
    secret: @SECRET@
    metrics_interval: 5s
    dedup_window: @DEDUP@   # a fifth of the soak (at most 1m): the dedup memory reaches its steady size early

processors:
  memory_limiter:
    check_interval: 1s
    limit_mib: 512
    spike_limit_mib: 128

exporters:
  file:
    path: @LOGS@
    rotation:
      max_megabytes: 4096   # one file, however long the soak
  prometheus:
    endpoint: @PROM@

service:
` + telemetrySection + `
  pipelines:
    logs:
      receivers: [detectify]
      processors: [memory_limiter]
      exporters: [file]
    metrics:
      receivers: [detectify]
      processors: [memory_limiter]
      exporters: [prometheus]
`

func soakDuration(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv(soakEnv)
	if v == "" {
		return defaultSoak
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 5m", soakEnv, v)
	}
	return d
}

// TestSoakSteadyRate sends signed findings at a steady 200 requests/s for
// DETECTIFY_SOAK (20s by default), one in eleven a redelivery of a recent
// one, and samples the collector's RSS, threads and CPU from /proc. Every
// distinct finding must come out once (file exporter, receiver telemetry,
// Prometheus counts), every redelivery be answered duplicate, and the RSS
// stay flat once the dedup memory reached its steady size.
func TestSoakSteadyRate(t *testing.T) {
	duration := soakDuration(t)
	unique := int(duration.Seconds()*soakRate) * 10 / 11
	total := len(withRedeliveries(make([][]byte, unique)))
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs.json")
	dedupWindow := min(time.Minute, duration/5)
	col := startCollector(t, "soak", collectorConfig{text: soakConfig, vars: map[string]string{"@LOGS@": logs, "@DEDUP@": dedupWindow.String()}})

	start := col.procStats()
	heapStart := col.telemetryTotal("otelcol_process_runtime_heap_alloc_bytes")
	allocStart := col.telemetryTotal("otelcol_process_runtime_total_alloc_bytes_total")
	samples := []procStats{start}
	stopSampling := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Go(func() {
		every := max(duration/20, time.Second)
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(every):
			}
			if s, err := readProcStats(col.cmd.Process.Pid); err == nil {
				samples = append(samples, s)
			}
		}
	})

	msgs := webhooksend.UniqueFindings(unique, 11)
	ctx, cancel := context.WithTimeout(context.Background(), 3*duration+5*time.Minute) // liveness guard only
	defer cancel()
	sum, err := webhooksend.Run(ctx, webhooksend.Config{
		URL:         col.webhookURL,
		Messages:    withRedeliveries(msgs),
		Secret:      []byte(e2eSecret),
		Rate:        soakRate,
		Concurrency: 8,
		Retries:     100,
		MaxBackoff:  100 * time.Millisecond,
		Timeout:     time.Minute,
	})
	close(stopSampling)
	sampling.Wait()
	if err != nil {
		t.Fatalf("sender: %v\n%s", err, sum)
	}
	t.Logf("sender:\n%s", sum)
	if sum.Sent != total || sum.Delivered != total || sum.Failed != 0 {
		t.Fatalf("sent %d, delivered %d, failed %d; want all %d delivered", sum.Sent, sum.Delivered, sum.Failed, total)
	}

	end := col.procStats()
	heapEnd := col.telemetryTotal("otelcol_process_runtime_heap_alloc_bytes")
	allocEnd := col.telemetryTotal("otelcol_process_runtime_total_alloc_bytes_total")
	accepted := col.telemetryTotal("otelcol_receiver_accepted_log_records_total")
	outcomes := col.requestOutcomes()
	var records int
	eventually(t, col.process, deliveryTimeout, "every record in the file", func() error {
		var err error
		_, records, err = countFileRecords(logs)
		if err == nil && records < unique {
			err = fmt.Errorf("%d of %d records in the file", records, unique)
		}
		return err
	})
	var counted float64
	waitDetectifySamples(t, col, func(s map[string]float64) error {
		if counted = sumSamples(s, "detectify_findings_total"); counted != float64(unique) {
			return fmt.Errorf("detectify_findings_total sums to %v, want %d", counted, unique)
		}
		return nil
	})
	col.stopAndCheck() // idle: the file exporter flushes and closes
	bodies, records, err := countFileRecords(logs)
	if err != nil {
		t.Fatal(err)
	}

	var report strings.Builder
	fmt.Fprintf(&report, "soak %s at %d req/s: %d requests (%d distinct findings, %d redeliveries), %.1f req/s achieved, %.0f KiB allocated per request\n",
		duration, soakRate, total, unique, total-unique, sum.Rate(), (allocEnd-allocStart)/float64(total)/1024)
	fmt.Fprintf(&report, "received: %v accepted log records (receiver telemetry), %d records in the file (%d distinct), "+
		"detectify_findings_total %v; outcomes %v\n", accepted, records, len(bodies), counted, outcomes)
	mid := samples[len(samples)/2]
	fmt.Fprintf(&report, "RSS %.1f MiB at start, %.1f MiB at %s, %.1f MiB at end, %.1f MiB at most; heap %.1f -> %.1f MiB; threads %d -> %d; CPU %.2fs over %s (%.1f%% of one core)\n",
		mib(start.rss), mib(mid.rss), mid.at.Sub(start.at).Round(time.Second), mib(end.rss), mib(maxRSS(samples, end)), heapStart/(1<<20), heapEnd/(1<<20), start.threads, end.threads,
		(end.cpu - start.cpu).Seconds(), end.at.Sub(start.at).Round(time.Second),
		100*(end.cpu-start.cpu).Seconds()/end.at.Sub(start.at).Seconds())
	report.WriteString("samples (elapsed, RSS MiB, threads, CPU s):")
	for _, s := range append(samples, end) {
		fmt.Fprintf(&report, " [%s %.1f %d %.2f]", s.at.Sub(start.at).Round(time.Second), mib(s.rss), s.threads, s.cpu.Seconds())
	}
	t.Log(report.String())

	if accepted != float64(unique) {
		t.Errorf("the receiver accepted %v log records, want %d", accepted, unique)
	}
	if outcomes["accepted"] != float64(unique) || outcomes["duplicate"] < float64(total-unique) {
		t.Errorf("outcomes %v: want %d accepted and at least %d duplicate", outcomes, unique, total-unique)
	}
	if records != unique || len(bodies) != unique {
		t.Errorf("the file holds %d records, %d distinct; want each of the %d findings once", records, len(bodies), unique)
	}
	for _, m := range msgs {
		if n := bodies[sha256.Sum256(m)]; n != 1 {
			t.Errorf("a finding is %d times in the file, want once", n)
			break
		}
	}
	// Flat once the dedup memory is full (two windows in): from then on the
	// traffic is steady, so the RSS may wander with the garbage collector
	// but not grow with the requests. On a 5-minute soak a leak of 400
	// bytes a request (14 MiB over the 36,000 requests after the steady
	// point) breaks the bound.
	steady := steadySample(samples, start.at.Add(2*dedupWindow))
	if limit := steady.rss + steady.rss/8 + 8<<20; end.rss > limit {
		t.Errorf("RSS grew from %.1f MiB at %s to %.1f MiB at the end, over the %.1f MiB bound of a flat RSS",
			mib(steady.rss), steady.at.Sub(start.at).Round(time.Second), mib(end.rss), mib(limit))
	}
}

// steadySample is the first sample taken at or after from (the last one if
// none was).
func steadySample(samples []procStats, from time.Time) procStats {
	for _, s := range samples {
		if !s.at.Before(from) {
			return s
		}
	}
	return samples[len(samples)-1]
}

// withRedeliveries inserts, after every tenth message, a redelivery of the
// message sent soakRedeliveryLag positions earlier: well apart from the
// original, well within dedup_window.
func withRedeliveries(msgs [][]byte) [][]byte {
	out := make([][]byte, 0, len(msgs)*11/10)
	for i, m := range msgs {
		out = append(out, m)
		if i%10 == 9 && i >= soakRedeliveryLag {
			out = append(out, msgs[i-soakRedeliveryLag])
		}
	}
	return out
}

const soakRedeliveryLag = 50 // a quarter of a second at 200 requests/s

func maxRSS(samples []procStats, last procStats) int64 {
	m := last.rss
	for _, s := range samples {
		m = max(m, s.rss)
	}
	return m
}
