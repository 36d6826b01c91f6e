package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"

	"github.com/detectify-otel/detectifyreceiver/internal/metadata"
)

const serviceName = "detectify"

// logTranslator turns one webhook into one log record through the
// mdatagen LogsBuilder, which owns event names and attribute keys.
type logTranslator struct {
	resource pcommon.Resource
	// builders are pooled: a LogsBuilder is not safe for concurrent use and
	// too costly to create per request.
	builders sync.Pool
}

func newLogTranslator(set receiver.Settings, cfg metadata.LogsBuilderConfig) *logTranslator {
	t := &logTranslator{}
	t.builders.New = func() any { return metadata.NewLogsBuilder(cfg, set) }
	rb := metadata.NewResourceBuilder(cfg.ResourceAttributes)
	rb.SetServiceName(serviceName)
	t.resource = rb.Emit()
	return t
}

// toLogs builds the record for e. body is the raw payload, kept verbatim
// as the record's body so fields this receiver does not know survive. The
// result is empty when the user disabled e's event.
func (t *logTranslator) toLogs(e event, body []byte, received time.Time) plog.Logs {
	lb := t.builders.Get().(*metadata.LogsBuilder)
	defer t.builders.Put(lb)

	// No request context: the builder would link the record to the
	// collector's own HTTP server span, which is not the finding's trace.
	ctx := context.Background()
	ts := pcommon.NewTimestampFromTime(received)
	opts := e.attributeOptions()
	switch e.kind {
	case eventFinding:
		lb.RecordDetectifyFindingEvent(ctx, ts, opts...)
	case eventScanStarted:
		lb.RecordDetectifyScanStartedEvent(ctx, ts, opts...)
	case eventScanFinished:
		lb.RecordDetectifyScanFinishedEvent(ctx, ts, opts...)
	default:
		lb.RecordDetectifyEventEvent(ctx, ts, opts...)
	}
	logs := lb.Emit(metadata.WithLogsResource(t.resource))

	number, text := e.logSeverity()
	for _, rl := range logs.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				lr.SetObservedTimestamp(ts)
				lr.SetSeverityNumber(number)
				lr.SetSeverityText(text)
				lr.Body().SetStr(string(body))
			}
		}
	}
	return logs
}

// attributeOptions lists an attribute for every field the payload carried
// with its documented type.
func (e event) attributeOptions() []metadata.EventAttributeOption {
	opts := make([]metadata.EventAttributeOption, 0, 12)
	if e.eventType.ok {
		opts = append(opts, metadata.WithDetectifyEventTypeEventAttribute(e.eventType.value))
	}
	if e.domain.ok {
		opts = append(opts, metadata.WithDetectifyDomainEventAttribute(e.domain.value))
	}
	if e.reportURL.ok {
		opts = append(opts, metadata.WithDetectifyReportURLEventAttribute(e.reportURL.value))
	}
	if e.findingURL.ok {
		opts = append(opts, metadata.WithDetectifyFindingURLEventAttribute(e.findingURL.value))
	}
	if e.title.ok {
		opts = append(opts, metadata.WithDetectifyFindingTitleEventAttribute(e.title.value))
	}
	if e.findingLevel != "" {
		opts = append(opts, metadata.WithDetectifyFindingSeverityEventAttribute(e.findingLevel))
	}
	if e.cvssScore.ok {
		opts = append(opts, metadata.WithDetectifyFindingCvssScoreEventAttribute(e.cvssScore.value))
	}
	if e.tags.ok {
		opts = append(opts, metadata.WithDetectifyFindingTagsEventAttribute(stringsToAny(e.tags.value)))
	}
	if scanID, findingID := e.ids(); scanID != "" {
		opts = append(opts, metadata.WithDetectifyScanIDEventAttribute(scanID))
		if findingID != "" {
			opts = append(opts, metadata.WithDetectifyFindingIDEventAttribute(findingID))
		}
	}
	if e.scanState != "" {
		opts = append(opts, metadata.WithDetectifyScanStateEventAttribute(e.scanState))
	}
	if e.critical.ok {
		opts = append(opts, metadata.WithDetectifyScanFindingsCriticalEventAttribute(e.critical.value))
	}
	if e.medium.ok {
		opts = append(opts, metadata.WithDetectifyScanFindingsMediumEventAttribute(e.medium.value))
	}
	if e.notice.ok {
		opts = append(opts, metadata.WithDetectifyScanFindingsNoticeEventAttribute(e.notice.value))
	}
	if len(e.invalidFields) > 0 {
		opts = append(opts, metadata.WithDetectifyPayloadInvalidFieldsEventAttribute(stringsToAny(e.invalidFields)))
	}
	return opts
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

func stringsToAny(values []string) []any {
	out := make([]any, len(values))
	for i, v := range values {
		out[i] = v
	}
	return out
}
