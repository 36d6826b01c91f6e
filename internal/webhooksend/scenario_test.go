package webhooksend

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var (
	reportURLPattern  = regexp.MustCompile(`^https://detectify\.com/report/[0-9a-f]{32}/[0-9a-f]{40}$`)
	findingURLPattern = regexp.MustCompile(`^(https://detectify\.com/report/[0-9a-f]{32}/[0-9a-f]{40})/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

// message is the union of all message fields, for decoding in tests.
type message struct {
	Type             string   `json:"type"`
	Domain           string   `json:"domain"`
	ReportURL        string   `json:"report_url"`
	CriticalFindings int      `json:"critical_findings"`
	MediumFindings   int      `json:"medium_findings"`
	NoticeFindings   int      `json:"notice_findings"`
	CVSSScore        float64  `json:"cvss_score"`
	Severity         string   `json:"severity"`
	Title            string   `json:"title"`
	FindingURL       string   `json:"finding_url"`
	Tags             []string `json:"tags"`
}

func decode(t *testing.T, raw []byte) message {
	t.Helper()
	var m message
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return m
}

// checkFinding verifies a finding's type, severity and CVSS range agree and
// returns the report URL its finding URL extends.
func checkFinding(t *testing.T, m message) string {
	t.Helper()
	switch m.Type {
	case TypeFindingHigh:
		if m.Severity != "high" || m.CVSSScore < 6.0 || m.CVSSScore > 9.9 {
			t.Errorf("bad high finding: %+v", m)
		}
	case TypeFindingMedium:
		if m.Severity != "medium" || m.CVSSScore < 3.0 || m.CVSSScore > 5.9 {
			t.Errorf("bad medium finding: %+v", m)
		}
	default:
		t.Fatalf("want a finding, got %+v", m)
	}
	if m.Title == "" || !slices.Equal(m.Tags, []string{"new"}) {
		t.Errorf("finding lacks title or tags: %+v", m)
	}
	match := findingURLPattern.FindStringSubmatch(m.FindingURL)
	if match == nil {
		t.Fatalf("finding_url %q has the wrong shape", m.FindingURL)
	}
	return match[1]
}

func TestScenario(t *testing.T) {
	tests := []struct {
		name        string
		opts        ScenarioOptions
		wantDomains []string
		wantPerScan int
	}{
		{
			name:        "defaults",
			opts:        ScenarioOptions{},
			wantDomains: []string{"www.example.com", "api.example.com", "shop.example.com"},
		},
		{
			name:        "counted domains",
			opts:        ScenarioOptions{DomainCount: 10, FindingsPerScan: 12, Seed: 7},
			wantDomains: generatedDomains(10),
			wantPerScan: 12,
		},
		{
			name:        "named domains",
			opts:        ScenarioOptions{Domains: []string{"a.test", "b.test"}, FindingsPerScan: 3, Seed: 1},
			wantDomains: []string{"a.test", "b.test"},
			wantPerScan: 3,
		},
		{
			name:        "per-scan limit",
			opts:        ScenarioOptions{DomainCount: 1, FindingsPerScan: 500},
			wantDomains: []string{"www.example.com"},
			wantPerScan: MaxFindingsPerScan,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs := Scenario(tt.opts)
			if want := len(tt.wantDomains) * (tt.wantPerScan + 2); len(msgs) != want {
				t.Fatalf("got %d messages, want %d", len(msgs), want)
			}
			checkUnique(t, msgs)

			perScan := tt.wantPerScan + 2
			for d, domain := range tt.wantDomains {
				scan := msgs[d*perScan : (d+1)*perScan]
				started, finished := decode(t, scan[0]), decode(t, scan[len(scan)-1])
				if started.Type != TypeScanStarted || finished.Type != TypeScanFinished {
					t.Fatalf("scan %d runs %s..%s", d, started.Type, finished.Type)
				}
				if !reportURLPattern.MatchString(started.ReportURL) {
					t.Errorf("report_url %q has the wrong shape", started.ReportURL)
				}
				if started.Domain != domain || finished.Domain != domain || finished.ReportURL != started.ReportURL {
					t.Errorf("scan %d: started %+v and finished %+v disagree, want domain %s", d, started, finished, domain)
				}

				var critical, medium int
				for _, raw := range scan[1 : len(scan)-1] {
					f := decode(t, raw)
					if report := checkFinding(t, f); report != started.ReportURL || f.Domain != domain {
						t.Errorf("finding %+v does not belong to scan %d", f, d)
					}
					if f.CVSSScore >= 9.0 {
						critical++
					}
					if f.Type == TypeFindingMedium {
						medium++
					}
				}
				if finished.CriticalFindings != critical || finished.MediumFindings != medium {
					t.Errorf("scan %d finished with %d critical, %d medium; generated %d, %d",
						d, finished.CriticalFindings, finished.MediumFindings, critical, medium)
				}
				if finished.NoticeFindings < 0 || finished.NoticeFindings > 3 {
					t.Errorf("notice_findings = %d, want a small number", finished.NoticeFindings)
				}
			}
		})
	}
}

func TestScenarioMixesLevels(t *testing.T) {
	types := map[string]int{}
	for _, raw := range Scenario(ScenarioOptions{FindingsPerScan: 50, Seed: 3}) {
		types[decode(t, raw).Type]++
	}
	if types[TypeFindingHigh] == 0 || types[TypeFindingMedium] == 0 {
		t.Fatalf("150 findings should mix levels, got %v", types)
	}
}

func TestScenarioSeed(t *testing.T) {
	opts := ScenarioOptions{FindingsPerScan: 4, Seed: 42}
	if !slices.EqualFunc(Scenario(opts), Scenario(opts), slices.Equal) {
		t.Error("equal seeds produced different scenarios")
	}
	other := opts
	other.Seed = 43
	if slices.EqualFunc(Scenario(opts), Scenario(other), slices.Equal) {
		t.Error("different seeds produced the same scenario")
	}
}

func TestScenarioCVSSFormat(t *testing.T) {
	// Scores keep one decimal, like Detectify's "cvss_score": 6.2.
	pattern := regexp.MustCompile(`"cvss_score":\d\.\d,`)
	for _, raw := range UniqueFindings(200, 9) {
		if !pattern.Match(raw) {
			t.Fatalf("cvss_score not written with one decimal: %s", raw)
		}
	}
}

func TestUniqueFindings(t *testing.T) {
	for _, n := range []int{0, 1, 1000} {
		msgs := UniqueFindings(n, uint64(n))
		if len(msgs) != n {
			t.Fatalf("UniqueFindings(%d) returned %d messages", n, len(msgs))
		}
		checkUnique(t, msgs)
		for _, raw := range msgs {
			m := decode(t, raw)
			if report := checkFinding(t, m); !reportURLPattern.MatchString(report) || !strings.HasSuffix(m.Domain, ".example.com") {
				t.Fatalf("finding %+v has a bad report URL or domain", m)
			}
		}
	}
}

func checkUnique(t *testing.T, msgs [][]byte) {
	t.Helper()
	seen := make(map[string]bool, len(msgs))
	for _, m := range msgs {
		if seen[string(m)] {
			t.Fatalf("duplicate message %s", m)
		}
		seen[string(m)] = true
	}
}
