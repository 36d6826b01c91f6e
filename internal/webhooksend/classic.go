package webhooksend

// Message types of Detectify's classic webhook contract.
const (
	TypeScanStarted   = "event_scan_started"
	TypeScanFinished  = "event_scan_finished"
	TypeFindingHigh   = "event_finding_high"
	TypeFindingMedium = "event_finding_medium"
)

// The structs mirror the documented field order so generated messages read
// like the examples.

type classicScanStarted struct {
	Type      string `json:"type"`
	Domain    string `json:"domain"`
	ReportURL string `json:"report_url"`
}

type classicScanFinished struct {
	Type             string `json:"type"`
	Domain           string `json:"domain"`
	ReportURL        string `json:"report_url"`
	CriticalFindings int    `json:"critical_findings"`
	MediumFindings   int    `json:"medium_findings"`
	NoticeFindings   int    `json:"notice_findings"`
}

type classicFinding struct {
	Type       string   `json:"type"`
	Domain     string   `json:"domain"`
	CVSSScore  cvss     `json:"cvss_score"`
	Severity   string   `json:"severity"`
	Title      string   `json:"title"`
	FindingURL string   `json:"finding_url"`
	Tags       []string `json:"tags"`
}

// classicLevel is how a classic finding message reports a level: the
// support article has high events (CVSS 6 and up) and medium ones (CVSS 3
// to 6). Critical findings are high events with the top scores, kept below
// 10 so a score has one digit before the point like the example's 6.2.
type classicLevel struct {
	typ, severity    string
	minCVSS, maxCVSS cvss
}

var classicLevels = map[level]classicLevel{
	critical: {TypeFindingHigh, "high", 90, 99},
	high:     {TypeFindingHigh, "high", 60, 89},
	medium:   {TypeFindingMedium, "medium", 30, 59},
}

type classicShape struct{ g *generator }

// newScan gives the scan Detectify's report URL: a 32-hex scan profile
// token and a 40-hex scan id, which is the API's report token.
// (ASSUMPTION: the URL's first segment is the profile token; public
// material says "profile or team token".)
func (c classicShape) newScan(domain string) scan {
	profile, id := c.g.hex(16), c.g.hex(20)
	return scan{domain: domain, id: id, profile: profile, reportURL: "https://detectify.com/report/" + profile + "/" + id}
}

func (c classicShape) started(s scan) []byte {
	return mustMarshal(classicScanStarted{Type: TypeScanStarted, Domain: s.domain, ReportURL: s.reportURL})
}

// finding panics for low and information findings, which have no classic
// message; callers send only levels that are messaged.
func (c classicShape) finding(s scan, v vulnerability) ([]byte, Finding) {
	lv, ok := classicLevels[v.level]
	if !ok {
		panic("webhooksend: no classic finding message for level " + v.level.String())
	}
	score := lv.minCVSS + cvss(c.g.rng.IntN(int(lv.maxCVSS-lv.minCVSS)+1))
	id := c.g.uuid()
	msg := mustMarshal(classicFinding{
		Type:       lv.typ,
		Domain:     s.domain,
		CVSSScore:  score,
		Severity:   lv.severity,
		Title:      v.title,
		FindingURL: s.reportURL + "/" + id,
		Tags:       []string{"new"},
	})
	return msg, Finding{UUID: id, CVSS: float64(score) / 10, Sent: true}
}

// finished counts as Detectify's classic summary does: critical_findings
// holds the high-level findings (critical included), notice_findings those
// below medium.
func (c classicShape) finished(s scan, found LevelCounts) []byte {
	return mustMarshal(classicScanFinished{
		Type: TypeScanFinished, Domain: s.domain, ReportURL: s.reportURL,
		CriticalFindings: found.Critical + found.High,
		MediumFindings:   found.Medium,
		NoticeFindings:   found.Low + found.Information,
	})
}
