package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"

	"github.com/detectify-otel/detectifyreceiver/internal/metadata"
)

const serviceName = "detectify"

// Event names and attribute keys of the log records, as declared in
// metadata.yaml (TestLogRecordsMatchMetadata holds the two together). They
// are an API: users' queries and alert rules depend on them.
const (
	eventNameScanStarted  = "detectify.scan.started"
	eventNameScanFinished = "detectify.scan.finished"
	eventNameFinding      = "detectify.finding"
	eventNameOther        = "detectify.event"

	attrEventType     = "detectify.event.type"
	attrDomain        = "detectify.domain"
	attrReportURL     = "detectify.report.url"
	attrFindingURL    = "detectify.finding.url"
	attrFindingTitle  = "detectify.finding.title"
	attrFindingLevel  = "detectify.finding.severity"
	attrCVSSScore     = "detectify.finding.cvss_score"
	attrFindingTags   = "detectify.finding.tags"
	attrScanID        = "detectify.scan.id"
	attrFindingID     = "detectify.finding.id"
	attrScanState     = "detectify.scan.state"
	attrScanCritical  = "detectify.scan.findings.critical"
	attrScanMedium    = "detectify.scan.findings.medium"
	attrScanNotice    = "detectify.scan.findings.notice"
	attrInvalidFields = "detectify.payload.invalid_fields"
	attrServiceName   = "service.name"
)

// logTranslator turns one webhook into one log record. It writes pdata
// directly instead of through the generated LogsBuilder: the builder's
// option closures and resource copies tripled the allocations of a request.
type logTranslator struct {
	events       metadata.EventsConfig
	serviceName  bool // resource attribute service.name enabled
	scopeVersion string
}

func newLogTranslator(set receiver.Settings, cfg metadata.LogsBuilderConfig) *logTranslator {
	return &logTranslator{
		events:       cfg.Events,
		serviceName:  cfg.ResourceAttributes.ServiceName.Enabled,
		scopeVersion: set.BuildInfo.Version,
	}
}

// eventName names e's record; enabled is false when the user switched that
// event off.
func (t *logTranslator) eventName(kind eventKind) (name string, enabled bool) {
	switch kind {
	case eventFinding:
		return eventNameFinding, t.events.DetectifyFinding.Enabled
	case eventScanStarted:
		return eventNameScanStarted, t.events.DetectifyScanStarted.Enabled
	case eventScanFinished:
		return eventNameScanFinished, t.events.DetectifyScanFinished.Enabled
	default:
		return eventNameOther, t.events.DetectifyEvent.Enabled
	}
}

// toLogs builds the record for e, or empty logs when its event is disabled.
// body is the raw payload, kept verbatim as the record's body so fields
// this receiver does not know survive.
func (t *logTranslator) toLogs(e event, body string, received time.Time) plog.Logs {
	ld := plog.NewLogs()
	name, enabled := t.eventName(e.kind)
	if !enabled {
		return ld
	}
	rl := ld.ResourceLogs().AppendEmpty()
	if t.serviceName {
		rl.Resource().Attributes().PutStr(attrServiceName, serviceName)
	}
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(metadata.ScopeName)
	sl.Scope().SetVersion(t.scopeVersion)

	lr := sl.LogRecords().AppendEmpty()
	ts := pcommon.NewTimestampFromTime(received)
	lr.SetEventName(name)
	lr.SetTimestamp(ts)
	lr.SetObservedTimestamp(ts)
	number, text := e.logSeverity()
	lr.SetSeverityNumber(number)
	lr.SetSeverityText(text)
	lr.Body().SetStr(body)
	e.putAttributes(lr.Attributes())
	return ld
}

// putAttributes sets an attribute for every field the payload carried with
// its documented type.
func (e event) putAttributes(attrs pcommon.Map) {
	attrs.EnsureCapacity(16)
	putStr(attrs, attrEventType, e.eventType)
	putStr(attrs, attrDomain, e.domain)
	putStr(attrs, attrReportURL, e.reportURL)
	putStr(attrs, attrFindingURL, e.findingURL)
	putStr(attrs, attrFindingTitle, e.title)
	if e.findingLevel != "" {
		attrs.PutStr(attrFindingLevel, e.findingLevel)
	}
	if e.cvssScore.ok {
		attrs.PutDouble(attrCVSSScore, e.cvssScore.value)
	}
	putStrings(attrs, attrFindingTags, e.tags.value, e.tags.ok)
	if scanID, findingID := e.ids(); scanID != "" {
		attrs.PutStr(attrScanID, scanID)
		if findingID != "" {
			attrs.PutStr(attrFindingID, findingID)
		}
	}
	if e.scanState != "" {
		attrs.PutStr(attrScanState, e.scanState)
	}
	putInt(attrs, attrScanCritical, e.critical)
	putInt(attrs, attrScanMedium, e.medium)
	putInt(attrs, attrScanNotice, e.notice)
	putStrings(attrs, attrInvalidFields, e.invalidFields, len(e.invalidFields) > 0)
}

func putStr(attrs pcommon.Map, key string, field optional[string]) {
	if field.ok {
		attrs.PutStr(key, field.value)
	}
}

func putInt(attrs pcommon.Map, key string, field optional[int64]) {
	if field.ok {
		attrs.PutInt(key, field.value)
	}
}

func putStrings(attrs pcommon.Map, key string, values []string, present bool) {
	if !present {
		return
	}
	slice := attrs.PutEmptySlice(key)
	slice.EnsureCapacity(len(values))
	for _, v := range values {
		slice.AppendEmpty().SetStr(v)
	}
}

// ids returns the scan and finding ids, preferring the finding URL, which
// names both.
func (e event) ids() (scanID, findingID string) {
	if e.findingURL.ok {
		if scan, finding, ok := reportIDs(e.findingURL.value); ok {
			return scan, finding
		}
	}
	if e.reportURL.ok {
		if scan, _, ok := reportIDs(e.reportURL.value); ok {
			return scan, ""
		}
	}
	return "", ""
}
