package detectifyreceiver

import (
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
)

const highFindings = "detectify.findings{detectify.domain=my.domain,detectify.finding.severity=high}"

func TestRedeliveryIsAcknowledgedNotEmittedTwice(t *testing.T) {
	h := newHarness(t, nil)
	finding := readSeed(t, "finding_high")

	first := h.post(finding)
	second := h.post(finding)

	assert.Equal(t, http.StatusOK, first.status)
	assert.JSONEq(t, `{"status":"accepted"}`, first.body)
	assert.Equal(t, http.StatusOK, second.status)
	assert.JSONEq(t, `{"status":"duplicate"}`, second.body)
	assert.Len(t, h.logs.records(), 1)
	assert.Len(t, h.metrics.emissions(), 1)
	assert.Equal(t, int64(1), h.metrics.last(t)[highFindings])
	assert.Equal(t, map[string]int64{"accepted": 1, "duplicate": 1}, h.outcomeCounts())
}

func TestRedeliveryAfterPartialFailureEmitsOnlyWhatIsMissing(t *testing.T) {
	h := newHarness(t, nil)
	finding := readSeed(t, "finding_high")
	h.metrics.set(errors.New("metrics pipeline full"))

	first := h.post(finding)
	require.Equal(t, http.StatusServiceUnavailable, first.status)
	require.Len(t, h.logs.records(), 1, "logs accepted on the first try")
	require.Empty(t, h.metrics.emissions(), "metrics refused on the first try")

	retry := h.post(finding)
	require.Equal(t, http.StatusOK, retry.status)
	assert.Len(t, h.logs.records(), 1, "the retry must not emit the log record again")
	assert.Equal(t, 1, h.logs.callCount(), "the logs pipeline is not called on the retry")
	assert.Equal(t, map[string]int64{
		highFindings: 1,
		"detectify.findings{detectify.domain=my.domain,detectify.finding.severity=medium}": 0,
	}, h.metrics.last(t), "the finding is counted once, and the retry of a domain's first event still sends its zero series")

	again := h.post(finding)
	assert.JSONEq(t, `{"status":"duplicate"}`, again.body)
	assert.Equal(t, 2, h.metrics.callCount())
}

func TestRedeliveryAfterLogsFailureCountsOnce(t *testing.T) {
	h := newHarness(t, nil)
	finding := readSeed(t, "finding_high")
	h.logs.set(errors.New("logs pipeline full"))

	require.Equal(t, http.StatusServiceUnavailable, h.post(finding).status)
	require.Equal(t, http.StatusOK, h.post(finding).status)

	assert.Len(t, h.logs.records(), 1)
	assert.Len(t, h.metrics.emissions(), 1, "metrics were settled by the first try")
	assert.Equal(t, int64(1), h.metrics.last(t)[highFindings])
}

func TestPermanentRefusalIsNotRetried(t *testing.T) {
	h := newHarness(t, nil)
	finding := readSeed(t, "finding_high")
	h.logs.set(consumererror.NewPermanent(errors.New("rejected by a processor")))

	first := h.post(finding)
	assert.Equal(t, http.StatusBadRequest, first.status)
	second := h.post(finding)
	assert.JSONEq(t, `{"status":"duplicate"}`, second.body, "a permanent refusal is settled: retrying cannot help")
	assert.Equal(t, 1, h.logs.callCount())
	assert.Empty(t, h.logs.records())
}

func TestDedupWindowZeroEmitsEveryDelivery(t *testing.T) {
	h := newHarness(t, func(cfg *Config) { cfg.DedupWindow = 0 })
	finding := readSeed(t, "finding_high")

	for range 3 {
		require.Equal(t, http.StatusOK, h.post(finding).status)
	}
	assert.Len(t, h.logs.records(), 3)
	assert.Equal(t, int64(3), h.metrics.last(t)[highFindings])
}

func TestIdenticalDeliveryInFlightIsAskedToRetry(t *testing.T) {
	h := newHarness(t, nil)
	finding := readSeed(t, "finding_high")
	firstDone, release := h.postBlockedInLogs(finding)

	concurrent := h.post(finding)
	assert.Equal(t, http.StatusServiceUnavailable, concurrent.status)
	assert.Equal(t, "1", concurrent.header.Get("Retry-After"))
	assert.Contains(t, concurrent.body, "identical delivery")

	release()
	assert.Equal(t, http.StatusOK, (<-firstDone).status)
	assert.JSONEq(t, `{"status":"duplicate"}`, h.post(finding).body)
	assert.Len(t, h.logs.records(), 1)
}

// TestPanickingPipelineDoesNotWedgeTheDelivery: net/http survives a panic in
// a handler; the delivery must not stay marked in flight, or every
// redelivery of that body would get 503 until a restart.
func TestPanickingPipelineDoesNotWedgeTheDelivery(t *testing.T) {
	h := newHarness(t, nil)
	finding := readSeed(t, "finding_high")
	var once sync.Once
	h.logs.before = func() { once.Do(func() { panic("exporter bug") }) }

	_, err := h.client.Do(h.newRequest(finding))
	require.Error(t, err, "the server drops the connection of a panicking handler")

	retry := h.post(finding)
	assert.Equal(t, http.StatusOK, retry.status, retry.body)
	assert.Len(t, h.logs.records(), 1)
}
