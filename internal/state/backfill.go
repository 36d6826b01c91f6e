package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"
)

// BackfillMode says which finished scans get their findings fetched from
// Detectify's API.
type BackfillMode uint8

const (
	// BackfillNever: no scan (the api block is not set).
	BackfillNever BackfillMode = iota
	// BackfillWhenLimited: a scan whose webhooks delivered fewer findings
	// than its finish reported, or that reached one of the sender's limits.
	BackfillWhenLimited
	// BackfillAlways: every finished scan that names its profile and report.
	BackfillAlways
)

// Bounds of what a scan remembers for the backfill.
const (
	// maxSeenPerScan bounds the delivered findings a scan remembers:
	// Detectify sends at most 100 finding messages per scan.
	maxSeenPerScan = 256
)

// Backfill states.
const (
	// BackfillPending: the findings are still to be fetched and counted.
	BackfillPending = "pending"
	// BackfillCounted: the missing findings are counted; their records
	// are still to be accepted by the logs pipeline.
	BackfillCounted = "counted"
	// BackfillDone: nothing is left to do.
	BackfillDone = "done"
	// BackfillGaveUp: the API could not give the findings.
	BackfillGaveUp = "gave_up"
)

// Backfill is a finished scan's job of fetching what its webhooks did not
// deliver. It lives in the scan's record, so it is saved, shared and
// forgotten with it.
type Backfill struct {
	State string    `json:"state"`
	Due   time.Time `json:"due"`
	// Attempts counts the attempts that failed.
	Attempts int `json:"attempts,omitempty"`
	// Owner is the replica working on it now, until Lease.
	Owner string    `json:"owner,omitempty"`
	Lease time.Time `json:"lease,omitzero"`
	// Counted are the keys of the findings the backfill counted (FindingKeys
	// of each), so a webhook that delivers one later is not counted again.
	Counted []string `json:"counted,omitempty"`
}

// active reports whether the job still has work.
func (b *Backfill) active() bool {
	return b != nil && (b.State == BackfillPending || b.State == BackfillCounted)
}

// BackfillJob is a job taken by a worker.
type BackfillJob struct {
	// ID names the scan in the state.
	ID      string
	Domain  string
	ScanID  string // the report token
	Profile string // the scan profile's token
	// Counted is true when an earlier attempt counted the findings: this
	// one only emits them again.
	Counted  bool
	Attempts int
	owner    string
}

// BackfillFinding is one finding the API listed, as the state needs it.
type BackfillFinding struct {
	// Keys are FindingKeys of the finding.
	Keys  []string
	Level string
}

// webhookFindingKey is what a webhook's finding is recognised by: its id
// where the message names one, else its title, location and level.
func webhookFindingKey(e *observed) string {
	if e.FindingID != "" {
		return "id:" + e.FindingID
	}
	return fingerprint(e.Title, e.Location, e.Level)
}

// FindingKeys are what a finding listed by the API is recognised by: its
// id, and its title, location and level. A webhook's finding is the same
// finding when its webhookFindingKey is one of them: by id where the
// webhook names one, else by the fingerprint.
func FindingKeys(id, title, location, level string) []string {
	keys := make([]string, 0, 2)
	if id != "" {
		keys = append(keys, "id:"+id)
	}
	return append(keys, fingerprint(title, location, level))
}

// fingerprint is a fixed-size key of a finding's title, location and level.
func fingerprint(title, location, level string) string {
	h := sha256.New()
	for _, s := range []string{title, location, level} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "fp:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// addSeen remembers that a webhook delivered a finding of the scan, and
// says whether it was new (and within the bound).
func addSeen(tx Tx, id string, e *observed) (bool, error) {
	key := webhookFindingKey(e)
	seen, n, err := tx.Seen(id, key)
	if err != nil || seen || n >= maxSeenPerScan {
		return false, err
	}
	tx.AddSeen(id, key)
	return true, nil
}

// backfillJob says whether the finish of scan (found before when seen)
// asks for a backfill under the mode, and when it is due.
func (r rules) backfillJob(e *observed, scan ScanRecord, seen bool, insight Insight, now time.Time) *Backfill {
	if r.backfill == BackfillNever || e.ScanID == "" || scan.Profile == "" {
		return nil
	}
	if r.backfill == BackfillWhenLimited {
		short := insight.Undelivered != nil && *insight.Undelivered > 0
		if !seen || (!short && len(insight.LimitReached) == 0) {
			return nil
		}
	}
	return &Backfill{State: BackfillPending, Due: now.Add(r.backfillDelay)}
}

// DueBackfills lists up to n scans whose backfill is due at now.
func (s *State) DueBackfills(ctx context.Context, now time.Time, n int) ([]string, error) {
	return s.backend.dueBackfills(ctx, now, n)
}

// TakeBackfill takes scan id's backfill for owner until now+lease, if it is
// due and no other worker holds it.
func (s *State) TakeBackfill(ctx context.Context, id, owner string, now time.Time, lease time.Duration) (BackfillJob, bool, error) {
	var job BackfillJob
	taken := false
	_, err := s.update(ctx, nil, now, func(tx Tx) (Insight, error) {
		job, taken = BackfillJob{}, false // of this run only: fn may run again
		scan, found, err := tx.Scan(id)
		if err != nil || !found || !scan.Backfill.active() {
			return Insight{}, err
		}
		b := scan.Backfill
		if b.Due.After(now) || (b.Owner != "" && b.Lease.After(now)) {
			return Insight{}, nil
		}
		b.Owner, b.Lease = owner, now.Add(lease)
		tx.PutScan(id, scan)
		job = BackfillJob{ID: id, Domain: scan.Domain, Profile: scan.Profile,
			Counted: b.State == BackfillCounted, Attempts: b.Attempts, owner: owner}
		job.ScanID = scanIDOf(id)
		taken = true
		return Insight{}, nil
	})
	return job, taken, err
}

// CountBackfill counts the findings the API listed that no webhook
// delivered and the backfill did not count before, under the same series
// as a webhook's; the scan's last-scan figures say how many came from the
// API. It returns the indexes of the findings whose records are to be
// emitted: those it counted now or, on an attempt after the counting, then.
func (s *State) CountBackfill(ctx context.Context, job BackfillJob, findings []BackfillFinding, now time.Time) ([]int, error) {
	var emit []int
	_, err := s.update(ctx, nil, now, func(tx Tx) (Insight, error) {
		emit = emit[:0]
		scan, err := heldScan(tx, job)
		if err != nil {
			return Insight{}, err
		}
		b := scan.Backfill
		counted := keySet(b.Counted)
		if b.State == BackfillCounted {
			for i, f := range findings {
				if counted.any(f.Keys) {
					emit = append(emit, i)
				}
			}
			return Insight{}, nil
		}
		seenKeys, err := tx.SeenKeys(job.ID)
		if err != nil {
			return Insight{}, err
		}
		seen := keySet(seenKeys)
		var missing int64 // of the levels the scan's withheld count covers
		for i, f := range findings {
			if seen.any(f.Keys) || counted.any(f.Keys) {
				continue // delivered by a webhook, or listed twice
			}
			b.Counted = append(b.Counted, f.Keys...)
			counted.add(f.Keys)
			tx.Count(CounterKey{Domain: scan.Domain, Metric: MetricFindings, Value: f.Level}, 1)
			emit = append(emit, i)
			if reportedLevels[f.Level] {
				missing++
			}
		}
		total := int64(len(emit))
		b.State = BackfillCounted
		tx.PutScan(job.ID, scan)
		domain, err := tx.Domain(scan.Domain)
		if err != nil {
			return Insight{}, err
		}
		if domain.LastScan != nil && domain.LastScan.Scan == job.ID {
			// A new record: the metrics read the stored one without the
			// backend's lock.
			last := *domain.LastScan
			backfilled := total
			if last.Backfilled != nil {
				backfilled += *last.Backfilled
			}
			last.Backfilled = &backfilled
			if last.Undelivered != nil {
				undelivered := max(0, *last.Undelivered-missing)
				last.Undelivered = &undelivered
			}
			domain.LastScan = &last
			tx.PutDomain(scan.Domain, domain)
		}
		return Insight{}, nil
	})
	return emit, err
}

// BackfillEnd is how an attempt ended.
type BackfillEnd uint8

const (
	// BackfillEndDone: the records were accepted (or refused for good).
	BackfillEndDone BackfillEnd = iota
	// BackfillEndRetry: try again at the given time.
	BackfillEndRetry
	// BackfillEndGiveUp: the findings cannot be had.
	BackfillEndGiveUp
	// BackfillEndRelease: not an attempt (the receiver is stopping, or the
	// API refused the key): due again at the given time, attempts as they
	// were.
	BackfillEndRelease
)

// EndBackfill ends the worker's attempt on job: done, to be retried at
// retryAt, or given up. It is ErrClaimLost when another worker took the job.
func (s *State) EndBackfill(ctx context.Context, job BackfillJob, end BackfillEnd, retryAt, now time.Time) error {
	_, err := s.update(ctx, nil, now, func(tx Tx) (Insight, error) {
		scan, err := heldScan(tx, job)
		if err != nil {
			return Insight{}, err
		}
		b := scan.Backfill
		b.Owner, b.Lease = "", time.Time{}
		switch end {
		case BackfillEndDone:
			b.State = BackfillDone
		case BackfillEndRetry:
			b.Attempts++
			b.Due = retryAt
		case BackfillEndGiveUp:
			b.Attempts++
			b.State = BackfillGaveUp
		case BackfillEndRelease:
			b.Due = retryAt
		}
		tx.PutScan(job.ID, scan)
		return Insight{}, nil
	})
	return err
}

// BackfillSummary is what the last-scan figures say after a backfill.
type BackfillSummary struct {
	Backfilled, Undelivered *int64
}

// BackfillSummary reads job's scan's figures from its domain's record;
// empty when a later scan of the domain finished since.
func (s *State) BackfillSummary(ctx context.Context, job BackfillJob) (BackfillSummary, error) {
	var out BackfillSummary
	_, err := s.update(ctx, nil, time.Time{}, func(tx Tx) (Insight, error) {
		out = BackfillSummary{}
		domain, err := tx.Domain(job.Domain)
		if err == nil && domain.LastScan != nil && domain.LastScan.Scan == job.ID {
			out = BackfillSummary{Backfilled: domain.LastScan.Backfilled, Undelivered: domain.LastScan.Undelivered}
		}
		return Insight{}, err
	})
	return out, err
}

// ErrBackfillGone is a job whose scan was forgotten (its retention ended,
// or the bound on closed scans evicted it) while a worker held it.
var ErrBackfillGone = errors.New("the scan of the backfill was forgotten")

// heldScan reads job's scan, which its worker must still hold.
func heldScan(tx Tx, job BackfillJob) (ScanRecord, error) {
	scan, found, err := tx.Scan(job.ID)
	switch {
	case err != nil:
		return ScanRecord{}, err
	case !found || !scan.Backfill.active():
		return ScanRecord{}, ErrBackfillGone
	case scan.Backfill.Owner != job.owner:
		return ScanRecord{}, ErrClaimLost
	}
	return scan, nil
}

// RenewBackfill extends the worker's hold on job to now+lease; it is
// ErrClaimLost when another worker took the job over.
func (s *State) RenewBackfill(ctx context.Context, job BackfillJob, now time.Time, lease time.Duration) error {
	_, err := s.update(ctx, nil, now, func(tx Tx) (Insight, error) {
		scan, err := heldScan(tx, job)
		if err != nil {
			return Insight{}, err
		}
		scan.Backfill.Lease = now.Add(lease)
		tx.PutScan(job.ID, scan)
		return Insight{}, nil
	})
	return err
}

// reportedLevels are the levels a finished scan's withheld count covers.
var reportedLevels = map[string]bool{"critical": true, "high": true, "medium": true}

// keys is a set of finding keys.
type keys map[string]struct{}

func keySet(list []string) keys {
	k := make(keys, len(list))
	k.add(list)
	return k
}

func (k keys) add(list []string) {
	for _, key := range list {
		k[key] = struct{}{}
	}
}

func (k keys) any(list []string) bool {
	for _, key := range list {
		if _, ok := k[key]; ok {
			return true
		}
	}
	return false
}

// scanIDOf is the scan id in a state key; empty for a made-up one.
func scanIDOf(id string) string {
	_, scanID, _ := strings.Cut(id, scanKeySeparator)
	return scanID
}
