package e2e

import (
	"fmt"
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
		stack.waitValue(ctx, t, promFindings(domain, "critical"), 0)
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
		promFindings(docDomain, "critical"):        1,
		promFindings(docDomain, "high"):            0,
		promFindings(docDomain, "medium"):          0,
		promScans(docDomain, "started"):            1,
		promScans(docDomain, "finished"):           1,
		promScans(docDomain, "stalled"):            0,
		promScanFindings(docDomain, "critical"):    1,
		promScanFindings(docDomain, "high"):        0,
		promScanFindings(docDomain, "medium"):      0,
		promScanFindings(docDomain, "low"):         2,
		promScanFindings(docDomain, "information"): 3,
		promUndelivered(docDomain):                 0,
		promScansOpen(docDomain):                   0,
		promScans(genDomain, "finished"):           1,
		promUndelivered(genDomain):                 float64(gen.summary.Withheld),
		promScansOpen(genDomain):                   0,
	}
	found := gen.summary.Found
	for level, n := range map[string]int{
		"critical": found.Critical, "high": found.High, "medium": found.Medium, "low": found.Low, "information": found.Information,
	} {
		want[promScanFindings(genDomain, level)] = float64(n)
	}
	for _, level := range []string{"critical", "high", "medium"} {
		want[promFindings(genDomain, level)] = float64(gen.byLevel[level])
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

func promFindings(domain, level string) string {
	return fmt.Sprintf(`detectify_findings_total{detectify_domain=%q,detectify_finding_severity=%q}`, domain, level)
}

func promScans(domain, state string) string {
	return fmt.Sprintf(`detectify_scans_total{detectify_domain=%q,detectify_scan_state=%q}`, domain, state)
}

func promScanFindings(domain, category string) string {
	return fmt.Sprintf(`detectify_scan_findings{detectify_domain=%q,detectify_finding_category=%q}`, domain, category)
}

func promUndelivered(domain string) string {
	return fmt.Sprintf(`detectify_scan_findings_undelivered{detectify_domain=%q}`, domain)
}

func promScansOpen(domain string) string {
	return fmt.Sprintf(`detectify_scans_open{detectify_domain=%q}`, domain)
}
