package e2e

import (
	"maps"
	"testing"
)

// lokiLabels are the attributes examples/loki.yaml moves from each record to
// its resource, for Loki to index as labels.
var lokiLabels = []string{"detectify.domain", "detectify.finding.severity"}

// TestLokiExample runs examples/loki.yaml against an OTLP endpoint laid out
// like Loki's (/otlp/v1/logs): records keep their body, event name and
// severity, and the label candidates sit on the resource, not the record.
func TestLokiExample(t *testing.T) {
	backend := startPeer(t)
	dist := startDistribution(t, "loki.yaml", map[string]string{
		"DETECTIFY_WEBHOOK_SECRET": e2eSecret,
		"LOKI_OTLP_ENDPOINT":       backend.lokiEndpoint,
	})

	sendSeed(t, dist.webhookURL, e2eSecret)

	seed := seedByType(t)
	records := waitRecords(t, backend, len(seed))
	for eventType, payload := range seed {
		r, ok := records[eventType]
		if !ok {
			t.Errorf("no record for %s", eventType)
			continue
		}
		assertRecord(t, eventType, r, payload)

		wantResource := map[string]string{"service.name": "detectify"}
		wantAttrs := maps.Clone(seedAttrs[eventType])
		for _, key := range lokiLabels {
			if v, ok := wantAttrs[key]; ok {
				wantResource[key] = v
				delete(wantAttrs, key)
			}
		}
		assertAttrs(t, eventType+" resource", r.resource, wantResource)
		assertAttrs(t, eventType+" attributes", r.Attributes(), wantAttrs)
		assertNoAttrs(t, eventType+" attributes", r.Attributes(), lokiLabels...)
	}
	assertNoAttrs(t, "scan resource", records[typeScanStarted].resource, "detectify.finding.severity")
}
