package e2e

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

// grafanaDashboard is what the tests read of examples/grafana/detectify.json.
type grafanaDashboard struct {
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Query      any    `json:"query"`
			Definition string `json:"definition"`
			Datasource struct {
				Type string `json:"type"`
				UID  string `json:"uid"`
			} `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaPanel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		RefID      string `json:"refId"`
		Expr       string `json:"expr"`
		Datasource struct {
			Type string `json:"type"`
			UID  string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
}

// dashboardQuery is one panel query: its panel, refId, data source type
// ("prometheus" or "loki") and expression.
type dashboardQuery struct {
	panel, refID, source, expr string
}

func (q dashboardQuery) String() string { return fmt.Sprintf("%q %s", q.panel, q.refID) }

func loadDashboard(t *testing.T) (grafanaDashboard, []dashboardQuery) {
	t.Helper()
	var d grafanaDashboard
	path := filepath.Join(promRepoRoot(t), "examples", "grafana", "detectify.json")
	if err := json.Unmarshal([]byte(promReadFile(t, path)), &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var queries []dashboardQuery
	for _, p := range d.Panels {
		for _, target := range p.Targets {
			queries = append(queries, dashboardQuery{p.Title, target.RefID, target.Datasource.Type, target.Expr})
		}
	}
	if len(queries) == 0 {
		t.Fatalf("%s has no panel queries", path)
	}
	return d, queries
}

// grafanaVariable matches Grafana's variables in a query: $name, ${name}.
var grafanaVariable = regexp.MustCompile(`\$\{?(\w+)\}?`)

// expandGrafanaVariables replaces the variables a panel query may use, as
// Grafana does before sending it: $domain with the selected domains (a
// regular expression, as for a multi-value variable), $__rate_interval and
// $__range with durations that suit a Prometheus scraping every second. A
// variable it does not know fails the test, so a new one gets handled here.
func expandGrafanaVariables(t *testing.T, q dashboardQuery, domain string) string {
	t.Helper()
	values := map[string]string{"domain": domain, "__rate_interval": "1m", "__range": "1h"}
	return grafanaVariable.ReplaceAllStringFunc(q.expr, func(v string) string {
		name := grafanaVariable.FindStringSubmatch(v)[1]
		value, ok := values[name]
		if !ok {
			t.Errorf("%s uses $%s, which the test does not know how to replace", q, name)
		}
		return value
	})
}

// grafanaRegexValue is a value of a multi-value variable as Grafana puts it
// in a query's regular-expression matcher: its metacharacters escaped, the
// backslashes doubled for the quoted string.
func grafanaRegexValue(v string) string {
	return strings.ReplaceAll(regexp.QuoteMeta(v), `\`, `\\`)
}

// dashboardExpectation is what a panel query must return for its scenario:
// the one domain selected in $domain, and a check of its series.
type dashboardExpectation struct {
	domain string
	check  func(samples []promSample) error
}

// TestDashboardPromQL runs every Prometheus query of the Grafana dashboard,
// and its domain variable, against a real Prometheus holding what the
// distribution exported (examples/prometheus, startPromStack) for the
// scenario each panel shows:
//
//   - withheld.example: a classic scan of 130 findings, so its last scan
//     withheld findings, with high findings sent after Prometheus stored the
//     domain's high series at 0 (a new high finding, as the alert sees it);
//   - stalled.example: a scan that never finishes, open until the receiver
//     reports it stalled (stale_scan_after 6s).
//
// Each query must return series for the domain it is run for, and only for
// it (the $domain filter works), with the value its panel is about; run for
// every domain ($domain's "All", .*), it must return series too.
func TestDashboardPromQL(t *testing.T) {
	const (
		withheldDomain   = "withheld.example"
		stalledDomain    = "stalled.example"
		backfilledDomain = "backfilled.example"
	)
	dash, queries := loadDashboard(t)
	// The fake Detectify API knows the backfilled domain's scan only: the
	// withheld domain's backfill ends not_found, and its findings stay
	// withheld.
	backfilledMsgs, backfilledScans := webhooksend.Scenario(webhooksend.ScenarioOptions{
		Domains: []string{backfilledDomain}, FindingsPerScan: 205, Titles: 22, Seed: 16,
	})
	api, err := webhooksend.NewFakeAPI("dashboard-api-key", "", backfilledScans, webhooksend.FakeAPIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	apiServer := httptest.NewServer(api)
	t.Cleanup(apiServer.Close)
	stack := startPromStack(t, promStackOptions{collectorSets: []string{
		"receivers::detectify::stale_scan_after=" + promStaleScanAfter.String(),
		"receivers::detectify::api::key=dashboard-api-key",
		"receivers::detectify::api::endpoint=" + apiServer.URL + api.BasePath(),
	}})
	ctx := t.Context()

	withheldMsgs, withheldScans := webhooksend.Scenario(webhooksend.ScenarioOptions{
		Domains: []string{withheldDomain}, FindingsPerScan: 130, Seed: 1,
	})
	withheld := expectScan(t, withheldMsgs, withheldScans[0])
	if withheld.summary.Withheld == 0 || withheld.byLevel["high"] == 0 {
		t.Fatalf("the scan withholds nothing or sends no high finding (%+v, %v): pick another seed", withheld.summary, withheld.byLevel)
	}
	stalledMsgs, _ := webhooksend.Scenario(webhooksend.ScenarioOptions{
		Domains: []string{stalledDomain}, FindingsPerScan: 3, Unfinished: 1, Seed: 2,
	})

	byTitle := map[string]dashboardQuery{}
	for _, q := range queries {
		byTitle[q.panel] = q
	}

	// The scan that will stall: the open-scans panel shows it while open.
	stack.sendAll(ctx, t, stalledMsgs)
	opened := time.Now()
	openScans, ok := byTitle["Open scans"]
	if !ok {
		t.Fatalf("the dashboard has no panel \"Open scans\"")
	}
	promWaitFor(t, "the open-scans panel showing the open scan", time.Minute, stack.all, func() error {
		samples, err := promQuery(ctx, stack.promURL, expandGrafanaVariables(t, openScans, stalledDomain))
		if err == nil {
			err = wantDomainValue(samples, stalledDomain, func(v float64) bool { return v == 1 }, "= 1")
		}
		return err
	})
	if time.Since(opened) >= promStaleScanAfter {
		t.Fatalf("the open scan showed only %s after it opened, past stale_scan_after", time.Since(opened))
	}

	// The withheld domain's scan start, alone, so that Prometheus stores its
	// high findings at 0 before the first one arrives.
	stack.sendAll(ctx, t, withheldMsgs[:1])
	stack.waitValue(ctx, t, findingsKey(withheldDomain, "high"), 0)
	stack.sendAll(ctx, t, withheldMsgs[1:])
	stack.waitValue(ctx, t, undeliveredKey(withheldDomain), float64(withheld.summary.Withheld))
	stack.waitValue(ctx, t, scansKey(stalledDomain, "stalled"), 1)
	stack.sendAll(ctx, t, backfilledMsgs)
	stack.waitValue(ctx, t, undeliveredKey(backfilledDomain), 0)

	positive := func(v float64) bool { return v > 0 }
	expect := map[string]dashboardExpectation{
		"Findings by domain and level": {withheldDomain, func(s []promSample) error {
			return wantSeries(s, map[string]string{"detectify_domain": withheldDomain, "detectify_finding_severity": "high"}, positive, "> 0")
		}},
		"New critical or high findings (alerting now)": {withheldDomain, func(s []promSample) error {
			return wantSeries(s, map[string]string{"detectify_domain": withheldDomain, "detectify_finding_severity": "high"}, positive, "> 0")
		}},
		"Findings in each domain's last finished scan": {withheldDomain, func(s []promSample) error {
			want := float64(withheld.summary.Found.Critical + withheld.summary.Found.High) // classic: critical_findings
			return wantSeries(s, map[string]string{"detectify_domain": withheldDomain, "detectify_finding_category": "critical"},
				func(v float64) bool { return v == want }, fmt.Sprintf("= %v", want))
		}},
		"Withheld findings in each domain's last scan": {withheldDomain, func(s []promSample) error {
			want := float64(withheld.summary.Withheld)
			return wantDomainValue(s, withheldDomain, func(v float64) bool { return v == want }, fmt.Sprintf("= %v", want))
		}},
		"Findings fetched from Detectify's API (last scan)": {backfilledDomain, func(s []promSample) error {
			want := float64(backfilledScans[0].Withheld)
			return wantDomainValue(s, backfilledDomain, func(v float64) bool { return v == want && v > 0 }, fmt.Sprintf("= %v", want))
		}},
		"Scan duration": {withheldDomain, func(s []promSample) error {
			return wantDomainValue(s, withheldDomain, func(v float64) bool { return v >= 0 && v < 60 }, "within [0, 60) seconds")
		}},
		"Scan events since the collector started": {withheldDomain, func(s []promSample) error {
			for _, state := range []string{"started", "finished"} {
				one := func(v float64) bool { return v == 1 }
				if err := wantSeries(s, map[string]string{"detectify_domain": withheldDomain, "detectify_scan_state": state}, one, "= 1"); err != nil {
					return err
				}
			}
			return nil
		}},
		"Open scans": {stalledDomain, func(s []promSample) error {
			return wantDomainValue(s, stalledDomain, func(v float64) bool { return v == 0 }, "= 0 once it stalled")
		}},
		"Stalled scans (last hour)": {stalledDomain, func(s []promSample) error {
			return wantDomainValue(s, stalledDomain, positive, "> 0")
		}},
	}

	checked := 0
	for _, q := range queries {
		if q.source != "prometheus" {
			continue
		}
		checked++
		e, ok := expect[q.panel]
		if !ok {
			t.Errorf("%s: no scenario in this test for the panel's query %s", q, q.expr)
			continue
		}
		// Eventually: a rate over the last minute needs two scrapes past
		// the change.
		promWaitFor(t, fmt.Sprintf("%s for %s", q, e.domain), time.Minute, stack.all, func() error {
			samples, err := promQuery(ctx, stack.promURL, expandGrafanaVariables(t, q, grafanaRegexValue(e.domain)))
			if err != nil {
				return err
			}
			for _, s := range samples {
				if d := s.Metric["detectify_domain"]; d != e.domain {
					return fmt.Errorf("a series of domain %q, with $domain %q only: %v", d, e.domain, samples)
				}
			}
			return e.check(samples)
		})
		all, err := promQuery(ctx, stack.promURL, expandGrafanaVariables(t, q, ".*"))
		if err != nil || len(all) == 0 {
			t.Errorf("%s with $domain .* (All): %v, %v; want series", q, all, err)
		}
	}
	if checked != len(expect) {
		t.Errorf("%d Prometheus queries in the dashboard, %d expected by this test", checked, len(expect))
	}

	checkDomainVariable(t, stack, dash, withheldDomain, stalledDomain, backfilledDomain)
}

// labelValuesQuery is the form of Grafana's variable query for Prometheus
// that lists a label's values on a series.
var labelValuesQuery = regexp.MustCompile(`^label_values\((\w+),\s*(\w+)\)$`)

// checkDomainVariable runs the dashboard's domain variable query the way
// Grafana does (the label values API, matching the series) and wants every
// domain of the run listed.
func checkDomainVariable(t *testing.T, stack *promStack, dash grafanaDashboard, domains ...string) {
	t.Helper()
	for _, v := range dash.Templating.List {
		if v.Name != "domain" {
			continue
		}
		m := labelValuesQuery.FindStringSubmatch(v.Definition)
		if m == nil || v.Datasource.Type != "prometheus" {
			t.Fatalf("the domain variable's query %q (%s) is not label_values(SERIES, LABEL) on Prometheus", v.Definition, v.Datasource.Type)
		}
		values, err := promLabelValues(t.Context(), stack.promURL, m[2], m[1])
		if err != nil {
			t.Fatalf("the domain variable's query %s: %v", v.Definition, err)
		}
		for _, d := range domains {
			if !strings.Contains(" "+strings.Join(values, " ")+" ", " "+d+" ") {
				t.Errorf("the domain variable %s lists %v, without %s", v.Definition, values, d)
			}
		}
		return
	}
	t.Errorf("the dashboard has no domain variable")
}

// wantSeries wants a sample with all the labels given whose value passes ok.
func wantSeries(samples []promSample, labels map[string]string, ok func(float64) bool, what string) error {
next:
	for _, s := range samples {
		for k, v := range labels {
			if s.Metric[k] != v {
				continue next
			}
		}
		v, err := s.value()
		if err != nil {
			return err
		}
		if !ok(v) {
			return fmt.Errorf("series %v = %v, want %s", s.Metric, v, what)
		}
		return nil
	}
	return fmt.Errorf("no series with %v in %v", labels, samples)
}

func wantDomainValue(samples []promSample, domain string, ok func(float64) bool, what string) error {
	return wantSeries(samples, map[string]string{"detectify_domain": domain}, ok, what)
}
