package e2e

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// detectifySeries reads a Prometheus exporter page: the detectify_* samples
// keyed by name and their detectify_* labels, sorted, e.g.
// detectify_findings_total{detectify_domain="a",detectify_finding_severity="high"}.
func detectifySeries(url string) (map[string]float64, error) {
	samples, err := scrape(url)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, s := range samples {
		if !strings.HasPrefix(s.name, "detectify_") {
			continue
		}
		var keep []string
		for _, pair := range labelPair.FindAllStringSubmatch(s.labels, -1) {
			if strings.HasPrefix(pair[1], "detectify_") {
				keep = append(keep, fmt.Sprintf("%s=%q", pair[1], pair[2]))
			}
		}
		slices.Sort(keep)
		out[s.name+"{"+strings.Join(keep, ",")+"}"] += s.value
	}
	return out, nil
}

// findingsKey and the others name series the way detectifySeries keys them.
func findingsKey(domain, severity string) string {
	return fmt.Sprintf(`detectify_findings_total{detectify_domain=%q,detectify_finding_severity=%q}`, domain, severity)
}

func scansKey(domain, state string) string {
	return fmt.Sprintf(`detectify_scans_total{detectify_domain=%q,detectify_scan_state=%q}`, domain, state)
}

func scansOpenKey(domain string) string {
	return fmt.Sprintf(`detectify_scans_open{detectify_domain=%q}`, domain)
}

func scanFindingsKey(domain, category string) string {
	return fmt.Sprintf(`detectify_scan_findings{detectify_domain=%q,detectify_finding_category=%q}`, domain, category)
}

func undeliveredKey(domain string) string {
	return fmt.Sprintf(`detectify_scan_findings_undelivered{detectify_domain=%q}`, domain)
}

// counterSeries keeps the counters of a page (findings and scans), without
// the series at 0 (a domain's levels start at 0 when it is first seen).
func counterSeries(series map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range series {
		if v != 0 && (strings.HasPrefix(k, "detectify_findings_total{") || strings.HasPrefix(k, "detectify_scans_total{")) {
			out[k] = v
		}
	}
	return out
}

// sumCounters adds the counters of several replicas' pages.
func sumCounters(pages ...map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for _, p := range pages {
		for k, v := range counterSeries(p) {
			out[k] += v
		}
	}
	return out
}

// diffCounters describes how got differs from want; "" when equal.
func diffCounters(got, want map[string]float64) string {
	var diffs []string
	for k, v := range want {
		if got[k] != v {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", k, got[k], v))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want none", k, v))
		}
	}
	slices.Sort(diffs)
	if len(diffs) > 8 {
		diffs = append(diffs[:8], fmt.Sprintf("... %d more", len(diffs)-8))
	}
	return strings.Join(diffs, "; ")
}

// classicFields is what the tests read of a classic message.
type classicFields struct {
	Type      string `json:"type"`
	Domain    string `json:"domain"`
	Severity  string `json:"severity"`
	ReportURL string `json:"report_url"`
}

func parseClassic(t *testing.T, body []byte) classicFields {
	t.Helper()
	var m classicFields
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("a generated message is not JSON: %v: %s", err, body)
	}
	return m
}

// expectedCounters is what the counters must say once each of bodies
// (classic messages, each distinct) is counted exactly once: findings by
// domain and severity, scan events by domain and state. Series at 0 are
// left out, as counterSeries leaves them out.
func expectedCounters(t *testing.T, bodies [][]byte) map[string]float64 {
	t.Helper()
	want := map[string]float64{}
	seen := map[[sha256.Size]byte]bool{}
	for _, b := range bodies {
		d := sha256.Sum256(b)
		if seen[d] {
			t.Fatalf("the expectation counts distinct bodies; this one is there twice: %s", b)
		}
		seen[d] = true
		m := parseClassic(t, b)
		switch {
		case strings.HasPrefix(m.Type, "event_finding_"):
			want[findingsKey(m.Domain, m.Severity)]++
		case m.Type == "event_scan_started":
			want[scansKey(m.Domain, "started")]++
		case m.Type == "event_scan_finished":
			want[scansKey(m.Domain, "finished")]++
		default:
			t.Fatalf("no expectation for a message of type %q", m.Type)
		}
	}
	return want
}
