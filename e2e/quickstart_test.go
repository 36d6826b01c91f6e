package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// demoSecret is examples/collector.yaml's default secret; `make run` prints
// a detectify-send command with it.
const demoSecret = "demo-secret-CHANGE-ME"

// TestQuickStart runs examples/collector.yaml the way `make run` does, with
// no secret in the environment: the demo secret must be accepted, the debug
// exporter must print the three webhooks on stderr and the prometheus
// exporter must serve their counts.
func TestQuickStart(t *testing.T) {
	promAddr := freeAddr(t)
	dist := startDistribution(t, "collector.yaml", map[string]string{
		"PROMETHEUS_EXPORTER_ENDPOINT": promAddr,
	})

	sendSeed(t, dist.webhookURL, demoSecret)

	// verbosity normal prints each record as body and attributes.
	eventually(t, dist.process, deliveryTimeout, "debug exporter output", func() error {
		stderr := dist.stderr.String()
		for eventType := range seedAttrs {
			if !strings.Contains(stderr, "detectify.event.type="+eventType) {
				return fmt.Errorf("no record of %s on stderr yet", eventType)
			}
		}
		return nil
	})

	want := []exposedSample{
		{"detectify_findings_total", map[string]string{"detectify_domain": seedDomain, "detectify_finding_severity": "critical"}, "0"},
		{"detectify_findings_total", map[string]string{"detectify_domain": seedDomain, "detectify_finding_severity": "high"}, "1"},
		{"detectify_findings_total", map[string]string{"detectify_domain": seedDomain, "detectify_finding_severity": "medium"}, "0"},
		{"detectify_scans_total", map[string]string{"detectify_domain": seedDomain, "detectify_scan_state": "started"}, "1"},
		{"detectify_scans_total", map[string]string{"detectify_domain": seedDomain, "detectify_scan_state": "finished"}, "1"},
		{"detectify_scans_total", map[string]string{"detectify_domain": seedDomain, "detectify_scan_state": "stalled"}, "0"},
		{"detectify_scans_open", map[string]string{"detectify_domain": seedDomain}, "0"},
		{"detectify_scan_findings_undelivered", map[string]string{"detectify_domain": seedDomain}, "2"},
		{"detectify_scan_findings", map[string]string{"detectify_domain": seedDomain, "detectify_finding_category": "critical"}, "1"},
		{"detectify_scan_findings", map[string]string{"detectify_domain": seedDomain, "detectify_finding_category": "medium"}, "2"},
		{"detectify_scan_findings", map[string]string{"detectify_domain": seedDomain, "detectify_finding_category": "notice"}, "4"},
	}
	metricsURL := "http://" + promAddr + "/metrics"
	eventually(t, dist.process, deliveryTimeout, "samples at "+metricsURL, func() error {
		page, err := httpGet(metricsURL)
		if err != nil {
			return err
		}
		for _, s := range want {
			if err := s.findIn(page); err != nil {
				return err
			}
		}
		for _, typeLine := range []string{
			"# TYPE detectify_findings_total counter",
			"# TYPE detectify_scans_total counter",
			"# TYPE detectify_scan_findings gauge",
			"# TYPE detectify_scans_open gauge",
			"# TYPE detectify_scan_findings_undelivered gauge",
			"# TYPE detectify_scan_duration_seconds gauge",
		} {
			if !strings.Contains(page, typeLine+"\n") {
				return fmt.Errorf("no %q", typeLine)
			}
		}
		return nil
	})
}
