package detectifyreceiver

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

// hook builds a webhook with the given type and severity; "-" leaves a
// field absent.
func hook(eventType, severity string) *webhook {
	w := &webhook{}
	if eventType != "-" {
		w.eventType = some(eventType)
	}
	if severity != "-" {
		w.severity = some(severity)
	}
	return w
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name      string
		eventType string
		severity  string
		kind      eventKind
		level     string
		scanState string
	}{
		{name: "scan started", eventType: "event_scan_started", severity: "-", kind: eventScanStarted, scanState: "started"},
		{name: "scan finished", eventType: "event_scan_finished", severity: "-", kind: eventScanFinished, scanState: "finished"},
		{name: "scan paused is another scan state", eventType: "event_scan_paused", severity: "-", kind: eventOther, scanState: "paused"},
		{name: "scan started upper case", eventType: "EVENT_SCAN_STARTED", severity: "-", kind: eventScanStarted, scanState: "started"},
		{name: "finding high", eventType: "event_finding_high", severity: "-", kind: eventFinding, level: "high"},
		{name: "finding medium", eventType: "event_finding_medium", severity: "-", kind: eventFinding, level: "medium"},
		{name: "finding low", eventType: "event_finding_low", severity: "-", kind: eventFinding, level: "low"},
		{name: "finding critical", eventType: "event_finding_critical", severity: "-", kind: eventFinding, level: "critical"},
		{name: "finding of a new level", eventType: "event_finding_informational", severity: "-", kind: eventFinding, level: "informational"},
		{name: "type is case-insensitive", eventType: "EVENT_FINDING_HIGH", severity: "-", kind: eventFinding, level: "high"},
		{name: "type in mixed case", eventType: "Event_Finding_Medium", severity: "-", kind: eventFinding, level: "medium"},
		{name: "finding without level", eventType: "event_finding_", severity: "-", kind: eventOther},
		{name: "scan without state", eventType: "event_scan_", severity: "-", kind: eventOther},
		{name: "unknown type", eventType: "event_asset_added", severity: "-", kind: eventOther},
		{name: "prefix without underscore", eventType: "event_finding", severity: "-", kind: eventOther},
		{name: "empty type", eventType: "", severity: "-", kind: eventOther},
		{name: "no type", eventType: "-", severity: "-", kind: eventOther},

		{name: "payload severity overrides the type's level", eventType: "event_finding_high", severity: "medium", kind: eventFinding, level: "medium"},
		{name: "payload severity is lower-cased and trimmed", eventType: "event_finding_low", severity: " \tCRITICAL\n ", kind: eventFinding, level: "critical"},
		{name: "payload severity in mixed case", eventType: "event_finding_medium", severity: "High", kind: eventFinding, level: "high"},
		{name: "blank payload severity keeps the type's level", eventType: "event_finding_high", severity: "   ", kind: eventFinding, level: "high"},
		{name: "empty payload severity keeps the type's level", eventType: "event_finding_low", severity: "", kind: eventFinding, level: "low"},
		{name: "severity does not make a finding", eventType: "event_asset_added", severity: "high", kind: eventOther, level: "high"},
		{name: "seed finding", eventType: "event_finding_high", severity: "high", kind: eventFinding, level: "high"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := hook(tt.eventType, tt.severity)
			e := classify(w)
			assert.Equal(t, tt.kind, e.kind)
			assert.Equal(t, tt.level, e.findingLevel)
			assert.Equal(t, tt.scanState, e.scanState)
			assert.Equal(t, *w, e.webhook, "the event must carry the webhook it classified")
		})
	}
}

func TestClassifySeedExamples(t *testing.T) {
	tests := []struct {
		body  string
		kind  eventKind
		level string
	}{
		{body: seedScanStarted, kind: eventScanStarted},
		{body: seedScanFinished, kind: eventScanFinished},
		{body: seedFindingHigh, kind: eventFinding, level: "high"},
	}
	for _, tt := range tests {
		w, err := parseText(tt.body)
		require.NoError(t, err)
		e := classify(&w)
		assert.Equal(t, tt.kind, e.kind, w.eventType.value)
		assert.Equal(t, tt.level, e.findingLevel, w.eventType.value)
	}
}

func TestLogSeverity(t *testing.T) {
	tests := []struct {
		name      string
		eventType string
		severity  string
		number    plog.SeverityNumber
		text      string
	}{
		{name: "high", eventType: "event_finding_high", severity: "-", number: plog.SeverityNumberError, text: "ERROR"},
		{name: "critical", eventType: "event_finding_critical", severity: "-", number: plog.SeverityNumberError, text: "ERROR"},
		{name: "medium", eventType: "event_finding_medium", severity: "-", number: plog.SeverityNumberWarn, text: "WARN"},
		{name: "low", eventType: "event_finding_low", severity: "-", number: plog.SeverityNumberInfo, text: "INFO"},
		{name: "unknown level", eventType: "event_finding_urgent", severity: "-", number: plog.SeverityNumberInfo, text: "INFO"},
		{name: "upper-case type", eventType: "EVENT_FINDING_CRITICAL", severity: "-", number: plog.SeverityNumberError, text: "ERROR"},
		{name: "payload severity raises", eventType: "event_finding_low", severity: "HIGH", number: plog.SeverityNumberError, text: "ERROR"},
		{name: "payload severity lowers", eventType: "event_finding_high", severity: "medium", number: plog.SeverityNumberWarn, text: "WARN"},
		{name: "payload severity low", eventType: "event_finding_critical", severity: " low ", number: plog.SeverityNumberInfo, text: "INFO"},
		{name: "scan started", eventType: "event_scan_started", severity: "-", number: plog.SeverityNumberInfo, text: "INFO"},
		{name: "scan finished", eventType: "event_scan_finished", severity: "-", number: plog.SeverityNumberInfo, text: "INFO"},
		{name: "scan with a severity", eventType: "event_scan_finished", severity: "critical", number: plog.SeverityNumberInfo, text: "INFO"},
		{name: "other scan state", eventType: "event_scan_paused", severity: "-", number: plog.SeverityNumberInfo, text: "INFO"},
		{name: "other event with a severity", eventType: "event_asset_added", severity: "high", number: plog.SeverityNumberInfo, text: "INFO"},
		{name: "no type", eventType: "-", severity: "-", number: plog.SeverityNumberInfo, text: "INFO"},
		{name: "finding without level", eventType: "event_finding_", severity: "-", number: plog.SeverityNumberInfo, text: "INFO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			number, text := classify(hook(tt.eventType, tt.severity)).logSeverity()
			assert.Equal(t, tt.number, number)
			assert.Equal(t, tt.text, text)
		})
	}
}
