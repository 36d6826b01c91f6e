package detectifyreceiver

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/detectify-otel/detectifyreceiver/internal/metadata"
)

// countingStorage is the real file_storage extension, with every write
// batch and the bytes it sets counted: what a webhook costs the storage.
type countingStorage struct {
	storage.Extension
	batches, bytes atomic.Int64
}

func (s *countingStorage) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	c, err := s.Extension.GetClient(ctx, kind, id, name)
	return &countingClient{Client: c, s: s}, err
}

type countingClient struct {
	storage.Client
	s *countingStorage
}

func (c *countingClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	written := false
	for _, op := range ops {
		if op.Type != storage.Get {
			written = true
			c.s.bytes.Add(int64(len(op.Key) + len(op.Value)))
		}
	}
	if written {
		c.s.batches.Add(1)
	}
	return c.Client.Batch(ctx, ops...)
}

// newStoredInProcess is newInProcess on the real file_storage extension
// (fsync off, its default), counted.
func newStoredInProcess(b *testing.B, cfg *Config) (*detectifyReceiver, *countingStorage) {
	factory := filestorage.NewFactory()
	fsCfg := factory.CreateDefaultConfig().(*filestorage.Config)
	fsCfg.Directory = b.TempDir()
	ext, err := factory.Create(context.Background(), extensiontest.NewNopSettings(factory.Type()), fsCfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := ext.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	counted := &countingStorage{Extension: ext.(storage.Extension)}
	host := hostWithExtensions{Host: componenttest.NewNopHost(), extensions: map[component.ID]component.Component{storageID: counted}}
	cfg.StorageID = &storageID
	r, err := newDetectifyReceiver(cfg, receivertest.NewNopSettings(metadata.Type))
	if err != nil {
		b.Fatal(err)
	}
	r.setConsumers(func(c *consumers) { c.logs, c.metrics = consumertest.NewNop(), consumertest.NewNop() })
	r.run, r.cancelRun = context.WithCancel(context.Background())
	if err := r.openState(context.Background(), host); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		r.cancelRun()
		_ = r.state.Close(context.Background())
		_ = ext.Shutdown(context.Background())
	})
	return r, counted
}

// signedBody is a request for one signed body, to send again and again.
type signedBody struct {
	*reusableRequest
	body []byte
}

// findingMix is n signed finding bodies over the given domains.
func findingMix(n, domains int) []signedBody {
	out := make([]signedBody, n)
	for i := range out {
		body := fmt.Appendf(nil, `{"type":"event_finding_high","domain":"d%d.example","title":"finding %d",`+
			`"finding_url":"https://detectify.com/finding/%d"}`, i%domains, i, i)
		out[i] = signedBody{newReusableRequest(body, signBody(testSecret, body)), body}
	}
	return out
}

// preloadScans opens n scans, each of its own domain, through the handler.
func preloadScans(b *testing.B, r *detectifyReceiver, n int) {
	w := &discardWriter{header: http.Header{}}
	for i := range n {
		body := fmt.Appendf(nil, `{"type":"event_scan_started","domain":"preload%d.example"}`, i)
		r.handleWebhook(w, newReusableRequest(body, signBody(testSecret, body)).req)
		if w.status != http.StatusOK {
			b.Fatalf("preload: status %d", w.status)
		}
	}
}

type storageCounts struct{ batches, bytes int64 }

func countsOf(s *countingStorage) storageCounts {
	if s == nil {
		return storageCounts{}
	}
	return storageCounts{s.batches.Load(), s.bytes.Load()}
}

// BenchmarkStorageWebhook is the whole handler with `storage:` on the real
// file_storage extension, 32 requests at a time (as the macro benchmark's
// connections), with a state already holding `preload` open scans, each
// of its own domain. It reports the storage writes and bytes per webhook:
// concurrent webhooks share a write.
func BenchmarkStorageWebhook(b *testing.B) {
	for _, preload := range []int{0, 10_000} {
		for _, stored := range []bool{false, true} {
			b.Run(fmt.Sprintf("storage=%t/preload=%d", stored, preload), func(b *testing.B) {
				cfg := testConfig()
				cfg.DedupWindow = 0
				cfg.MaxOpenScans, cfg.MaxDomains = 20_000, 20_000
				var r *detectifyReceiver
				var counted *countingStorage
				if stored {
					r, counted = newStoredInProcess(b, cfg)
				} else {
					r = newInProcess(b, cfg)
				}
				preloadScans(b, r, preload)
				start := countsOf(counted)
				b.ResetTimer()
				b.SetParallelism(16) // 32 at a time on two cores
				b.ReportAllocs()
				var next atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					reqs := findingMix(64, 8)
					w := &discardWriter{header: http.Header{}}
					for pb.Next() {
						rr := reqs[next.Add(1)%int64(len(reqs))]
						rr.rewind(rr.body)
						w.status = 0
						r.handleWebhook(w, rr.req)
						if w.status != http.StatusOK {
							b.Errorf("status %d", w.status)
							return
						}
					}
				})
				if counted != nil {
					end := countsOf(counted)
					b.ReportMetric(float64(end.batches-start.batches)/float64(b.N), "writes/webhook")
					b.ReportMetric(float64(end.bytes-start.bytes)/float64(b.N), "storedB/webhook")
				}
			})
		}
	}
}
