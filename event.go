package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/plog"
)

type eventKind int

const (
	// eventOther is any signed message whose type is unknown or missing.
	eventOther eventKind = iota
	eventScanStarted
	eventScanFinished
	eventFinding
)

const (
	findingTypePrefix = "event_finding_"
	scanTypePrefix    = "event_scan_"
)

// event is a webhook classified by its type. Types are read generically so
// new ones keep working: event_finding_<level> is a finding of that level,
// event_scan_<state> a scan event in that state.
type event struct {
	webhook // a copy: a pointer would move every request's webhook to the heap
	kind    eventKind
	// findingLevel is the lower-cased payload severity, else the level in
	// the type; empty when neither is known.
	findingLevel string
	// scanState is the <state> of an event_scan_<state> type.
	scanState string
}

func classify(w *webhook) event {
	e := event{webhook: *w}
	eventType := strings.ToLower(w.eventType.value)
	if level, ok := strings.CutPrefix(eventType, findingTypePrefix); ok && level != "" {
		e.kind = eventFinding
		e.findingLevel = level
	}
	if state, ok := strings.CutPrefix(eventType, scanTypePrefix); ok && state != "" {
		e.scanState = state
		switch state {
		case "started":
			e.kind = eventScanStarted
		case "finished":
			e.kind = eventScanFinished
		}
	}
	if severity := strings.ToLower(strings.TrimSpace(w.severity.value)); severity != "" {
		e.findingLevel = severity
	}
	return e
}

// logSeverity maps Detectify's level onto OTel's: what a person must act on
// (high, critical) is an error, medium a warning, everything else info.
func (e event) logSeverity() (plog.SeverityNumber, string) {
	if e.kind != eventFinding {
		return plog.SeverityNumberInfo, "INFO"
	}
	switch e.findingLevel {
	case "critical", "high":
		return plog.SeverityNumberError, "ERROR"
	case "medium":
		return plog.SeverityNumberWarn, "WARN"
	default:
		return plog.SeverityNumberInfo, "INFO"
	}
}
