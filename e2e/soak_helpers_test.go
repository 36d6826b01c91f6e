package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Helpers of the reliability tests (overload, restart, soak, burst): a
// collector run from a configuration the test writes, its own telemetry
// read from a Prometheus pull endpoint, and its resource usage read from
// /proc.

// relCollector is otelcol-detectify running a configuration written by the
// test, with the receiver, and optionally the collector's own telemetry and
// a Prometheus exporter, on free loopback ports.
type relCollector struct {
	*process
	webhookURL   string
	telemetryURL string // the collector's own metrics; "" when switched off
	promURL      string // the prometheus exporter's page; "" when absent
}

// relConfig is a collector configuration with placeholders: @ENDPOINT@
// (the receiver), @SECRET@, @TELEMETRY_HOST@/@TELEMETRY_PORT@ (the
// collector's own metrics) and @PROM@ (a prometheus exporter), plus the
// test's own vars.
type relConfig struct {
	text string
	vars map[string]string
	env  map[string]string
}

var relPlaceholder = regexp.MustCompile(`@[A-Z_]+@`)

// startRelCollector writes cfg into dir and runs otelcol-detectify with it.
// It returns once every component has started.
func startRelCollector(t *testing.T, dir string, cfg relConfig) *relCollector {
	t.Helper()
	endpoint, telemetry, prom := freeAddr(t), freeAddr(t), freeAddr(t)
	telemetryHost, telemetryPort, _ := strings.Cut(telemetry, ":")
	vars := map[string]string{
		"@ENDPOINT@":       endpoint,
		"@SECRET@":         e2eSecret,
		"@TELEMETRY_HOST@": telemetryHost,
		"@TELEMETRY_PORT@": telemetryPort,
		"@PROM@":           prom,
	}
	maps.Copy(vars, cfg.vars)
	text := cfg.text
	for k, v := range vars {
		text = strings.ReplaceAll(text, k, v)
	}
	if left := relPlaceholder.FindString(text); left != "" {
		t.Fatalf("configuration placeholder %s left unfilled", left)
	}
	path, err := os.CreateTemp(dir, "otelcol-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := path.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := path.Close(); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, distributionBinary, cfg.env, "--config="+path.Name())
	c := &relCollector{process: p, webhookURL: "http://" + endpoint + "/webhook"}
	if strings.Contains(cfg.text, "@TELEMETRY_PORT@") {
		c.telemetryURL = "http://" + telemetry + "/metrics"
	}
	if strings.Contains(cfg.text, "@PROM@") {
		c.promURL = "http://" + prom + "/metrics"
	}
	waitHTTPOK(t, p, "http://"+endpoint+"/health")
	// The shared listener opens when the first of the receiver's two
	// pipelines starts, possibly before the other pipeline's exporters
	// have: wait for the collector to say everything has started.
	eventually(t, p, readyTimeout, p.name+" started", func() error {
		if !strings.Contains(p.stderr.String(), "Everything is ready") {
			return fmt.Errorf("not every component has started yet")
		}
		return nil
	})
	return c
}

// relTelemetryReaders is the service::telemetry section that serves the
// collector's own metrics on @TELEMETRY_HOST@:@TELEMETRY_PORT@.
const relTelemetryReaders = `
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

// stopAndCheck stops the collector with SIGTERM, as an orchestrator does,
// and fails the test unless it exits cleanly.
func (c *relCollector) stopAndCheck(t *testing.T) {
	t.Helper()
	c.stop(t)
	if c.err != nil {
		t.Fatalf("%s did not exit cleanly after SIGTERM: %v\n--- stderr:\n%s", c.name, c.err, c.stderr.String())
	}
}

// scrapeTotals reads a Prometheus text page and sums the samples of each
// metric name over their labels.
func scrapeTotals(url string) (map[string]float64, error) {
	page, err := httpGet(url)
	if err != nil {
		return nil, err
	}
	totals := map[string]float64{}
	for _, s := range parseExposition(page) {
		totals[s.name] += s.value
	}
	return totals, nil
}

// expositionSample is one sample line of the Prometheus text format.
type expositionSample struct {
	name   string
	labels string // the text between the braces, as written
	value  float64
}

// label returns the value of one label of s ("" when absent).
func (s expositionSample) label(name string) string {
	for _, pair := range labelPair.FindAllStringSubmatch(s.labels, -1) {
		if pair[1] == name {
			return pair[2]
		}
	}
	return ""
}

func parseExposition(page string) []expositionSample {
	var out []expositionSample
	sc := bufio.NewScanner(strings.NewReader(page))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		series := line[:i]
		s := expositionSample{name: series, value: v}
		if j := strings.IndexByte(series, '{'); j >= 0 {
			s.name, s.labels = series[:j], strings.TrimSuffix(series[j+1:], "}")
		}
		out = append(out, s)
	}
	return out
}

// telemetryTotal is one metric of the collector's own telemetry, summed
// over its labels; 0 when the metric has not been recorded yet.
func (c *relCollector) telemetryTotal(t *testing.T, name string) float64 {
	t.Helper()
	var total float64
	eventually(t, c.process, deliveryTimeout, "the collector's own metrics", func() error {
		totals, err := scrapeTotals(c.telemetryURL)
		total = totals[name]
		return err
	})
	return total
}

// procStats is what /proc tells about a process at one moment.
type procStats struct {
	at      time.Time
	rss     int64         // resident set, bytes
	threads int           // OS threads
	cpu     time.Duration // user + system time so far
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times; 100 on
// every Linux architecture Go supports.
const clockTicks = 100

func readProcStats(pid int) (procStats, error) {
	s := procStats{at: time.Now()}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for line := range strings.Lines(string(status)) {
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		switch key {
		case "VmRSS": // in kB
			kb, err := strconv.ParseInt(fields[0], 10, 64)
			if err != nil {
				return s, fmt.Errorf("VmRSS: %w", err)
			}
			s.rss = kb << 10
		case "Threads":
			if s.threads, err = strconv.Atoi(fields[0]); err != nil {
				return s, fmt.Errorf("Threads: %w", err)
			}
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted from the last ')'. utime and stime are fields 14 and 15.
	rest := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(rest) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	var ticks int64
	for _, f := range rest[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return s, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	s.cpu = time.Duration(ticks) * time.Second / clockTicks
	return s, nil
}

// procStats samples the collector's process; a failure to read /proc fails
// the test (the process must be running).
func (c *relCollector) procStats(t *testing.T) procStats {
	t.Helper()
	s, err := readProcStats(c.cmd.Process.Pid)
	if err != nil {
		t.Fatalf("reading /proc for %s: %v", c.name, err)
	}
	return s
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// postSigned posts one webhook signed with e2eSecret and returns the status
// and the body of the answer.
func postSigned(url string, body []byte) (int, string, error) {
	return postSignedWith(url, body, nil)
}

// postSignedWith is postSigned that hands the answer's header to header.
func postSignedWith(url string, body []byte, header func(http.Header)) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), deliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	mac := hmac.New(sha256.New, []byte(e2eSecret))
	mac.Write(body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Detectify-Signature", hex.EncodeToString(mac.Sum(nil)))
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if header != nil {
		header(resp.Header)
	}
	answer, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(answer)), err
}

// mustPost posts body and fails the test unless the answer is 200 with the
// given status ("accepted" or "duplicate").
func mustPost(t *testing.T, url string, body []byte, want string) {
	t.Helper()
	status, answer, err := postSigned(url, body)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	if wantBody := `{"status":"` + want + `"}`; status != http.StatusOK || answer != wantBody {
		t.Fatalf("POST %s: %d %s, want 200 %s", url, status, answer, wantBody)
	}
}

// findingBody is a finding webhook unique to (domain, id), in Detectify's
// shape. Each domain's findings belong to a scan of its own (its id is the
// domain name), as Detectify's scan ids are unique: the receiver opens that
// scan with the domain's first finding, so the domain also has the scan
// series detectify_scans_open and detectify_scans_total{state="stalled"}.
func findingBody(domain string, id int) []byte {
	return fmt.Appendf(nil, `{"type":"event_finding_high","domain":%q,"severity":"high","cvss_score":7.5,`+
		`"title":"Reflected Cross-site Scripting (XSS)","report_url":"https://detectify.com/report/e2e/%s",`+
		`"finding_url":"https://detectify.com/report/e2e/%s/f%07d"}`, domain, domain, domain, id)
}

// countFileRecords reads the JSON lines the file exporter wrote to path
// and counts the log records by body.
func countFileRecords(path string) (map[[sha256.Size]byte]int, int, error) {
	records, err := readRecords(path)
	if err != nil {
		return nil, 0, err
	}
	bodies := make(map[[sha256.Size]byte]int, len(records))
	for _, r := range records {
		bodies[sha256.Sum256([]byte(r.Body().AsString()))]++
	}
	return bodies, len(records), nil
}
