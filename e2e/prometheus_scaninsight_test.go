package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

// promStaleScanAfter is the collector's stale_scan_after in
// TestPrometheusWithheldFindingsAndStalledScan: long enough for Prometheus
// (scraping every second) to store a domain's stalled series at 0 before
// its scan stalls, short enough to keep the test quick.
const promStaleScanAfter = 6 * time.Second

// TestPrometheusWithheldFindingsAndStalledScan runs the alerting chain of
// examples/prometheus (startPromStack) with what the receiver concludes
// about scans:
//
//   - a classic scan of 130 findings on withheld.example, of which the
//     sender withholds what Detectify would (10 messages per title, 100
//     per scan): Prometheus must show
//     detectify_scan_findings_undelivered{detectify_domain="withheld.example"}
//     equal to the scan's Withheld, and DetectifyWithheldFindings must
//     reach the sink for the domain with that count;
//   - a scan of stalled.example that never finishes: with stale_scan_after
//     at 6s the receiver reports it stalled, Prometheus sees its stalled
//     series go from 0 to 1 and its open scans to 0, and
//     DetectifyStalledScan must reach the sink for the domain.
//
// Neither alert may fire for the other domain.
func TestPrometheusWithheldFindingsAndStalledScan(t *testing.T) {
	const (
		withheldDomain = "withheld.example"
		stalledDomain  = "stalled.example"
	)
	stack := startPromStack(t, promStackOptions{collectorSets: []string{
		"receivers::detectify::stale_scan_after=" + promStaleScanAfter.String(),
	}})
	ctx := t.Context()

	withheldMsgs, withheldScans := webhooksend.Scenario(webhooksend.ScenarioOptions{
		Domains: []string{withheldDomain}, FindingsPerScan: 130, Seed: 1,
	})
	withheld := expectScan(t, withheldMsgs, withheldScans[0])
	if withheld.summary.Withheld == 0 {
		t.Fatalf("the scan withholds nothing (%+v): pick another seed", withheld.summary)
	}
	stalledMsgs, _ := webhooksend.Scenario(webhooksend.ScenarioOptions{
		Domains: []string{stalledDomain}, FindingsPerScan: 3, Unfinished: 1, Seed: 2,
	})

	// The scan that will stall opens first; the other one runs its course
	// in well under a second, far from stalling.
	stack.sendAll(ctx, t, stalledMsgs)
	opened := time.Now()
	stack.waitValue(ctx, t, scansKey(stalledDomain, "stalled"), 0)
	if time.Since(opened) >= promStaleScanAfter {
		t.Fatalf("Prometheus stored the stalled series' 0 only %s after the scan opened, past stale_scan_after: "+
			"the test cannot tell a rise from a series that appeared at 1", time.Since(opened))
	}
	stack.sendAll(ctx, t, withheldMsgs)

	// Withheld findings: the gauge, then the alert.
	stack.waitValue(ctx, t, undeliveredKey(withheldDomain), float64(withheld.summary.Withheld))
	alert := stack.waitAlert(t, "DetectifyWithheldFindings", map[string]string{"detectify_domain": withheldDomain})
	promCheckAlert(t, alert, map[string]string{
		"alertname":        "DetectifyWithheldFindings",
		"detectify_domain": withheldDomain,
		"severity":         "warning",
	}, fmt.Sprintf("Last Detectify scan of %s withheld %d finding(s)", withheldDomain, withheld.summary.Withheld))

	// What else Prometheus holds of that scan: the classic summary's
	// counts (critical_findings covers critical and high), the finding
	// messages counted by level (classic critical findings are sent as
	// high), no scan open.
	found := withheld.summary.Found
	for query, want := range map[string]float64{
		scanFindingsKey(withheldDomain, "critical"): float64(found.Critical + found.High),
		scanFindingsKey(withheldDomain, "medium"):   float64(found.Medium),
		scanFindingsKey(withheldDomain, "notice"):   float64(found.Low + found.Information),
		findingsKey(withheldDomain, "high"):         float64(withheld.byLevel["high"]),
		findingsKey(withheldDomain, "medium"):       float64(withheld.byLevel["medium"]),
		findingsKey(withheldDomain, "critical"):     0,
		scansOpenKey(withheldDomain):                0,
		scansKey(withheldDomain, "stalled"):         0,
	} {
		stack.waitValue(ctx, t, query, want)
	}
	t.Logf("%s: found %+v, %d finding messages sent, %d withheld, %d titles at the per-type limit",
		withheldDomain, found, withheld.summary.Sent, withheld.summary.Withheld, len(withheld.titles))

	// The stalled scan: counted once, no longer open, then the alert.
	stack.waitValue(ctx, t, scansKey(stalledDomain, "stalled"), 1)
	stack.waitValue(ctx, t, scansOpenKey(stalledDomain), 0)
	alert = stack.waitAlert(t, "DetectifyStalledScan", map[string]string{"detectify_domain": stalledDomain})
	promCheckAlert(t, alert, map[string]string{
		"alertname":        "DetectifyStalledScan",
		"detectify_domain": stalledDomain,
		"severity":         "warning",
	}, fmt.Sprintf("A Detectify scan of %s stalled", stalledDomain))
	t.Logf("the scan of %s was reported stalled and alerted %s after it opened", stalledDomain, time.Since(opened).Round(time.Millisecond))

	// Each alert for its own domain only. Both rules are evaluated every
	// second, so by now either would have fired for the other domain.
	for _, a := range stack.sink.all() {
		switch {
		case a.Labels["alertname"] == "DetectifyWithheldFindings" && a.Labels["detectify_domain"] != withheldDomain,
			a.Labels["alertname"] == "DetectifyStalledScan" && a.Labels["detectify_domain"] != stalledDomain:
			t.Errorf("unexpected alert %v %v", a.Labels, a.Annotations)
		}
	}
	switch samples, err := promQuery(ctx, stack.promURL, undeliveredKey(stalledDomain)); {
	case err != nil:
		t.Errorf("query %s: %v", undeliveredKey(stalledDomain), err)
	case len(samples) > 0:
		t.Errorf("%s = %v, want no series: the scan never finished", undeliveredKey(stalledDomain), samples)
	}
}

// promCheckAlert checks an alert's labels, exactly, its summary and that
// it links a runbook.
func promCheckAlert(t *testing.T, alert promAlert, labels map[string]string, summary string) {
	t.Helper()
	for k, want := range labels {
		if got := alert.Labels[k]; got != want {
			t.Errorf("alert label %s = %q, want %q (labels %v)", k, got, want, alert.Labels)
		}
	}
	if len(alert.Labels) != len(labels) {
		t.Errorf("alert labels = %v, want exactly %v", alert.Labels, labels)
	}
	if got := alert.Annotations["summary"]; got != summary {
		t.Errorf("summary = %q, want %q", got, summary)
	}
	if alert.Annotations["description"] == "" || alert.Annotations["runbook_url"] == "" {
		t.Errorf("annotations %v: want a description and a runbook_url", alert.Annotations)
	}
}
