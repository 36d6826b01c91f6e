package e2e

import "testing"

// TestSplunkExample runs examples/splunk.yaml against a Splunk HEC endpoint
// (the peer's splunk_hec receiver): each webhook must arrive as one HEC
// event whose event is the raw payload, whose fields are the record's
// attributes and severity, and whose index, sourcetype and source are the
// example's.
func TestSplunkExample(t *testing.T) {
	const token = "e2e-hec-token"
	backend := startPeer(t)
	dist := startDistribution(t, "splunk.yaml", map[string]string{
		"DETECTIFY_WEBHOOK_SECRET": e2eSecret,
		"SPLUNK_HEC_ENDPOINT":      backend.hecEndpoint,
		"SPLUNK_HEC_TOKEN":         token,
	})

	sendSeed(t, dist.webhookURL, e2eSecret)

	seed := seedByType(t)
	events := waitRecords(t, backend, len(seed))
	for eventType, payload := range seed {
		event, ok := events[eventType]
		if !ok {
			t.Errorf("no HEC event for %s", eventType)
			continue
		}
		if got := event.Body().AsString(); got != payload {
			t.Errorf("%s: event = %q, want the webhook's body %q", eventType, got, payload)
		}
		// The HEC receiver turns the event's metadata into these resource
		// attributes, and the Authorization header into the token one.
		assertAttrs(t, eventType+" metadata", event.resource, map[string]string{
			"com.splunk.index":            "detectify",
			"com.splunk.sourcetype":       "detectify:webhook",
			"com.splunk.source":           "detectify",
			"com.splunk.hec.access_token": token,
		})
		assertAttrs(t, eventType+" fields", event.Attributes(), merged(seedAttrs[eventType], map[string]string{
			"service.name":           "detectify",
			"otel.log.severity.text": seedSeverities[eventType],
		}))
		// Routing metadata is not repeated as fields.
		assertNoAttrs(t, eventType+" fields", event.Attributes(),
			"com.splunk.index", "com.splunk.sourcetype", "com.splunk.source")
	}
	assertAttrs(t, "finding fields", events[typeFindingHigh].Attributes(), map[string]string{
		"otel.log.severity.number": "17", // ERROR
	})
}
