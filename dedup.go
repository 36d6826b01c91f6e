package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"crypto/sha256"
	"sync"
	"time"
)

// signals is a set of the pipelines a delivery has been settled for.
type signals uint8

const (
	signalLogs signals = 1 << iota
	signalMetrics
)

// deliveryKey identifies a delivery by its body: Detectify's messages carry
// their report or finding URL, so identical bodies are redeliveries. A hash
// of the body, not its signature, so a body re-signed during a secret
// rotation is still recognised.
type deliveryKey = [sha256.Size]byte

func keyOf(body []byte) deliveryKey { return sha256.Sum256(body) }

// delivery is what is remembered of one body.
type delivery struct {
	// settled are the signals whose consumer accepted the body (or refused
	// it permanently): a redelivery emits only the others.
	settled signals
	// counted is set once the body is in the metric counts, so a retry
	// after a metrics failure sends the counts again without adding to them.
	counted bool
	// firstOfDomain is set when the body was its domain's first event, so
	// a retry still sends all of the domain's series.
	firstOfDomain bool
	inFlight      bool
	added         time.Time
}

// deliveries remembers recent deliveries for dedupWindow, at most
// maxEntries of them, evicting the oldest first. A zero window disables it.
type deliveries struct {
	window     time.Duration
	maxEntries int

	mu      sync.Mutex
	entries map[deliveryKey]*delivery
	// order lists keys by the time they were added, oldest at head.
	order []queuedKey
	head  int
}

type queuedKey struct {
	key   deliveryKey
	added time.Time
}

func newDeliveries(window time.Duration, maxEntries int) *deliveries {
	return &deliveries{window: window, maxEntries: maxEntries, entries: make(map[deliveryKey]*delivery)}
}

// enabled reports whether deliveries are remembered at all.
func (d *deliveries) enabled() bool { return d.window > 0 }

// begin claims key for one request and returns what was already done for
// it. ok is false while another request with the same body is in flight.
func (d *deliveries) begin(key deliveryKey, now time.Time) (prior delivery, ok bool) {
	if !d.enabled() {
		return delivery{}, true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expireLocked(now)
	if e, found := d.entries[key]; found {
		if e.inFlight {
			return *e, false
		}
		e.inFlight = true
		return *e, true
	}
	for range len(d.order) - d.head { // each queued key at most once
		if len(d.entries) < d.maxEntries {
			break
		}
		d.popOldestLocked(now)
	}
	d.entries[key] = &delivery{inFlight: true, added: now}
	d.order = append(d.order, queuedKey{key: key, added: now})
	return delivery{}, true
}

// finish releases key and remembers done for the rest of the window.
func (d *deliveries) finish(key deliveryKey, done delivery) {
	if !d.enabled() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	e, found := d.entries[key]
	if !found { // evicted while in flight: nothing to remember it by
		return
	}
	e.inFlight = false
	e.settled = done.settled
	e.counted = done.counted
	e.firstOfDomain = done.firstOfDomain
}

func (d *deliveries) expireLocked(now time.Time) {
	for d.head < len(d.order) && now.Sub(d.order[d.head].added) >= d.window {
		d.popOldestLocked(now)
	}
}

// popOldestLocked forgets the oldest entry. One still in flight is queued
// again instead: forgetting it would let a redelivery run beside it. The
// map can then exceed maxEntries by the requests in flight, no more.
func (d *deliveries) popOldestLocked(now time.Time) {
	oldest := d.order[d.head]
	d.order[d.head] = queuedKey{}
	d.head++
	if e, found := d.entries[oldest.key]; found && e.added.Equal(oldest.added) {
		if e.inFlight {
			e.added = now
			d.order = append(d.order, queuedKey{key: oldest.key, added: now})
		} else {
			delete(d.entries, oldest.key)
		}
	}
	// Reuse the slice once most of it is consumed, so the queue stays
	// bounded by maxEntries.
	if d.head > len(d.order)/2 {
		n := copy(d.order, d.order[d.head:])
		clear(d.order[n:])
		d.order = d.order[:n]
		d.head = 0
	}
}

// len reports how many deliveries are remembered.
func (d *deliveries) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.entries)
}

// export lists the settled deliveries, oldest first, for persistence.
// Deliveries in flight are left out: their request has not been answered.
func (d *deliveries) export() []persistedDelivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []persistedDelivery
	for _, q := range d.order[d.head:] {
		if e, found := d.entries[q.key]; found && e.added.Equal(q.added) && !e.inFlight {
			out = append(out, persistedDelivery{Key: q.key[:], Settled: e.settled, Counted: e.counted,
				FirstOfDomain: e.firstOfDomain, Added: e.added})
		}
	}
	return out
}

// restore loads deliveries saved by export; those outside the window now,
// or with a malformed key, are dropped.
func (d *deliveries) restore(saved []persistedDelivery, now time.Time) {
	if !d.enabled() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range saved {
		if len(p.Key) != sha256.Size || now.Sub(p.Added) >= d.window {
			continue
		}
		key := deliveryKey(p.Key)
		d.entries[key] = &delivery{settled: p.Settled, counted: p.Counted, firstOfDomain: p.FirstOfDomain, added: p.Added}
		d.order = append(d.order, queuedKey{key: key, added: p.Added})
	}
	for len(d.entries) > d.maxEntries {
		d.popOldestLocked(now)
	}
}
