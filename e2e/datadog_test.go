package e2e

import "testing"

// TestDatadogExample runs examples/datadog.yaml against an OTLP/HTTP
// endpoint standing in for the Datadog Agent: logs carry service.name and a
// status attribute in Datadog's words, and the metrics arrive too.
func TestDatadogExample(t *testing.T) {
	backend := startPeer(t)
	dist := startDistribution(t, "datadog.yaml", map[string]string{
		"DETECTIFY_WEBHOOK_SECRET": e2eSecret,
		"DD_OTLP_ENDPOINT":         backend.otlpEndpoint,
	})

	sendSeed(t, dist.webhookURL, e2eSecret)

	seed := seedByType(t)
	logs := waitRecords(t, backend, len(seed))
	wantStatus := map[string]string{
		typeScanStarted:  "info",
		typeFindingHigh:  "error",
		typeScanFinished: "info",
	}
	for eventType, payload := range seed {
		l, ok := logs[eventType]
		if !ok {
			t.Errorf("no log for %s", eventType)
			continue
		}
		assertRecord(t, eventType, l, payload)
		assertAttrs(t, eventType+" resource", l.resource, map[string]string{"service.name": "detectify"})
		assertAttrs(t, eventType+" attributes", l.Attributes(), merged(seedAttrs[eventType], map[string]string{
			"status": wantStatus[eventType],
		}))
	}

	waitSeries(t, backend, []series{
		{"detectify.findings", domainAttrs("detectify.finding.severity", "high"), 1},
		{"detectify.findings", domainAttrs("detectify.finding.severity", "medium"), 0},
		{"detectify.scans", domainAttrs("detectify.scan.state", "started"), 1},
		{"detectify.scans", domainAttrs("detectify.scan.state", "finished"), 1},
		{"detectify.scan.findings", domainAttrs("detectify.finding.category", "critical"), 1},
		{"detectify.scan.findings", domainAttrs("detectify.finding.category", "medium"), 2},
		{"detectify.scan.findings", domainAttrs("detectify.finding.category", "notice"), 4},
	})
}

// domainAttrs are the attributes of a series of the seed's domain.
func domainAttrs(key, value string) map[string]string {
	return map[string]string{"detectify.domain": seedDomain, key: value}
}
