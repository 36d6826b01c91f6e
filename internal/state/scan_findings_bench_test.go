package state

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/detectify-otel/detectifyreceiver/internal/message"
)

// BenchmarkScanFindings runs whole scans, one webhook at a time: per op a
// scan's start, k findings and its finish. It reports the time and, with
// storage, the bytes written per webhook, for a scan of one finding and
// for one of as many as Detectify sends: a webhook's cost should not grow
// with its scan.
func BenchmarkScanFindings(b *testing.B) {
	for _, backend := range []string{"memory", "storage", "redis-server"} {
		for _, k := range []int{1, 100} {
			b.Run(fmt.Sprintf("%s/findings=%d", backend, k), func(b *testing.B) {
				cfg := testConfig()
				cfg.DedupWindow = 0
				s, store := benchState(b, backend, cfg)
				ctx := context.Background()
				send := func(e *message.Event) {
					d, err := s.Claim(ctx, Key{}, t0)
					if err == nil {
						err = s.Record(ctx, &d, e, t0)
					}
					if err == nil {
						err = s.Sync(ctx)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				written := store.written.Load()
				webhooks := 0
				b.ReportAllocs()
				for n := 0; b.Loop(); n++ {
					b.StopTimer()
					scan := fmt.Sprint("s", n)
					bodies := []string{started("d", scan)}
					for i := range k {
						bodies = append(bodies, finding("d", scan, fmt.Sprintf("Finding title %d", i%30), "high", i))
					}
					events := make([]message.Event, 0, len(bodies)+1)
					for _, body := range append(bodies, finished("d", scan, 1, 2, 3)) {
						e, err := message.Parse([]byte(body))
						if err != nil {
							b.Fatal(err)
						}
						events = append(events, e)
					}
					b.StartTimer()
					for i := range events {
						send(&events[i])
					}
					webhooks += len(events)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(webhooks), "ns/webhook")
				if backend == "storage" {
					b.ReportMetric(float64(store.written.Load()-written)/float64(webhooks), "storedB/webhook")
				}
			})
		}
	}
}

// benchState is a State on backend, with the storage it writes to counted.
func benchState(b *testing.B, backend string, cfg Config) (*State, *countedStorage) {
	store := &countedStorage{fakeStorage: newFakeStorage()}
	switch backend {
	case "memory":
		return NewMemory(cfg, t0), store
	case "storage":
		s := NewMemory(cfg, t0)
		if _, err := s.Persist(b.Context(), store, t0); err != nil {
			b.Fatal(err)
		}
		return s, store
	}
	client := redis.NewClient(&redis.Options{Addr: startRedisServer(b)})
	s, err := NewRedis(context.Background(), cfg, RedisConfig{Client: client, KeyPrefix: "detectify/", Replica: "a"}, t0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close(context.Background()) })
	return s, store
}

// countedStorage counts the bytes written to a fakeStorage.
type countedStorage struct {
	*fakeStorage
	written atomic.Int64
}

func (c *countedStorage) Batch(ctx context.Context, ops ...*storage.Operation) error {
	for _, op := range ops {
		if op.Type != storage.Get {
			c.written.Add(int64(len(op.Key) + len(op.Value)))
		}
	}
	return c.fakeStorage.Batch(ctx, ops...)
}

func (c *countedStorage) Set(ctx context.Context, key string, value []byte) error {
	return c.Batch(ctx, storage.SetOperation(key, value))
}
