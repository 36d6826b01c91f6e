//go:build !race

// The race detector changes what allocates (its sync.Pool drops items at
// random), so this file is built without it only: `make alloc-budget`
// runs it.

package detectifyreceiver

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/detectify-otel/detectifyreceiver/internal/seed"
)

// TestAWebhooksAllocationsStayInBudget holds the allocations of a signed
// webhook's whole path (the handler into nop pipelines, dedup off as in
// the macro benchmark) at what docs/PERFORMANCE.md reports, exactly: one
// more fails it. Each of these would add one or more: the Event or the
// Delivery moved back to the heap (a step keeps what its function refers
// to; internal/state/observed.go), a record's attribute array sized
// twice, a body buffer not reused, a URL or a tag copied rather than cut
// from the webhook's text, a known type or severity copied.
func TestAWebhooksAllocationsStayInBudget(t *testing.T) {
	tests := []struct {
		message string
		budget  float64
	}{
		{"classic/scan_started", 27},
		{"classic/finding_high", 39},
		{"classic/scan_finished", 37},
	}
	for _, tt := range tests {
		t.Run(tt.message, func(t *testing.T) {
			cfg := testConfig()
			cfg.DedupWindow = 0
			r := newInProcess(t, cfg)
			body := seed.Get(tt.message)
			rr := newReusableRequest(body, signBody(testSecret, body))
			w := &discardWriter{header: http.Header{}}
			allocs := testing.AllocsPerRun(200, func() {
				rr.rewind(body)
				clear(w.header)
				r.handleWebhook(w, rr.req)
			})
			assert.Equal(t, http.StatusOK, w.status)
			assert.LessOrEqual(t, allocs, tt.budget, "allocations per webhook")
		})
	}
}
