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

func TestRedeliveryIsAcknowledgedNotEmittedTwice(t *testing.T) {
	h := newHarness(t, nil)
	first, second := h.post(seedFinding), h.post(seedFinding)
	assert.Equal(t, answerText(answerAccepted), first.body)
	assert.Equal(t, answerText(answerDuplicate), second.body)
	assert.Len(t, h.logs.records(), 1)
	h.flush()
	assert.Equal(t, 1.0, h.metrics.current(t)[highFindings])
	assert.Equal(t, map[string]int64{"accepted": 1, "duplicate": 1}, h.outcomeCounts())
}

// A retry after the logs pipeline refused emits the record, and does not
// count the finding again.
func TestRedeliveryAfterLogsFailureCountsOnce(t *testing.T) {
	h := newHarness(t, nil)
	h.logs.set(errors.New("logs pipeline full"))
	require.Equal(t, http.StatusServiceUnavailable, h.post(seedFinding).status)
	require.Equal(t, answerText(answerAccepted), h.post(seedFinding).body)
	assert.Equal(t, answerText(answerDuplicate), h.post(seedFinding).body)
	assert.Len(t, h.logs.records(), 1)
	h.flush()
	assert.Equal(t, 1.0, h.metrics.current(t)[highFindings])
}

func TestPermanentRefusalIsNotRetried(t *testing.T) {
	h := newHarness(t, nil)
	h.logs.set(consumererror.NewPermanent(errors.New("rejected by a processor")))
	assert.Equal(t, http.StatusBadRequest, h.post(seedFinding).status)
	assert.Equal(t, answerText(answerDuplicate), h.post(seedFinding).body, "a permanent refusal is settled: retrying cannot help")
	assert.Equal(t, 1, h.logs.callCount())
	assert.Empty(t, h.logs.records())
}

func TestDedupWindowZeroEmitsEveryDelivery(t *testing.T) {
	h := newHarness(t, func(cfg *Config) { cfg.DedupWindow = 0 })
	for range 3 {
		h.postOK(seedFinding)
	}
	assert.Len(t, h.logs.records(), 3)
	h.flush()
	assert.Equal(t, 3.0, h.metrics.current(t)[highFindings])
}

func TestIdenticalDeliveryInFlightIsAskedToRetry(t *testing.T) {
	h := newHarness(t, nil)
	firstDone, release := h.postBlockedInLogs(seedFinding)

	concurrent := h.post(seedFinding)
	assert.Equal(t, http.StatusServiceUnavailable, concurrent.status)
	assert.Equal(t, "1", concurrent.header.Get("Retry-After"))
	assert.Equal(t, answerText(answerInFlight), concurrent.body)

	release()
	assert.Equal(t, http.StatusOK, (<-firstDone).status)
	assert.Equal(t, answerText(answerDuplicate), h.post(seedFinding).body)
	assert.Len(t, h.logs.records(), 1)
}

// net/http survives a panic in a handler; the delivery must not stay
// claimed, or every redelivery of that body would get 503 until a restart.
func TestPanickingPipelineDoesNotWedgeTheDelivery(t *testing.T) {
	h := newHarness(t, nil)
	var once sync.Once
	h.logs.setBefore(func() { once.Do(func() { panic("exporter bug") }) })

	_, err := h.client.Do(h.newRequest(seedFinding))
	require.Error(t, err, "the server drops the connection of a panicking handler")

	retry := h.post(seedFinding)
	assert.Equal(t, answerText(answerAccepted), retry.body)
	assert.Len(t, h.logs.records(), 1)
	h.flush()
	assert.Equal(t, 1.0, h.metrics.current(t)[highFindings], "counted once")
}

// The claim is taken before the body is parsed; a body that does not parse
// must release it, or its retry would be told to wait for itself.
func TestMalformedBodyIsRefusedTheSameWayEachTime(t *testing.T) {
	h := newHarness(t, nil)
	for range 3 {
		got := h.post([]byte(`{"type":"finding",`))
		assert.Equal(t, http.StatusBadRequest, got.status)
		assert.Equal(t, answerText(answerInvalidJSON), got.body)
	}
	assert.Empty(t, h.logs.records())
}
