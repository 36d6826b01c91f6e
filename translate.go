package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"

	"github.com/detectify-otel/detectifyreceiver/internal/message"
	"github.com/detectify-otel/detectifyreceiver/internal/metadata"
	"github.com/detectify-otel/detectifyreceiver/internal/state"
)

const serviceName = "detectify"

// Event names of the log records, as declared in metadata.yaml. They are
// an API: users' queries and alert rules depend on them.
const (
	eventNameScanStarted  = "detectify.scan.started"
	eventNameScanFinished = "detectify.scan.finished"
	eventNameScanStalled  = "detectify.scan.stalled"
	eventNameBackfilled   = "detectify.scan.backfilled"
	eventNameFinding      = "detectify.finding"
	eventNameAssetChanged = "detectify.asset.changed"
	eventNameOther        = "detectify.event"
)

// recordTranslator builds the log records. It writes pdata directly: a
// record carries the webhook as its body, a severity and attributes that
// metadata.yaml cannot declare one by one (the current format's subject
// fields), none of which the generated LogsBuilder sets. It is also
// cheaper: the LogsBuilder put into the old receiver cost 6.7% of its
// webhooks per second and 1.56 µs (22%) of its handler
// (docs/PERFORMANCE.md, trick 6).
type recordTranslator struct {
	events       metadata.EventsConfig
	resource     pcommon.Resource // the metrics' resource: service.name when enabled
	scopeVersion string
}

func newRecordTranslator(set receiver.Settings, cfg *Config) *recordTranslator {
	rb := metadata.NewResourceBuilder(cfg.ResourceAttributes)
	rb.SetServiceName(serviceName)
	return &recordTranslator{events: cfg.Events, resource: rb.Emit(), scopeVersion: set.BuildInfo.Version}
}

// eventName names the record of a kind of message; enabled is false when
// the user switched that event off.
func (t *recordTranslator) eventName(kind message.Kind) (name string, enabled bool) {
	switch kind {
	case message.KindFinding:
		return eventNameFinding, t.events.DetectifyFinding.Enabled
	case message.KindScanStarted:
		return eventNameScanStarted, t.events.DetectifyScanStarted.Enabled
	case message.KindScanFinished:
		return eventNameScanFinished, t.events.DetectifyScanFinished.Enabled
	case message.KindAssetChanged:
		return eventNameAssetChanged, t.events.DetectifyAssetChanged.Enabled
	default:
		return eventNameOther, t.events.DetectifyEvent.Enabled
	}
}

// newLogs returns logs with the receiver's resource and scope, and the
// scope's record list.
func (t *recordTranslator) newLogs() (plog.Logs, plog.LogRecordSlice) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	t.resource.CopyTo(rl.Resource())
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(metadata.ScopeName)
	sl.Scope().SetVersion(t.scopeVersion)
	return ld, sl.LogRecords()
}

// webhookLogs builds the record of one webhook, or empty logs when its
// event is switched off. body is the payload exactly as received: fields
// this receiver does not know survive in it.
func (t *recordTranslator) webhookLogs(e *message.Event, insight state.Insight, body string, received time.Time) plog.Logs {
	name, enabled := t.eventName(e.Kind)
	if !enabled {
		return plog.NewLogs()
	}
	ld, records := t.newLogs()
	attrs := t.putRecord(records, name, e, body, received, message.SourceWebhook, insightAttributeCount(insight))
	putInsight(attrs, insight)
	return ld
}

// putRecord appends the record of event e with body, received at
// received, and returns its attributes, with room for extra more. A
// finding's says its source.
func (t *recordTranslator) putRecord(records plog.LogRecordSlice, name string, e *message.Event, body string, received time.Time, source string, extra int) pcommon.Map {
	lr := records.AppendEmpty()
	lr.SetEventName(name)
	observed := pcommon.NewTimestampFromTime(received)
	lr.SetObservedTimestamp(observed)
	if e.Timestamp.IsZero() {
		lr.SetTimestamp(observed)
	} else {
		lr.SetTimestamp(pcommon.NewTimestampFromTime(e.Timestamp))
	}
	sev := severityOf(e)
	lr.SetSeverityNumber(sev.number)
	lr.SetSeverityText(sev.text)
	lr.Body().SetStr(body)

	attrs := lr.Attributes()
	attrs.EnsureCapacity(recordAttributeCount(e) + extra)
	e.PutAttributes(attrs)
	if e.Kind == message.KindFinding {
		attrs.PutStr(message.AttrFindingSource, source)
	}
	if len(e.InvalidFields) > 0 {
		message.PutStrings(attrs, message.AttrInvalidFields, e.InvalidFields)
	}
	if e.DroppedFields > 0 {
		attrs.PutInt(message.AttrDroppedFields, int64(e.DroppedFields))
	}
	return attrs
}

// recordAttributeCount is how many attributes putRecord writes for e:
// sized exactly, a record's attribute array is allocated once and no
// larger than it needs.
func recordAttributeCount(e *message.Event) int {
	n := e.AttributeCount()
	if e.Kind == message.KindFinding {
		n++
	}
	if len(e.InvalidFields) > 0 {
		n++
	}
	if e.DroppedFields > 0 {
		n++
	}
	return n
}

// apiFindingLogs builds the records of the findings the API backfill
// counted (those of findings at the indexes emit), or empty logs when the
// finding event is switched off.
func (t *recordTranslator) apiFindingLogs(findings []apiFinding, emit []int, now time.Time) plog.Logs {
	if !t.events.DetectifyFinding.Enabled || len(emit) == 0 {
		return plog.NewLogs()
	}
	ld, records := t.newLogs()
	records.EnsureCapacity(len(emit))
	for _, i := range emit {
		t.putRecord(records, eventNameFinding, &findings[i].event, findings[i].body, now, message.SourceAPI, 0)
	}
	return ld
}

// backfilledLogs builds the record that says how a scan's backfill ended,
// or empty logs when the event is switched off.
func (t *recordTranslator) backfilledLogs(job state.BackfillJob, outcome string, summary state.BackfillSummary, now time.Time) plog.Logs {
	if !t.events.DetectifyScanBackfilled.Enabled {
		return plog.NewLogs()
	}
	ld, records := t.newLogs()
	lr := records.AppendEmpty()
	lr.SetEventName(eventNameBackfilled)
	ts := pcommon.NewTimestampFromTime(now)
	lr.SetTimestamp(ts)
	lr.SetObservedTimestamp(ts)
	sev := defaultSeverity
	if outcome != backfillCompleted {
		sev = stalledSeverity
	}
	lr.SetSeverityNumber(sev.number)
	lr.SetSeverityText(sev.text)
	body := fmt.Sprintf("Detectify scan %s of %s: completing it from the API ended %s", job.ScanID, job.Domain, outcome)
	if summary.Backfilled != nil {
		body += fmt.Sprintf(", %d findings fetched", *summary.Backfilled)
	}
	lr.Body().SetStr(body)
	attrs := lr.Attributes()
	attrs.PutStr(message.AttrDomain, job.Domain)
	attrs.PutStr(message.AttrScanID, job.ScanID)
	attrs.PutStr(message.AttrScanBackfillOutcome, outcome)
	if summary.Backfilled != nil {
		attrs.PutInt(message.AttrScanBackfilled, *summary.Backfilled)
	}
	if summary.Undelivered != nil {
		attrs.PutInt(message.AttrScanUndelivered, *summary.Undelivered)
	}
	return ld
}

// stalledLogs builds one record per stalled scan, or empty logs when the
// event is switched off.
func (t *recordTranslator) stalledLogs(stalled []state.Stalled, now time.Time) plog.Logs {
	if !t.events.DetectifyScanStalled.Enabled || len(stalled) == 0 {
		return plog.NewLogs()
	}
	ld, records := t.newLogs()
	ts := pcommon.NewTimestampFromTime(now)
	for _, st := range stalled {
		lr := records.AppendEmpty()
		lr.SetEventName(eventNameScanStalled)
		lr.SetTimestamp(ts)
		lr.SetObservedTimestamp(ts)
		lr.SetSeverityNumber(stalledSeverity.number)
		lr.SetSeverityText(stalledSeverity.text)
		scan := "a scan"
		if st.ScanID != "" {
			scan = "scan " + st.ScanID
		}
		lr.Body().SetStr(fmt.Sprintf("Detectify %s of %s has been open for %s without finishing", scan, st.Domain, st.OpenFor.Round(time.Second)))
		attrs := lr.Attributes()
		attrs.PutStr(message.AttrDomain, st.Domain)
		if st.ScanID != "" {
			attrs.PutStr(message.AttrScanID, st.ScanID)
		}
		attrs.PutDouble(message.AttrScanDuration, st.OpenFor.Seconds())
	}
	return ld
}

// putInsight sets what the receiver saw of the scan.
func putInsight(attrs pcommon.Map, in state.Insight) {
	if in.Delivered != nil {
		attrs.PutInt(message.AttrScanDelivered, *in.Delivered)
	}
	if in.Undelivered != nil {
		attrs.PutInt(message.AttrScanUndelivered, *in.Undelivered)
	}
	if in.Partial {
		attrs.PutBool(message.AttrScanPartial, true)
	}
	if len(in.LimitReached) > 0 {
		message.PutStrings(attrs, message.AttrScanLimitReached, in.LimitReached)
	}
	if len(in.LimitedTitles) > 0 {
		message.PutStrings(attrs, message.AttrScanLimitedTitles, in.LimitedTitles)
	}
	if in.Duration != nil {
		attrs.PutDouble(message.AttrScanDuration, *in.Duration)
	}
}

// insightAttributeCount is how many attributes putInsight writes for in.
func insightAttributeCount(in state.Insight) int {
	n := 0
	for _, set := range []bool{in.Delivered != nil, in.Undelivered != nil, in.Partial,
		len(in.LimitReached) > 0, len(in.LimitedTitles) > 0, in.Duration != nil} {
		if set {
			n++
		}
	}
	return n
}

// severity is a record's SeverityNumber and SeverityText.
type severity struct {
	number plog.SeverityNumber
	text   string
}

// Detectify's five levels stay apart by number: critical above high, high
// an error, medium a warning, low and information at INFO and below. The
// texts are the words Datadog's status remapper, Loki's detected_level and
// Splunk searches understand (lower case: Loki 3.5 and 3.6 keep the text as
// sent), so every backend shows critical, error, warn and info.
var (
	levelSeverities = map[string]severity{
		"critical":      {plog.SeverityNumberFatal, "critical"},
		"high":          {plog.SeverityNumberError, "error"},
		"medium":        {plog.SeverityNumberWarn, "warn"},
		"low":           {plog.SeverityNumberInfo2, "info"},
		"information":   {plog.SeverityNumberInfo, "info"},
		"informational": {plog.SeverityNumberInfo, "info"},
		"info":          {plog.SeverityNumberInfo, "info"},
	}
	// Unknown levels, and every event that is not a finding.
	defaultSeverity = severity{plog.SeverityNumberInfo, "info"}
	stalledSeverity = severity{plog.SeverityNumberWarn, "warn"}
)

func severityOf(e *message.Event) severity {
	if e.Kind != message.KindFinding {
		return defaultSeverity
	}
	if s, ok := levelSeverities[e.Level]; ok { // Level is lower-cased
		return s
	}
	return defaultSeverity
}
