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

// seedByType returns Detectify's classic example messages keyed by their
// type, byte for byte as sent.
func seedByType(t *testing.T) map[string]string {
	t.Helper()
	return seedByEventType(t, webhooksend.SeedMessages(), "type")
}

// seedByEventType keys example messages by their top-level field key (type
// in the classic format, event_type in the current one). The messages are
// indented with no-break spaces, as Detectify's pages show them, which
// encoding/json refuses: they are read from a copy with plain spaces, and
// returned unchanged.
func seedByEventType(t *testing.T, msgs [][]byte, key string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, msg := range msgs {
		var head map[string]any
		if err := json.Unmarshal([]byte(strings.ReplaceAll(string(msg), "\u00a0", " ")), &head); err != nil {
			t.Fatalf("example message %q: %v", msg, err)
		}
		typ, _ := head[key].(string)
		if typ == "" {
			t.Fatalf("example message without %s: %q", key, msg)
		}
		out[typ] = string(msg)
	}
	return out
}

// sendSeed posts the example messages to url, signed with secret, and fails
// the test unless each one is answered 200.
func sendSeed(t *testing.T, url, secret string) {
	t.Helper()
	sendMessages(t, url, secret, webhooksend.SeedMessages())
}

// sendMessages posts msgs to url in order, signed with secret, and fails
// the test unless each one is answered 200.
func sendMessages(t *testing.T, url, secret string, msgs [][]byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deliveryTimeout)
	defer cancel()
	sum, err := webhooksend.Run(ctx, webhooksend.Config{URL: url, Messages: msgs, Secret: []byte(secret)})
	if err != nil {
		t.Fatalf("send %d messages to %s: %v", len(msgs), url, err)
	}
	if !sum.OK() || sum.FinalStatus[http.StatusOK] != len(msgs) {
		var report strings.Builder
		_ = sum.Print(&report)
		t.Fatalf("the receiver did not accept every message:\n%s", report.String())
	}
}
