package detectifyreceiver

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/detectify-otel/detectifyreceiver/internal/seed"
)

// Body buffers are reused by later webhooks: a record already delivered
// keeps its own text, whatever arrives after it, however long the bodies.
func TestARecordKeepsItsTextWhileLaterWebhooksReuseTheBuffers(t *testing.T) {
	h := newHarness(t, func(cfg *Config) { cfg.DedupWindow = 0 })
	var bodies []string
	for i := range 40 {
		padding := strings.Repeat("x", (i%5)*300) // shorter and longer than the buffer before
		bodies = append(bodies, fmt.Sprintf(`{"type":"event_finding_high","domain":"d%d.example","title":"t%d","pad":"%s"}`, i, i, padding))
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < len(bodies); i += 4 {
				resp := h.post([]byte(bodies[i]))
				assert.Equal(t, http.StatusOK, resp.status, resp.body)
			}
		})
	}
	wg.Wait()
	var got []string
	for _, lr := range h.logs.records() {
		got = append(got, lr.Body().Str())
	}
	require.ElementsMatch(t, bodies, got)
}

// The Event and the Delivery are reused too: a webhook's record carries
// nothing of the one before it on the same connection, whichever formats
// they are in.
func TestAWebhookCarriesNothingOfTheOneBefore(t *testing.T) {
	h := newHarness(t, func(cfg *Config) { cfg.DedupWindow = 0 })
	bare := []byte(`{"type":"event_finding_low","domain":"bare.example"}`)
	h.postOK(bare)
	want := recordAttributes(h.logs.records()[0])
	for range 10 {
		for _, full := range [][]byte{seed.Get("current/finding"), seed.Get("classic/finding_high"), seed.Get("current/scan_completed")} {
			h.postOK(bytes.Clone(full), bare)
		}
	}
	records := h.logs.records()
	require.Len(t, records, 61)
	for i := 2; i < len(records); i += 2 {
		require.Equal(t, want, recordAttributes(records[i]), "record %d", i)
	}
}
