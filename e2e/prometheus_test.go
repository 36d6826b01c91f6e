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
// examples/prometheus for real, on loopback (see startPromStack):
//
//	signed webhooks → otelcol-detectify (examples/prometheus/otelcol.yaml)
//	→ prometheus exporter → Prometheus (prometheus.yml, rules.yml)
//	→ Alertmanager (alertmanager.yml) → a webhook sink in this test.
//
// A scan_started for e2e.example creates the domain's high series at 0; once
// Prometheus has scraped that 0, a high finding must reach the sink as a
// firing DetectifyNewHighFinding for the domain. The scan's finish then
// shows as the last-scan gauges, the undelivered count among them.
func TestPrometheusAlertsOnNewHighFinding(t *testing.T) {
	const (
		domain    = "e2e.example"
		alertName = "DetectifyNewHighFinding"
	)
	stack := startPromStack(t, promStackOptions{})
	ctx := t.Context()
	report := "https://detectify.com/report/0123456789abcdef0123456789abcdef/e2e0000000000000000000000000000000000001"

	// 1. The scan starts: the domain's critical, high and medium series
	// appear at 0.
	stack.send(ctx, t, fmt.Sprintf(
		`{"type":"event_scan_started","domain":%q,"report_url":%q}`, domain, report))
	highQuery := findingsKey(domain, "high")
	stack.waitValue(ctx, t, highQuery, 0)

	// 2. A high finding: the alert must reach the sink.
	stack.send(ctx, t, fmt.Sprintf(
		`{"type":"event_finding_high","domain":%q,"cvss_score":8.6,"severity":"high","title":"SQL Injection",`+
			`"finding_url":%q,"tags":["new"]}`, domain, report+"/00000000-0000-0000-0000-0000000000e2"))
	sent := time.Now()
	alert := stack.waitAlert(t, alertName, map[string]string{"detectify_domain": domain})
	t.Logf("%s reached the sink %s after the finding was sent (%s after the test started)",
		alertName, time.Since(sent).Round(time.Millisecond), time.Since(stack.start).Round(time.Millisecond))

	promCheckNewFindingAlert(t, alert, domain, "high")
	for _, a := range stack.sink.all() {
		if a.Labels["detectify_finding_severity"] == "medium" {
			t.Errorf("a medium series alerted: %v", a.Labels)
		}
	}

	// 3. What Prometheus stored, under the names README.md documents.
	v, sample, err := promQueryValue(ctx, stack.promURL, highQuery)
	if err != nil || v != 1 {
		t.Fatalf("%s = %v (%v), want 1", highQuery, v, err)
	}
	wantSeries := map[string]string{
		"__name__":                   "detectify_findings_total",
		"detectify_domain":           domain,
		"detectify_finding_severity": "high",
		"job":                        "detectify",        // the scrape job
		"instance":                   stack.exporterAddr, // the scrape target
		"exported_job":               "detectify",        // service.name, renamed by Prometheus
		"otel_scope_name":            "github.com/detectify-otel/detectifyreceiver",
	}
	for k, want := range wantSeries {
		if got := sample.Metric[k]; got != want {
			t.Errorf("series label %s = %q, want %q (series %v)", k, got, want, sample.Metric)
		}
	}
	t.Logf("findings series as stored: %v", sample.Metric)
	promExpectValue(ctx, t, stack.promURL, findingsKey(domain, "medium"), 0)
	promExpectValue(ctx, t, stack.promURL, findingsKey(domain, "critical"), 0)
	promExpectValue(ctx, t, stack.promURL, fmt.Sprintf(`detectify_scans_total{detectify_domain=%q,detectify_scan_state="started"}`, domain), 1)

	// 4. The scan finishes: the last-scan gauges and the finished counter.
	// The one finding delivered of the 1 critical + 2 medium reported
	// leaves 2 undelivered.
	stack.send(ctx, t, fmt.Sprintf(
		`{"type":"event_scan_finished","domain":%q,"report_url":%q,"critical_findings":1,"medium_findings":2,"notice_findings":4}`,
		domain, report))
	for _, w := range []struct {
		query string
		want  float64
	}{
		{scansKey(domain, "finished"), 1},
		{scanFindingsKey(domain, "critical"), 1},
		{scanFindingsKey(domain, "medium"), 2},
		{scanFindingsKey(domain, "notice"), 4},
		{undeliveredKey(domain), 2},
		{scansOpenKey(domain), 0},
		{scansKey(domain, "stalled"), 0},
		{fmt.Sprintf(`count(detectify_scan_duration_seconds{detectify_domain=%q} > 0)`, domain), 1},
	} {
		stack.waitValue(ctx, t, w.query, w.want)
	}
	t.Logf("done %s after the finding, %s in all", time.Since(sent).Round(time.Millisecond), time.Since(stack.start).Round(time.Millisecond))
}

// promCheckNewFindingAlert checks DetectifyNewHighFinding's labels and
// annotations for a new finding of the given level on domain.
func promCheckNewFindingAlert(t *testing.T, alert promAlert, domain, level string) {
	t.Helper()
	wantLabels := map[string]string{
		"alertname":                  "DetectifyNewHighFinding",
		"detectify_domain":           domain,
		"detectify_finding_severity": level,
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
	if got, want := alert.Annotations["summary"], "New "+level+" Detectify finding on "+domain; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
	if d := alert.Annotations["description"]; !strings.Contains(d, "new "+level+"-level finding on "+domain) {
		t.Errorf("description = %q, want it to name a new %s finding on %s", d, level, domain)
	}
	if alert.Annotations["runbook_url"] == "" {
		t.Errorf("no runbook_url annotation: %v", alert.Annotations)
	}
}

// promStack is the alerting chain of examples/prometheus running for one
// test: Alertmanager notifying the test's sink, the collector, Prometheus.
type promStack struct {
	start        time.Time
	sink         *promAlertSink
	all          []*promProcess
	promURL      string
	webhookURL   string
	exporterAddr string
	secret       string
}

// promStackOptions changes what the test needs changed in the examples.
type promStackOptions struct {
	// collectorSets are extra --set options for the collector, e.g.
	// receivers::detectify::stale_scan_after=5s.
	collectorSets []string
}

// startPromStack runs examples/prometheus on free loopback ports and
// returns once Prometheus scrapes the collector. The example files are
// used as they are, but for addresses and timings:
//   - alertmanager.yml: the sink's URL, group_wait and group_interval 1s;
//   - otelcol.yaml: metrics_interval 1s, metrics_flush_interval 200ms;
//   - prometheus.yml: scrape and evaluation every second;
//   - rules.yml: a copy whose detectify-scans group (interval 5m) is
//     evaluated every second too; every rule and alert is the file's own.
func startPromStack(t *testing.T, opts promStackOptions) *promStack {
	t.Helper()
	const (
		secret   = "e2e-prometheus-webhook-secret-5a7c"
		sinkPath = "/detectify-alerts"
	)
	s := &promStack{start: time.Now(), secret: secret}
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
	s.sink = newPromAlertSink(t, sinkPath)

	// Alertmanager, from the example with the sink's URL and short timings.
	amAddr := freeAddr(t)
	amConfig := promRewrite(t, "alertmanager.yml", promReadFile(t, filepath.Join(examples, "alertmanager.yml")),
		`"http://127.0.0.1:5001/detectify-alerts"`, strconv.Quote(s.sink.URL()),
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
	// come from the environment, changed series are emitted every 200ms
	// and all of them every second.
	webhookAddr, exporterAddr := freeAddr(t), freeAddr(t)
	s.exporterAddr = exporterAddr
	args := []string{
		"--config=" + filepath.Join(examples, "otelcol.yaml"),
		"--set=receivers::detectify::metrics_interval=1s",
		"--set=receivers::detectify::metrics_flush_interval=200ms",
		// The collector's own telemetry would take localhost:8888.
		"--set=service::telemetry::metrics::level=none",
	}
	for _, set := range opts.collectorSets {
		args = append(args, "--set="+set)
	}
	collector := promStart(t, "otelcol-detectify", []string{
		"DETECTIFY_ENDPOINT=" + webhookAddr,
		"DETECTIFY_WEBHOOK_SECRET=" + secret,
		"PROMETHEUS_EXPORTER_ENDPOINT=" + exporterAddr,
	}, collectorBin, args...)

	// Prometheus, from the example: scrape and evaluate every second, the
	// rules of rules.yml, the addresses above.
	rules := promRewrite(t, "rules.yml", promReadFile(t, filepath.Join(examples, "rules.yml")),
		"interval: 5m", "interval: 1s",
	)
	promAddr := freeAddr(t)
	promConfig := promRewrite(t, "prometheus.yml", promReadFile(t, filepath.Join(examples, "prometheus.yml")),
		"scrape_interval: 15s", "scrape_interval: 1s",
		"evaluation_interval: 15s", "evaluation_interval: 1s",
		"- rules.yml", "- "+promWriteFile(t, dir, "rules.yml", rules),
		`"localhost:9093"`, strconv.Quote(amAddr),
		`"localhost:8889"`, strconv.Quote(exporterAddr),
	)
	prometheus := promStart(t, "prometheus", nil, prometheusBin,
		"--config.file="+promWriteFile(t, dir, "prometheus.yml", promConfig),
		"--storage.tsdb.path="+filepath.Join(dir, "prometheus-data"),
		"--web.listen-address="+promAddr,
		"--log.level=info",
	)
	s.all = []*promProcess{alertmanager, collector, prometheus}
	s.promURL = "http://" + promAddr
	s.webhookURL = "http://" + webhookAddr + "/webhook"

	promWaitFor(t, "Alertmanager ready", time.Minute, s.all, func() error {
		return promGetOK("http://" + amAddr + "/-/ready")
	})
	promWaitFor(t, "the collector's webhook endpoint", time.Minute, s.all, func() error {
		return promGetOK("http://" + webhookAddr + "/health")
	})
	promWaitFor(t, "the collector's prometheus exporter", time.Minute, s.all, func() error {
		return promGetOK("http://" + exporterAddr + "/metrics")
	})
	promWaitFor(t, "Prometheus ready", time.Minute, s.all, func() error {
		return promGetOK(s.promURL + "/-/ready")
	})
	promWaitFor(t, "Prometheus scraping the exporter", time.Minute, s.all, func() error {
		v, _, err := promQueryValue(ctx, s.promURL, `up{job="detectify"}`)
		if err == nil && v != 1 {
			err = fmt.Errorf("up = %v", v)
		}
		return err
	})
	t.Logf("all processes ready after %s", time.Since(s.start).Round(time.Millisecond))
	return s
}

// send delivers one signed webhook and fails unless it was accepted.
func (s *promStack) send(ctx context.Context, t *testing.T, body string) {
	t.Helper()
	s.sendAll(ctx, t, [][]byte{[]byte(body)})
}

// sendAll delivers signed webhooks in order and fails unless each one was
// accepted.
func (s *promStack) sendAll(ctx context.Context, t *testing.T, msgs [][]byte) {
	t.Helper()
	sum, err := webhooksend.Run(ctx, webhooksend.Config{
		URL:      s.webhookURL,
		Messages: msgs,
		Secret:   []byte(s.secret),
		Retries:  3,
	})
	if err != nil || !sum.OK() {
		t.Fatalf("sending %d webhooks: %v; summary %+v", len(msgs), err, sum)
	}
}

// waitValue waits until query's only sample has the value want.
func (s *promStack) waitValue(ctx context.Context, t *testing.T, query string, want float64) {
	t.Helper()
	promWaitFor(t, fmt.Sprintf("%s = %v", query, want), time.Minute, s.all, func() error {
		got, _, err := promQueryValue(ctx, s.promURL, query)
		if err == nil && got != want {
			err = fmt.Errorf("%s = %v, want %v", query, got, want)
		}
		return err
	})
}

// waitAlert waits until the sink has received the alert firing with labels
// that include want.
func (s *promStack) waitAlert(t *testing.T, name string, want map[string]string) promAlert {
	t.Helper()
	var alert promAlert
	promWaitFor(t, fmt.Sprintf("%s%v at the webhook sink", name, want), 3*time.Minute, s.all, func() error {
		var ok bool
		if alert, ok = s.sink.firing(name, want); !ok {
			return fmt.Errorf("not received; so far: %s", s.sink.describe())
		}
		return nil
	})
	return alert
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
