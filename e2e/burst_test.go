package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

const (
	burstDomains = 10_000
	// Each burst domain has one high finding, of a scan of its own that it
	// opens: its critical, high and medium series (0, 1, 0), its stalled
	// scans series (0) and its open scans gauge (1). Every emission of all
	// series (each metrics_interval) carries exactly
	// burstDomains*burstSeriesPerDomain points.
	burstSeriesPerDomain = 5
	// The finding series per domain: critical, high and medium.
	burstFindingSeriesPerDomain = 3
	burstInterval               = 2 * time.Second
	// Changed series are emitted every metrics_flush_interval.
	burstFlush = 500 * time.Millisecond
)

const burstConfig = `
receivers:
  detectify:
    endpoint: @ENDPOINT@
    secret: @SECRET@
    metrics_interval: @INTERVAL@
    metrics_flush_interval: @FLUSH@

exporters:
  nop:
  prometheus:
    endpoint: @PROM@

service:
` + telemetrySection + `
  pipelines:
    logs:
      receivers: [detectify]
      exporters: [nop]
    metrics:
      receivers: [detectify]
      exporters: [prometheus]
`

// TestBurstOfTenThousandDomains sends one finding for each of 10,000
// distinct domains as fast as the distribution answers, then measures what
// the domains cost: resident memory per domain, and the CPU of the
// periodic emission of every series. Only generous bounds are asserted;
// the figures are logged for docs/RELIABILITY.md.
func TestBurstOfTenThousandDomains(t *testing.T) {
	// gctrace reports the live heap after each garbage collection on
	// stderr: the retained cost of the domains, garbage excluded.
	col := startCollector(t, "burst", collectorConfig{
		text: burstConfig,
		vars: map[string]string{"@INTERVAL@": burstInterval.String(), "@FLUSH@": burstFlush.String()},
		env:  map[string]string{"GODEBUG": "gctrace=1"},
	})
	before := col.procStats()
	liveBefore := waitLiveHeap(t, col, 0)
	allocBefore := col.telemetryTotal("otelcol_process_runtime_total_alloc_bytes_total")

	msgs := make([][]byte, burstDomains)
	for i := range msgs {
		msgs[i] = findingBody(burstDomain(i), i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // liveness guard only
	defer cancel()
	sum, err := webhooksend.Run(ctx, webhooksend.Config{
		URL: col.webhookURL, Messages: msgs, Secret: []byte(e2eSecret),
		Concurrency: 8, Retries: 100, MaxBackoff: 100 * time.Millisecond, Timeout: time.Minute,
	})
	if err != nil || !sum.OK() {
		t.Fatalf("burst: %v\n%s", err, sum)
	}
	t.Logf("burst sender:\n%s", sum)
	if got := col.telemetryTotal("otelcol_receiver_accepted_log_records_total"); got != burstDomains {
		t.Fatalf("the receiver accepted %v log records, want %d", got, burstDomains)
	}
	after := col.procStats()
	allocAfter := col.telemetryTotal("otelcol_process_runtime_total_alloc_bytes_total")

	// Every domain is a series at the exporter, counted once.
	page := waitBurstPage(t, col)
	domains := map[string]bool{}
	var findings float64
	for _, s := range parseExposition(page) {
		if s.name == "detectify_findings_total" {
			domains[s.label("detectify_domain")] = true
			findings += s.value
		}
	}
	if len(domains) != burstDomains || findings != burstDomains {
		t.Errorf("the exporter shows %d domains and %v findings, want %d of each", len(domains), findings, burstDomains)
	}

	// The periodic emission: between two readings, only whole emissions of
	// every series happen, as no event arrives any more. The last changes
	// of the burst went out with the first flush after the sender was
	// answered; two flush intervals are sure to hold one.
	time.Sleep(2 * burstFlush)
	const perEmission = burstDomains * burstSeriesPerDomain
	points0, cpu0 := col.telemetryTotal("otelcol_receiver_accepted_metric_points_total"), col.procStats()
	var points1 float64
	eventually(t, col.process, 2*time.Minute, "three periodic emissions", func() error {
		points1 = col.telemetryTotal("otelcol_receiver_accepted_metric_points_total")
		if points1 < points0+3*perEmission {
			return fmt.Errorf("%v points emitted since the burst", points1-points0)
		}
		return nil
	})
	cpu1 := col.procStats()
	emitted := points1 - points0
	emissions := emitted / perEmission
	if emitted != float64(int64(emissions))*perEmission {
		t.Errorf("%v points emitted while idle: not a whole number of emissions of %d series", emitted, perEmission)
	}
	cpuPerEmission := (cpu1.cpu - cpu0.cpu) / time.Duration(emissions)
	// Measured once periodic emissions have replaced every series at the
	// exporter: the steady state, not the burst's transient garbage.
	liveAfter := waitLiveHeap(t, col, len(col.stderr.String()))

	rssPerDomain := float64(after.rss-before.rss) / burstDomains
	livePerDomain := float64(liveAfter-liveBefore) * (1 << 20) / burstDomains // gctrace's MB are MiB
	allocPerWebhook := (allocAfter - allocBefore) / burstDomains
	var report strings.Builder
	fmt.Fprintf(&report, "burst of %d domains: %.0f req/s (p99 %s), %.0f KiB allocated per webhook; ",
		burstDomains, sum.Rate(), sum.Latency.P99, allocPerWebhook/1024)
	fmt.Fprintf(&report, "RSS %.1f -> %.1f MiB (%.0f bytes per domain); live heap after GC %d -> %d MB (%.0f bytes per domain); ",
		mib(before.rss), mib(after.rss), rssPerDomain, liveBefore, liveAfter, livePerDomain)
	fmt.Fprintf(&report, "periodic emission of %d points every %s: %.0f emissions measured, %s CPU each (receiver and Prometheus exporter), page %d KiB",
		perEmission, burstInterval, emissions, cpuPerEmission.Round(time.Millisecond), len(page)>>10)
	t.Log(report.String())

	// Generous bounds: a domain is a few hundred bytes of state, an
	// emission tens of milliseconds of CPU.
	if livePerDomain > 64<<10 {
		t.Errorf("%.0f bytes of live heap per domain; more than 64 KiB means state grows with something else than domains", livePerDomain)
	}
	if cpuPerEmission > burstInterval/2 {
		t.Errorf("an emission of %d points takes %s of CPU, over half the %s interval", perEmission, cpuPerEmission, burstInterval)
	}
}

// gcTrace matches a gctrace line's heap sizes: at start, at end, live.
var gcTrace = regexp.MustCompile(`(?m)^gc \d+ @.* (\d+)->(\d+)->(\d+) MB`)

// waitLiveHeap waits for a garbage collection reported on the collector's
// stderr after offset and returns the live heap it marked, in MB. The
// runtime collects at least every two minutes, so the wait is bounded.
func waitLiveHeap(t *testing.T, col *collector, offset int) int {
	t.Helper()
	var live int
	eventually(t, col.process, 3*time.Minute, "a garbage collection", func() error {
		m := gcTrace.FindAllStringSubmatch(col.stderr.String()[offset:], -1)
		if len(m) == 0 {
			return fmt.Errorf("no gctrace line yet")
		}
		live, _ = strconv.Atoi(m[len(m)-1][3])
		return nil
	})
	return live
}

func burstDomain(i int) string { return fmt.Sprintf("d%05d.burst.example.com", i) }

// waitBurstPage waits until the Prometheus exporter serves every burst
// domain's series.
func waitBurstPage(t *testing.T, col *collector) string {
	t.Helper()
	var page string
	eventually(t, col.process, 2*time.Minute, "every domain at "+col.promURL, func() error {
		var err error
		if page, err = httpGet(col.promURL); err != nil {
			return err
		}
		if n := strings.Count(page, "detectify_findings_total{"); n < burstDomains*burstFindingSeriesPerDomain {
			return fmt.Errorf("%d series of detectify_findings_total so far", n)
		}
		return nil
	})
	return page
}
