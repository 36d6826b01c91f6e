package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

// Webhook types of Detectify's three documented example messages.
const (
	typeScanStarted  = "event_scan_started"
	typeFindingHigh  = "event_finding_high"
	typeScanFinished = "event_scan_finished"
)

// seedByType returns Detectify's example messages keyed by their type.
func seedByType(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, msg := range webhooksend.SeedMessages() {
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(msg, &head); err != nil {
			t.Fatal(err)
		}
		out[head.Type] = string(msg)
	}
	return out
}

// sendSeed posts the example messages to url, signed with secret, and fails
// the test unless each one is answered 200.
func sendSeed(t *testing.T, url, secret string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deliveryTimeout)
	defer cancel()
	msgs := webhooksend.SeedMessages()
	sum, err := webhooksend.Run(ctx, webhooksend.Config{URL: url, Messages: msgs, Secret: []byte(secret)})
	if err != nil {
		t.Fatalf("send the seed messages to %s: %v", url, err)
	}
	if !sum.OK() || sum.FinalStatus[http.StatusOK] != len(msgs) {
		var report strings.Builder
		_ = sum.Print(&report)
		t.Fatalf("the receiver did not accept every seed message:\n%s", report.String())
	}
}
