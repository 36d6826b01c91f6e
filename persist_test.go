package detectifyreceiver

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

var storageID = component.MustNewIDWithName("file_storage", "detectify")

// hostWithExtensions is a host that offers the given extensions, as the
// collector's service does.
type hostWithExtensions struct {
	component.Host
	extensions map[component.ID]component.Component
}

func (h hostWithExtensions) GetExtensions() map[component.ID]component.Component { return h.extensions }

// startFileStorage runs the real file_storage extension on dir.
func startFileStorage(t *testing.T, dir string) component.Host {
	factory := filestorage.NewFactory()
	cfg := factory.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	ext, err := factory.Create(context.Background(), extensiontest.NewNopSettings(factory.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	return hostWithExtensions{Host: componenttest.NewNopHost(), extensions: map[component.ID]component.Component{storageID: ext}}
}

func withStorage(cfg *Config) { cfg.StorageID = &storageID }

func TestStateSurvivesARestartWithStorage(t *testing.T) {
	host := startFileStorage(t, t.TempDir())
	before := newHarnessOn(t, host, withStorage)
	for _, seed := range seedMessages {
		require.Equal(t, http.StatusOK, before.post(readSeed(t, seed)).status)
	}
	counts := flattenMetrics(t, before.rcv.metrics.snapshotAll(testNow))
	before.shutdown()

	restartedAt := testNow.Add(time.Minute)
	after := newHarnessOn(t, host, func(cfg *Config) {
		withStorage(cfg)
		cfg.NetAddr.Endpoint = "127.0.0.1:0"
	})
	after.setNow(restartedAt)

	md := after.rcv.metrics.snapshotAll(restartedAt)
	assert.Equal(t, counts, flattenMetrics(t, md), "counts and last-scan gauges survive")
	dp := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints().At(0)
	assert.Equal(t, testNow, dp.StartTimestamp().AsTime(), "the series continue: same start time")

	redelivery := after.post(readSeed(t, "finding_high"))
	assert.JSONEq(t, `{"status":"duplicate"}`, redelivery.body, "the dedup memory survives")
	assert.Empty(t, after.logs.records())

	require.Equal(t, http.StatusOK, after.post([]byte(`{"type":"event_finding_high","domain":"my.domain","title":"another"}`)).status)
	assert.Equal(t, int64(2), after.metrics.last(t)[highFindings], "new findings add to the restored count")
}

// TestRetryAfterRestartOfADomainsFirstEvent: a domain's first event whose
// metrics were refused is retried after a restart; the retry still sends
// all of the domain's series, as it would have without the restart.
func TestRetryAfterRestartOfADomainsFirstEvent(t *testing.T) {
	host := startFileStorage(t, t.TempDir())
	before := newHarnessOn(t, host, withStorage)
	before.metrics.set(errors.New("metrics pipeline full"))
	finding := readSeed(t, "finding_high")
	require.Equal(t, http.StatusServiceUnavailable, before.post(finding).status)
	before.shutdown()

	after := newHarnessOn(t, host, withStorage)
	// The restored series are emitted once at start, in the background.
	require.Eventually(t, func() bool { return after.metrics.callCount() == 1 }, 30*time.Second, 10*time.Millisecond)
	require.Equal(t, http.StatusOK, after.post(finding).status)

	require.Equal(t, 2, after.metrics.callCount())
	assert.Equal(t, map[string]int64{
		highFindings: 1,
		"detectify.findings{detectify.domain=my.domain,detectify.finding.severity=medium}": 0,
	}, after.metrics.last(t))
	assert.Empty(t, after.logs.records(), "the logs were accepted before the restart")
}

func TestWithoutStorageCountsStartAgain(t *testing.T) {
	before := newHarness(t, nil)
	require.Equal(t, http.StatusOK, before.post(readSeed(t, "finding_high")).status)
	before.shutdown()

	after := newHarness(t, nil)
	assert.Zero(t, after.rcv.metrics.snapshotAll(testNow).DataPointCount(), "nothing is remembered")
	require.Equal(t, http.StatusOK, after.post(readSeed(t, "finding_high")).status, "nor is the delivery")
	assert.Equal(t, int64(1), after.metrics.last(t)[highFindings])
}

// TestWithoutStorageARestartGetsANewStartTime: counts that start again from
// zero must say so, or backends would read the drop as a counter reset
// mid-series.
func TestWithoutStorageARestartGetsANewStartTime(t *testing.T) {
	restartedAt := testNow.Add(time.Hour)
	cfg := createDefaultConfig()
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.Secret = testSecret
	rcv, err := NewFactory().CreateMetrics(context.Background(), receiverSettingsForTest(t), cfg, new(scriptedMetrics))
	require.NoError(t, err)
	r := rcv.(*receiverHandle).shared.detectifyReceiver
	r.now = func() time.Time { return restartedAt }
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, rcv.Shutdown(context.Background())) }()

	w := webhook{domain: optional[string]{value: "my.domain", ok: true}}
	r.metrics.record(classify(&w))
	dp := r.metrics.snapshotAll(restartedAt).ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints().At(0)
	assert.Equal(t, restartedAt, dp.StartTimestamp().AsTime())
}

func TestUnusableSavedStateStartsFresh(t *testing.T) {
	host := startFileStorage(t, t.TempDir())
	ext := host.GetExtensions()[storageID].(storage.Extension)
	client, err := ext.GetClient(context.Background(), component.KindReceiver, component.NewID(component.MustNewType("detectify")), "")
	require.NoError(t, err)
	require.NoError(t, client.Set(context.Background(), stateKey, []byte("{not json")))
	require.NoError(t, client.Close(context.Background()))

	h := newHarnessOn(t, host, withStorage)
	require.Equal(t, http.StatusOK, h.post(readSeed(t, "finding_high")).status)
	assert.Equal(t, int64(1), h.metrics.last(t)[highFindings])
}

func TestStartFailsWithoutTheStorageExtension(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.Secret = testSecret
	withStorage(cfg)
	rcv, err := NewFactory().CreateLogs(context.Background(), receiverSettingsForTest(t), cfg, new(scriptedLogs))
	require.NoError(t, err)
	err = rcv.Start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, `extension "file_storage/detectify" is not configured`)
	require.NoError(t, rcv.Shutdown(context.Background()))
}

// TestRestoredSeriesAreEmittedAtStart: exporters must not lose the restored
// series until the first metrics_interval.
func TestRestoredSeriesAreEmittedAtStart(t *testing.T) {
	host := startFileStorage(t, t.TempDir())
	before := newHarnessOn(t, host, withStorage)
	require.Equal(t, http.StatusOK, before.post(readSeed(t, "finding_high")).status)
	before.shutdown()

	after := newHarnessOn(t, host, withStorage) // metrics_interval stays 60s
	require.Eventually(t, func() bool { return len(after.metrics.emissions()) > 0 }, 30*time.Second, 10*time.Millisecond)
	assert.Equal(t, int64(1), after.metrics.last(t)[highFindings])
}
