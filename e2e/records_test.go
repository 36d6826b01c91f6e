package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// record is one log record as a backend stores it, with its resource.
type record struct {
	resource pcommon.Map
	plog.LogRecord
}

// waitRecords waits until the peer has written want log records and returns
// them keyed by their detectify.event.type attribute.
func waitRecords(t *testing.T, p *peer, want int) map[string]record {
	t.Helper()
	byType := map[string]record{}
	for _, r := range waitAllRecords(t, p, want) {
		eventType, ok := r.Attributes().Get("detectify.event.type")
		if !ok {
			t.Fatalf("a record has no detectify.event.type: %v", r.Attributes().AsRaw())
		}
		byType[eventType.AsString()] = r
	}
	return byType
}

// waitAllRecords waits until the peer has written want log records and
// returns them in the order written.
func waitAllRecords(t *testing.T, p *peer, want int) []record {
	t.Helper()
	var records []record
	eventually(t, p.process, deliveryTimeout, "log records at the peer", func() error {
		var err error
		records, err = readRecords(p.logsFile)
		if err == nil && len(records) < want {
			err = fmt.Errorf("%d of %d records so far", len(records), want)
		}
		return err
	})
	if len(records) != want {
		t.Fatalf("the peer received %d log records, want %d", len(records), want)
	}
	return records
}

// readRecords reads the file exporter's JSON lines; a last line still being
// written is left for the next read.
func readRecords(path string) ([]record, error) {
	var records []record
	err := forEachLine(path, func(line []byte) error {
		ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(line)
		if err != nil {
			return err
		}
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					records = append(records, record{resource: rl.Resource().Attributes(), LogRecord: lr})
				}
			}
		}
		return nil
	})
	return records, err
}

// readMetrics reads the file exporter's JSON lines in the order written.
func readMetrics(path string) ([]pmetric.Metrics, error) {
	var out []pmetric.Metrics
	err := forEachLine(path, func(line []byte) error {
		md, err := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(line)
		out = append(out, md)
		return err
	})
	return out, err
}

func forEachLine(path string, fn func([]byte) error) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	complete := data[:bytes.LastIndexByte(data, '\n')+1]
	for line := range bytes.Lines(complete) {
		if line = bytes.TrimSpace(line); len(line) > 0 {
			if err := fn(line); err != nil {
				return err
			}
		}
	}
	return nil
}

// assertRecord checks what every OTLP backend gets of a seed record
// unchanged: the raw payload as body, the event name and the severity.
func assertRecord(t *testing.T, eventType string, r record, payload string) {
	t.Helper()
	if got := r.Body().AsString(); got != payload {
		t.Errorf("%s: body = %q, want the webhook's body %q", eventType, got, payload)
	}
	if got, want := r.EventName(), seedEventNames[eventType]; got != want {
		t.Errorf("%s: event name = %q, want %q", eventType, got, want)
	}
	if got, want := r.SeverityText(), seedSeverities[eventType]; got != want {
		t.Errorf("%s: severity text = %q, want %q", eventType, got, want)
	}
	if got, want := int32(r.SeverityNumber()), seedSeverityNumbers[eventType]; got != want {
		t.Errorf("%s: severity number = %d, want %d", eventType, got, want)
	}
}

// assertAttrs checks that m holds each key with the value given, compared
// as text: HEC carries every number as a JSON number, so a count arrives as
// the double 1 where OTLP keeps the int 1.
func assertAttrs(t *testing.T, what string, m pcommon.Map, want map[string]string) {
	t.Helper()
	for key, value := range want {
		got, ok := m.Get(key)
		switch {
		case !ok:
			t.Errorf("%s: no %s, want %q; have %v", what, key, value, m.AsRaw())
		case got.AsString() != value:
			t.Errorf("%s: %s = %q, want %q", what, key, got.AsString(), value)
		}
	}
}

// assertNoAttrs checks that m holds none of keys.
func assertNoAttrs(t *testing.T, what string, m pcommon.Map, keys ...string) {
	t.Helper()
	for _, key := range keys {
		if got, ok := m.Get(key); ok {
			t.Errorf("%s: unexpected %s = %q", what, key, got.AsString())
		}
	}
}
