package detectifyreceiver

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// dedup_max_entries bounds the deliveries remembered however long
// dedup_window is; the oldest go first, counted in the component's
// telemetry, and a redelivery of one is processed again.
func TestRememberedDeliveriesBeyondTheBoundAreEvictedAndCounted(t *testing.T) {
	h := newHarness(t, func(cfg *Config) { withMaxMessageAge(cfg); cfg.DedupMaxEntries = 2 })
	bodies := make([][]byte, 3)
	for i := range bodies {
		bodies[i] = stamped(fmt.Sprintf(`"%s"`, testNow.Add(-time.Duration(i)*time.Minute).Format(time.RFC3339)))
		h.postOK(bodies[i])
	}
	h.interval()
	assert.Equal(t, map[string]int64{"": 1}, h.telemetrySum("otelcol_receiver_detectify_deliveries_evicted", ""))
	assert.Equal(t, answerText(answerDuplicate), h.post(bodies[2]).body)
	assert.Equal(t, answerText(answerAccepted), h.post(bodies[0]).body, "the oldest was forgotten")
}
