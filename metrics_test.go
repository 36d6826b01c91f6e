package detectifyreceiver

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/detectify-otel/detectifyreceiver/internal/metadata"
)

func TestFirstSeenDomainStartsHighAndMediumAtZero(t *testing.T) {
	h := newHarness(t, nil)

	require.Equal(t, http.StatusOK, h.post([]byte(`{"type":"event_scan_started","domain":"new.example"}`)).status)

	assert.Equal(t, map[string]int64{
		"detectify.findings{detectify.domain=new.example,detectify.finding.severity=high}":   0,
		"detectify.findings{detectify.domain=new.example,detectify.finding.severity=medium}": 0,
		"detectify.scans{detectify.domain=new.example,detectify.scan.state=started}":         1,
	}, h.metrics.last(t))
}

func TestFindingLevelsAreCountedGenerically(t *testing.T) {
	h := newHarness(t, nil)
	messages := []string{
		`{"type":"event_finding_low","domain":"a.example","title":"1"}`,
		`{"type":"event_finding_low","domain":"a.example","title":"2"}`,
		`{"type":"event_finding_critical","domain":"a.example","title":"3"}`,
		`{"type":"event_finding_medium","domain":"a.example","severity":"HIGH","title":"4"}`, // payload severity wins
		`{"type":"event_scan_paused","domain":"a.example"}`,
		`{"type":"event_report_ready","domain":"a.example"}`, // counted nowhere, but the domain is seen
	}
	for _, m := range messages {
		require.Equal(t, http.StatusOK, h.post([]byte(m)).status, m)
	}

	assert.Equal(t, map[string]int64{
		"detectify.findings{detectify.domain=a.example,detectify.finding.severity=critical}": 1,
		"detectify.findings{detectify.domain=a.example,detectify.finding.severity=high}":     1,
		"detectify.findings{detectify.domain=a.example,detectify.finding.severity=low}":      2,
		"detectify.findings{detectify.domain=a.example,detectify.finding.severity=medium}":   0,
		"detectify.scans{detectify.domain=a.example,detectify.scan.state=paused}":            1,
	}, flattenMetrics(t, h.rcv.metrics.snapshotAll(testNow)))
}

func TestLastFinishedScanReplacesTheGauge(t *testing.T) {
	h := newHarness(t, nil)
	for _, m := range []string{
		`{"type":"event_scan_finished","domain":"b.example","report_url":"r1","critical_findings":3,"medium_findings":1,"notice_findings":0}`,
		`{"type":"event_scan_finished","domain":"b.example","report_url":"r2","critical_findings":0,"medium_findings":5,"notice_findings":2}`,
	} {
		require.Equal(t, http.StatusOK, h.post([]byte(m)).status)
	}

	series := h.metrics.last(t)
	assert.Equal(t, int64(0), series["detectify.scan.findings{detectify.domain=b.example,detectify.finding.category=critical}"])
	assert.Equal(t, int64(5), series["detectify.scan.findings{detectify.domain=b.example,detectify.finding.category=medium}"])
	assert.Equal(t, int64(2), series["detectify.scan.findings{detectify.domain=b.example,detectify.finding.category=notice}"])
	assert.Equal(t, int64(2), series["detectify.scans{detectify.domain=b.example,detectify.scan.state=finished}"])
}

// TestEventCarriesTheSeriesItMoved: a domain's first event sends all its
// series (their zeros must be exported before any increase); later events
// send only what they changed, and other domains' series never.
func TestEventCarriesTheSeriesItMoved(t *testing.T) {
	h := newHarness(t, nil)
	tests := []struct {
		name    string
		message string
		want    map[string]int64 // nil: the metrics pipeline is not called
	}{
		{
			name:    "first event of a domain: all its series",
			message: `{"type":"event_scan_started","domain":"one.example"}`,
			want: map[string]int64{
				"detectify.findings{detectify.domain=one.example,detectify.finding.severity=high}":   0,
				"detectify.findings{detectify.domain=one.example,detectify.finding.severity=medium}": 0,
				"detectify.scans{detectify.domain=one.example,detectify.scan.state=started}":         1,
			},
		},
		{
			name:    "another domain: none of the first one's",
			message: `{"type":"event_scan_started","domain":"two.example"}`,
			want: map[string]int64{
				"detectify.findings{detectify.domain=two.example,detectify.finding.severity=high}":   0,
				"detectify.findings{detectify.domain=two.example,detectify.finding.severity=medium}": 0,
				"detectify.scans{detectify.domain=two.example,detectify.scan.state=started}":         1,
			},
		},
		{
			name:    "a finding: its level's series only",
			message: `{"type":"event_finding_high","domain":"one.example","title":"a"}`,
			want: map[string]int64{
				"detectify.findings{detectify.domain=one.example,detectify.finding.severity=high}": 1,
			},
		},
		{
			name:    "a finding of a new level",
			message: `{"type":"event_finding_low","domain":"one.example","title":"b"}`,
			want: map[string]int64{
				"detectify.findings{detectify.domain=one.example,detectify.finding.severity=low}": 1,
			},
		},
		{
			name:    "a finished scan: its state's series and the last scan's counts",
			message: `{"type":"event_scan_finished","domain":"one.example","critical_findings":0,"medium_findings":1,"notice_findings":2}`,
			want: map[string]int64{
				"detectify.scans{detectify.domain=one.example,detectify.scan.state=finished}":               1,
				"detectify.scan.findings{detectify.domain=one.example,detectify.finding.category=critical}": 0,
				"detectify.scan.findings{detectify.domain=one.example,detectify.finding.category=medium}":   1,
				"detectify.scan.findings{detectify.domain=one.example,detectify.finding.category=notice}":   2,
			},
		},
		{
			name:    "an event that moves no series",
			message: `{"type":"event_report_ready","domain":"one.example"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := h.metrics.callCount()
			require.Equal(t, http.StatusOK, h.post([]byte(tt.message)).status)
			if tt.want == nil {
				assert.Equal(t, calls, h.metrics.callCount())
				return
			}
			assert.Equal(t, tt.want, h.metrics.last(t))
		})
	}
}

// TestMetricsIntervalReemitsEverySeries waits for a periodic emission: it
// checks that one happens, never how fast.
func TestMetricsIntervalReemitsEverySeries(t *testing.T) {
	h := newHarness(t, func(cfg *Config) { cfg.MetricsInterval = time.Second })
	require.Equal(t, http.StatusOK, h.post([]byte(`{"type":"event_scan_started","domain":"one.example"}`)).status)
	require.Equal(t, http.StatusOK, h.post(readSeed(t, "finding_high")).status)
	eventEmissions := len(h.metrics.emissions())

	require.Eventually(t, func() bool { return len(h.metrics.emissions()) > eventEmissions }, 30*time.Second, 20*time.Millisecond)

	periodic := flattenMetrics(t, h.metrics.emissions()[eventEmissions])
	assert.Equal(t, flattenMetrics(t, h.rcv.metrics.snapshotAll(testNow)), periodic)
	assert.Contains(t, periodic, "detectify.scans{detectify.domain=one.example,detectify.scan.state=started}")
	assert.Contains(t, periodic, highFindings)
}

func TestNoPeriodicEmissionBeforeAnyDomain(t *testing.T) {
	s := newMetricState(receiverSettingsForTest(t), metadata.DefaultMetricsBuilderConfig(), testNow)
	assert.Equal(t, 0, s.snapshotAll(testNow).DataPointCount())
}

// TestMetricStateGrowsWithDomainsNotEvents checks the memory model: many
// events on few domains keep few series.
func TestMetricStateGrowsWithDomainsNotEvents(t *testing.T) {
	s := newMetricState(receiverSettingsForTest(t), metadata.DefaultMetricsBuilderConfig(), testNow)
	for i := range 10_000 {
		w := webhook{
			eventType: optional[string]{value: "event_finding_high", ok: true},
			domain:    optional[string]{value: fmt.Sprintf("d%d.example", i%3), ok: true},
		}
		s.record(classify(&w))
	}
	assert.Len(t, s.domains, 3)
	md := s.snapshotAll(testNow)
	assert.Equal(t, 6, md.DataPointCount(), "high and medium for each of 3 domains")
	assert.Equal(t, int64(3334), flattenMetrics(t, md)["detectify.findings{detectify.domain=d0.example,detectify.finding.severity=high}"])
}

func TestDisabledEventsAndMetricsAreNotEmitted(t *testing.T) {
	h := newHarness(t, func(cfg *Config) {
		cfg.Events.DetectifyScanStarted.Enabled = false
		cfg.Metrics.DetectifyScans.Enabled = false
	})

	resp := h.post(readSeed(t, "scan_started"))

	require.Equal(t, http.StatusOK, resp.status)
	assert.JSONEq(t, `{"status":"accepted"}`, resp.body)
	assert.Empty(t, h.logs.records(), "the disabled event is not emitted")
	assert.Zero(t, h.logs.callCount(), "nor is the logs pipeline called with nothing")
	assert.Equal(t, map[string]int64{
		"detectify.findings{detectify.domain=my.domain,detectify.finding.severity=high}":   0,
		"detectify.findings{detectify.domain=my.domain,detectify.finding.severity=medium}": 0,
	}, h.metrics.last(t), "detectify.scans is disabled")

	require.Equal(t, http.StatusOK, h.post(readSeed(t, "finding_high")).status)
	assert.Len(t, h.logs.records(), 1, "other events still are")
}

func TestWebhooksWithoutDomainAreLoggedNotCounted(t *testing.T) {
	h := newHarness(t, nil)

	require.Equal(t, http.StatusOK, h.post([]byte(`{"type":"event_test_ping"}`)).status)
	require.Equal(t, http.StatusOK, h.post([]byte(`{"type":"event_finding_high","domain":""}`)).status)

	assert.Len(t, h.logs.records(), 2)
	assert.Zero(t, h.metrics.callCount(), "nothing to count, so the metrics pipeline is not called")
	assert.Zero(t, h.rcv.metrics.snapshotAll(testNow).DataPointCount())
}

// TestEventEmissionCostDoesNotGrowWithDomains: a metrics builder sizes its
// emissions by the largest it made, so the per-event emission must not
// share one with the all-domains emission.
func TestEventEmissionCostDoesNotGrowWithDomains(t *testing.T) {
	s := newMetricState(receiverSettingsForTest(t), metadata.DefaultMetricsBuilderConfig(), testNow)
	finding := func(domain string) event {
		w := webhook{eventType: optional[string]{value: "event_finding_high", ok: true}, domain: optional[string]{value: domain, ok: true}}
		return classify(&w)
	}
	record := func(domain string) { s.record(finding(domain)) }
	bytesPerEmission := func() uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 100 {
			_ = s.snapshotEvent(finding("d0.example"), true, testNow)
		}
		runtime.ReadMemStats(&after)
		return (after.TotalAlloc - before.TotalAlloc) / 100
	}
	record("d0.example")
	small := bytesPerEmission()

	for i := range 5000 {
		record(fmt.Sprintf("d%d.example", i))
	}
	_ = s.snapshotAll(testNow)

	assert.Less(t, bytesPerEmission(), 3*small, "one domain's emission after 5,000 domains vs with one (%d bytes)", small)
}

// TestStateDoesNotPinBodies: parsed strings are slices of the body's text,
// so what the state keeps for good (domain and level names) must be copies,
// or every new domain would keep a whole body in memory.
func TestStateDoesNotPinBodies(t *testing.T) {
	s := newMetricState(receiverSettingsForTest(t), metadata.DefaultMetricsBuilderConfig(), testNow)
	text := `{"type":"event_finding_low","domain":"a.example","title":"` + strings.Repeat("x", 4096) + `"}`
	w, err := parseText(text)
	require.NoError(t, err)
	e := classify(&w)
	s.record(e)

	// Else this test proves nothing:
	require.True(t, isSliceOf(e.domain.value, text), "the parsed domain is a slice of the text")
	require.True(t, isSliceOf(e.findingLevel, text), "the level is a slice of the text")
	for domain, d := range s.domains {
		assert.False(t, isSliceOf(domain, text), "the domain key %q pins the body", domain)
		for _, f := range d.findings {
			assert.False(t, isSliceOf(f.name, text), "the level %q pins the body", f.name)
		}
	}
}
