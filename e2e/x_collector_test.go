package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Helpers of the crash and replica tests (crash_test.go, replicas_test.go):
// a collector that keeps its ports and configuration across a SIGKILL and a
// restart. Prefixed x so they cannot collide with the other e2e helpers.

// xCollector is otelcol-detectify run from a configuration the test writes,
// on loopback ports chosen once: after kill and restart it listens on the
// same addresses, so a sender retrying the same URL reaches the new process.
type xCollector struct {
	t          *testing.T
	name       string
	configPath string
	endpoint   string // the receiver's address
	webhookURL string
	healthURL  string
	promURL    string // the prometheus exporter's page; "" without @PROM@
	ownURL     string // the collector's own metrics; "" without @TELEMETRY_PORT@

	proc  *process // the current run
	runs  []*process
	start time.Time // of the current run
}

var xPlaceholder = regexp.MustCompile(`@[A-Z0-9_]+@`)

// startXCollector writes text, with @ENDPOINT@, @SECRET@, @PROM@,
// @TELEMETRY_HOST@/@TELEMETRY_PORT@ and vars filled in, and runs it until
// every component has started.
func startXCollector(t *testing.T, name, text string, vars map[string]string) *xCollector {
	t.Helper()
	endpoint, prom, own := freeAddr(t), freeAddr(t), freeAddr(t)
	ownHost, ownPort, _ := strings.Cut(own, ":")
	all := map[string]string{
		"@ENDPOINT@": endpoint, "@SECRET@": e2eSecret, "@PROM@": prom,
		"@TELEMETRY_HOST@": ownHost, "@TELEMETRY_PORT@": ownPort,
	}
	for k, v := range vars {
		all[k] = v
	}
	config := text
	for k, v := range all {
		config = strings.ReplaceAll(config, k, v)
	}
	if left := xPlaceholder.FindString(config); left != "" {
		t.Fatalf("configuration placeholder %s left unfilled", left)
	}
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &xCollector{
		t: t, name: name, configPath: path, endpoint: endpoint,
		webhookURL: "http://" + endpoint + "/webhook",
		healthURL:  "http://" + endpoint + "/health",
	}
	if strings.Contains(text, "@PROM@") {
		c.promURL = "http://" + prom + "/metrics"
	}
	if strings.Contains(text, "@TELEMETRY_PORT@") {
		c.ownURL = "http://" + own + "/metrics"
	}
	c.run()
	return c
}

// run starts the process and waits until it serves and has started every
// component.
func (c *xCollector) run() {
	c.t.Helper()
	c.start = time.Now()
	c.proc = startProcess(c.t, distributionBinary, nil, "--config="+c.configPath)
	c.runs = append(c.runs, c.proc)
	p := c.proc
	eventually(c.t, p, readyTimeout, c.name+" started", func() error {
		if !strings.Contains(p.stderr.String(), "Everything is ready") {
			return fmt.Errorf("not every component has started yet")
		}
		return nil
	})
	waitHTTPOK(c.t, p, c.healthURL)
}

// kill ends the current run with SIGKILL, as an OOM kill or a node loss
// does: nothing of the collector runs after it, no shutdown, no flush.
func (c *xCollector) kill() {
	c.t.Helper()
	p := c.proc
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		c.t.Fatalf("SIGKILL %s: %v", c.name, err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		c.t.Fatalf("%s did not die within 10s of SIGKILL", c.name)
	}
}

// restart runs the collector again, same configuration, same ports.
func (c *xCollector) restart() time.Duration {
	c.t.Helper()
	c.run()
	return time.Since(c.start)
}

// xTelemetry is the service::telemetry section of the tests' configs: the
// collector's own metrics on a port of their own (the default, 8888, would
// collide between collectors running side by side).
const xTelemetry = `
  telemetry:
    metrics:
      level: detailed
      readers:
        - pull:
            exporter:
              prometheus:
                host: @TELEMETRY_HOST@
                port: @TELEMETRY_PORT@
`

// stop ends the current run with SIGTERM and fails unless it exits cleanly.
func (c *xCollector) stop() {
	c.t.Helper()
	c.proc.stop(c.t)
	if c.proc.err != nil {
		c.t.Fatalf("%s did not exit cleanly after SIGTERM: %v", c.name, c.proc.err)
	}
}

// stderr is what the current run has logged.
func (c *xCollector) stderr() string { return c.proc.stderr.String() }

// xStartTimeLog finds the start_time field of the first log line holding
// message, as zap's console encoder writes it.
var xStartTimeField = regexp.MustCompile(`"start_time":\s*"([^"]+)"`)

func xLoggedStartTime(log, message string) (time.Time, error) {
	for line := range strings.Lines(log) {
		if !strings.Contains(line, message) {
			continue
		}
		m := xStartTimeField.FindStringSubmatch(line)
		if m == nil {
			return time.Time{}, fmt.Errorf("%q is logged without start_time: %s", message, line)
		}
		return time.Parse(time.RFC3339Nano, m[1])
	}
	return time.Time{}, fmt.Errorf("%q is not logged", message)
}

// xSeries reads a Prometheus exporter page: the detectify_* samples keyed
// by name and their detectify_* labels, sorted, e.g.
// detectify_findings_total{detectify_domain="a",detectify_finding_severity="high"}.
func xSeries(url string) (map[string]float64, error) {
	page, err := httpGet(url)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for line := range strings.Lines(page) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "detectify_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		var v float64
		if _, err := fmt.Sscan(line[i+1:], &v); err != nil {
			return nil, fmt.Errorf("sample %q: %w", line, err)
		}
		series := line[:i]
		name, labels := series, ""
		if j := strings.IndexByte(series, '{'); j >= 0 {
			name, labels = series[:j], strings.TrimSuffix(series[j+1:], "}")
		}
		var keep []string
		for _, pair := range xLabelPair.FindAllStringSubmatch(labels, -1) {
			if strings.HasPrefix(pair[1], "detectify_") {
				keep = append(keep, fmt.Sprintf("%s=%q", pair[1], pair[2]))
			}
		}
		slices.Sort(keep)
		out[name+"{"+strings.Join(keep, ",")+"}"] += v
	}
	return out, nil
}

var xLabelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// xFindingsKey and xScansKey name series the way xSeries keys them.
func xFindingsKey(domain, severity string) string {
	return fmt.Sprintf(`detectify_findings_total{detectify_domain=%q,detectify_finding_severity=%q}`, domain, severity)
}

func xScansKey(domain, state string) string {
	return fmt.Sprintf(`detectify_scans_total{detectify_domain=%q,detectify_scan_state=%q}`, domain, state)
}

// xCounters keeps the counters of a page (findings and scans), without the
// series at 0 (a domain's levels start at 0 when it is first seen).
func xCounters(series map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range series {
		if v != 0 && (strings.HasPrefix(k, "detectify_findings_total{") || strings.HasPrefix(k, "detectify_scans_total{")) {
			out[k] = v
		}
	}
	return out
}

// xDiffCounters describes how got differs from want; "" when equal.
func xDiffCounters(got, want map[string]float64) string {
	var diffs []string
	for k, v := range want {
		if got[k] != v {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", k, got[k], v))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want none", k, v))
		}
	}
	slices.Sort(diffs)
	if len(diffs) > 8 {
		diffs = append(diffs[:8], fmt.Sprintf("... %d more", len(diffs)-8))
	}
	return strings.Join(diffs, "; ")
}

// xOutcomes reads otelcol_receiver_detectify_requests_total by outcome from
// the collector's own metrics.
func (c *xCollector) xOutcomes() (map[string]float64, error) {
	page, err := httpGet(c.ownURL)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for line := range strings.Lines(page) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "otelcol_receiver_detectify_requests_total{") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		var v float64
		if _, err := fmt.Sscan(line[i+1:], &v); err != nil {
			return nil, err
		}
		for _, pair := range xLabelPair.FindAllStringSubmatch(line[:i], -1) {
			if pair[1] == "outcome" {
				out[pair[2]] += v
			}
		}
	}
	return out, nil
}
