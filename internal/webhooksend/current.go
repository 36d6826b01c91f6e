package webhooksend

// Event types of Detectify's current webhook format that this package
// generates.
const (
	EventScanStarted   = "scan_started"
	EventFinding       = "finding"
	EventScanCompleted = "scan_completed"
)

// The structs follow the field order of the documented finding example;
// the subject sits in an object named after the event.

type currentScanEvent struct {
	EventType string      `json:"event_type"`
	Timestamp string      `json:"timestamp"`
	Scan      currentScan `json:"scan"`
}

type currentScan struct {
	ID           string `json:"id"`
	Asset        string `json:"asset"`
	ProfileToken string `json:"scan_profile_token"`
	*currentCounts
}

// currentCounts are the per-level counters of a completed scan, named like
// Detectify's API.
type currentCounts struct {
	Critical    int `json:"critical_level_findings"`
	High        int `json:"high_level_findings"`
	Medium      int `json:"medium_level_findings"`
	Low         int `json:"low_level_findings"`
	Information int `json:"information_findings"`
}

type currentFindingEvent struct {
	EventType string         `json:"event_type"`
	Timestamp string         `json:"timestamp"`
	Finding   currentFinding `json:"finding"`
}

type currentFinding struct {
	Title        string `json:"title"`
	Severity     string `json:"severity"`
	Asset        string `json:"asset"`
	URL          string `json:"url"`
	Parameter    string `json:"parameter"`
	Description  string `json:"description"`
	Remediation  string `json:"remediation"`
	UUID         string `json:"uuid"`
	ScanID       string `json:"scan_id"`
	ProfileToken string `json:"scan_profile_token"`
}

type currentShape struct{ g *generator }

// newScan gives the scan a 16-hex id like the seed's scan objects, and a
// profile token derived from the seed and the domain, not drawn, so adding
// it left the other values of a seed's messages as they were.
func (c currentShape) newScan(domain string) scan {
	return scan{domain: domain, id: c.g.hex(8), profile: derivedToken("profile", c.g.seed, domain)}
}

func (c currentShape) started(s scan) []byte {
	return mustMarshal(currentScanEvent{
		EventType: EventScanStarted, Timestamp: c.g.timestamp(),
		Scan: currentScan{ID: s.id, Asset: s.domain, ProfileToken: s.profile},
	})
}

func (c currentShape) finding(s scan, v vulnerability) ([]byte, Finding) {
	ts := c.g.timestamp()
	f := Finding{Location: findingLocation(s.domain, v, 1+c.g.rng.IntN(9999)), Found: c.g.now, Sent: true}
	f.UUID = c.g.uuid()
	msg := mustMarshal(currentFindingEvent{
		EventType: EventFinding,
		Timestamp: ts,
		Finding: currentFinding{
			Title:        v.title,
			Severity:     v.level.String(),
			Asset:        s.domain,
			URL:          f.Location,
			Parameter:    v.parameter,
			Description:  v.description,
			Remediation:  v.remediation,
			UUID:         f.UUID,
			ScanID:       s.id,
			ProfileToken: s.profile,
		},
	})
	return msg, f
}

func (c currentShape) finished(s scan, found LevelCounts) []byte {
	return mustMarshal(currentScanEvent{
		EventType: EventScanCompleted, Timestamp: c.g.timestamp(),
		Scan: currentScan{ID: s.id, Asset: s.domain, ProfileToken: s.profile, currentCounts: &currentCounts{
			Critical: found.Critical, High: found.High, Medium: found.Medium,
			Low: found.Low, Information: found.Information,
		}},
	})
}
