package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

// Detectify's limits on the finding messages of one scan, as the receiver
// names them in detectify.scan.limit_reached.
const (
	limitPerScan = "per_scan"
	limitPerType = "per_type"
)

// scenarioFinding is what a test needs of a generated finding message.
type scenarioFinding struct {
	title, level string
}

// parseScenarioFinding reads a finding message of either format; ok is
// false for the scan messages.
func parseScenarioFinding(t *testing.T, body []byte) (scenarioFinding, bool) {
	t.Helper()
	var m struct {
		Type      string `json:"type"`
		EventType string `json:"event_type"`
		Title     string `json:"title"`
		Severity  string `json:"severity"`
		Finding   *struct {
			Title    string `json:"title"`
			Severity string `json:"severity"`
		} `json:"finding"`
	}
	if err := json.Unmarshal([]byte(strings.ReplaceAll(string(body), "\u00a0", " ")), &m); err != nil {
		t.Fatalf("generated message %q: %v", body, err)
	}
	switch {
	case m.Finding != nil:
		return scenarioFinding{title: m.Finding.Title, level: m.Finding.Severity}, true
	case strings.HasPrefix(m.Type, "event_finding_"):
		return scenarioFinding{title: m.Title, level: m.Severity}, true
	}
	return scenarioFinding{}, false
}

// scanExpectation is what the receiver must say of one generated scan.
type scanExpectation struct {
	summary webhooksend.ScanSummary
	// limits is limit_reached per finding message (nil when none), and
	// titles the titles that reached the per-type limit, sorted.
	limits  map[string][]string
	titles  []string
	byLevel map[string]int // finding messages per level
}

// expectScan works out, from a scenario's messages alone, which finding
// messages must say that a limit was reached: the 10th of a title, the
// 100th of the scan.
func expectScan(t *testing.T, msgs [][]byte, summary webhooksend.ScanSummary) scanExpectation {
	t.Helper()
	e := scanExpectation{summary: summary, limits: map[string][]string{}, byLevel: map[string]int{}}
	perTitle := map[string]int{}
	sent := 0
	for _, m := range msgs {
		f, ok := parseScenarioFinding(t, m)
		if !ok {
			continue
		}
		sent++
		perTitle[f.title]++
		e.byLevel[f.level]++
		var limits []string
		if perTitle[f.title] == webhooksend.MaxFindingsPerTitle {
			limits = append(limits, limitPerType)
			e.titles = append(e.titles, f.title)
		}
		if sent == webhooksend.MaxFindingsPerScan {
			limits = append(limits, limitPerScan)
		}
		e.limits[string(m)] = limits
	}
	slices.Sort(e.titles)
	if sent != summary.Sent {
		t.Fatalf("the scenario sends %d finding messages, its summary says %d", sent, summary.Sent)
	}
	return e
}

// finishedLimits is limit_reached on the scan's finished record.
func (e scanExpectation) finishedLimits() []string {
	var out []string
	if e.summary.Sent >= webhooksend.MaxFindingsPerScan {
		out = append(out, limitPerScan)
	}
	if len(e.titles) > 0 {
		out = append(out, limitPerType)
	}
	return out
}

// TestScanInsightRecords sends a scan of 300 findings in each format
// through examples/datadog.yaml (OTLP to the peer), of which the sender
// withholds what Detectify would (10 messages per title, 100 per scan).
// The receiver must say so on the records: the 10th finding of a title
// carries limit_reached [per_type], the 100th of the scan [per_scan], no
// other finding any; the finished record carries the findings delivered,
// the undelivered count (the scenario's Withheld), the limits reached, the
// limited titles and the duration. The metrics carry the same undelivered
// count, and no scan is left open.
func TestScanInsightRecords(t *testing.T) {
	backend := startPeer(t)
	dist := startDistribution(t, "datadog.yaml", map[string]string{
		"DETECTIFY_WEBHOOK_SECRET": e2eSecret,
		"DD_OTLP_ENDPOINT":         backend.otlpEndpoint,
	})

	type scan struct {
		format webhooksend.Format
		msgs   [][]byte
		want   scanExpectation
	}
	var scans []scan
	var all [][]byte
	for _, format := range []webhooksend.Format{webhooksend.FormatClassic, webhooksend.FormatCurrent} {
		// 300 findings of 24 titles: over 100 of the levels Detectify sends
		// messages for, and titles found more than 10 times.
		msgs, summaries := webhooksend.Scenario(webhooksend.ScenarioOptions{
			Format: format, Domains: []string{string(format) + ".insight.example"},
			FindingsPerScan: 300, Titles: 24, Seed: 1,
		})
		want := expectScan(t, msgs, summaries[0])
		// The scenario must hit both limits, or the test proves little.
		if want.summary.Withheld == 0 || len(want.titles) == 0 || want.summary.Sent != webhooksend.MaxFindingsPerScan {
			t.Fatalf("%s scenario: %+v, limited titles %v: pick a seed that hits both limits", format, want.summary, want.titles)
		}
		scans = append(scans, scan{format, msgs, want})
		all = append(all, msgs...)
	}
	sendMessages(t, dist.webhookURL, e2eSecret, all)

	records := waitAllRecords(t, backend, len(all))
	byBody := map[string]record{}
	for _, r := range records {
		byBody[r.Body().AsString()] = r
	}
	for _, s := range scans {
		want := s.want
		domain := want.summary.Domain
		limitedFindings := 0
		for _, m := range s.msgs {
			r, ok := byBody[string(m)]
			if !ok {
				t.Fatalf("%s: no record of %s", s.format, m)
			}
			if r.EventName() != "detectify.finding" {
				continue
			}
			limits, wantLimits := attrStrings(r.Attributes(), "detectify.scan.limit_reached"), want.limits[string(m)]
			if !slices.Equal(limits, wantLimits) {
				t.Errorf("%s finding %s: limit_reached %v, want %v", s.format, m, limits, wantLimits)
			}
			if wantLimits != nil {
				limitedFindings++
			}
		}
		finished := byBody[string(s.msgs[len(s.msgs)-1])]
		if finished.EventName() != "detectify.scan.finished" {
			t.Fatalf("%s: the scenario's last message made a %s record", s.format, finished.EventName())
		}
		attrs := finished.Attributes()
		assertAttrs(t, string(s.format)+" finished record", attrs, map[string]string{
			"detectify.domain":                    domain,
			"detectify.scan.id":                   want.summary.ScanID,
			"detectify.scan.findings.delivered":   fmt.Sprint(want.summary.Sent),
			"detectify.scan.findings.undelivered": fmt.Sprint(want.summary.Withheld),
		})
		assertNoAttrs(t, string(s.format)+" finished record", attrs, "detectify.scan.partial")
		if got := attrStrings(attrs, "detectify.scan.limit_reached"); !slices.Equal(got, want.finishedLimits()) {
			t.Errorf("%s finished record: limit_reached %v, want %v", s.format, got, want.finishedLimits())
		}
		if got := attrStrings(attrs, "detectify.scan.limited_titles"); !slices.Equal(got, want.titles) {
			t.Errorf("%s finished record: limited_titles %v, want %v", s.format, got, want.titles)
		}
		if d, ok := attrs.Get("detectify.scan.duration"); !ok || d.Double() <= 0 {
			t.Errorf("%s finished record: duration %v, want the seconds from start to finish", s.format, d.AsRaw())
		}
		t.Logf("%s scan of %s: %d findings found (%+v), %d messages sent, %d withheld; %d titles limited; %d finding records name a limit",
			s.format, domain, want.summary.Found.Total(), want.summary.Found, want.summary.Sent, want.summary.Withheld, len(want.titles), limitedFindings)
	}

	var wantSeries []series
	for _, s := range scans {
		domain := map[string]string{"detectify.domain": s.want.summary.Domain}
		wantSeries = append(wantSeries,
			series{metric: "detectify.scan.findings.undelivered", attrs: domain, value: float64(s.want.summary.Withheld)},
			series{metric: "detectify.scans.open", attrs: domain, value: 0},
			series{metric: "detectify.scan.duration", attrs: domain, positive: true},
		)
		for _, level := range []string{"critical", "high", "medium"} {
			wantSeries = append(wantSeries, series{
				metric: "detectify.findings",
				attrs:  map[string]string{"detectify.domain": s.want.summary.Domain, "detectify.finding.severity": level},
				value:  float64(s.want.byLevel[level]),
			})
		}
	}
	waitSeries(t, backend, wantSeries)
}

// attrStrings returns a slice attribute as strings; nil when absent.
func attrStrings(m pcommon.Map, key string) []string {
	v, ok := m.Get(key)
	if !ok {
		return nil
	}
	var out []string
	for _, item := range v.Slice().All() {
		out = append(out, item.AsString())
	}
	return out
}
