package state

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// Keys in the storage extension. The snapshot holds the whole state up to
// a journal entry; each entry after it holds what a group of webhooks
// changed (the records' new values, so replaying is idempotent).
const (
	snapshotKey   = "detectify/snapshot"
	journalPrefix = "detectify/journal/"
	// snapshotVersion changes when the files change incompatibly; another
	// version is ignored, as if there were none.
	snapshotVersion = 2
	// maxJournalEntries makes a snapshot early, so a restart replays at
	// most this many entries.
	maxJournalEntries = 10_000
)

// journal writes the memory backend's changes to a storage extension.
// Changes made by requests running at the same time are written together
// (group commit): a request waits for the next write after its change,
// and that write carries every change made until it began.
type journal struct {
	b      *memoryBackend
	client storage.Client

	// Guarded by b.mu.
	dirty   dirtySet
	changed uint64 // changes made so far
	epoch   string
	seq     uint64 // last journal entry written
	// entries since the last snapshot, and whether one is wanted.
	entries      uint64
	wantSnapshot bool

	kick    chan struct{}
	stop    chan struct{}
	stopped chan struct{}

	mu        sync.Mutex
	committed uint64 // changes durable so far
	attempts  uint64 // writes begun
	// The last failed write: its number, the changes it was to carry and
	// its error.
	failedAttempt uint64
	failedAt      uint64
	err           error
	progress      chan struct{} // closed after each write attempt
}

type dirtySet struct {
	claims  map[Key]bool
	scans   map[string]bool
	domains map[string]bool
	counts  map[string]bool
}

func newDirtySet() dirtySet {
	return dirtySet{claims: map[Key]bool{}, scans: map[string]bool{}, domains: map[string]bool{}, counts: map[string]bool{}}
}

// snapshotFile is the whole state.
type snapshotFile struct {
	Version int `json:"version"`
	// Epoch names the run of snapshots and entries: an entry of another
	// epoch (left by a state that could not be read) is not replayed.
	Epoch   string                  `json:"epoch"`
	Seq     uint64                  `json:"seq"`
	Start   time.Time               `json:"start"`
	Claims  []savedClaim            `json:"claims"`
	Scans   map[string]ScanRecord   `json:"scans"`
	Domains map[string]DomainRecord `json:"domains"`
	Counts  map[string]DomainCounts `json:"counts"`
}

type savedClaim struct {
	Key string `json:"key"` // hex
	claimRecord
}

// entryFile is one group of changes; a null value is a deletion.
type entryFile struct {
	Epoch   string                   `json:"epoch"`
	Seq     uint64                   `json:"seq"`
	Claims  map[string]*claimRecord  `json:"claims,omitempty"`
	Scans   map[string]*ScanRecord   `json:"scans,omitempty"`
	Domains map[string]*DomainRecord `json:"domains,omitempty"`
	Counts  map[string]*DomainCounts `json:"counts,omitempty"`
}

func newJournal(b *memoryBackend, client storage.Client) *journal {
	j := &journal{
		b: b, client: client, dirty: newDirtySet(),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{}),
		progress: make(chan struct{}),
	}
	return j
}

// start runs the writer until close or until ctx ends; ctx bounds each
// write.
func (j *journal) start(ctx context.Context) {
	go func() {
		defer close(j.stopped)
		for {
			select {
			case <-j.stop:
				return
			case <-ctx.Done():
				return
			case <-j.kick:
				j.write(ctx)
			}
		}
	}()
}

// sync returns once every change made before it was called is written,
// or with the error of a write begun after it was called that was to
// carry them.
func (j *journal) sync(ctx context.Context) error {
	j.b.mu.Lock()
	target := j.changed
	j.b.mu.Unlock()
	j.mu.Lock()
	next := j.attempts + 1
	j.mu.Unlock()
	for {
		j.mu.Lock()
		committed, failedAttempt, failedAt, err, progress := j.committed, j.failedAttempt, j.failedAt, j.err, j.progress
		j.mu.Unlock()
		switch {
		case committed >= target:
			return nil
		case failedAttempt >= next && failedAt >= target:
			return fmt.Errorf("%w: storage: %w", ErrUnavailable, err)
		}
		select {
		case j.kick <- struct{}{}:
		default: // a write is already asked for
		}
		select {
		case <-progress:
		case <-ctx.Done():
			return fmt.Errorf("%w: storage: %w", ErrUnavailable, ctx.Err())
		case <-j.stopped:
			return fmt.Errorf("%w: storage: the receiver is shutting down", ErrUnavailable)
		}
	}
}

// requestSnapshot asks for the next write to be a snapshot.
func (j *journal) requestSnapshot() {
	j.b.mu.Lock()
	j.wantSnapshot = true
	j.b.mu.Unlock()
	select {
	case j.kick <- struct{}{}:
	default:
	}
}

// write writes what changed since the last write: a journal entry, or a
// snapshot (and drops the entries it supersedes).
func (j *journal) write(ctx context.Context) {
	j.mu.Lock()
	j.attempts++
	attempt := j.attempts
	j.mu.Unlock()
	b := j.b
	b.mu.Lock()
	target := j.changed
	snapshot := j.wantSnapshot || j.entries >= maxJournalEntries
	var ops []*storage.Operation
	var taken dirtySet
	var err error
	if snapshot {
		var raw []byte
		raw, err = json.Marshal(j.snapshotLocked())
		ops = append(ops, storage.SetOperation(snapshotKey, raw))
		for seq := j.seq - j.entries + 1; seq <= j.seq && j.entries > 0; seq++ {
			ops = append(ops, storage.DeleteOperation(journalPrefix+strconv.FormatUint(seq, 10)))
		}
	} else if j.changedSinceWriteLocked() {
		var raw []byte
		raw, err = json.Marshal(j.entryLocked(j.seq + 1))
		ops = append(ops, storage.SetOperation(journalPrefix+strconv.FormatUint(j.seq+1, 10), raw))
	}
	taken, j.dirty = j.dirty, newDirtySet()
	b.mu.Unlock()

	if err == nil && len(ops) > 0 {
		err = j.client.Batch(ctx, ops...)
	}

	b.mu.Lock()
	if err != nil {
		j.dirty.merge(taken) // written by the next attempt
	} else if snapshot {
		j.entries, j.wantSnapshot = 0, false
	} else if len(ops) > 0 {
		j.seq++
		j.entries++
	}
	b.mu.Unlock()

	j.mu.Lock()
	if err != nil {
		j.failedAttempt, j.failedAt, j.err = attempt, target, err
	} else {
		j.committed = max(j.committed, target)
	}
	close(j.progress)
	j.progress = make(chan struct{})
	j.mu.Unlock()
}

func (j *journal) changedSinceWriteLocked() bool {
	d := j.dirty
	return len(d.claims)+len(d.scans)+len(d.domains)+len(d.counts) > 0
}

func (d dirtySet) merge(other dirtySet) {
	maps.Copy(d.claims, other.claims)
	maps.Copy(d.scans, other.scans)
	maps.Copy(d.domains, other.domains)
	maps.Copy(d.counts, other.counts)
}

// savedClaimRecord is how a claim is saved: one in flight is saved as
// pending, so that after a crash its redelivery is processed, not refused.
func savedClaimRecord(rec claimRecord) claimRecord {
	if rec.State == claimInFlight {
		rec.State, rec.Owner = claimPending, ""
	}
	return rec
}

func (j *journal) entryLocked(seq uint64) entryFile {
	b := j.b
	e := entryFile{Epoch: j.epoch, Seq: seq, Claims: map[string]*claimRecord{}, Scans: map[string]*ScanRecord{},
		Domains: map[string]*DomainRecord{}, Counts: map[string]*DomainCounts{}}
	for key := range j.dirty.claims {
		var rec *claimRecord
		if c, ok := b.claimRecordLocked(key); ok {
			saved := savedClaimRecord(c)
			rec = &saved
		}
		e.Claims[hex.EncodeToString(key[:])] = rec
	}
	for id := range j.dirty.scans {
		var rec *ScanRecord
		if s, ok := b.scans[id]; ok {
			rec = &s.ScanRecord
		}
		e.Scans[id] = rec
	}
	for name := range j.dirty.domains {
		var rec *DomainRecord
		if d, ok := b.domains[name]; ok {
			rec = &d.DomainRecord
		}
		e.Domains[name] = rec
	}
	counts := b.counts.snapshot(slices.Collect(maps.Keys(j.dirty.counts)))
	for name := range j.dirty.counts {
		var rec *DomainCounts
		if c, ok := counts[name]; ok {
			rec = &c
		}
		e.Counts[name] = rec
	}
	return e
}

func (j *journal) snapshotLocked() snapshotFile {
	b := j.b
	s := snapshotFile{Version: snapshotVersion, Epoch: j.epoch, Seq: j.seq, Start: b.counts.Start(),
		Scans: make(map[string]ScanRecord, len(b.scans)), Domains: make(map[string]DomainRecord, len(b.domains)),
		Counts: b.counts.snapshot(b.counts.all())}
	b.claimOrder.each(b.claimLive, func(e queued[Key]) bool {
		s.Claims = append(s.Claims, savedClaim{Key: hex.EncodeToString(e.key[:]), claimRecord: savedClaimRecord(b.claims[e.key].claimRecord)})
		return true
	})
	b.settled.each(func(key Key, added time.Time) {
		s.Claims = append(s.Claims, savedClaim{Key: hex.EncodeToString(key[:]), claimRecord: claimRecord{State: claimSettled, Added: added}})
	})
	for id, scan := range b.scans {
		s.Scans[id] = scan.ScanRecord
	}
	for name, d := range b.domains {
		s.Domains[name] = d.DomainRecord
	}
	return s
}

// errUnusableState is a saved state that cannot be read: it is reported
// and replaced, where a storage that cannot be reached fails the start.
var errUnusableState = errors.New("the saved state cannot be used")

// load reads the saved state into the backend, before it serves anything.
// It reports whether there was one.
func (j *journal) load(ctx context.Context, now time.Time) (bool, error) {
	j.epoch = newEpoch()
	raw, err := j.client.Get(ctx, snapshotKey)
	if err != nil {
		return false, fmt.Errorf("%w: storage: %w", ErrUnavailable, err)
	}
	snap := snapshotFile{Version: snapshotVersion, Epoch: j.epoch}
	if raw == nil {
		found, err := j.loadVersion1(ctx, &snap)
		if err != nil || !found {
			return false, err
		}
		j.wantSnapshot = true // in this version's files from now on
	} else {
		if err := json.Unmarshal(raw, &snap); err != nil {
			return false, fmt.Errorf("%w: it is not JSON: %w", errUnusableState, err)
		}
		if snap.Version != snapshotVersion {
			return false, fmt.Errorf("%w: it has version %d, this receiver reads %d", errUnusableState, snap.Version, snapshotVersion)
		}
	}
	j.epoch = snap.Epoch
	state := loadedState{claims: map[string]*claimRecord{}, scans: map[string]*ScanRecord{},
		domains: map[string]*DomainRecord{}, counts: map[string]*DomainCounts{}}
	for _, c := range snap.Claims {
		state.claims[c.Key] = &c.claimRecord
	}
	for id, s := range snap.Scans {
		state.scans[id] = &s
	}
	for name, d := range snap.Domains {
		state.domains[name] = &d
	}
	for name, c := range snap.Counts {
		state.counts[name] = &c
	}
	j.seq = snap.Seq
	for {
		raw, err := j.client.Get(ctx, journalPrefix+strconv.FormatUint(j.seq+1, 10))
		if err != nil {
			return false, fmt.Errorf("%w: storage: %w", ErrUnavailable, err)
		}
		if raw == nil {
			break
		}
		var e entryFile
		if err := json.Unmarshal(raw, &e); err != nil {
			return false, fmt.Errorf("%w: journal entry %d is not JSON: %w", errUnusableState, j.seq+1, err)
		}
		if e.Epoch != j.epoch {
			break // left by an earlier run whose state was replaced
		}
		maps.Copy(state.claims, e.Claims)
		maps.Copy(state.scans, e.Scans)
		maps.Copy(state.domains, e.Domains)
		maps.Copy(state.counts, e.Counts)
		j.seq++
		j.entries++
	}
	j.b.restore(snap.Start, state, now)
	return true, nil
}

// loadedState is the saved state with the journal applied; nil values are
// deleted records.
type loadedState struct {
	claims  map[string]*claimRecord
	scans   map[string]*ScanRecord
	domains map[string]*DomainRecord
	counts  map[string]*DomainCounts
}

// restore fills the backend from a loaded state: expired claims are
// dropped, and the indexes rebuilt in their original order.
func (b *memoryBackend) restore(start time.Time, s loadedState, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	counts := make(map[string]DomainCounts, len(s.counts))
	for name, c := range s.counts {
		if c != nil {
			counts[name] = *c
		}
	}
	b.counts.restore(start, counts)

	type keyed[T any] struct {
		key string
		rec T
	}
	var claims []keyed[*claimRecord]
	for k, c := range s.claims {
		if c != nil {
			claims = append(claims, keyed[*claimRecord]{k, c})
		}
	}
	slices.SortFunc(claims, func(a, b keyed[*claimRecord]) int { return a.rec.Added.Compare(b.rec.Added) })
	for _, c := range claims {
		raw, err := hex.DecodeString(c.key)
		if err != nil || len(raw) != len(Key{}) || !b.cfg.dedup() || now.Sub(c.rec.Added) >= b.cfg.DedupWindow {
			continue
		}
		b.restoreClaimLocked(Key(raw), *c.rec)
	}
	var scans []keyed[*ScanRecord]
	for id, rec := range s.scans {
		if rec != nil {
			scans = append(scans, keyed[*ScanRecord]{id, rec})
		}
	}
	slices.SortFunc(scans, func(a, b keyed[*ScanRecord]) int {
		return cmp.Or(a.rec.FirstSeen.Compare(b.rec.FirstSeen), a.rec.Closed.Compare(b.rec.Closed), cmp.Compare(a.key, b.key))
	})
	for _, s := range scans {
		if s.rec.Backfill != nil {
			// Whoever held it was this process, before it stopped.
			s.rec.Backfill.Owner, s.rec.Backfill.Lease = "", time.Time{}
		}
		b.putScanLocked(s.key, *s.rec, s.rec.FirstSeen)
	}
	var domains []keyed[*DomainRecord]
	for name, rec := range s.domains {
		if rec != nil {
			domains = append(domains, keyed[*DomainRecord]{name, rec})
		}
	}
	slices.SortFunc(domains, func(a, b keyed[*DomainRecord]) int { return a.rec.Updated.Compare(b.rec.Updated) })
	for _, d := range domains {
		b.putDomainLocked(d.key, *d.rec, d.rec.Updated)
	}
	if b.journal != nil {
		b.journal.dirty = newDirtySet() // what was restored is already saved
	}
}

// close writes a last snapshot, so the next start replays nothing, and
// releases the client. It gives up when ctx ends before a write that is
// running does (the receiver has then cancelled the writes' context).
func (j *journal) close(ctx context.Context) error {
	close(j.stop)
	select {
	case <-j.stopped:
	case <-ctx.Done():
		return fmt.Errorf("storage: a write was still running at shutdown: %w", ctx.Err())
	}
	j.requestSnapshot()
	j.write(ctx)
	j.mu.Lock()
	var err error
	if j.failedAttempt == j.attempts {
		err = fmt.Errorf("storage: the state could not be saved at shutdown: %w", j.err)
	}
	j.mu.Unlock()
	return errors.Join(err, j.client.Close(ctx))
}

// newEpoch returns a name no earlier run used.
func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
