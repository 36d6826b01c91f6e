package detectifyreceiver

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// A key the API keeps refusing is said in one error line however often it
// is tried, and neither the key nor its secret reaches any log line or the
// config's %#v.
func TestARefusedAPIKeyIsSaidOnceAndNeverLogged(t *testing.T) {
	api, endpoint := newScriptedAPI(t)
	api.report["s1"] = apiListing(5)
	for range 3 {
		api.answer(status(http.StatusUnauthorized))
	}
	core, logged := observer.New(zapcore.DebugLevel)
	cfg := testConfig()
	withAPI(endpoint)(cfg)
	assert.NotContains(t, fmt.Sprintf("%#v %+v", cfg, cfg), apiKey)
	assert.NotContains(t, fmt.Sprintf("%#v %+v", cfg.API, cfg.API), apiSecret)
	set := receiverSettingsForTest(t)
	set.Logger = zap.New(core)
	rcv, err := NewFactory().CreateLogs(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	r := rcv.(*receiverHandle).shared.r
	var clock atomic.Int64
	clock.Store(testNow.UnixNano())
	r.now = func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	h := &harness{t: t, cfg: cfg, baseURL: "http://" + r.endpoint, client: &http.Client{Timeout: 10 * time.Second}}
	playLimitedScan(h, 3, 5)
	// Each refusal pauses the backfill from the clock of its answer: the
	// clock moves a pause at a time until the next request.
	for attempt := 2; attempt <= 4; attempt++ {
		eventually(t, func() bool {
			if api.requests() >= attempt {
				return true
			}
			clock.Add(int64(authPause))
			r.backfill.kick()
			return false
		}, fmt.Sprintf("request %d", attempt))
	}
	eventually(t, func() bool { return len(logged.FilterMessageSnippet("accepts the API key again").All()) == 1 }, "the key works again")
	h.client.CloseIdleConnections()
	require.NoError(t, rcv.Shutdown(context.Background()))

	refused := logged.FilterLevelExact(zapcore.ErrorLevel).FilterMessageSnippet("refused the API key").All()
	assert.Len(t, refused, 1, "three 401s, one line")
	assert.Len(t, logged.FilterMessageSnippet("accepts the API key again").All(), 1)
	for _, entry := range logged.All() {
		line := entry.Message + " " + fmt.Sprint(entry.ContextMap())
		for _, secret := range []string{apiKey, apiSecret} {
			assert.False(t, strings.Contains(line, secret), "log line %q names a credential", entry.Message)
		}
	}
}
