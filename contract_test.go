package detectifyreceiver

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/config/configopaque"
)

// TestHTTPContract is the receiver's HTTP contract, one row per rule, each
// on a fresh receiver: what a request gets, whether its record reached the
// logs pipeline, whether it was counted, and how it was counted in the
// component's own telemetry.
func TestHTTPContract(t *testing.T) {
	for _, tc := range requestCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(cfg *Config) {
				cfg.PreviousSecrets = []configopaque.String{previousSecret}
				configPresets[tc.config](cfg)
			})
			h.logs.set(tc.logsErrs...)

			resp := h.send(t, tc)

			assert.Equal(t, tc.status, resp.status, "body: %s", resp.body)
			if tc.answer != nil {
				assert.Equal(t, answerText(*tc.answer), resp.body)
				assert.Equal(t, mediaTypeOf(*tc.answer), resp.header.Get("Content-Type"))
			}
			assert.Contains(t, resp.body, tc.bodyContains)
			assert.NotContains(t, resp.body, "10.0.0.7", "consumer errors stay in the log")
			for k, v := range tc.header {
				assert.Equal(t, v, resp.header.Get(k), "header %s", k)
			}
			records := 0
			if tc.emits {
				records = 1
			}
			assert.Len(t, h.logs.records(), records, "log records")
			counted := int64(0)
			if tc.counted {
				counted = 1
			}
			assert.Equal(t, counted, h.countedWebhooks(t), "webhooks counted")
			want := map[string]int64{}
			if tc.outcome != "" {
				want[tc.outcome] = 1
			}
			assert.Equal(t, want, h.outcomeCounts())
		})
	}
}

// mediaTypeOf is an answer's media type: JSON for 2xx, as the
// README says, else the plain text of http.Error.
func mediaTypeOf(a answer) string {
	if a.status == http.StatusOK {
		return "application/json"
	}
	return "text/plain; charset=utf-8"
}

// answerText is what a client reads of an answer: net/http's http.Error
// ends the reason with a newline.
func answerText(a answer) string {
	if a.status == http.StatusOK {
		return a.reason
	}
	return a.reason + "\n"
}
