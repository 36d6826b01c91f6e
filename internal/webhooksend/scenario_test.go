package webhooksend

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var formats = []Format{FormatClassic, FormatCurrent}

func TestScenario(t *testing.T) {
	tests := []struct {
		name        string
		opts        ScenarioOptions
		wantDomains []string
		// wantFinished per domain; nil means every scan finishes.
		wantFinished []bool
		// wantSent is every scan's number of finding messages; -1 skips.
		wantSent int
		// wantTitleLimit asks some scan to send MaxFindingsPerTitle messages
		// of one title and withhold more of it.
		wantTitleLimit bool
	}{
		{
			name:        "defaults",
			opts:        ScenarioOptions{},
			wantDomains: []string{"www.example.com", "api.example.com", "shop.example.com"},
			wantSent:    0,
		},
		{
			name:        "counted domains",
			opts:        ScenarioOptions{DomainCount: 10, FindingsPerScan: 12, Seed: 7},
			wantDomains: generatedDomains(10),
			wantSent:    -1,
		},
		{
			name:        "named domains",
			opts:        ScenarioOptions{Domains: []string{"a.test", "b.test"}, FindingsPerScan: 3, Seed: 1},
			wantDomains: []string{"a.test", "b.test"},
			wantSent:    -1,
		},
		{
			name:           "130 findings hit the per-title limit",
			opts:           ScenarioOptions{DomainCount: 3, FindingsPerScan: 130, Seed: 1},
			wantDomains:    generatedDomains(3),
			wantSent:       -1,
			wantTitleLimit: true,
		},
		{
			name:        "1000 findings of every title hit the per-scan limit",
			opts:        ScenarioOptions{DomainCount: 2, FindingsPerScan: 1000, Titles: MaxTitles, Seed: 5},
			wantDomains: generatedDomains(2),
			wantSent:    MaxFindingsPerScan,
		},
		{
			name:           "one title",
			opts:           ScenarioOptions{DomainCount: 8, FindingsPerScan: 40, Titles: 1, Seed: 3},
			wantDomains:    generatedDomains(8),
			wantSent:       -1,
			wantTitleLimit: true,
		},
		{
			name:        "more titles than the catalog has",
			opts:        ScenarioOptions{DomainCount: 1, FindingsPerScan: 300, Titles: MaxTitles + 10, Seed: 4},
			wantDomains: generatedDomains(1),
			wantSent:    -1,
		},
		{
			name:         "unfinished scans",
			opts:         ScenarioOptions{DomainCount: 4, FindingsPerScan: 20, Unfinished: 2, Seed: 2},
			wantDomains:  generatedDomains(4),
			wantFinished: []bool{true, true, false, false},
			wantSent:     -1,
		},
		{
			name:         "more unfinished than domains",
			opts:         ScenarioOptions{Domains: []string{"a.test", "b.test"}, FindingsPerScan: 5, Unfinished: 9},
			wantDomains:  []string{"a.test", "b.test"},
			wantFinished: []bool{false, false},
			wantSent:     -1,
		},
	}
	for _, f := range formats {
		for _, tt := range tests {
			t.Run(string(f)+"/"+tt.name, func(t *testing.T) {
				opts := tt.opts
				opts.Format = f
				msgs, scans := Scenario(opts)
				checkUnique(t, msgs)
				checkScenario(t, opts, msgs, scans)

				if got := domainsOf(scans); !slices.Equal(got, tt.wantDomains) {
					t.Errorf("scanned %v, want %v", got, tt.wantDomains)
				}
				for i, s := range scans {
					if want := tt.wantFinished == nil || tt.wantFinished[i]; s.Finished != want {
						t.Errorf("scan of %s: Finished = %v, want %v", s.Domain, s.Finished, want)
					}
					if tt.wantSent >= 0 && s.Sent != tt.wantSent {
						t.Errorf("scan of %s sent %d finding messages, want %d", s.Domain, s.Sent, tt.wantSent)
					}
				}
				if tt.wantTitleLimit && !titleLimitReached(t, f, msgs, scans) {
					t.Error("no scan sent the per-title limit of one title and withheld more")
				}
			})
		}
	}
}

// checkScenario checks the messages against the summaries and Detectify's
// sender rules: each scan is started, then its finding messages, then
// (unless unfinished) finished with the counts of all it found; at most
// MaxFindingsPerTitle messages per title and MaxFindingsPerScan per scan,
// none for low or information findings.
func checkScenario(t *testing.T, opts ScenarioOptions, msgs [][]byte, scans []ScanSummary) {
	t.Helper()
	f := opts.Format
	var prev view
	next := 0
	read := func() view {
		t.Helper()
		if next >= len(msgs) {
			t.Fatalf("messages end after %d", len(msgs))
		}
		v := decodeView(t, f, msgs[next])
		if f.current() && next > 0 && !v.timestamp.After(prev.timestamp) {
			t.Errorf("message %d at %s does not follow %s", next, v.timestamp, prev.timestamp)
		}
		prev = v
		next++
		return v
	}
	for _, s := range scans {
		if s.Found.Total() != opts.FindingsPerScan {
			t.Errorf("scan of %s found %+v, want %d findings", s.Domain, s.Found, opts.FindingsPerScan)
		}
		if s.Withheld != s.Found.Reported()-s.Sent || s.Withheld < 0 {
			t.Errorf("scan of %s: Withheld = %d, found %+v, sent %d", s.Domain, s.Withheld, s.Found, s.Sent)
		}
		if s.Sent > MaxFindingsPerScan {
			t.Errorf("scan of %s sent %d finding messages, over the per-scan limit", s.Domain, s.Sent)
		}
		started := read()
		if started.kind != kindStarted || started.domain != s.Domain || started.scanID != s.ScanID || started.profile != s.ProfileToken {
			t.Fatalf("scan of %s (%s, profile %s) starts with %+v", s.Domain, s.ScanID, s.ProfileToken, started)
		}
		perTitle := map[string]int{}
		for range s.Sent {
			v := read()
			if v.kind != kindFinding || v.domain != s.Domain || v.scanID != s.ScanID || v.profile != s.ProfileToken {
				t.Fatalf("finding %+v does not belong to the scan of %s (%s)", v, s.Domain, s.ScanID)
			}
			if !slices.Contains([]string{"critical", "high", "medium"}, v.level) {
				t.Errorf("a %s finding was sent", v.level)
			}
			perTitle[v.title]++
		}
		for title, n := range perTitle {
			if n > MaxFindingsPerTitle {
				t.Errorf("scan of %s sent %d messages titled %q", s.Domain, n, title)
			}
		}
		if !s.Finished {
			continue
		}
		finished := read()
		if finished.kind != kindFinished || finished.domain != s.Domain || finished.scanID != s.ScanID || finished.profile != s.ProfileToken {
			t.Fatalf("scan of %s (%s) finishes with %+v", s.Domain, s.ScanID, finished)
		}
		if want := wantCounts(f, s.Found); !mapsEqual(finished.counts, want) {
			t.Errorf("scan of %s finished with %v, want %v", s.Domain, finished.counts, want)
		}
	}
	if next != len(msgs) {
		t.Errorf("%d messages beyond the scans' %d", len(msgs)-next, next)
	}
}

// wantCounts is the finished message's counters for what a scan found:
// classic counts high findings as critical and low ones as notices.
func wantCounts(f Format, c LevelCounts) map[string]int {
	if f.current() {
		return map[string]int{
			"critical_level_findings": c.Critical, "high_level_findings": c.High, "medium_level_findings": c.Medium,
			"low_level_findings": c.Low, "information_findings": c.Information,
		}
	}
	return map[string]int{
		"critical_findings": c.Critical + c.High, "medium_findings": c.Medium, "notice_findings": c.Low + c.Information,
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func domainsOf(scans []ScanSummary) []string {
	out := make([]string, len(scans))
	for i, s := range scans {
		out[i] = s.Domain
	}
	return out
}

// titleLimitReached reports whether some scan sent MaxFindingsPerTitle
// messages of a title while withholding findings, which it can only do
// when a title was found more often than that.
func titleLimitReached(t *testing.T, f Format, msgs [][]byte, scans []ScanSummary) bool {
	t.Helper()
	perTitle := map[string]int{} // scan id + title
	for _, raw := range msgs {
		if v := decodeView(t, f, raw); v.kind == kindFinding {
			perTitle[v.scanID+" "+v.title]++
		}
	}
	for _, s := range scans {
		if s.Withheld == 0 || s.Sent >= MaxFindingsPerScan {
			continue
		}
		for key, n := range perTitle {
			if n == MaxFindingsPerTitle && strings.HasPrefix(key, s.ScanID+" ") {
				return true
			}
		}
	}
	return false
}

func TestScenarioMixesLevels(t *testing.T) {
	for _, f := range formats {
		t.Run(string(f), func(t *testing.T) {
			msgs, scans := Scenario(ScenarioOptions{Format: f, FindingsPerScan: 500, Titles: MaxTitles, Seed: 3})
			var found LevelCounts
			for _, s := range scans {
				found.Critical += s.Found.Critical
				found.High += s.Found.High
				found.Medium += s.Found.Medium
				found.Low += s.Found.Low
				found.Information += s.Found.Information
			}
			if found.Critical == 0 || found.High == 0 || found.Medium == 0 || found.Low == 0 || found.Information == 0 {
				t.Errorf("1500 findings of every title should cover every level, got %+v", found)
			}
			sent := map[string]int{}
			for _, raw := range msgs {
				if v := decodeView(t, f, raw); v.kind == kindFinding {
					sent[v.level]++
				}
			}
			want := []string{"critical", "high", "medium"}
			if !f.current() {
				want = []string{"high", "medium"} // classic says high for critical
			}
			for _, level := range want {
				if sent[level] == 0 {
					t.Errorf("no %s finding sent: %v", level, sent)
				}
			}
		})
	}
}

func TestScenarioSeed(t *testing.T) {
	for _, f := range formats {
		t.Run(string(f), func(t *testing.T) {
			opts := ScenarioOptions{Format: f, FindingsPerScan: 150, Unfinished: 1, Seed: 42}
			msgs, scans := Scenario(opts)
			again, againScans := Scenario(opts)
			if !slices.EqualFunc(msgs, again, slices.Equal) || !reflect.DeepEqual(scans, againScans) {
				t.Error("equal seeds produced different scenarios")
			}
			other := opts
			other.Seed = 43
			if otherMsgs, _ := Scenario(other); slices.EqualFunc(msgs, otherMsgs, slices.Equal) {
				t.Error("different seeds produced the same scenario")
			}
		})
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
	for _, f := range formats {
		for _, n := range []int{0, 1, 1000} {
			t.Run(fmt.Sprintf("%s/%d", f, n), func(t *testing.T) {
				msgs := UniqueFindingsIn(f, n, uint64(n))
				if len(msgs) != n {
					t.Fatalf("UniqueFindingsIn(%s, %d) returned %d messages", f, n, len(msgs))
				}
				checkUnique(t, msgs)
				domains := generatedDomains(DefaultDomainCount)
				scanOf := map[string]string{}
				levels := map[string]int{}
				var prev view
				for i, raw := range msgs {
					v := decodeView(t, f, raw)
					if v.kind != kindFinding || v.domain != domains[i%len(domains)] {
						t.Fatalf("message %d is not a finding for %s: %+v", i, domains[i%len(domains)], v)
					}
					if id, ok := scanOf[v.domain]; ok && id != v.scanID {
						t.Errorf("findings of %s name scans %s and %s", v.domain, id, v.scanID)
					}
					if f.current() && i > 0 && !v.timestamp.After(prev.timestamp) {
						t.Errorf("finding %d is not later than the one before", i)
					}
					scanOf[v.domain], prev = v.scanID, v
					levels[v.level]++
				}
				if n == 1000 && f.current() && len(levels) != len(levelNames) {
					t.Errorf("current findings of %v levels, want all five", levels)
				}
			})
		}
	}
	if !slices.EqualFunc(UniqueFindings(50, 4), UniqueFindingsIn(FormatClassic, 50, 4), slices.Equal) {
		t.Error("UniqueFindings is not the classic UniqueFindingsIn")
	}
}
