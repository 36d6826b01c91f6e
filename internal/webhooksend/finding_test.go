package webhooksend

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// TestScenarioFindings checks each scan's Findings against its messages: every
// finding of every level is listed once, those a message carried with that
// message's uuid, title, level and location or score, the others with
// their own uuids and plausible values.
func TestScenarioFindings(t *testing.T) {
	options := []ScenarioOptions{
		{DomainCount: 3, FindingsPerScan: 130, Titles: 5, Unfinished: 1, Seed: 5},
		{DomainCount: 2, FindingsPerScan: 1000, Titles: MaxTitles, Seed: 9},
		{Domains: []string{"a.test"}, FindingsPerScan: 4, Seed: 1},
		{DomainCount: 1, FindingsPerScan: 0, Seed: 2},
	}
	for _, f := range formats {
		for _, opts := range options {
			opts.Format = f
			t.Run(fmt.Sprintf("%s/%d×%d", f, len(opts.domains()), opts.FindingsPerScan), func(t *testing.T) {
				msgs, scans := Scenario(opts)
				checkFindings(t, f, msgs, scans)
			})
		}
	}
}

func checkFindings(t *testing.T, f Format, msgs [][]byte, scans []ScanSummary) {
	t.Helper()
	sentByScan := map[string][]view{}
	started := map[string]view{}
	for _, raw := range msgs {
		switch v := decodeView(t, f, raw); v.kind {
		case kindFinding:
			sentByScan[v.scanID] = append(sentByScan[v.scanID], v)
		case kindStarted:
			started[v.scanID] = v
		}
	}
	uuids := map[string]bool{}
	for _, s := range scans {
		if s.ReportToken != s.ScanID || !profilePattern.MatchString(s.AssetToken) || s.AssetToken == s.ProfileToken {
			t.Errorf("scan of %s: report token %q (scan %q), asset token %q", s.Domain, s.ReportToken, s.ScanID, s.AssetToken)
		}
		if len(s.Findings) != s.Found.Total() {
			t.Fatalf("scan of %s lists %d findings, found %d", s.Domain, len(s.Findings), s.Found.Total())
		}
		var byLevel LevelCounts
		var sent []Finding
		for _, fd := range s.Findings {
			byLevel.add(levelOf(t, fd.Level))
			if uuids[fd.UUID] || !uuidPattern.MatchString(fd.UUID) {
				t.Errorf("finding uuid %q repeated or malformed", fd.UUID)
			}
			uuids[fd.UUID] = true
			if !strings.HasPrefix(fd.Location, "https://"+s.Domain+"/") {
				t.Errorf("finding %s is at %q, not on %s", fd.UUID, fd.Location, s.Domain)
			}
			if r := cvssRanges[levelOf(t, fd.Level)]; fd.CVSS < float64(r.min)/10 || fd.CVSS > float64(r.max)/10 {
				t.Errorf("%s finding scored %v", fd.Level, fd.CVSS)
			}
			if f.current() && !fd.Found.After(started[s.ScanID].timestamp) {
				t.Errorf("finding %s found at %s, before its scan started at %s", fd.UUID, fd.Found, started[s.ScanID].timestamp)
			}
			if fd.Found.IsZero() {
				t.Errorf("finding %s has no time", fd.UUID)
			}
			if fd.Sent {
				sent = append(sent, fd)
			}
		}
		if byLevel != s.Found {
			t.Errorf("scan of %s lists %+v, found %+v", s.Domain, byLevel, s.Found)
		}
		msgsOf := sentByScan[s.ScanID]
		if len(sent) != s.Sent || len(msgsOf) != s.Sent {
			t.Fatalf("scan of %s: %d findings marked sent, %d messages, Sent %d", s.Domain, len(sent), len(msgsOf), s.Sent)
		}
		for i, m := range msgsOf {
			checkSentFinding(t, f, sent[i], m)
		}
	}
}

// checkSentFinding checks a finding is listed as its message carried it.
func checkSentFinding(t *testing.T, f Format, fd Finding, m view) {
	t.Helper()
	level := fd.Level
	if !f.current() && level == "critical" {
		level = "high" // classic events have no critical level
	}
	if fd.UUID != m.uuid || fd.Title != m.title || level != m.level {
		t.Errorf("finding listed as %s %q %s, its message says %s %q %s", fd.UUID, fd.Title, fd.Level, m.uuid, m.title, m.level)
	}
	if f.current() && (fd.Location != m.location || !fd.Found.Equal(m.timestamp)) {
		t.Errorf("finding %s listed at %s %s, its message says %s %s", fd.UUID, fd.Location, fd.Found, m.location, m.timestamp)
	}
	if !f.current() && fd.CVSS != m.cvss {
		t.Errorf("finding %s scored %v, its message %v", fd.UUID, fd.CVSS, m.cvss)
	}
}

func levelOf(t *testing.T, name string) level {
	t.Helper()
	for l, n := range levelNames {
		if n == name {
			return level(l)
		}
	}
	t.Fatalf("unknown level %q", name)
	return 0
}

// The messages of a seed are an interface: e2e tests and users replay
// them by -random-seed. Recording the findings drew nothing from the
// messages' generator, so the classic bytes are those from before it, and
// the current ones differ from them only by scan_profile_token. A change
// here means every seed's scenario changed.
func TestScenarioBytesPinned(t *testing.T) {
	tests := []struct {
		format Format
		want   string
	}{
		{FormatClassic, "fbf167cd5c3d5a0daef5b7a10bbba9e1a49f9cce6e5ef74583a07bd1269a8577"},
		{FormatCurrent, "f743a13904759ce4653046f1391c132387073f09463141f3f2b53f7e42c5ee81"},
	}
	for _, tt := range tests {
		msgs, _ := Scenario(ScenarioOptions{Format: tt.format, DomainCount: 2, FindingsPerScan: 150, Titles: 6, Unfinished: 1, Seed: 42})
		h := sha256.New()
		for _, m := range msgs {
			h.Write(m)
			h.Write([]byte{'\n'})
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != tt.want {
			t.Errorf("%s scenario of seed 42 hashes to %s, want %s", tt.format, got, tt.want)
		}
	}
}

// Profile and asset tokens follow from seed and domain alone.
func TestDerivedTokens(t *testing.T) {
	a := derivedToken("profile", 1, "www.example.com")
	for _, other := range []string{
		derivedToken("asset", 1, "www.example.com"),
		derivedToken("profile", 2, "www.example.com"),
		derivedToken("profile", 1, "api.example.com"),
	} {
		if other == a {
			t.Errorf("derived tokens collide: %s", a)
		}
	}
	if again := derivedToken("profile", 1, "www.example.com"); again != a || !profilePattern.MatchString(a) {
		t.Errorf("derived token %q, again %q", a, again)
	}
}
