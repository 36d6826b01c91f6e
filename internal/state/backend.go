package state

import (
	"context"
	"errors"
	"time"
)

// ErrUnavailable wraps every error of a backend that cannot be reached (a
// storage extension or Redis): the webhook is answered 503 and retried.
var ErrUnavailable = errors.New("state unavailable")

// ErrClaimLost is returned when a request's claim on a body was taken over
// by another (its lease ran out): the request must not settle it.
var ErrClaimLost = errors.New("the claim on the body was taken over")

// storeTx is one atomic step on the scan state, as a backend keeps it:
// everything read through it is checked, and everything written through
// it is applied, together or not at all. Writes are seen by later reads in
// the same step.
type storeTx interface {
	Scan(id string) (ScanRecord, bool, error)
	// PutScan stores rec; an open one joins the index of open scans.
	PutScan(id string, rec ScanRecord)
	DeleteScan(id string)
	Domain(name string) (DomainRecord, error)
	PutDomain(name string, rec DomainRecord)
	// OpenScans counts the open scans of every domain.
	OpenScans() (int, error)
	// OldestOpen lists up to n open scans, oldest first.
	OldestOpen(n int) ([]string, error)
	// Count adds n to a per-domain counter of this receiver: a finding of
	// a level, or a scan event in a state.
	Count(c CounterKey, n int64)

	// A scan's findings (ScanFindings), one at a time; they are written
	// after the scan's record, and go with it when it is deleted.
	//
	// TitleCount is the count of title, and how many titles are counted.
	TitleCount(scan, title string) (n int64, titles int, err error)
	PutTitleCount(scan, title string, n int64)
	// Seen says whether key is among the scan's delivered findings, and
	// how many there are.
	Seen(scan, key string) (seen bool, keys int, err error)
	AddSeen(scan, key string)
	// SeenKeys lists the scan's delivered findings.
	SeenKeys(scan string) ([]string, error)
	// DropFindings forgets the scan's counts by title, and its delivered
	// findings unless keepSeen.
	DropFindings(scan string, keepSeen bool)
}

// Tx is one atomic step as the rules see it: the backend's, and what the
// bounds turned away in it, which the State counts once the step applied.
type Tx interface {
	storeTx
	// Evicted records that the bound on open scans forgot n of them.
	Evicted(n int)
}

// CounterKey names one counter of one domain.
type CounterKey struct {
	Domain string
	Metric Metric
	Value  string // the level or the scan state
}

// Metric is one of the receiver's per-domain counters.
type Metric uint8

const (
	MetricFindings Metric = iota // detectify.findings by level
	MetricScans                  // detectify.scans by state
)

// Claim is a request's hold on a body.
type Claim struct {
	Status ClaimStatus
	// Insight is what the record of a body counted before carries.
	Insight Insight
	owner   string
}

// ClaimStatus is what a store knew of a body when it was claimed.
type ClaimStatus uint8

const (
	// ClaimNew: never seen (or dedup is off): count it and emit it.
	ClaimNew ClaimStatus = iota
	// ClaimCounted: counted by an earlier delivery whose record was not
	// accepted: emit it again, do not count it.
	ClaimCounted
	// ClaimDuplicate: settled: answer 200 without emitting.
	ClaimDuplicate
	// ClaimBusy: another request is processing it now: answer 503.
	ClaimBusy
)

// held is a request's claim on a body's key.
type held struct {
	key   Key
	claim Claim
}

// backend is where the state lives. claim and settle, and update with a
// held claim, are only called with dedup on: the State decides that.
type backend interface {
	claim(ctx context.Context, key Key, now time.Time) (Claim, error)
	// update runs st atomically; with h, the claim is marked counted (with
	// st's Insight) in the same step, and must still be held.
	// st may run more than once (Redis retries a step another replica
	// interfered with); only the last run is applied.
	update(ctx context.Context, h *held, now time.Time, st *step) (Insight, error)
	// settle ends a claim: done remembers the body as delivered for the
	// rest of dedup_window; otherwise it is released for a retry.
	settle(ctx context.Context, h *held, done bool, now time.Time) error
	// sync returns once every change made before it was called is durable.
	sync(ctx context.Context) error
	// checkpoint asks for the saved state to be rewritten whole.
	checkpoint()
	// maintain forgets what has outlived its time, and brings this
	// replica's copies up to date where they may lag.
	maintain(ctx context.Context, now time.Time) error
	// domainRecords returns the domain records for the metrics: those changed
	// since the last call, or all of them.
	domainRecords(ctx context.Context, all bool) (map[string]DomainRecord, error)
	// gaugesChanged puts domains back for the next domainRecords(false).
	gaugesChanged(names []string)
	// forgetCounts drops the saved counters of idle domains.
	forgetCounts(ctx context.Context, names []string) error
	// evictedDeliveries returns how many remembered deliveries
	// dedup_max_entries forgot since the last call.
	evictedDeliveries() int64
	// staleCandidates lists up to n open scans first seen before cutoff,
	// oldest first: those the stalled-scan rule looks at.
	staleCandidates(ctx context.Context, cutoff time.Time, n int) ([]string, error)
	// dueBackfills lists up to n scans whose backfill is due at now, the
	// longest due first.
	dueBackfills(ctx context.Context, now time.Time, n int) ([]string, error)
	// healthy reports whether the state can be reached.
	healthy(ctx context.Context) error
	close(ctx context.Context) error
}
