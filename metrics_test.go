package detectifyreceiver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/detectify-otel/detectifyreceiver/internal/metadata"
)

const highFindings = "detectify.findings{detectify.domain=my.domain,detectify.finding.severity=high}"

func TestFirstSeenDomainStartsCriticalHighAndMediumAtZero(t *testing.T) {
	h := newHarness(t, nil)
	h.postOK([]byte(`{"type":"event_scan_started","domain":"new.example"}`))
	h.flush()
	assert.Equal(t, map[string]float64{
		"detectify.findings{detectify.domain=new.example,detectify.finding.severity=critical}": 0,
		"detectify.findings{detectify.domain=new.example,detectify.finding.severity=high}":     0,
		"detectify.findings{detectify.domain=new.example,detectify.finding.severity=medium}":   0,
		"detectify.scans{detectify.domain=new.example,detectify.scan.state=started}":           1,
		"detectify.scans{detectify.domain=new.example,detectify.scan.state=stalled}":           0,
		"detectify.scans.open{detectify.domain=new.example}":                                   1,
	}, h.metrics.current(t))
}

func TestFindingLevelsAreCountedAsTheyArrive(t *testing.T) {
	h := newHarness(t, nil)
	for _, m := range []string{
		`{"type":"event_finding_low","domain":"a.example","title":"1"}`,
		`{"type":"event_finding_low","domain":"a.example","title":"2"}`,
		`{"type":"event_finding_critical","domain":"a.example","title":"3"}`,
		`{"type":"event_finding_medium","domain":"a.example","severity":"HIGH","title":"4"}`, // payload severity wins
		`{"event_type":"finding","finding":{"asset":"a.example","severity":"Information","title":"5"}}`,
		`{"type":"event_scan_paused","domain":"a.example"}`,
		`{"type":"event_report_ready","domain":"a.example"}`, // counted nowhere
		`{"type":"event_finding_high","title":"no domain"}`,  // logged, not counted
	} {
		h.postOK([]byte(m))
	}
	h.flush()
	assert.Equal(t, map[string]float64{
		"detectify.findings{detectify.domain=a.example,detectify.finding.severity=critical}":    1,
		"detectify.findings{detectify.domain=a.example,detectify.finding.severity=high}":        1,
		"detectify.findings{detectify.domain=a.example,detectify.finding.severity=information}": 1,
		"detectify.findings{detectify.domain=a.example,detectify.finding.severity=low}":         2,
		"detectify.findings{detectify.domain=a.example,detectify.finding.severity=medium}":      0,
		"detectify.scans{detectify.domain=a.example,detectify.scan.state=paused}":               1,
	}, h.metrics.current(t))
	assert.Len(t, h.logs.records(), 8, "every webhook is a record")
}

func TestLastFinishedScanReplacesTheGauges(t *testing.T) {
	h := newHarness(t, nil)
	h.postOK([]byte(`{"type":"event_scan_started","domain":"b.example","report_url":"https://detectify.com/report/t/s1"}`))
	h.setNow(testNow.Add(10 * time.Minute))
	h.postOK([]byte(`{"type":"event_scan_finished","domain":"b.example","report_url":"https://detectify.com/report/t/s1","critical_findings":3,"medium_findings":1,"notice_findings":0}`))
	h.flush()
	got := h.metrics.current(t)
	assert.Equal(t, 4.0, got["detectify.scan.findings.undelivered{detectify.domain=b.example}"])
	assert.Equal(t, 600.0, got["detectify.scan.duration{detectify.domain=b.example}"])
	assert.Equal(t, 0.0, got["detectify.scans.open{detectify.domain=b.example}"], "0 once none is open")

	// The next scan's start was not seen: its counts replace the gauges,
	// its withheld count and duration would be guesses and are not sent.
	h.postOK([]byte(`{"type":"event_scan_finished","domain":"b.example","report_url":"https://detectify.com/report/t/s2","critical_findings":0,"medium_findings":5,"notice_findings":2}`))
	h.interval()
	last := flattenMetrics(t, h.metrics.emissions()[len(h.metrics.emissions())-1])
	assert.Equal(t, 5.0, last["detectify.scan.findings{detectify.domain=b.example,detectify.finding.category=medium}"])
	assert.Equal(t, 0.0, last["detectify.scan.findings{detectify.domain=b.example,detectify.finding.category=critical}"])
	assert.NotContains(t, last, "detectify.scan.findings.undelivered{detectify.domain=b.example}")
	assert.NotContains(t, last, "detectify.scan.duration{detectify.domain=b.example}")
}

// Webhooks change series; the flush tick sends the changes of many webhooks
// in one emission, and only the domains they touched.
func TestFlushCoalescesWebhooks(t *testing.T) {
	h := newHarness(t, nil)
	h.postOK([]byte(`{"type":"event_scan_started","domain":"quiet.example"}`))
	h.flush()
	require.Len(t, h.metrics.emissions(), 1)
	for i := range 10 {
		h.postOK([]byte(fmt.Sprintf(`{"type":"event_finding_high","domain":"busy.example","title":"t%d"}`, i)))
	}
	assert.Len(t, h.metrics.emissions(), 1, "webhooks do not emit metrics themselves")
	h.flush()
	emissions := h.metrics.emissions()
	require.Len(t, emissions, 2, "ten webhooks, one emission")
	got := flattenMetrics(t, emissions[1])
	assert.Equal(t, 10.0, got["detectify.findings{detectify.domain=busy.example,detectify.finding.severity=high}"])
	for series := range got {
		assert.NotContains(t, series, "quiet.example", "an unchanged domain waits for the interval")
	}
	h.flush()
	assert.Len(t, h.metrics.emissions(), 2, "nothing changed, nothing sent")
}

// Every metrics_interval sends every series, so exporters that expire idle
// series keep quiet domains; before any domain, nothing.
func TestIntervalEmitsEverySeries(t *testing.T) {
	h := newHarness(t, nil)
	h.interval()
	assert.Empty(t, h.metrics.emissions(), "no domain yet")
	h.postOK([]byte(`{"type":"event_scan_started","domain":"a.example"}`), []byte(`{"type":"event_scan_started","domain":"b.example"}`))
	h.flush()
	h.interval()
	last := flattenMetrics(t, h.metrics.emissions()[len(h.metrics.emissions())-1])
	assert.Len(t, last, 12, "both domains' series")
}

// The timers run by themselves: with short intervals, a webhook's counts
// arrive without anyone calling flush.
func TestTimersEmitByThemselves(t *testing.T) {
	h := newHarness(t, func(cfg *Config) {
		cfg.MetricsFlushInterval = 10 * time.Millisecond
		cfg.MetricsInterval = time.Second
	})
	h.postOK(seedFinding)
	require.Eventually(t, func() bool { return h.metrics.current(t)[highFindings] == 1 }, 10*time.Second, 5*time.Millisecond)
	n := len(h.metrics.emissions())
	require.Eventually(t, func() bool { return len(h.metrics.emissions()) > n }, 10*time.Second, 10*time.Millisecond,
		"the interval emits again though nothing changed")
}

// A refusing metrics pipeline does not make Detectify retry webhooks whose
// records were accepted; the next flush carries the counts.
func TestRefusingMetricsPipelineIsHealedByTheNextFlush(t *testing.T) {
	h := newHarness(t, nil)
	h.metrics.set(errors.New("exporter queue full"))
	resp := h.post(seedFinding)
	assert.Equal(t, http.StatusOK, resp.status, "the webhook's record was accepted")
	h.flush()
	assert.Empty(t, h.metrics.emissions(), "refused")
	h.flush()
	assert.Equal(t, 1.0, h.metrics.current(t)[highFindings], "the next flush sends the same counts")
	assert.Len(t, h.logs.records(), 1)
}

func TestDisabledEventsAndMetricsAreNotEmitted(t *testing.T) {
	h := newHarness(t, func(cfg *Config) {
		cfg.Events.DetectifyFinding.Enabled = false
		cfg.Metrics.DetectifyScans.Enabled = false
	})
	h.postOK(seedScanStarted, seedFinding)
	h.flush()
	records := h.logs.records()
	require.Len(t, records, 1, "the finding's record is switched off")
	assert.Equal(t, eventNameScanStarted, records[0].EventName())
	got := h.metrics.current(t)
	assert.Equal(t, 1.0, got[highFindings], "the finding is still counted")
	for series := range got {
		assert.NotContains(t, series, "detectify.scans{")
	}
}

// Past max_domains, new domains are counted under one overflow series, a
// warning is logged once per interval and the component's telemetry counts
// the overflow; records are untouched.
func TestMaxDomainsOverflow(t *testing.T) {
	h := newHarness(t, func(cfg *Config) { cfg.MaxDomains = 2 })
	for i := range 5 {
		h.postOK([]byte(fmt.Sprintf(`{"type":"event_finding_high","domain":"d%d.example","title":"t"}`, i)))
	}
	h.interval()
	got := h.metrics.current(t)
	assert.Equal(t, 3.0, got["detectify.findings{detectify.domain=_other,detectify.finding.severity=high}"])
	assert.Equal(t, 1.0, got["detectify.findings{detectify.domain=d1.example,detectify.finding.severity=high}"])
	assert.NotContains(t, got, "detectify.findings{detectify.domain=d4.example,detectify.finding.severity=high}")
	assert.Equal(t, map[string]int64{"": 3}, h.telemetrySum("otelcol_receiver_detectify_domains_overflowed", ""))
	records := h.logs.records()
	require.Len(t, records, 5)
	assert.Equal(t, "d4.example", recordAttributes(records[4])["detectify.domain"], "records keep their domain")
}

// The bound holds with 100,000 domains: the state's memory and an
// interval's emission stay what they are at the cap.
func TestMaxDomainsBoundsMemoryAndEmission(t *testing.T) {
	r := newInProcess(t, func() *Config {
		cfg := testConfig()
		cfg.MaxDomains = 1_000
		cfg.DedupWindow = 0
		return cfg
	}())
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	post := func(from, to int) {
		for i := from; i < to; i++ {
			body := []byte(fmt.Sprintf(`{"type":"event_finding_high","domain":"d%06d.example","title":"t"}`, i))
			require.Equal(t, http.StatusOK, postInProcess(t, r, body))
		}
	}
	emission := func() int {
		sink := new(consumertest.MetricsSink)
		r.setConsumers(func(c *consumers) { c.metrics = sink })
		r.emitMetrics(context.Background(), true)
		return sink.DataPointCount()
	}
	post(0, 1_000)
	atCap, pointsAtCap := heap(), emission()
	post(1_000, 100_000)
	past, pointsPast := heap(), emission()
	t.Logf("heap at the cap %d KiB, after 100,000 domains %d KiB; points %d → %d", atCap>>10, past>>10, pointsAtCap, pointsPast)
	assert.Less(t, past, atCap+8<<20, "the state does not grow past the cap")
	assert.LessOrEqual(t, r.state.TakeTelemetry().Domains, 1_000+1, "domains counted: the cap and _other")
	assert.LessOrEqual(t, pointsPast, pointsAtCap+4, "one overflow domain more, no more")
}

// postInProcess sends body, signed, through the receiver's own handler.
func postInProcess(t testing.TB, r *detectifyReceiver, body []byte) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
	req.Header.Set(signatureHeader, signBody(testSecret, body))
	rec := httptest.NewRecorder()
	r.handleWebhook(rec, req)
	return rec.Code
}

func TestMetadataDeclaresTheCategories(t *testing.T) {
	for _, c := range []string{"critical", "high", "medium", "low", "information", "notice"} {
		_, ok := metadata.MapAttributeDetectifyFindingCategory[c]
		assert.True(t, ok, c)
	}
}
