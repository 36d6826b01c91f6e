package detectifyreceiver

import (
	"crypto/sha256"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var dedupT0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// key is a deliveryKey for s; the receiver uses the body's verified HMAC
// (or its SHA-256 when unsigned), any 32-byte digest of it will do here.
func key(s string) deliveryKey { return sha256.Sum256([]byte(s)) }

func TestDeliveriesBeginFinish(t *testing.T) {
	d := newDeliveries(10*time.Minute, 100)
	k := key("body")

	prior, ok := d.begin(k, dedupT0)
	require.True(t, ok, "first delivery")
	assert.Equal(t, delivery{}, prior, "nothing done yet")
	assert.Equal(t, 1, d.len())

	// A redelivery while the first is still being processed must wait.
	_, ok = d.begin(k, dedupT0.Add(time.Second))
	assert.False(t, ok, "same body in flight")
	_, ok = d.begin(k, dedupT0.Add(2*time.Second))
	assert.False(t, ok, "still in flight")

	// Another body is independent.
	other, ok := d.begin(key("other"), dedupT0.Add(time.Second))
	require.True(t, ok)
	assert.Equal(t, delivery{}, other)

	d.finish(k, delivery{settled: signalLogs, counted: true})

	prior, ok = d.begin(k, dedupT0.Add(time.Minute))
	require.True(t, ok, "released by finish")
	assert.Equal(t, signalLogs, prior.settled)
	assert.True(t, prior.counted)

	// Claimed again: in flight until finished again.
	_, ok = d.begin(k, dedupT0.Add(time.Minute))
	assert.False(t, ok)
	d.finish(k, delivery{settled: signalLogs | signalMetrics, counted: true})

	prior, ok = d.begin(k, dedupT0.Add(2*time.Minute))
	require.True(t, ok)
	assert.Equal(t, signalLogs|signalMetrics, prior.settled)
	assert.True(t, prior.counted)
	assert.Equal(t, 2, d.len())
}

func TestDeliveriesFinishWithNothingSettled(t *testing.T) {
	// A delivery whose consumers all failed retryably is remembered as
	// released but with nothing settled: the retry emits everything.
	d := newDeliveries(time.Hour, 10)
	k := key("body")
	_, ok := d.begin(k, dedupT0)
	require.True(t, ok)
	d.finish(k, delivery{})
	prior, ok := d.begin(k, dedupT0.Add(time.Second))
	require.True(t, ok)
	assert.Equal(t, signals(0), prior.settled)
	assert.False(t, prior.counted)
}

func TestDeliveriesExpiry(t *testing.T) {
	const window = 10 * time.Minute
	tests := []struct {
		name       string
		after      time.Duration
		remembered bool
	}{
		{name: "just added", after: 0, remembered: true},
		{name: "within the window", after: window / 2, remembered: true},
		{name: "one nanosecond before the window ends", after: window - time.Nanosecond, remembered: true},
		{name: "exactly at the window", after: window, remembered: false},
		{name: "after the window", after: window + time.Nanosecond, remembered: false},
		{name: "long after", after: 24 * time.Hour, remembered: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDeliveries(window, 100)
			k := key("body")
			_, ok := d.begin(k, dedupT0)
			require.True(t, ok)
			d.finish(k, delivery{settled: signalLogs, counted: true})

			prior, ok := d.begin(k, dedupT0.Add(tt.after))
			require.True(t, ok)
			if tt.remembered {
				assert.Equal(t, signalLogs, prior.settled)
				assert.True(t, prior.counted)
			} else {
				assert.Equal(t, delivery{}, prior, "forgotten after the window")
			}
			assert.Equal(t, 1, d.len())
		})
	}
}

func TestDeliveriesExpiryCountsFromFirstDelivery(t *testing.T) {
	// The window starts when the body was first seen; redeliveries within
	// it do not extend it.
	d := newDeliveries(10*time.Minute, 100)
	k := key("body")
	_, ok := d.begin(k, dedupT0)
	require.True(t, ok)
	d.finish(k, delivery{settled: signalLogs})
	prior, ok := d.begin(k, dedupT0.Add(9*time.Minute))
	require.True(t, ok)
	require.Equal(t, signalLogs, prior.settled)
	d.finish(k, prior)

	prior, ok = d.begin(k, dedupT0.Add(10*time.Minute))
	require.True(t, ok)
	assert.Equal(t, delivery{}, prior)
}

func TestDeliveriesExpiryForgetsOthers(t *testing.T) {
	// Expired entries are dropped when any begin runs, not only their own.
	d := newDeliveries(time.Minute, 100)
	for i := range 10 {
		k := key(fmt.Sprint(i))
		_, ok := d.begin(k, dedupT0.Add(time.Duration(i)*time.Second))
		require.True(t, ok)
		d.finish(k, delivery{settled: signalLogs})
	}
	require.Equal(t, 10, d.len())
	_, ok := d.begin(key("late"), dedupT0.Add(time.Minute+4*time.Second))
	require.True(t, ok)
	// 0..4 were added at least a minute before: gone; 5..9 and "late" remain.
	assert.Equal(t, 6, d.len())
}

func TestDeliveriesMaxEntriesEvictsOldest(t *testing.T) {
	d := newDeliveries(time.Hour, 3)
	keys := []deliveryKey{key("first"), key("second"), key("third"), key("fourth")}
	for i, k := range keys[:3] {
		_, ok := d.begin(k, dedupT0.Add(time.Duration(i)*time.Second))
		require.True(t, ok)
		d.finish(k, delivery{settled: signalLogs, counted: true})
	}
	require.Equal(t, 3, d.len())

	prior, ok := d.begin(keys[3], dedupT0.Add(3*time.Second))
	require.True(t, ok)
	assert.Equal(t, delivery{}, prior)
	d.finish(keys[3], delivery{settled: signalMetrics})
	assert.Equal(t, 3, d.len(), "bounded by maxEntries")

	// The second, third and fourth are remembered (finding them evicts
	// nothing)...
	for i, k := range keys[1:] {
		prior, ok := d.begin(k, dedupT0.Add(4*time.Second))
		require.True(t, ok)
		assert.NotZero(t, prior.settled, "key %d must be remembered", i+1)
		d.finish(k, prior)
	}
	// ...the first, the oldest, is forgotten.
	prior, ok = d.begin(keys[0], dedupT0.Add(5*time.Second))
	require.True(t, ok)
	assert.Equal(t, delivery{}, prior, "the oldest entry must be evicted first")
	assert.Equal(t, 3, d.len())
}

func TestDeliveriesDisabled(t *testing.T) {
	for _, window := range []time.Duration{0, -time.Second} {
		t.Run(window.String(), func(t *testing.T) {
			d := newDeliveries(window, 100)
			k := key("body")
			for i := range 3 {
				prior, ok := d.begin(k, dedupT0.Add(time.Duration(i)*time.Second))
				require.True(t, ok, "a disabled dedup never makes a request wait")
				assert.Equal(t, delivery{}, prior, "a disabled dedup remembers nothing")
				d.finish(k, delivery{settled: signalLogs | signalMetrics, counted: true})
			}
			assert.Equal(t, 0, d.len())
		})
	}
}

// TestInFlightDeliveriesAreNeverEvicted: forgetting a delivery while it is
// processed would let a redelivery run beside it.
func TestInFlightDeliveriesAreNeverEvicted(t *testing.T) {
	d := newDeliveries(time.Hour, 1)
	k1, k2, k3 := key("one"), key("two"), key("three")
	_, ok := d.begin(k1, dedupT0)
	require.True(t, ok)
	_, ok = d.begin(k2, dedupT0.Add(time.Second)) // the limit is reached, but k1 is in flight
	require.True(t, ok)
	assert.Equal(t, 2, d.len(), "over the limit by the deliveries in flight")
	_, ok = d.begin(k1, dedupT0.Add(2*time.Second))
	assert.False(t, ok, "k1 is still known to be in flight")

	d.finish(k1, delivery{settled: signalLogs, counted: true})
	d.finish(k2, delivery{settled: signalMetrics})
	assert.NotPanics(t, func() { d.finish(key("never begun"), delivery{settled: signalLogs}) })
	_, ok = d.begin(k3, dedupT0.Add(3*time.Second))
	require.True(t, ok)
	assert.Equal(t, 1, d.len(), "finished deliveries are evicted again")
}

func TestInFlightDeliveriesDoNotExpire(t *testing.T) {
	d := newDeliveries(time.Minute, 10)
	k := key("slow")
	_, ok := d.begin(k, dedupT0)
	require.True(t, ok)
	_, ok = d.begin(key("later"), dedupT0.Add(2*time.Minute)) // k's window is over, but it is in flight
	require.True(t, ok)
	_, ok = d.begin(k, dedupT0.Add(2*time.Minute))
	assert.False(t, ok, "a slow delivery is not forgotten while it runs")

	d.finish(k, delivery{settled: signalLogs})
	prior, ok := d.begin(k, dedupT0.Add(2*time.Minute+30*time.Second))
	require.True(t, ok)
	assert.Equal(t, signalLogs, prior.settled, "remembered for a window after it was requeued")
	d.finish(k, prior)
	prior, ok = d.begin(k, dedupT0.Add(4*time.Minute))
	require.True(t, ok)
	assert.Equal(t, delivery{}, prior, "then forgotten")
}

func TestDeliveriesMemoryBounded(t *testing.T) {
	const (
		maxEntries = 100
		inserts    = 10_000
	)
	tests := []struct {
		name    string
		window  time.Duration
		wantLen int
	}{
		// Eviction by count only.
		{name: "evicted by maxEntries", window: 24 * time.Hour, wantLen: maxEntries},
		// One insert a millisecond: entries expire by age before
		// maxEntries would evict them.
		{name: "expired by window", window: 50 * time.Millisecond, wantLen: 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDeliveries(tt.window, maxEntries)
			var last deliveryKey
			for i := range inserts {
				last = key(fmt.Sprintf("body-%d", i))
				now := dedupT0.Add(time.Duration(i) * time.Millisecond)
				_, ok := d.begin(last, now)
				require.True(t, ok)
				d.finish(last, delivery{settled: signalLogs})

				require.LessOrEqual(t, d.len(), maxEntries, "after %d inserts", i+1)
				d.mu.Lock()
				queued := len(d.order)
				d.mu.Unlock()
				require.LessOrEqual(t, queued, 2*maxEntries+1, "order queue after %d inserts", i+1)
			}
			assert.Equal(t, tt.wantLen, d.len())
			prior, ok := d.begin(last, dedupT0.Add(time.Duration(inserts-1)*time.Millisecond))
			require.True(t, ok)
			assert.Equal(t, signalLogs, prior.settled, "the newest entry is kept")
		})
	}
}

func TestDeliveriesConcurrent(t *testing.T) {
	// Whatever the interleaving, at most one request holds a body at a time
	// and what one settles the next one sees.
	d := newDeliveries(time.Hour, 100_000) // room for every key: nothing is evicted
	k := key("contended")
	var inFlight, maxInFlight, claims atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				// Some traffic on other keys too.
				other := key(fmt.Sprintf("g%d-%d", g, i))
				if _, ok := d.begin(other, dedupT0); ok {
					d.finish(other, delivery{})
				}
				prior, ok := d.begin(k, dedupT0)
				if !ok {
					continue
				}
				n := inFlight.Add(1)
				for {
					m := maxInFlight.Load()
					if n <= m || maxInFlight.CompareAndSwap(m, n) {
						break
					}
				}
				claims.Add(1)
				runtime.Gosched() // hold the claim a little while
				inFlight.Add(-1)
				d.finish(k, delivery{settled: prior.settled | signalLogs, counted: true})
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(1), maxInFlight.Load(), "a body was claimed twice at once")
	assert.Positive(t, claims.Load())
	prior, ok := d.begin(k, dedupT0)
	require.True(t, ok)
	assert.Equal(t, signalLogs, prior.settled)
	assert.True(t, prior.counted)
}
