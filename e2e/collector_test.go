package e2e

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// collector is otelcol-detectify run from a configuration the test writes,
// on loopback ports chosen once: after kill and restart it listens on the
// same addresses, so a sender retrying the same URL reaches the new process.
type collector struct {
	*process   // the current run
	t          *testing.T
	name       string
	configPath string
	env        map[string]string

	webhookURL   string
	healthURL    string
	promURL      string // the prometheus exporter's page; "" without @PROM@
	telemetryURL string // the collector's own metrics; "" without @TELEMETRY_PORT@

	start time.Time // of the current run
}

// collectorConfig is a configuration with placeholders: @ENDPOINT@ (the
// receiver), @SECRET@, @PROM@ (a prometheus exporter),
// @TELEMETRY_HOST@/@TELEMETRY_PORT@ (the collector's own metrics, see
// telemetrySection) and the test's own vars; env is the process's
// environment.
type collectorConfig struct {
	text string
	vars map[string]string
	env  map[string]string
}

var placeholder = regexp.MustCompile(`@[A-Z0-9_]+@`)

// startCollector writes cfg and runs it until every component has started.
func startCollector(t *testing.T, name string, cfg collectorConfig) *collector {
	t.Helper()
	endpoint, prom, telemetry := freeAddr(t), freeAddr(t), freeAddr(t)
	telemetryHost, telemetryPort, _ := strings.Cut(telemetry, ":")
	vars := map[string]string{
		"@ENDPOINT@": endpoint, "@SECRET@": e2eSecret, "@PROM@": prom,
		"@TELEMETRY_HOST@": telemetryHost, "@TELEMETRY_PORT@": telemetryPort,
	}
	maps.Copy(vars, cfg.vars)
	text := cfg.text
	for k, v := range vars {
		text = strings.ReplaceAll(text, k, v)
	}
	if left := placeholder.FindString(text); left != "" {
		t.Fatalf("configuration placeholder %s left unfilled", left)
	}
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &collector{
		t: t, name: name, configPath: path, env: cfg.env,
		webhookURL: "http://" + endpoint + "/webhook",
		healthURL:  "http://" + endpoint + "/health",
	}
	if strings.Contains(cfg.text, "@PROM@") {
		c.promURL = "http://" + prom + "/metrics"
	}
	if strings.Contains(cfg.text, "@TELEMETRY_PORT@") {
		c.telemetryURL = "http://" + telemetry + "/metrics"
	}
	c.run()
	return c
}

// telemetrySection is the service::telemetry section that serves the
// collector's own metrics on a port of their own (the default, 8888, would
// collide between collectors running side by side).
const telemetrySection = `
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

// run starts the process and waits until it serves and has started every
// component: the shared listener opens when the first of the receiver's
// pipelines starts, possibly before the other pipeline's exporters have.
func (c *collector) run() {
	c.t.Helper()
	c.start = time.Now()
	c.process = startProcess(c.t, distributionBinary, c.env, "--config="+c.configPath)
	p := c.process
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
func (c *collector) kill() {
	c.t.Helper()
	p := c.process
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		c.t.Fatalf("SIGKILL %s: %v", c.name, err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		c.t.Fatalf("%s did not die within 10s of SIGKILL", c.name)
	}
}

// restart runs the collector again, same configuration, same ports, and
// returns how long it took to be ready.
func (c *collector) restart() time.Duration {
	c.t.Helper()
	c.run()
	return time.Since(c.start)
}

// stopAndCheck stops the current run with SIGTERM, as an orchestrator
// does, and fails the test unless it exits cleanly.
func (c *collector) stopAndCheck() {
	c.t.Helper()
	c.stop(c.t)
	if c.err != nil {
		c.t.Fatalf("%s did not exit cleanly after SIGTERM: %v\n--- stderr:\n%s", c.name, c.err, c.stderr.String())
	}
}

// requestOutcomes reads otelcol_receiver_detectify_requests by outcome
// from the collector's own metrics.
func (c *collector) requestOutcomes() map[string]float64 {
	c.t.Helper()
	out := map[string]float64{}
	eventually(c.t, c.process, deliveryTimeout, "the collector's own metrics", func() error {
		samples, err := scrape(c.telemetryURL)
		clear(out)
		for _, s := range samples {
			if s.name == "otelcol_receiver_detectify_requests_total" {
				out[s.label("outcome")] += s.value
			}
		}
		return err
	})
	return out
}

// telemetryTotal is one metric of the collector's own telemetry, summed
// over its labels; 0 when the metric has not been recorded yet.
func (c *collector) telemetryTotal(name string) float64 {
	c.t.Helper()
	var total float64
	eventually(c.t, c.process, deliveryTimeout, "the collector's own metrics", func() error {
		totals, err := scrapeTotals(c.telemetryURL)
		total = totals[name]
		return err
	})
	return total
}

// procStats samples the collector's process; a failure to read /proc fails
// the test (the process must be running).
func (c *collector) procStats() procStats {
	c.t.Helper()
	s, err := readProcStats(c.cmd.Process.Pid)
	if err != nil {
		c.t.Fatalf("reading /proc for %s: %v", c.name, err)
	}
	return s
}

// startTimeField is the start_time field of a log line, as zap's console
// encoder writes it.
var startTimeField = regexp.MustCompile(`"start_time":\s*"([^"]+)"`)

// loggedStartTime is the start_time of the first log line holding message.
func loggedStartTime(log, message string) (time.Time, error) {
	for line := range strings.Lines(log) {
		if !strings.Contains(line, message) {
			continue
		}
		m := startTimeField.FindStringSubmatch(line)
		if m == nil {
			return time.Time{}, fmt.Errorf("%q is logged without start_time: %s", message, line)
		}
		return time.Parse(time.RFC3339Nano, m[1])
	}
	return time.Time{}, fmt.Errorf("%q is not logged", message)
}
