package e2e

import "maps"

// What the receiver makes of Detectify's example messages (documentation.md):
// event name, severity and attributes per webhook type. Values are text, as
// assertAttrs compares them.
const (
	seedDomain    = "my.domain"
	seedScanID    = "ffffffffffffffffffffffffffffffffffffffff"
	seedFindingID = "00000000-0000-0000-0000-000000000000"
	seedReportURL = "https://detectify.com/report/00000000000000000000000000000000/" + seedScanID
)

var seedEventNames = map[string]string{
	typeScanStarted:  "detectify.scan.started",
	typeFindingHigh:  "detectify.finding",
	typeScanFinished: "detectify.scan.finished",
}

var seedSeverities = map[string]string{
	typeScanStarted:  "INFO",
	typeFindingHigh:  "ERROR",
	typeScanFinished: "INFO",
}

var seedAttrs = map[string]map[string]string{
	typeScanStarted: {
		"detectify.event.type": typeScanStarted,
		"detectify.domain":     seedDomain,
		"detectify.report.url": seedReportURL,
		"detectify.scan.id":    seedScanID,
		"detectify.scan.state": "started",
	},
	typeFindingHigh: {
		"detectify.event.type":         typeFindingHigh,
		"detectify.domain":             seedDomain,
		"detectify.finding.title":      "Login Cross Site Request Forgery (CSRF/XSRF)",
		"detectify.finding.severity":   "high",
		"detectify.finding.cvss_score": "6.2",
		"detectify.finding.tags":       `["new"]`,
		"detectify.finding.url":        seedReportURL + "/" + seedFindingID,
		"detectify.finding.id":         seedFindingID,
		"detectify.scan.id":            seedScanID,
	},
	typeScanFinished: {
		"detectify.event.type":             typeScanFinished,
		"detectify.domain":                 seedDomain,
		"detectify.report.url":             seedReportURL,
		"detectify.scan.id":                seedScanID,
		"detectify.scan.state":             "finished",
		"detectify.scan.findings.critical": "1",
		"detectify.scan.findings.medium":   "2",
		"detectify.scan.findings.notice":   "4",
	},
}

// merged returns a new map with the entries of every map, later ones winning.
func merged(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}
