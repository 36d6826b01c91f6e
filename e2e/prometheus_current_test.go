package e2e

import (
	"testing"
	"time"

	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

// TestPrometheusCurrentFormatCriticalFinding runs the alerting chain of
// examples/prometheus (startPromStack) with current-format messages:
// Detectify's documented critical finding on app.example.com, between the
// scan_started and scan_completed examples, and a generated current-format
// scan of another domain. Once Prometheus has scraped the domains' critical
// series at 0 (created by their scans' starts), each critical finding must
// reach the sink as a firing DetectifyNewHighFinding with
// detectify_finding_severity="critical". Prometheus must then hold each
// domain's counts by level, the completed scans' counts by category and
// their undelivered findings as the scenario's Withheld.
func TestPrometheusCurrentFormatCriticalFinding(t *testing.T) {
	const (
		docDomain = "app.example.com" // the documented example's asset
		genDomain = "current.example"
		alertName = "DetectifyNewHighFinding"
	)
	stack := startPromStack(t, promStackOptions{})
	ctx := t.Context()

	seedMsgs := webhooksend.SeedMessagesIn(webhooksend.FormatCurrent) // started, finding, completed, asset
	genMsgs, summaries := webhooksend.Scenario(webhooksend.ScenarioOptions{
		Format: webhooksend.FormatCurrent, Domains: []string{genDomain}, FindingsPerScan: 40, Seed: 3,
	})
	gen := expectScan(t, genMsgs, summaries[0])
	if gen.byLevel["critical"] == 0 {
		t.Fatalf("the generated scan sends no critical finding (%v): pick another seed", gen.byLevel)
	}

	// 1. The scans start: each domain's critical series appears at 0.
	stack.sendAll(ctx, t, [][]byte{seedMsgs[0], genMsgs[0]})
	for _, domain := range []string{docDomain, genDomain} {
		stack.waitValue(ctx, t, findingsKey(domain, "critical"), 0)
	}

	// 2. The findings and the completions.
	stack.sendAll(ctx, t, seedMsgs[1:])
	stack.sendAll(ctx, t, genMsgs[1:])
	sent := time.Now()
	for _, domain := range []string{docDomain, genDomain} {
		alert := stack.waitAlert(t, alertName, map[string]string{
			"detectify_domain": domain, "detectify_finding_severity": "critical",
		})
		promCheckNewFindingAlert(t, alert, domain, "critical")
	}
	t.Logf("both critical findings alerted %s after they were sent", time.Since(sent).Round(time.Millisecond))

	// 3. What Prometheus stored. The documented scan reports one critical
	// finding, the one delivered.
	want := map[string]float64{
		findingsKey(docDomain, "critical"):        1,
		findingsKey(docDomain, "high"):            0,
		findingsKey(docDomain, "medium"):          0,
		scansKey(docDomain, "started"):            1,
		scansKey(docDomain, "finished"):           1,
		scansKey(docDomain, "stalled"):            0,
		scanFindingsKey(docDomain, "critical"):    1,
		scanFindingsKey(docDomain, "high"):        0,
		scanFindingsKey(docDomain, "medium"):      0,
		scanFindingsKey(docDomain, "low"):         2,
		scanFindingsKey(docDomain, "information"): 3,
		undeliveredKey(docDomain):                 0,
		scansOpenKey(docDomain):                   0,
		scansKey(genDomain, "finished"):           1,
		undeliveredKey(genDomain):                 float64(gen.summary.Withheld),
		scansOpenKey(genDomain):                   0,
	}
	found := gen.summary.Found
	for level, n := range map[string]int{
		"critical": found.Critical, "high": found.High, "medium": found.Medium, "low": found.Low, "information": found.Information,
	} {
		want[scanFindingsKey(genDomain, level)] = float64(n)
	}
	for _, level := range []string{"critical", "high", "medium"} {
		want[findingsKey(genDomain, level)] = float64(gen.byLevel[level])
	}
	for query, v := range want {
		stack.waitValue(ctx, t, query, v)
	}
	t.Logf("generated scan: found %+v, %d messages sent (%v), %d withheld", found, gen.summary.Sent, gen.byLevel, gen.summary.Withheld)

	// High findings alert as high, apart from the critical ones.
	if gen.byLevel["high"] > 0 {
		alert := stack.waitAlert(t, alertName, map[string]string{
			"detectify_domain": genDomain, "detectify_finding_severity": "high",
		})
		promCheckNewFindingAlert(t, alert, genDomain, "high")
	}
	for _, a := range stack.sink.all() {
		if a.Labels["alertname"] == alertName && a.Labels["detectify_domain"] == docDomain && a.Labels["detectify_finding_severity"] != "critical" {
			t.Errorf("%s had only a critical finding, yet alerted %v", docDomain, a.Labels)
		}
	}
}
