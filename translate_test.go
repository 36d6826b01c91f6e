package detectifyreceiver

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/detectify-otel/detectifyreceiver/internal/metadata"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// receivedAt is when the seed messages arrive: a minute after the
// receiver started, so timestamps and start timestamps differ.
var receivedAt = testNow.Add(time.Minute)

// TestSeedMessagesBecomeLogRecords spells out what each example message of
// Detectify's documentation becomes.
func TestSeedMessagesBecomeLogRecords(t *testing.T) {
	tests := []struct {
		seed         string
		eventName    string
		severity     plog.SeverityNumber
		severityText string
		attributes   map[string]any
	}{
		{
			seed:         "scan_started",
			eventName:    "detectify.scan.started",
			severity:     plog.SeverityNumberInfo,
			severityText: "INFO",
			attributes: map[string]any{
				"detectify.event.type": "event_scan_started",
				"detectify.domain":     "my.domain",
				"detectify.report.url": seedReportURL,
				"detectify.scan.id":    seedScanID,
				"detectify.scan.state": "started",
			},
		},
		{
			seed:         "scan_finished",
			eventName:    "detectify.scan.finished",
			severity:     plog.SeverityNumberInfo,
			severityText: "INFO",
			attributes: map[string]any{
				"detectify.event.type":             "event_scan_finished",
				"detectify.domain":                 "my.domain",
				"detectify.report.url":             seedReportURL,
				"detectify.scan.id":                seedScanID,
				"detectify.scan.state":             "finished",
				"detectify.scan.findings.critical": int64(1),
				"detectify.scan.findings.medium":   int64(2),
				"detectify.scan.findings.notice":   int64(4),
			},
		},
		{
			seed:         "finding_high",
			eventName:    "detectify.finding",
			severity:     plog.SeverityNumberError,
			severityText: "ERROR",
			attributes: map[string]any{
				"detectify.event.type":         "event_finding_high",
				"detectify.domain":             "my.domain",
				"detectify.finding.url":        seedFindingURL,
				"detectify.finding.title":      "Login Cross Site Request Forgery (CSRF/XSRF)",
				"detectify.finding.severity":   "high",
				"detectify.finding.cvss_score": 6.2,
				"detectify.finding.tags":       []any{"new"},
				"detectify.scan.id":            seedScanID,
				"detectify.finding.id":         "00000000-0000-0000-0000-000000000000",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.seed, func(t *testing.T) {
			h := newHarness(t, nil)
			h.setNow(receivedAt)
			body := readSeed(t, tt.seed)

			require.Equal(t, http.StatusOK, h.post(body).status)

			logs := h.logs.batches()
			require.Len(t, logs, 1)
			rl := logs[0].ResourceLogs().At(0)
			assert.Equal(t, map[string]any{"service.name": "detectify"}, rl.Resource().Attributes().AsRaw())
			scope := rl.ScopeLogs().At(0).Scope()
			assert.Equal(t, metadata.ScopeName, scope.Name())
			records := h.logs.records()
			require.Len(t, records, 1)
			lr := records[0]
			assert.Equal(t, tt.eventName, lr.EventName())
			assert.Equal(t, tt.severity, lr.SeverityNumber())
			assert.Equal(t, tt.severityText, lr.SeverityText())
			assert.Equal(t, tt.attributes, lr.Attributes().AsRaw())
			assert.Equal(t, pcommon.ValueTypeStr, lr.Body().Type())
			assert.Equal(t, string(body), lr.Body().Str(), "the body is the payload exactly as received")
			assert.Equal(t, receivedAt, lr.Timestamp().AsTime())
			assert.Equal(t, receivedAt, lr.ObservedTimestamp().AsTime())

			checkGolden(t, tt.seed+".logs.json", logsJSON(t, logs[0]))
		})
	}
}

// TestSeedMessagesBecomeMetrics sends a scan as Detectify would (started,
// finding, finished) and checks every series.
func TestSeedMessagesBecomeMetrics(t *testing.T) {
	h := newHarness(t, nil)
	h.setNow(receivedAt)
	for _, seed := range seedMessages {
		require.Equal(t, http.StatusOK, h.post(readSeed(t, seed)).status)
	}

	md := h.rcv.metrics.snapshotAll(receivedAt)
	assert.Equal(t, map[string]int64{
		"detectify.findings{detectify.domain=my.domain,detectify.finding.severity=high}":          1,
		"detectify.findings{detectify.domain=my.domain,detectify.finding.severity=medium}":        0,
		"detectify.scans{detectify.domain=my.domain,detectify.scan.state=started}":                1,
		"detectify.scans{detectify.domain=my.domain,detectify.scan.state=finished}":               1,
		"detectify.scan.findings{detectify.domain=my.domain,detectify.finding.category=critical}": 1,
		"detectify.scan.findings{detectify.domain=my.domain,detectify.finding.category=medium}":   2,
		"detectify.scan.findings{detectify.domain=my.domain,detectify.finding.category=notice}":   4,
	}, flattenMetrics(t, md))
	assert.Equal(t, map[string]int64{
		"detectify.scans{detectify.domain=my.domain,detectify.scan.state=finished}":               1,
		"detectify.scan.findings{detectify.domain=my.domain,detectify.finding.category=critical}": 1,
		"detectify.scan.findings{detectify.domain=my.domain,detectify.finding.category=medium}":   2,
		"detectify.scan.findings{detectify.domain=my.domain,detectify.finding.category=notice}":   4,
	}, h.metrics.last(t), "the last event carries the series it moved")

	rm := md.ResourceMetrics().At(0)
	assert.Equal(t, map[string]any{"service.name": "detectify"}, rm.Resource().Attributes().AsRaw())
	assert.Equal(t, metadata.ScopeName, rm.ScopeMetrics().At(0).Scope().Name())
	for _, m := range rm.ScopeMetrics().At(0).Metrics().All() {
		switch m.Name() {
		case "detectify.findings", "detectify.scans":
			require.Equal(t, pmetric.MetricTypeSum, m.Type(), m.Name())
			assert.True(t, m.Sum().IsMonotonic(), m.Name())
			assert.Equal(t, pmetric.AggregationTemporalityCumulative, m.Sum().AggregationTemporality(), m.Name())
			for _, dp := range m.Sum().DataPoints().All() {
				assert.Equal(t, testNow, dp.StartTimestamp().AsTime(), "cumulative series start when the receiver started")
				assert.Equal(t, receivedAt, dp.Timestamp().AsTime())
			}
		case "detectify.scan.findings":
			require.Equal(t, pmetric.MetricTypeGauge, m.Type())
			assert.Equal(t, "{finding}", m.Unit())
		default:
			t.Errorf("unexpected metric %s", m.Name())
		}
	}
	checkGolden(t, "seed.metrics.json", metricsJSON(t, md))
}

func logsJSON(t *testing.T, ld plog.Logs) []byte {
	raw, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	return indentJSON(t, raw)
}

func metricsJSON(t *testing.T, md pmetric.Metrics) []byte {
	raw, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(md)
	require.NoError(t, err)
	return indentJSON(t, raw)
}

func indentJSON(t *testing.T, raw []byte) []byte {
	var buf bytes.Buffer
	require.NoError(t, json.Indent(&buf, raw, "", "  "))
	buf.WriteByte('\n')
	return buf.Bytes()
}

// checkGolden compares got with testdata/golden/name; -update rewrites it.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *updateGolden {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o600))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -run %s -update to create it", t.Name())
	assert.Equal(t, string(want), string(got), "differs from %s (review, then -update)", path)
}
