package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

// TestPrometheusAlertsOnNewHighFinding runs the alerting chain of
// examples/prometheus for real, on loopback:
//
//	signed webhooks → otelcol-detectify (examples/prometheus/otelcol.yaml)
//	→ prometheus exporter → Prometheus (prometheus.yml, the real rules.yml)
//	→ Alertmanager (alertmanager.yml) → a webhook sink in this test.
//
// A scan_started for e2e.example creates the domain's high series at 0; once
// Prometheus has scraped that 0, a high finding must reach the sink as a
// firing DetectifyNewHighFinding for the domain.
func TestPrometheusAlertsOnNewHighFinding(t *testing.T) {
	const (
		domain    = "e2e.example"
		secret    = "e2e-prometheus-webhook-secret-5a7c"
		alertName = "DetectifyNewHighFinding"
		sinkPath  = "/detectify-alerts"
	)
	start := time.Now()
	root := promRepoRoot(t)
	examples := filepath.Join(root, "examples", "prometheus")
	collectorPath := filepath.Join(root, "bin", "otelcol-detectify")
	if p := os.Getenv("OTELCOL_DETECTIFY_BIN"); p != "" { // to try another build
		collectorPath = p
	}
	collectorBin := promRequireBinary(t, collectorPath,
		"build the distribution first: `make otelcol` in the repository root (or point OTELCOL_DETECTIFY_BIN at a build)")
	prometheusBin := promRequireBinary(t, "prometheus",
		"install it with scripts/install-deps.sh (Debian package prometheus, 2.42 or later)")
	alertmanagerBin := promAlertmanagerBinary(t)
	dir := t.TempDir()
	ctx := t.Context()

	// The webhook Alertmanager notifies.
	sink := newPromAlertSink(t, sinkPath)

	// Alertmanager, from the example with the sink's URL and short timings.
	amAddr := promFreeAddr(t)
	amConfig := promRewrite(t, "alertmanager.yml", promReadFile(t, filepath.Join(examples, "alertmanager.yml")),
		`"http://127.0.0.1:5001/detectify-alerts"`, strconv.Quote(sink.URL()),
		"group_wait: 30s", "group_wait: 1s",
		"group_interval: 5m", "group_interval: 1s",
	)
	alertmanager := promStart(t, "alertmanager", nil, alertmanagerBin,
		"--config.file="+promWriteFile(t, dir, "alertmanager.yml", amConfig),
		"--storage.path="+filepath.Join(dir, "alertmanager-data"),
		"--web.listen-address="+amAddr,
		"--cluster.listen-address=", // no gossip: a single instance on loopback
		"--log.level=info",
	)

	// The collector, with the example's own config: endpoints and secret
	// come from the environment, metrics are re-emitted every second.
	webhookAddr, exporterAddr := promFreeAddr(t), promFreeAddr(t)
	collector := promStart(t, "otelcol-detectify", []string{
		"DETECTIFY_ENDPOINT=" + webhookAddr,
		"DETECTIFY_WEBHOOK_SECRET=" + secret,
		"PROMETHEUS_EXPORTER_ENDPOINT=" + exporterAddr,
	}, collectorBin,
		"--config="+filepath.Join(examples, "otelcol.yaml"),
		"--set=receivers::detectify::metrics_interval=1s",
		// The collector's own telemetry would take localhost:8888.
		"--set=service::telemetry::metrics::level=none",
	)

	// Prometheus, from the example: scrape and evaluate every second, the
	// real rules.yml, the addresses above.
	promAddr := promFreeAddr(t)
	promConfig := promRewrite(t, "prometheus.yml", promReadFile(t, filepath.Join(examples, "prometheus.yml")),
		"scrape_interval: 15s", "scrape_interval: 1s",
		"evaluation_interval: 15s", "evaluation_interval: 1s",
		"- rules.yml", "- "+filepath.Join(examples, "rules.yml"),
		`"localhost:9093"`, strconv.Quote(amAddr),
		`"localhost:8889"`, strconv.Quote(exporterAddr),
	)
	prometheus := promStart(t, "prometheus", nil, prometheusBin,
		"--config.file="+promWriteFile(t, dir, "prometheus.yml", promConfig),
		"--storage.tsdb.path="+filepath.Join(dir, "prometheus-data"),
		"--web.listen-address="+promAddr,
		"--log.level=info",
	)
	all := []*promProcess{alertmanager, collector, prometheus}
	promURL := "http://" + promAddr

	promWaitFor(t, "Alertmanager ready", time.Minute, all, func() error {
		return promGetOK("http://" + amAddr + "/-/ready")
	})
	promWaitFor(t, "the collector's webhook endpoint", time.Minute, all, func() error {
		return promGetOK("http://" + webhookAddr + "/health")
	})
	promWaitFor(t, "the collector's prometheus exporter", time.Minute, all, func() error {
		return promGetOK("http://" + exporterAddr + "/metrics")
	})
	promWaitFor(t, "Prometheus ready", time.Minute, all, func() error {
		return promGetOK(promURL + "/-/ready")
	})
	promWaitFor(t, "Prometheus scraping the exporter", time.Minute, all, func() error {
		v, _, err := promQueryValue(ctx, promURL, `up{job="detectify"}`)
		if err == nil && v != 1 {
			err = fmt.Errorf("up = %v", v)
		}
		return err
	})
	t.Logf("all processes ready after %s", time.Since(start).Round(time.Millisecond))

	webhookURL := "http://" + webhookAddr + "/webhook"
	report := "https://detectify.com/report/0123456789abcdef0123456789abcdef/e2e0000000000000000000000000000000000001"

	// 1. The scan starts: the domain's high and medium series appear at 0.
	promSend(ctx, t, webhookURL, secret, fmt.Sprintf(
		`{"type":"event_scan_started","domain":%q,"report_url":%q}`, domain, report))
	highQuery := fmt.Sprintf(`detectify_findings_total{detectify_domain=%q,detectify_finding_severity="high"}`, domain)
	promWaitFor(t, "Prometheus to store the domain's high series at 0", time.Minute, all, func() error {
		v, _, err := promQueryValue(ctx, promURL, highQuery)
		if err == nil && v != 0 {
			err = fmt.Errorf("%s = %v, want 0", highQuery, v)
		}
		return err
	})

	// 2. A high finding: the alert must reach the sink.
	promSend(ctx, t, webhookURL, secret, fmt.Sprintf(
		`{"type":"event_finding_high","domain":%q,"cvss_score":8.6,"severity":"high","title":"SQL Injection",`+
			`"finding_url":%q,"tags":["new"]}`, domain, report+"/00000000-0000-0000-0000-0000000000e2"))
	sent := time.Now()
	var alert promAlert
	took := promWaitFor(t, alertName+" at the webhook sink", 3*time.Minute, all, func() error {
		var ok bool
		if alert, ok = sink.firing(alertName, map[string]string{"detectify_domain": domain}); !ok {
			return fmt.Errorf("not received; so far: %s", sink.describe())
		}
		return nil
	})
	t.Logf("%s reached the sink %s after the finding was sent (%s after the test started)",
		alertName, took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	wantLabels := map[string]string{
		"alertname":                  alertName,
		"detectify_domain":           domain,
		"detectify_finding_severity": "high",
		"severity":                   "critical",
	}
	for k, want := range wantLabels {
		if got := alert.Labels[k]; got != want {
			t.Errorf("alert label %s = %q, want %q (labels %v)", k, got, want, alert.Labels)
		}
	}
	if len(alert.Labels) != len(wantLabels) {
		t.Errorf("alert labels = %v, want exactly %v", alert.Labels, wantLabels)
	}
	if got, want := alert.Annotations["summary"], "New high Detectify finding on "+domain; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
	if d := alert.Annotations["description"]; !strings.Contains(d, "new high-level finding on "+domain) {
		t.Errorf("description = %q, want it to name a new high finding on %s", d, domain)
	}
	if alert.Annotations["runbook_url"] == "" {
		t.Errorf("no runbook_url annotation: %v", alert.Annotations)
	}
	for _, a := range sink.all() {
		if a.Labels["detectify_finding_severity"] == "medium" {
			t.Errorf("a medium series alerted: %v", a.Labels)
		}
	}

	// 3. What Prometheus stored, under the names README.md documents.
	v, sample, err := promQueryValue(ctx, promURL, highQuery)
	if err != nil || v != 1 {
		t.Fatalf("%s = %v (%v), want 1", highQuery, v, err)
	}
	wantSeries := map[string]string{
		"__name__":                   "detectify_findings_total",
		"detectify_domain":           domain,
		"detectify_finding_severity": "high",
		"job":                        "detectify",  // the scrape job
		"instance":                   exporterAddr, // the scrape target
		"exported_job":               "detectify",  // service.name, renamed by Prometheus
		"otel_scope_name":            "github.com/detectify-otel/detectifyreceiver",
	}
	for k, want := range wantSeries {
		if got := sample.Metric[k]; got != want {
			t.Errorf("series label %s = %q, want %q (series %v)", k, got, want, sample.Metric)
		}
	}
	t.Logf("findings series as stored: %v", sample.Metric)
	promExpectValue(ctx, t, promURL, fmt.Sprintf(`detectify_findings_total{detectify_domain=%q,detectify_finding_severity="medium"}`, domain), 0)
	promExpectValue(ctx, t, promURL, fmt.Sprintf(`detectify_scans_total{detectify_domain=%q,detectify_scan_state="started"}`, domain), 1)

	// 4. The scan finishes: the last-scan gauge and the finished counter.
	promSend(ctx, t, webhookURL, secret, fmt.Sprintf(
		`{"type":"event_scan_finished","domain":%q,"report_url":%q,"critical_findings":1,"medium_findings":2,"notice_findings":4}`,
		domain, report))
	for query, want := range map[string]float64{
		fmt.Sprintf(`detectify_scans_total{detectify_domain=%q,detectify_scan_state="finished"}`, domain):         1,
		fmt.Sprintf(`detectify_scan_findings{detectify_domain=%q,detectify_finding_category="critical"}`, domain): 1,
		fmt.Sprintf(`detectify_scan_findings{detectify_domain=%q,detectify_finding_category="medium"}`, domain):   2,
		fmt.Sprintf(`detectify_scan_findings{detectify_domain=%q,detectify_finding_category="notice"}`, domain):   4,
	} {
		promWaitFor(t, query, time.Minute, all, func() error {
			got, _, err := promQueryValue(ctx, promURL, query)
			if err == nil && got != want {
				err = fmt.Errorf("%s = %v, want %v", query, got, want)
			}
			return err
		})
	}
	t.Logf("done %s after the finding, %s in all", time.Since(sent).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// promAlertmanagerBinary finds Alertmanager under Debian's name or upstream's.
func promAlertmanagerBinary(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"prometheus-alertmanager", "alertmanager"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Fatalf("neither prometheus-alertmanager nor alertmanager is on PATH: install it with scripts/install-deps.sh (Debian package prometheus-alertmanager)")
	return ""
}

func promReadFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return string(b)
}

// promSend delivers one signed webhook and fails unless it was accepted.
func promSend(ctx context.Context, t *testing.T, url, secret, body string) {
	t.Helper()
	sum, err := webhooksend.Run(ctx, webhooksend.Config{
		URL:      url,
		Messages: [][]byte{[]byte(body)},
		Secret:   []byte(secret),
		Retries:  3,
	})
	if err != nil || !sum.OK() {
		t.Fatalf("sending %s: %v; summary %+v", body, err, sum)
	}
}

// promExpectValue checks the single sample a query returns.
func promExpectValue(ctx context.Context, t *testing.T, promURL, query string, want float64) {
	t.Helper()
	got, _, err := promQueryValue(ctx, promURL, query)
	if err != nil {
		t.Errorf("%v", err)
		return
	}
	if got != want {
		t.Errorf("%s = %v, want %v", query, got, want)
	}
}
