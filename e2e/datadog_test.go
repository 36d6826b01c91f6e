package e2e

import "testing"

// TestDatadogExample runs examples/datadog.yaml against an OTLP/HTTP
// endpoint standing in for the Datadog Agent: logs carry service.name and
// their severity text in Datadog's words (the Agent maps it to the log's
// status; the example sets no status attribute of its own), and the
// metrics arrive too, the scan-insight gauges included.
func TestDatadogExample(t *testing.T) {
	backend := startPeer(t)
	dist := startDistribution(t, "datadog.yaml", map[string]string{
		"DETECTIFY_WEBHOOK_SECRET": e2eSecret,
		"DD_OTLP_ENDPOINT":         backend.otlpEndpoint,
	})

	sendSeed(t, dist.webhookURL, e2eSecret)

	seed := seedByType(t)
	logs := waitRecords(t, backend, len(seed))
	for eventType, payload := range seed {
		l, ok := logs[eventType]
		if !ok {
			t.Errorf("no log for %s", eventType)
			continue
		}
		// The severity text is the status Datadog shows: info, error.
		assertRecord(t, eventType, l, payload)
		assertAttrs(t, eventType+" resource", l.resource, map[string]string{"service.name": "detectify"})
		assertAttrs(t, eventType+" attributes", l.Attributes(), seedAttrs[eventType])
		assertNoAttrs(t, eventType+" attributes", l.Attributes(), "status")
	}
	if d, ok := logs[typeScanFinished].Attributes().Get("detectify.scan.duration"); !ok || d.Double() <= 0 {
		t.Errorf("scan finished: detectify.scan.duration = %v, want the seconds between start and finish", d.AsRaw())
	}

	waitSeries(t, backend, []series{
		{metric: "detectify.findings", attrs: domainAttrs("detectify.finding.severity", "critical"), value: 0},
		{metric: "detectify.findings", attrs: domainAttrs("detectify.finding.severity", "high"), value: 1},
		{metric: "detectify.findings", attrs: domainAttrs("detectify.finding.severity", "medium"), value: 0},
		{metric: "detectify.scans", attrs: domainAttrs("detectify.scan.state", "started"), value: 1},
		{metric: "detectify.scans", attrs: domainAttrs("detectify.scan.state", "finished"), value: 1},
		{metric: "detectify.scans", attrs: domainAttrs("detectify.scan.state", "stalled"), value: 0},
		{metric: "detectify.scans.open", attrs: domainOnly(), value: 0},
		{metric: "detectify.scan.findings", attrs: domainAttrs("detectify.finding.category", "critical"), value: 1},
		{metric: "detectify.scan.findings", attrs: domainAttrs("detectify.finding.category", "medium"), value: 2},
		{metric: "detectify.scan.findings", attrs: domainAttrs("detectify.finding.category", "notice"), value: 4},
		{metric: "detectify.scan.findings.undelivered", attrs: domainOnly(), value: 2},
		{metric: "detectify.scan.duration", attrs: domainOnly(), positive: true},
	})
}

// domainAttrs are the attributes of a series of the seed's domain.
func domainAttrs(key, value string) map[string]string {
	return map[string]string{"detectify.domain": seedDomain, key: value}
}

// domainOnly are the attributes of a per-domain gauge of the seed's domain.
func domainOnly() map[string]string {
	return map[string]string{"detectify.domain": seedDomain}
}
