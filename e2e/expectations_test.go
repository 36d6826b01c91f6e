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

// seedSeverities are the records' severity texts: lower-case words every
// backend understands (Datadog's status, Loki's detected_level, Splunk).
var seedSeverities = map[string]string{
	typeScanStarted:  "info",
	typeFindingHigh:  "error",
	typeScanFinished: "info",
}

// seedSeverityNumbers are the records' SeverityNumbers: INFO, ERROR, INFO.
var seedSeverityNumbers = map[string]int32{
	typeScanStarted:  9,
	typeFindingHigh:  17,
	typeScanFinished: 9,
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
		// What the receiver saw of the scan: the one finding delivered of
		// the 1 critical + 2 medium reported, so 2 undelivered (and a
		// detectify.scan.duration, which depends on the clock).
		"detectify.scan.findings.delivered":   "1",
		"detectify.scan.findings.undelivered": "2",
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
