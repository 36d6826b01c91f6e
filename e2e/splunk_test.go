package e2e

import (
	"strconv"
	"testing"
)

// cimFields are the fields of Splunk's CIM Vulnerabilities data model that
// examples/splunk.yaml adds to finding records (and to no other).
var cimFields = []string{"vendor_product", "dvc", "signature", "dest", "cvss", "severity", "url", "xref", "category"}

// seedFindingCIM is what the classic seed finding gets of them: its first
// tag as category, its Detectify link as xref, no url (the classic format
// carries no affected URL).
var seedFindingCIM = map[string]string{
	"vendor_product": "detectify",
	"dvc":            "scanner",
	"signature":      "Login Cross Site Request Forgery (CSRF/XSRF)",
	"dest":           seedDomain,
	"cvss":           "6.2",
	"severity":       "high",
	"xref":           seedReportURL + "/" + seedFindingID,
	"category":       "new",
}

// splunkHECMetadata is what the HEC receiver makes of an event's metadata
// (resource attributes) and of the Authorization header (the token).
func splunkHECMetadata(token string) map[string]string {
	return map[string]string{
		"com.splunk.index":            "detectify",
		"com.splunk.sourcetype":       "detectify:webhook",
		"com.splunk.source":           "detectify",
		"com.splunk.hec.access_token": token,
	}
}

// startSplunkExample runs examples/splunk.yaml against the peer's HEC
// receiver.
func startSplunkExample(t *testing.T, token string) (*peer, *distribution) {
	t.Helper()
	backend := startPeer(t)
	dist := startDistribution(t, "splunk.yaml", map[string]string{
		"DETECTIFY_WEBHOOK_SECRET": e2eSecret,
		"SPLUNK_HEC_ENDPOINT":      backend.hecEndpoint,
		"SPLUNK_HEC_TOKEN":         token,
	})
	return backend, dist
}

// TestSplunkExample runs examples/splunk.yaml against a Splunk HEC endpoint
// (the peer's splunk_hec receiver): each webhook must arrive as one HEC
// event whose event is the raw payload, whose fields are the record's
// attributes and severity (and, for the finding, the CIM Vulnerabilities
// fields), and whose index, sourcetype and source are the example's.
func TestSplunkExample(t *testing.T) {
	const token = "e2e-hec-token"
	backend, dist := startSplunkExample(t, token)

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
		assertAttrs(t, eventType+" metadata", event.resource, splunkHECMetadata(token))
		assertAttrs(t, eventType+" fields", event.Attributes(), merged(seedAttrs[eventType], map[string]string{
			"service.name":             "detectify",
			"otel.log.severity.text":   seedSeverities[eventType],
			"otel.log.severity.number": itoa(seedSeverityNumbers[eventType]),
		}))
		// Routing metadata is not repeated as fields.
		assertNoAttrs(t, eventType+" fields", event.Attributes(),
			"com.splunk.index", "com.splunk.sourcetype", "com.splunk.source")
		if eventType != typeFindingHigh {
			assertNoAttrs(t, eventType+" fields", event.Attributes(), cimFields...)
		}
	}
	finding := events[typeFindingHigh].Attributes()
	assertAttrs(t, "finding CIM fields", finding, seedFindingCIM)
	assertNoAttrs(t, "finding CIM fields", finding, "url")
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }
