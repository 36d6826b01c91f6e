package state

import (
	"context"
	"encoding/binary"
	"runtime"
	"testing"
	"time"
)

// BenchmarkDedupBytesPerDelivery measures what the memory backend keeps
// per remembered delivery: the live heap after b.N settled deliveries, less
// the heap before, divided by b.N (B/delivery). Run with a fixed count
// (-benchtime=200000x) for a figure comparable between versions.
func BenchmarkDedupBytesPerDelivery(b *testing.B) {
	cfg := testConfig()
	cfg.DedupWindow, cfg.DedupMaxEntries = 24*time.Hour, b.N
	ctx := context.Background()
	before := liveHeap()
	s := NewMemory(cfg, t0)
	var body [8]byte
	for i := range b.N {
		binary.LittleEndian.PutUint64(body[:], uint64(i))
		d, err := s.Claim(ctx, KeyOf(body[:]), t0)
		if err != nil || d.Status != ClaimNew {
			b.Fatalf("claim %d: %v %v", i, d.Status, err)
		}
		if err := s.Settle(ctx, &d, true, t0); err != nil {
			b.Fatal(err)
		}
	}
	after := liveHeap()
	runtime.KeepAlive(s)
	b.ReportMetric(float64(after-before)/float64(b.N), "B/delivery")
}

// liveHeap is the heap in use after a collection.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
