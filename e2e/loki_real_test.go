//go:build loki

// The real-Loki test needs a Loki 3.x binary, which this repository cannot
// build: github.com/grafana/loki/v3 is AGPL-3.0 and the package lists of the
// machines it is developed on mark it not to be used. It is compiled and run
// only with the loki build tag, by `make e2e-loki LOKI=/path/to/loki`, and
// fails (it does not skip) when LOKI_BINARY is missing.

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

// lokiConfig is a single-binary Loki on loopback, filesystem storage in a
// temporary directory, and examples/loki.yaml's otlp_config: the two
// attributes the example moves to the resource become stream labels.
const lokiConfig = `auth_enabled: false
server:
  http_listen_address: 127.0.0.1
  http_listen_port: {{http}}
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: {{grpc}}
  log_level: warn
common:
  instance_addr: 127.0.0.1
  path_prefix: {{dir}}
  replication_factor: 1
  ring:
    kvstore:
      store: inmemory
  storage:
    filesystem:
      chunks_directory: {{dir}}/chunks
      rules_directory: {{dir}}/rules
memberlist:
  bind_addr: [127.0.0.1]
  bind_port: {{memberlist}}
schema_config:
  configs:
    - from: 2024-01-01
      store: tsdb
      object_store: filesystem
      schema: v13
      index:
        prefix: index_
        period: 24h
ingester:
  lifecycler:
    final_sleep: 0s
limits_config:
  allow_structured_metadata: true
  discover_log_levels: true
  otlp_config:
    resource_attributes:
      attributes_config:
        - action: index_label
          attributes: [detectify.domain, detectify.finding.severity]
analytics:
  reporting_enabled: false
`

// lokiStaleScanAfter is the collector's stale_scan_after in TestRealLoki.
const lokiStaleScanAfter = 5 * time.Second

// lokiEntry is one line of a query's answer, its stream's labels apart
// from its structured metadata (the categorize-labels encoding).
type lokiEntry struct {
	labels, metadata map[string]string
	line             string
}

// TestRealLoki sends the seed messages (both formats) and a current-format
// scan of every level through examples/loki.yaml to a real Loki's OTLP
// endpoint, then reads them back through Loki's query API: the stream
// labels, the structured metadata, detected_level, the body, and every
// LogQL query of README.md and of the Grafana dashboard.
func TestRealLoki(t *testing.T) {
	bin := os.Getenv("LOKI_BINARY")
	if bin == "" {
		t.Fatal("LOKI_BINARY must name a Loki 3.x binary (make e2e-loki LOKI=/path/to/loki)")
	}
	dir := t.TempDir()
	httpAddr := freeAddr(t)
	config := strings.NewReplacer(
		"{{http}}", portOf(t, httpAddr), "{{grpc}}", portOf(t, freeAddr(t)),
		"{{memberlist}}", portOf(t, freeAddr(t)), "{{dir}}", dir,
	).Replace(lokiConfig)
	configPath := filepath.Join(dir, "loki.yaml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	loki := startProcess(t, bin, nil, "-config.file="+configPath, "-target=all")
	lokiURL := "http://" + httpAddr
	eventually(t, loki, 2*time.Minute, "Loki ready", func() error {
		_, err := httpGet(lokiURL + "/ready")
		return err
	})

	// The scan below withholds findings: the sender's fake Detectify API
	// serves them, and the receiver's api block fetches them.
	const currentDomain = "loki.current.example"
	scenario, scans := webhooksend.Scenario(webhooksend.ScenarioOptions{
		Format: webhooksend.FormatCurrent, Domains: []string{currentDomain}, FindingsPerScan: 130, Seed: 4,
	})
	api, err := webhooksend.NewFakeAPI("loki-api-key", "", scans, webhooksend.FakeAPIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	apiServer := httptest.NewServer(api)
	t.Cleanup(apiServer.Close)

	// examples/loki.yaml as startDistribution runs it, with scans stalling
	// after lokiStaleScanAfter, and the api block.
	webhookAddr := freeAddr(t)
	dist := startProcess(t, distributionBinary, map[string]string{
		"DETECTIFY_ENDPOINT":       webhookAddr,
		"DETECTIFY_WEBHOOK_SECRET": e2eSecret,
		"LOKI_OTLP_ENDPOINT":       lokiURL + "/otlp",
	}, "--config="+filepath.Join("..", "examples", "loki.yaml"),
		"--set=service.telemetry.metrics.level=none",
		"--set=receivers::detectify::stale_scan_after="+lokiStaleScanAfter.String(),
		"--set=receivers::detectify::api::key=loki-api-key",
		"--set=receivers::detectify::api::endpoint="+apiServer.URL+api.BasePath())
	waitHTTPOK(t, dist, "http://"+webhookAddr+"/health")
	webhookURL := "http://" + webhookAddr + "/webhook"

	// The seed (both formats), the current-format scan of 130 findings on
	// currentDomain, which withholds some, and a scan on it that never
	// finishes: reported stalled after lokiStaleScanAfter.
	unfinished, _ := webhooksend.Scenario(webhooksend.ScenarioOptions{
		Format: webhooksend.FormatCurrent, Domains: []string{currentDomain}, FindingsPerScan: 2, Unfinished: 1, Seed: 5,
	})
	msgs := append(webhooksend.SeedMessages(), webhooksend.SeedMessagesIn(webhooksend.FormatCurrent)...)
	msgs = append(msgs, scenario...)
	msgs = append(msgs, unfinished...)
	sendMessages(t, webhookURL, e2eSecret, msgs)

	// Every message is one line in Loki, its body exactly as sent; the
	// stalled scan one more, and the backfill one per withheld finding and
	// one for how it ended.
	all := lokiWaitEntries(t, loki, lokiURL, `{service_name="detectify"}`, len(msgs)+1+scans[0].Withheld+1)
	byLine := map[string]lokiEntry{}
	for _, e := range all {
		byLine[e.line] = e
	}
	for _, m := range msgs {
		if _, ok := byLine[string(m)]; !ok {
			t.Errorf("no line in Loki is the webhook's body: %.200s", m)
		}
	}

	// The classic seed: stream labels and structured metadata, by name.
	for eventType, payload := range seedByType(t) {
		e, ok := byLine[payload]
		if !ok {
			continue // reported above
		}
		wantLabels := map[string]string{"service_name": "detectify"}
		for k, v := range seedAttrs[eventType] {
			name := strings.ReplaceAll(k, ".", "_")
			if k == "detectify.domain" || k == "detectify.finding.severity" {
				wantLabels[name] = v
				continue
			}
			if got, ok := e.metadata[name]; !ok || got != v {
				t.Errorf("%s: structured metadata %s = %q (present %v), want %q", eventType, name, got, ok, v)
			}
		}
		if fmt.Sprint(e.labels) != fmt.Sprint(wantLabels) {
			t.Errorf("%s: stream labels %v, want %v", eventType, e.labels, wantLabels)
		}
	}

	// detected_level and severity_text by Detectify level, both formats.
	wantLevel := map[string][2]string{ // detected_level, severity_text
		"critical": {"fatal", "critical"}, "high": {"error", "error"}, "medium": {"warn", "warn"},
		"low": {"info", "info"}, "information": {"info", "info"},
	}
	seen := map[string]bool{}
	for _, e := range all {
		level, ok := e.labels["detectify_finding_severity"]
		if !ok {
			want := "info" // scan and asset events
			if strings.Contains(e.line, "has been open for") {
				want = "warn" // the stalled scan
			}
			if got := e.metadata["detected_level"]; got != want {
				t.Errorf("a record that is not a finding has detected_level %q, want %s: %.120s", got, want, e.line)
			}
			continue
		}
		want := wantLevel[level]
		if got := [2]string{e.metadata["detected_level"], e.metadata["severity_text"]}; got != want {
			t.Errorf("a %s finding: detected_level, severity_text = %v, want %v", level, got, want)
		}
		if e.metadata["detectify_finding_title"] == "" {
			t.Errorf("a %s finding without detectify_finding_title: %v", level, e.metadata)
		}
		seen[level] = true
	}
	for _, level := range []string{"critical", "high", "medium"} {
		if !seen[level] {
			t.Errorf("no %s finding reached Loki", level)
		}
	}

	// README.md's queries, with the README's my.domain as the current
	// scan's domain, and the dashboard's, for that domain: each returns
	// lines, and what it says it selects.
	findingOf := func(levels ...string) func(lokiEntry) bool {
		return func(e lokiEntry) bool {
			for _, l := range levels {
				if e.labels["detectify_finding_severity"] == l {
					return true
				}
			}
			return false
		}
	}
	withheld := func(e lokiEntry) bool {
		n, err := strconv.Atoi(e.metadata["detectify_scan_findings_undelivered"])
		return err == nil && n > 0
	}
	limited := func(e lokiEntry) bool { return e.metadata["detectify_scan_limit_reached"] != "" }
	stalled := func(e lokiEntry) bool {
		d, err := strconv.ParseFloat(e.metadata["detectify_scan_duration"], 64)
		return err == nil && d >= lokiStaleScanAfter.Seconds() && strings.Contains(e.line, "has been open for")
	}
	fromAPI := func(e lokiEntry) bool { return e.metadata["detectify_finding_source"] == "api" }
	backfillEnded := func(e lokiEntry) bool { return e.metadata["detectify_scan_backfill_outcome"] == "completed" }
	expect := map[string]func(lokiEntry) bool{
		`{service_name="detectify"} | detectify_finding_source = "api"`:                                                fromAPI,
		`{service_name="detectify", detectify_domain=~"$domain"} | detectify_finding_source = "api"`:                   fromAPI,
		`{service_name="detectify"} | detectify_scan_backfill_outcome != ""`:                                           backfillEnded,
		`{service_name="detectify"} | detectify_scan_findings_undelivered > 0`:                                         withheld,
		`{service_name="detectify"} | detectify_scan_limit_reached != ""`:                                              limited,
		`{service_name="detectify", detectify_domain="my.domain", detectify_finding_severity=~"critical|high"}`:        findingOf("critical", "high"),
		`{service_name="detectify", detectify_finding_severity=~"critical|high", detectify_domain=~"$domain"}`:         findingOf("critical", "high"),
		`{service_name="detectify", detectify_domain=~"$domain"} | detectify_scan_findings_undelivered > 0`:            withheld,
		`{service_name="detectify"} |= "has been open for" | detectify_scan_duration > 0`:                              stalled,
		`{service_name="detectify", detectify_domain=~"$domain"} |= "has been open for" | detectify_scan_duration > 0`: stalled,
	}
	_, dashQueries := loadDashboard(t)
	var queries []string
	for _, q := range dashQueries {
		if q.source == "loki" {
			queries = append(queries, q.expr)
		}
	}
	queries = append(queries, readmeLogQL(t)...)
	for _, q := range queries {
		check, ok := expect[q]
		if !ok {
			t.Errorf("no expectation in this test for the LogQL query %s", q)
			continue
		}
		run := strings.NewReplacer(`"my.domain"`, strconv.Quote(currentDomain), "$domain", grafanaRegexValue(currentDomain)).Replace(q)
		got, err := lokiQuery(t.Context(), lokiURL, run)
		if err != nil {
			t.Errorf("%s: %v", run, err)
			continue
		}
		if len(got) == 0 {
			t.Errorf("%s returned nothing", run)
		}
		for _, e := range got {
			if !check(e) {
				t.Errorf("%s returned a line it should not: labels %v metadata %v", run, e.labels, e.metadata)
				break
			}
		}
	}
}

var readmeLogQLBlock = regexp.MustCompile("(?s)```logql\n(.*?)```")

// readmeLogQL is every query of README.md's logql blocks, one a line.
func readmeLogQL(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, m := range readmeLogQLBlock.FindAllStringSubmatch(promReadFile(t, filepath.Join(promRepoRoot(t), "README.md")), -1) {
		for _, line := range strings.Split(m[1], "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				out = append(out, line)
			}
		}
	}
	return out
}

// lokiWaitEntries waits until query returns at least n lines.
func lokiWaitEntries(t *testing.T, p *process, lokiURL, query string, n int) []lokiEntry {
	t.Helper()
	var got []lokiEntry
	eventually(t, p, time.Minute, fmt.Sprintf("%d lines for %s", n, query), func() error {
		var err error
		if got, err = lokiQuery(t.Context(), lokiURL, query); err == nil && len(got) < n {
			err = fmt.Errorf("%d lines", len(got))
		}
		return err
	})
	return got
}

// lokiQuery runs a log query over the last hour through Loki's query_range
// API, asking for labels and structured metadata apart.
func lokiQuery(ctx context.Context, lokiURL, query string) ([]lokiEntry, error) {
	now := time.Now()
	u := lokiURL + "/loki/api/v1/query_range?" + url.Values{
		"query": {query}, "limit": {"5000"}, "direction": {"forward"},
		"start": {strconv.FormatInt(now.Add(-time.Hour).UnixNano(), 10)},
		"end":   {strconv.FormatInt(now.Add(time.Minute).UnixNano(), 10)},
	}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Loki-Response-Encoding-Flags", "categorize-labels")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, body)
	}
	var out struct {
		Data struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Stream map[string]string   `json:"stream"`
				Values [][]json.RawMessage `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("%w: %.500s", err, body)
	}
	if out.Data.ResultType != "streams" {
		return nil, fmt.Errorf("result type %q, want streams", out.Data.ResultType)
	}
	var entries []lokiEntry
	for _, s := range out.Data.Result {
		for _, v := range s.Values {
			e := lokiEntry{labels: s.Stream, metadata: map[string]string{}}
			if len(v) < 2 {
				return nil, fmt.Errorf("a value of %d elements", len(v))
			}
			if err := json.Unmarshal(v[1], &e.line); err != nil {
				return nil, err
			}
			if len(v) > 2 {
				var cat struct {
					StructuredMetadata map[string]string `json:"structuredMetadata"`
				}
				if err := json.Unmarshal(v[2], &cat); err != nil {
					return nil, err
				}
				for k, val := range cat.StructuredMetadata {
					e.metadata[k] = val
				}
			}
			entries = append(entries, e)
		}
	}
	return entries, nil
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		t.Fatalf("address %q has no port", addr)
	}
	return addr[i+1:]
}
