package webhooksend

import (
	"encoding/json"
	"strconv"
)

// Message types defined by Detectify's webhook contract.
const (
	TypeScanStarted   = "event_scan_started"
	TypeScanFinished  = "event_scan_finished"
	TypeFindingHigh   = "event_finding_high"
	TypeFindingMedium = "event_finding_medium"
)

// The structs mirror the documented field order so generated messages read
// like the examples.

type scanStarted struct {
	Type      string `json:"type"`
	Domain    string `json:"domain"`
	ReportURL string `json:"report_url"`
}

type scanFinished struct {
	Type             string `json:"type"`
	Domain           string `json:"domain"`
	ReportURL        string `json:"report_url"`
	CriticalFindings int    `json:"critical_findings"`
	MediumFindings   int    `json:"medium_findings"`
	NoticeFindings   int    `json:"notice_findings"`
}

type finding struct {
	Type       string   `json:"type"`
	Domain     string   `json:"domain"`
	CVSSScore  cvss     `json:"cvss_score"`
	Severity   string   `json:"severity"`
	Title      string   `json:"title"`
	FindingURL string   `json:"finding_url"`
	Tags       []string `json:"tags"`
}

// cvss is a CVSS score kept in tenths, so 9.0 is written as "9.0" like
// Detectify does rather than the "9" encoding/json would produce for a float.
type cvss int

func (c cvss) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(c)/10, 'f', 1, 64), nil
}

// mustMarshal encodes the fixed message structs above. They hold only
// strings and integers, so encoding cannot fail; a failure is a programming
// error.
func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("webhooksend: encoding message: " + err.Error())
	}
	return b
}
