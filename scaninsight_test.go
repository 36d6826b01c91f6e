package detectifyreceiver

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

func classicFinding(scan, title string, n int) []byte {
	return []byte(fmt.Sprintf(`{"type":"event_finding_high","domain":"limits.example.com","title":%q,"finding_url":"https://detectify.com/report/t/%s/f%d"}`,
		title, scan, n))
}

// The 10th finding of a title is the last Detectify sends: its record says
// so at once, so an alert can fire before the scan ends; the finished
// record then says what was withheld.
func TestRecordsSayWhenDetectifysLimitsAreReached(t *testing.T) {
	h := newHarness(t, nil)
	h.postOK([]byte(`{"type":"event_scan_started","domain":"limits.example.com","report_url":"https://detectify.com/report/t/s1"}`))
	for i := 1; i <= 11; i++ {
		h.postOK(classicFinding("s1", "Reflected XSS", i))
	}
	records := h.logs.records()
	for i, lr := range records[1:] {
		attrs := recordAttributes(lr)
		if i+1 == 10 {
			assert.Equal(t, []any{"per_type"}, attrs["detectify.scan.limit_reached"], "the 10th")
			assert.Equal(t, []any{"Reflected XSS"}, attrs["detectify.scan.limited_titles"])
		} else {
			assert.NotContains(t, attrs, "detectify.scan.limit_reached", "finding %d", i+1)
		}
	}
	h.setNow(testNow.Add(30 * time.Minute))
	h.postOK([]byte(`{"type":"event_scan_finished","domain":"limits.example.com","report_url":"https://detectify.com/report/t/s1","critical_findings":40,"medium_findings":2,"notice_findings":9}`))
	records = h.logs.records()
	attrs := recordAttributes(records[len(records)-1])
	assert.Equal(t, int64(11), attrs["detectify.scan.findings.delivered"])
	assert.Equal(t, int64(31), attrs["detectify.scan.findings.undelivered"])
	assert.Equal(t, []any{"per_type"}, attrs["detectify.scan.limit_reached"])
	assert.Equal(t, []any{"Reflected XSS"}, attrs["detectify.scan.limited_titles"])
	assert.Equal(t, 1800.0, attrs["detectify.scan.duration"])
	assert.NotContains(t, attrs, "detectify.scan.partial")
}

// A finished scan whose start this receiver did not see says so instead of
// guessing what was withheld.
func TestFinishedRecordOfAnUnseenStartIsPartial(t *testing.T) {
	h := newHarness(t, nil)
	h.postOK(seedFinding, seedScanFinished)
	attrs := recordAttributes(h.logs.records()[1])
	assert.Equal(t, true, attrs["detectify.scan.partial"])
	assert.Equal(t, int64(1), attrs["detectify.scan.findings.delivered"])
	assert.NotContains(t, attrs, "detectify.scan.findings.undelivered")
	assert.NotContains(t, attrs, "detectify.scan.duration")
}

func stalledRecords(h *harness) []plog.LogRecord {
	var out []plog.LogRecord
	for _, lr := range h.logs.records() {
		if lr.EventName() == eventNameScanStalled {
			out = append(out, lr)
		}
	}
	return out
}

// A scan open longer than stale_scan_after is reported once, as a WARN
// record, and no longer counts as open.
func TestStalledScanIsReportedOnce(t *testing.T) {
	h := newHarness(t, nil)
	h.postOK(seedScanStarted)
	h.setNow(testNow.Add(47 * time.Hour))
	h.interval()
	assert.Empty(t, stalledRecords(h))
	assert.Equal(t, 1.0, h.metrics.current(t)["detectify.scans.open{detectify.domain=my.domain}"])

	h.setNow(testNow.Add(49 * time.Hour))
	h.interval()
	stalled := stalledRecords(h)
	require.Len(t, stalled, 1)
	lr := stalled[0]
	assert.Equal(t, plog.SeverityNumberWarn, lr.SeverityNumber())
	assert.Equal(t, map[string]any{
		"detectify.domain":        "my.domain",
		"detectify.scan.id":       "ffffffffffffffffffffffffffffffffffffffff",
		"detectify.scan.duration": 49 * 3600.0,
	}, recordAttributes(lr))
	assert.Contains(t, lr.Body().Str(), "has been open for 49h0m0s")
	h.interval()
	assert.Equal(t, 0.0, h.metrics.current(t)["detectify.scans.open{detectify.domain=my.domain}"], "no longer open")

	h.setNow(testNow.Add(50 * time.Hour))
	h.interval()
	assert.Len(t, stalledRecords(h), 1, "once per scan")
}

// A stalled scan's record that the logs pipeline refuses for now is
// reported at the next interval.
func TestStalledRecordRefusedIsReportedAgain(t *testing.T) {
	h := newHarness(t, nil)
	h.postOK(seedScanStarted)
	h.setNow(testNow.Add(49 * time.Hour))
	h.logs.set(errors.New("logs pipeline full"))
	h.interval()
	assert.Empty(t, stalledRecords(h))
	h.interval()
	assert.Len(t, stalledRecords(h), 1)
}

func TestStaleScanAfterZeroDisablesTheReport(t *testing.T) {
	h := newHarness(t, func(cfg *Config) { cfg.StaleScanAfter = 0 })
	h.postOK(seedScanStarted)
	h.setNow(testNow.Add(365 * 24 * time.Hour))
	h.interval()
	assert.Empty(t, stalledRecords(h))
}

// max_open_scans bounds the scans followed; the oldest go first, counted
// in the component's telemetry.
func TestOpenScansBeyondTheBoundAreEvictedAndCounted(t *testing.T) {
	h := newHarness(t, func(cfg *Config) { cfg.MaxOpenScans = 2 })
	for i := range 3 {
		h.postOK([]byte(fmt.Sprintf(`{"type":"event_scan_started","domain":"d%d.example","report_url":"https://detectify.com/report/t/s%d"}`, i, i)))
	}
	h.interval()
	assert.Equal(t, map[string]int64{"": 1}, h.telemetrySum("otelcol_receiver_detectify_scans_evicted", ""))
	got := h.metrics.current(t)
	assert.Equal(t, 0.0, got["detectify.scans.open{detectify.domain=d0.example}"], "the oldest was evicted")
	assert.Equal(t, 1.0, got["detectify.scans.open{detectify.domain=d2.example}"])
}
