package e2e

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// xClassic is what the tests read of a classic message.
type xClassic struct {
	Type      string `json:"type"`
	Domain    string `json:"domain"`
	Severity  string `json:"severity"`
	ReportURL string `json:"report_url"`
}

func xParse(t *testing.T, body []byte) xClassic {
	t.Helper()
	var m xClassic
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("a generated message is not JSON: %v: %s", err, body)
	}
	return m
}

// xExpectedCounters is what the counters must say once each of bodies
// (classic messages, each distinct) is counted exactly once: findings by
// domain and severity, scan events by domain and state. Series at 0 are
// left out, as xCounters leaves them out.
func xExpectedCounters(t *testing.T, bodies [][]byte) map[string]float64 {
	t.Helper()
	want := map[string]float64{}
	seen := map[[sha256.Size]byte]bool{}
	for _, b := range bodies {
		d := sha256.Sum256(b)
		if seen[d] {
			t.Fatalf("the expectation counts distinct bodies; this one is there twice: %s", b)
		}
		seen[d] = true
		m := xParse(t, b)
		switch {
		case strings.HasPrefix(m.Type, "event_finding_"):
			want[xFindingsKey(m.Domain, m.Severity)]++
		case m.Type == "event_scan_started":
			want[xScansKey(m.Domain, "started")]++
		case m.Type == "event_scan_finished":
			want[xScansKey(m.Domain, "finished")]++
		default:
			t.Fatalf("no expectation for a message of type %q", m.Type)
		}
	}
	return want
}

// xFinding is a classic high finding unique to (domain, id).
func xFinding(domain string, id int) []byte {
	return fmt.Appendf(nil, `{"type":"event_finding_high","domain":%q,"severity":"high","cvss_score":7.5,`+
		`"title":"Reflected Cross-site Scripting (XSS)","finding_url":"https://detectify.com/report/x/scan/f%07d","tags":["new"]}`,
		domain, id)
}

// xSumCounters adds the counters of several replicas' pages.
func xSumCounters(pages ...map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for _, p := range pages {
		for k, v := range xCounters(p) {
			out[k] += v
		}
	}
	return out
}

// xRecordsReport compares the records a sink (or several) got with the
// bodies that were acknowledged: how many of them are missing, how many
// records are extra copies, and how many records match no body sent.
func xRecordsReport(got map[[sha256.Size]byte]int, sent map[[sha256.Size]byte]bool) (missing, doubles, unknown int) {
	for d := range sent {
		switch n := got[d]; {
		case n == 0:
			missing++
		case n > 1:
			doubles += n - 1
		}
	}
	for d, n := range got {
		if !sent[d] {
			unknown += n
		}
	}
	return missing, doubles, unknown
}
