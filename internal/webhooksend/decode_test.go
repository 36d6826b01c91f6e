package webhooksend

import (
	"encoding/json"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	reportURLPattern  = regexp.MustCompile(`^https://detectify\.com/report/([0-9a-f]{32})/([0-9a-f]{40})$`)
	findingURLPattern = regexp.MustCompile(`^https://detectify\.com/report/([0-9a-f]{32})/([0-9a-f]{40})/([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})$`)
	profilePattern    = regexp.MustCompile(`^[0-9a-f]{32}$`)
	scanIDPattern     = regexp.MustCompile(`^[0-9a-f]{16}$`)
	uuidPattern       = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

// Message kinds, the same in both formats.
const (
	kindStarted  = "started"
	kindFinding  = "finding"
	kindFinished = "finished"
)

// view is what the tests read from a generated message of either format,
// after checking it has the format's fields and no others.
type view struct {
	kind   string
	domain string
	scanID string
	title  string
	// level is the finding's severity; classic findings say high or medium.
	level string
	// timestamp is set for the current format only.
	timestamp time.Time
	// counts are a finished message's counters by field name.
	counts map[string]int
	// profile is the scan profile token: the classic report URL's first
	// segment, the current subjects' scan_profile_token.
	profile string
	// uuid and location are a finding's; classic findings have no location.
	uuid, location string
	// cvss is a classic finding's score.
	cvss float64
}

func decodeView(t *testing.T, f Format, raw []byte) view {
	t.Helper()
	if f.current() {
		return decodeCurrent(t, raw)
	}
	return decodeClassic(t, raw)
}

// keysOf decodes an object and checks its keys are exactly want.
func keysOf(t *testing.T, raw []byte, want ...string) map[string]json.RawMessage {
	t.Helper()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	if got := slices.Sorted(maps.Keys(obj)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Fatalf("keys %v, want %v in %s", got, want, raw)
	}
	return obj
}

func unmarshal(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
}

// classicMessage is the union of the classic message fields.
type classicMessage struct {
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

func decodeClassic(t *testing.T, raw []byte) view {
	t.Helper()
	var m classicMessage
	unmarshal(t, raw, &m)
	v := view{domain: m.Domain, title: m.Title, level: m.Severity}
	switch m.Type {
	case TypeScanStarted:
		keysOf(t, raw, "type", "domain", "report_url")
		v.kind = kindStarted
		v.profile, v.scanID, _ = urlParts(t, reportURLPattern, m.ReportURL)
	case TypeScanFinished:
		keysOf(t, raw, "type", "domain", "report_url", "critical_findings", "medium_findings", "notice_findings")
		v.kind = kindFinished
		v.profile, v.scanID, _ = urlParts(t, reportURLPattern, m.ReportURL)
		v.counts = map[string]int{"critical_findings": m.CriticalFindings, "medium_findings": m.MediumFindings, "notice_findings": m.NoticeFindings}
	case TypeFindingHigh, TypeFindingMedium:
		keysOf(t, raw, "type", "domain", "cvss_score", "severity", "title", "finding_url", "tags")
		checkClassicFinding(t, m)
		v.kind, v.cvss = kindFinding, m.CVSSScore
		v.profile, v.scanID, v.uuid = urlParts(t, findingURLPattern, m.FindingURL)
	default:
		t.Fatalf("unexpected classic message %s", raw)
	}
	return v
}

// checkClassicFinding verifies a finding's type, severity and CVSS range
// agree, as the support article defines them.
func checkClassicFinding(t *testing.T, m classicMessage) {
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
	}
	if m.Title == "" || !slices.Equal(m.Tags, []string{"new"}) {
		t.Errorf("finding lacks title or tags: %+v", m)
	}
}

// urlParts splits a classic report or finding URL into profile token,
// scan id and (for a finding) the finding's uuid.
func urlParts(t *testing.T, pattern *regexp.Regexp, url string) (profile, scanID, uuid string) {
	t.Helper()
	match := pattern.FindStringSubmatch(url)
	if match == nil {
		t.Fatalf("URL %q has the wrong shape", url)
	}
	match = append(match, "")
	return match[1], match[2], match[3]
}

type currentMessage struct {
	EventType string          `json:"event_type"`
	Timestamp string          `json:"timestamp"`
	Scan      json.RawMessage `json:"scan"`
	Finding   json.RawMessage `json:"finding"`
}

type currentScanFields struct {
	ID           string `json:"id"`
	Asset        string `json:"asset"`
	ProfileToken string `json:"scan_profile_token"`
}

var currentCounters = []string{"critical_level_findings", "high_level_findings", "medium_level_findings", "low_level_findings", "information_findings"}

func decodeCurrent(t *testing.T, raw []byte) view {
	t.Helper()
	var m currentMessage
	unmarshal(t, raw, &m)
	ts, err := time.Parse(time.RFC3339, m.Timestamp)
	if err != nil || ts.Location() != time.UTC {
		t.Fatalf("timestamp %q is not RFC 3339 UTC: %v", m.Timestamp, err)
	}
	v := view{timestamp: ts}
	switch m.EventType {
	case EventScanStarted, EventScanCompleted:
		keysOf(t, raw, "event_type", "timestamp", "scan")
		var s currentScanFields
		unmarshal(t, m.Scan, &s)
		v.domain, v.scanID, v.profile = s.Asset, s.ID, s.ProfileToken
		if m.EventType == EventScanStarted {
			keysOf(t, m.Scan, "id", "asset", "scan_profile_token")
			v.kind = kindStarted
			break
		}
		v.kind = kindFinished
		fields := keysOf(t, m.Scan, append([]string{"id", "asset", "scan_profile_token"}, currentCounters...)...)
		v.counts = map[string]int{}
		for _, name := range currentCounters {
			var n int
			unmarshal(t, fields[name], &n)
			v.counts[name] = n
		}
	case EventFinding:
		keysOf(t, raw, "event_type", "timestamp", "finding")
		keysOf(t, m.Finding, "title", "severity", "asset", "url", "parameter", "description", "remediation", "uuid", "scan_id", "scan_profile_token")
		var f struct {
			Title, Severity, Asset, URL, Parameter, Description, Remediation, UUID string
			ScanID                                                                 string `json:"scan_id"`
			ProfileToken                                                           string `json:"scan_profile_token"`
		}
		unmarshal(t, m.Finding, &f)
		if !slices.Contains(levelNames[:], f.Severity) || f.Title == "" || f.Description == "" || f.Remediation == "" {
			t.Errorf("bad finding %s", m.Finding)
		}
		if !strings.HasPrefix(f.URL, "https://"+f.Asset+"/") || !strings.Contains(f.URL, "?"+f.Parameter+"=") || !uuidPattern.MatchString(f.UUID) {
			t.Errorf("finding's url, parameter or uuid is off: %s", m.Finding)
		}
		v.kind, v.domain, v.scanID, v.title, v.level = kindFinding, f.Asset, f.ScanID, f.Title, f.Severity
		v.profile, v.uuid, v.location = f.ProfileToken, f.UUID, f.URL
	default:
		t.Fatalf("unexpected current message %s", raw)
	}
	if !scanIDPattern.MatchString(v.scanID) {
		t.Errorf("scan id %q has the wrong shape", v.scanID)
	}
	if !profilePattern.MatchString(v.profile) {
		t.Errorf("scan profile token %q has the wrong shape", v.profile)
	}
	return v
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
