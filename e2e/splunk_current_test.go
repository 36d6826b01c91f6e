package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/detectify-otel/detectifyreceiver/internal/seed"
	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

// currentLevels are the severity text and number of a finding record per
// Detectify level.
var currentLevels = map[string]struct {
	text   string
	number int32
}{
	"critical":    {"critical", 21},
	"high":        {"error", 17},
	"medium":      {"warn", 13},
	"low":         {"info", 10},
	"information": {"info", 9},
}

// currentFinding is a current-format finding message as generated or
// documented.
type currentFinding struct {
	EventType string `json:"event_type"`
	Finding   struct {
		Title       string `json:"title"`
		Severity    string `json:"severity"`
		Asset       string `json:"asset"`
		URL         string `json:"url"`
		Parameter   string `json:"parameter"`
		Description string `json:"description"`
		Remediation string `json:"remediation"`
		UUID        string `json:"uuid"`
		ScanID      string `json:"scan_id"`
	} `json:"finding"`
}

// TestSplunkExampleCurrentFormat sends current-format messages through
// examples/splunk.yaml to the peer's HEC receiver: Detectify's documented
// finding (verbatim and as copied from the page, indented with no-break
// spaces), the scan and asset examples around it, a generated scan, and
// generated findings of all five levels. Each must arrive as one HEC event with the raw payload,
// the finding's fields as attributes, the severity text and number of its
// level, and, for findings only, the CIM Vulnerabilities fields (severity
// "informational" for Detectify's "information", category "web" as these
// messages carry no tags, url the affected URL, no xref or cvss as they
// carry no report link or score).
func TestSplunkExampleCurrentFormat(t *testing.T) {
	const token = "e2e-hec-token-current"
	backend, dist := startSplunkExample(t, token)

	msgs := webhooksend.SeedMessagesIn(webhooksend.FormatCurrent)
	msgs = append(msgs, seed.Get("current/finding_nbsp"))
	scenario, scans := webhooksend.Scenario(webhooksend.ScenarioOptions{
		Format: webhooksend.FormatCurrent, Domains: []string{"splunk.current.example"}, FindingsPerScan: 60, Seed: 4,
	})
	msgs = append(msgs, scenario...)
	// Scenarios send critical, high and medium findings only: low and
	// information ones come from UniqueFindingsIn.
	msgs = append(msgs, webhooksend.UniqueFindingsIn(webhooksend.FormatCurrent, 30, 5)...)
	sendMessages(t, dist.webhookURL, e2eSecret, msgs)

	events := waitAllRecords(t, backend, len(msgs))
	byBody := map[string]record{}
	for _, e := range events {
		byBody[e.Body().AsString()] = e
	}
	levelsSeen := map[string]int{}
	for _, m := range msgs {
		payload := string(m)
		event, ok := byBody[payload]
		if !ok {
			t.Errorf("no HEC event whose event is %q", payload)
			continue
		}
		attrs := event.Attributes()
		assertAttrs(t, "metadata", event.resource, splunkHECMetadata(token))
		var msg currentFinding
		if err := json.Unmarshal([]byte(strings.ReplaceAll(payload, "\u00a0", " ")), &msg); err != nil {
			t.Fatalf("%s: %v", payload, err)
		}
		if msg.EventType != "finding" {
			// Scans and assets: info, and no CIM fields.
			assertAttrs(t, msg.EventType+" fields", attrs, map[string]string{
				"service.name":             "detectify",
				"detectify.event.type":     msg.EventType,
				"otel.log.severity.text":   "info",
				"otel.log.severity.number": "9",
			})
			assertNoAttrs(t, msg.EventType+" fields", attrs, cimFields...)
			continue
		}
		f := msg.Finding
		level, ok := currentLevels[f.Severity]
		if !ok {
			t.Fatalf("a finding of level %q: %s", f.Severity, payload)
		}
		levelsSeen[f.Severity]++
		what := "finding " + f.Severity + " " + f.Title
		want := map[string]string{
			"service.name":                "detectify",
			"detectify.event.type":        "finding",
			"detectify.domain":            f.Asset,
			"detectify.finding.title":     f.Title,
			"detectify.finding.severity":  f.Severity,
			"detectify.finding.location":  f.URL,
			"detectify.finding.parameter": f.Parameter,
			"otel.log.severity.text":      level.text,
			"otel.log.severity.number":    itoa(level.number),
			// CIM Vulnerabilities
			"vendor_product": "detectify",
			"dvc":            "scanner",
			"signature":      f.Title,
			"dest":           f.Asset,
			"severity":       f.Severity,
			"url":            f.URL,
			"category":       "web",
		}
		if f.Severity == "information" {
			want["severity"] = "informational"
		}
		if f.UUID != "" {
			want["detectify.finding.id"] = f.UUID
		}
		if f.ScanID != "" {
			want["detectify.scan.id"] = f.ScanID
		}
		assertAttrs(t, what, attrs, want)
		// The current format's other finding fields, under detectify.finding.
		assertAttrs(t, what, attrs, map[string]string{
			"detectify.finding.description": f.Description,
			"detectify.finding.remediation": f.Remediation,
		})
		assertNoAttrs(t, what, attrs, "xref", "cvss")
	}
	for level := range currentLevels {
		if levelsSeen[level] == 0 {
			t.Errorf("no finding of level %s was sent; pick another seed for UniqueFindingsIn", level)
		}
	}
	t.Logf("findings per level: %v", levelsSeen)

	// The documented scan: its one critical finding delivered (the
	// verbatim copy; the no-break-space copy came after the scan finished).
	completed := byBody[string(seed.Get("current/scan_completed"))]
	assertAttrs(t, "scan_completed fields", completed.Attributes(), map[string]string{
		"detectify.domain":                    "app.example.com",
		"detectify.scan.id":                   "5c0ffee0a1b2c3d4",
		"detectify.scan.state":                "finished",
		"detectify.scan.findings.critical":    "1",
		"detectify.scan.findings.low":         "2",
		"detectify.scan.findings.information": "3",
		"detectify.scan.findings.delivered":   "1",
		"detectify.scan.findings.undelivered": "0",
	})
	// The generated scan: what it withheld, as its summary says.
	assertAttrs(t, "generated scan_completed fields", byBody[string(scenario[len(scenario)-1])].Attributes(), map[string]string{
		"detectify.event.type":                "scan_completed",
		"detectify.domain":                    scans[0].Domain,
		"detectify.scan.id":                   scans[0].ScanID,
		"detectify.scan.findings.delivered":   itoa(int32(scans[0].Sent)),
		"detectify.scan.findings.undelivered": itoa(int32(scans[0].Withheld)),
	})
	t.Logf("generated scan: found %+v, %d sent, %d withheld", scans[0].Found, scans[0].Sent, scans[0].Withheld)
	assertAttrs(t, "asset_added fields", byBody[string(seed.Get("current/asset_changed"))].Attributes(), map[string]string{
		"detectify.domain":       "new.example.com",
		"detectify.asset.status": "verified",
	})
}
