package detectifyreceiver

import (
	"bytes"
	"flag"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/plogtest"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/detectify-otel/detectifyreceiver/internal/message"
	"github.com/detectify-otel/detectifyreceiver/internal/metadata"
	"github.com/detectify-otel/detectifyreceiver/internal/seed"
	"github.com/detectify-otel/detectifyreceiver/internal/state"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// step is one webhook of a golden scenario, received at offset after
// testNow.
type step struct {
	body   []byte
	offset time.Duration
}

// goldenScenarios are what the golden files hold: the seed's messages in
// both formats, the documented current-format example as published and
// as copied from the page, and every level.
func goldenScenarios() map[string][]step {
	classic := seed.Classic() // started, finding, finished
	current := seed.Current() // started, finding, completed, asset change
	levels := func(format string) []step {
		var steps []step
		for i, level := range []string{"critical", "high", "medium", "low", "information", "unheard-of"} {
			body := fmt.Sprintf(`{"type":"event_finding_%s","domain":"levels.example.com","title":"t%d"}`, level, i)
			if format == "current" {
				body = fmt.Sprintf(`{"event_type":"finding","finding":{"asset":"levels.example.com","severity":%q,"title":"t%d"}}`, level, i)
			}
			steps = append(steps, step{body: []byte(body)})
		}
		return steps
	}
	return map[string][]step{
		"classic_seed_scan": {
			{classic[0].Body, 0}, {classic[1].Body, time.Minute}, {classic[2].Body, 90 * time.Minute},
		},
		"current_seed_scan": {
			{current[0].Body, 0}, {current[1].Body, 30 * time.Minute}, {current[2].Body, 70 * time.Minute}, {current[3].Body, 2 * time.Hour},
		},
		"current_example_verbatim": {{seed.Get("current/finding"), 0}},
		"current_example_nbsp":     {{seed.Get("current/finding_nbsp"), 0}},
		"classic_levels":           levels("classic"),
		"current_levels":           levels("current"),
	}
}

// TestGoldenRecords holds what each scenario's webhooks become, record by
// record. Regenerate with `go test -run TestGolden -update` and read the
// diff: the files are the contract users' queries depend on.
func TestGoldenRecords(t *testing.T) {
	for name, steps := range goldenScenarios() {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, nil)
			for _, s := range steps {
				h.setNow(testNow.Add(s.offset))
				h.postOK(s.body)
			}
			got := plog.NewLogs()
			for _, ld := range h.logs.batches() {
				ld.ResourceLogs().MoveAndAppendTo(got.ResourceLogs())
			}
			path := filepath.Join("testdata", "golden", name+".logs.yaml")
			if *updateGolden {
				require.NoError(t, golden.WriteLogs(t, path, got))
			}
			want, err := golden.ReadLogs(path)
			require.NoError(t, err)
			require.NoError(t, plogtest.CompareLogs(want, got))
			// CompareLogs leaves out the event name: it is an API too.
			for i, lr := range h.logs.records() {
				wantRecord := want.ResourceLogs().At(i).ScopeLogs().At(0).LogRecords().At(0)
				assert.Equal(t, wantRecord.EventName(), lr.EventName(), "record %d", i)
			}
		})
	}
}

// TestGoldenMetrics holds every series the classic seed scan leaves, as an
// interval emission sends them.
func TestGoldenMetrics(t *testing.T) {
	h := newHarness(t, nil)
	for _, s := range goldenScenarios()["classic_seed_scan"] {
		h.setNow(testNow.Add(s.offset))
		h.postOK(s.body)
	}
	h.setNow(testNow.Add(2 * time.Hour))
	h.interval()
	emissions := h.metrics.emissions()
	require.Len(t, emissions, 1)
	path := filepath.Join("testdata", "golden", "classic_seed_scan.metrics.yaml")
	if *updateGolden {
		require.NoError(t, golden.WriteMetrics(t, path, emissions[0], golden.SkipMetricTimestampNormalization()))
	}
	want, err := golden.ReadMetrics(path)
	require.NoError(t, err)
	require.NoError(t, pmetrictest.CompareMetrics(want, emissions[0], pmetrictest.IgnoreMetricDataPointsOrder()))
}

// The five levels stay apart by SeverityNumber, in the order the issue
// asks for, and each backend's word for them is the SeverityText.
func TestSeverities(t *testing.T) {
	tests := []struct {
		level  string
		number plog.SeverityNumber
		text   string
	}{
		{"critical", plog.SeverityNumberFatal, "critical"},
		{"high", plog.SeverityNumberError, "error"},
		{"medium", plog.SeverityNumberWarn, "warn"},
		{"low", plog.SeverityNumberInfo2, "info"},
		{"information", plog.SeverityNumberInfo, "info"},
		{"Critical", plog.SeverityNumberFatal, "critical"},
		{"unheard-of", plog.SeverityNumberInfo, "info"},
	}
	h := newHarness(t, nil)
	for i, tt := range tests {
		h.postOK([]byte(fmt.Sprintf(`{"event_type":"finding","finding":{"asset":"a.com","severity":%q,"title":"t%d"}}`, tt.level, i)))
		lr := h.logs.records()[i]
		assert.Equal(t, tt.number, lr.SeverityNumber(), tt.level)
		assert.Equal(t, tt.text, lr.SeverityText(), tt.level)
	}
	number := func(level string) plog.SeverityNumber { return levelSeverities[level].number }
	assert.Greater(t, number("critical"), number("high"))
	assert.True(t, number("high") >= plog.SeverityNumberError && number("high") < plog.SeverityNumberFatal, "high is an error")
	assert.True(t, number("medium") >= plog.SeverityNumberWarn && number("medium") < plog.SeverityNumberError, "medium is a warning")
	assert.LessOrEqual(t, number("low"), plog.SeverityNumberInfo4)
	assert.Less(t, number("information"), number("low"))

	for _, body := range [][]byte{seedScanStarted, seedScanFinished, seed.Get("current/asset_changed")} {
		h.postOK(body)
		records := h.logs.records()
		lr := records[len(records)-1]
		assert.Equal(t, plog.SeverityNumberInfo, lr.SeverityNumber(), "events that are not findings are INFO")
	}
}

// A valid RFC 3339 timestamp is when the event happened; the receipt stays
// the observed time. An invalid one is noted like any field of the wrong
// type.
func TestRecordTimestamps(t *testing.T) {
	h := newHarness(t, nil)
	h.postOK(seed.Get("current/finding"))
	h.postOK([]byte(`{"event_type":"finding","timestamp":"yesterday","finding":{"asset":"a.com"}}`))
	records := h.logs.records()
	require.Len(t, records, 2)
	assert.Equal(t, time.Date(2025, 1, 15, 14, 30, 0, 0, time.UTC), records[0].Timestamp().AsTime())
	assert.Equal(t, testNow, records[0].ObservedTimestamp().AsTime())
	assert.Equal(t, testNow, records[1].Timestamp().AsTime())
	assert.Equal(t, []any{"timestamp"}, records[1].Attributes().AsRaw()["detectify.payload.invalid_fields"])
}

// TestRecordAttributeCountsAreExact: a record's attribute array is sized
// by recordAttributeCount and insightAttributeCount before anything is
// written; each must count what putRecord and putInsight write, or the
// array is allocated twice (too small) or larger than it needs.
func TestRecordAttributeCountsAreExact(t *testing.T) {
	bodies := [][]byte{
		// a field of the wrong type (InvalidFields), and a subject field
		// that would overwrite the receiver's own (DroppedFields)
		[]byte(`{"type":"event_finding_high","domain":"a.example","cvss_score":"high","tags":"x"}`),
		[]byte(`{"event_type":"finding","finding":{"asset":"a.example","severity":"low","source":"scanner"}}`),
	}
	for _, scenario := range goldenScenarios() {
		for _, s := range scenario {
			bodies = append(bodies, s.body)
		}
	}
	one, half := int64(1), 0.5
	insights := []state.Insight{
		{},
		{Delivered: &one, Undelivered: &one, Partial: true, LimitReached: []string{state.LimitPerScan},
			LimitedTitles: []string{"XSS"}, Duration: &half},
		{Delivered: &one, LimitReached: []string{state.LimitPerType}},
	}
	tr := newRecordTranslator(receivertest.NewNopSettings(metadata.Type), testConfig())
	for _, body := range bodies {
		e, err := message.Parse(bytes.Clone(body))
		require.NoError(t, err, "%s", body)
		for _, in := range insights {
			ld := tr.webhookLogs(&e, in, string(body), testNow)
			attrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes()
			assert.Equal(t, recordAttributeCount(&e)+insightAttributeCount(in), attrs.Len(), "%s with %+v", body, in)
		}
	}
}
