package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"

	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// The state in a storage extension is an append-only journal with periodic
// compaction:
//
//   - detectify/j/<seq>: one journal entry per group of concurrent webhooks,
//     holding the new values of the records they changed, and of a scan's
//     findings only those that changed (so replaying is idempotent, and an
//     entry does not grow with its scans). Keys are fixed-width hex, so each
//     entry is appended at the end of the extension's B-tree.
//   - detectify/c/<gen>/<n>: the compacted state, in chunks of at most
//     chunkSize bytes, one JSON record per line: no value is large, and no
//     webhook waits while one is written (compact.go).
//   - detectify/m: the manifest, naming the compacted chunks and the entry
//     after which the journal is replayed.
const (
	manifestKey    = "detectify/m"
	entryKeyPrefix = "detectify/j/"
	chunkKeyPrefix = "detectify/c/"
	// manifestVersion changes when the files change incompatibly; another
	// version is an unusable state.
	manifestVersion = 3
	// maxJournalEntries compacts early, so that a restart replays at most
	// about this many entries.
	maxJournalEntries = 10_000
)

func entryKey(seq uint64) string { return fmt.Sprintf("%s%016x", entryKeyPrefix, seq) }

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
	entries uint64 // entries written since the last compaction began
	// entrySize is the last entry's: the next one's buffer.
	entrySize int
	// freshManifest is a new state's manifest, written with the next entry.
	freshManifest []byte

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

	compactor compactor
}

type dirtySet struct {
	claims map[Key]bool
	scans  map[string]bool
	// What changed of each scan's findings (the scan is among scans): only
	// that is written, so that an entry does not grow with its findings.
	findings map[string]*findingsDirt
	domains  map[string]bool
	counts   map[string]bool
}

func newDirtySet() dirtySet {
	return dirtySet{claims: map[Key]bool{}, scans: map[string]bool{}, findings: map[string]*findingsDirt{},
		domains: map[string]bool{}, counts: map[string]bool{}}
}

// findingsDirt is what changed of a scan's findings since the last entry.
type findingsDirt struct {
	whole                bool     // not every change is here: write the scan whole
	dropTitles, dropSeen bool     // forgotten first
	titles               []string // counted
	seen                 []string // added
}

// countTitle notes that title was counted.
func (d *findingsDirt) countTitle(title string) {
	if !slices.Contains(d.titles, title) {
		d.titles = append(d.titles, title)
	}
}

// reset notes that the scan's titles, and its seen findings when seen,
// were forgotten: what changed of them before no longer matters.
func (d *findingsDirt) reset(seen bool) {
	d.dropTitles, d.titles = true, nil
	if seen {
		d.dropSeen, d.seen = true, nil
	}
}

// delta is what an entry writes of d, with the counts s has now; an empty
// one when d is nil (the record changed, not its findings).
func (d *findingsDirt) delta(s *memScan) *findingsDelta {
	if d == nil {
		return &findingsDelta{}
	}
	delta := &findingsDelta{DropTitles: d.dropTitles, DropSeen: d.dropSeen, Seen: d.seen}
	for _, title := range d.titles {
		if delta.Titles == nil {
			delta.Titles = make(map[string]int64, len(d.titles))
		}
		delta.Titles[title] = s.ByTitle[title]
	}
	return delta
}

// entryFile is one group of changes; a null value is a deletion.
type entryFile struct {
	Epoch   string                   `json:"epoch"`
	Seq     uint64                   `json:"seq"`
	Claims  map[string]*claimRecord  `json:"claims,omitempty"`
	Scans   map[string]*entryScan    `json:"scans,omitempty"`
	Domains map[string]*DomainRecord `json:"domains,omitempty"`
	Counts  map[string]*DomainCounts `json:"counts,omitempty"`
}

// entryScan is a scan in an entry: whole, or, once its findings are more
// than wholeFindings, its record without them and what changed of them
// since the last entry (Changed).
type entryScan struct {
	*ScanRecord
	Changed *findingsDelta `json:"changed,omitempty"`
}

// wholeFindings is the most findings (titles counted and delivered
// findings) a scan is written with: fewer cost fewer bytes whole than as
// changes, more would make every entry grow with its scan.
const wholeFindings = 8

// findingsDelta is what an entry changes of a scan's findings: what it
// forgets, then the new count of each title it counted and the findings
// it saw. Applying it again changes nothing.
type findingsDelta struct {
	DropTitles bool             `json:"drop_titles,omitempty"`
	DropSeen   bool             `json:"drop_seen,omitempty"`
	Titles     map[string]int64 `json:"titles,omitempty"`
	Seen       []string         `json:"seen,omitempty"`
}

func (d *findingsDelta) applyTo(f *ScanFindings) {
	if d.DropTitles {
		f.ByTitle = nil
	}
	if d.DropSeen {
		f.Seen = nil
	}
	for title, n := range d.Titles {
		if f.ByTitle == nil {
			f.ByTitle = make(map[string]int64, len(d.Titles))
		}
		f.ByTitle[title] = n
	}
	for _, key := range d.Seen {
		if !slices.Contains(f.Seen, key) {
			f.Seen = append(f.Seen, key)
		}
	}
}

func newJournal(b *memoryBackend, client storage.Client) *journal {
	j := &journal{
		b: b, client: client, dirty: newDirtySet(),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{}),
		progress: make(chan struct{}),
	}
	j.compactor = newCompactor()
	return j
}

// start runs the writer and the compactor until close or until ctx ends;
// ctx bounds each write.
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
				// Let the requests that are ready to run make their changes
				// first: they join this write instead of waiting for the next.
				runtime.Gosched()
				j.write(ctx)
			}
		}
	}()
	j.compactor.start(ctx, j)
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
		j.kickWriter()
		select {
		case <-progress:
		case <-ctx.Done():
			return fmt.Errorf("%w: storage: %w", ErrUnavailable, ctx.Err())
		case <-j.stopped:
			return fmt.Errorf("%w: storage: the receiver is shutting down", ErrUnavailable)
		}
	}
}

// kickWriter asks for a write, unless one is already asked for.
func (j *journal) kickWriter() {
	select {
	case j.kick <- struct{}{}:
	default:
	}
}

// write appends what changed since the last write as one journal entry.
func (j *journal) write(ctx context.Context) {
	j.mu.Lock()
	j.attempts++
	attempt := j.attempts
	j.mu.Unlock()
	b := j.b
	b.mu.Lock()
	target := j.changed
	var ops []*storage.Operation
	var err error
	if j.freshManifest != nil {
		ops = append(ops, storage.SetOperation(manifestKey, j.freshManifest))
	}
	written := j.changedSinceWriteLocked()
	seq := j.seq + 1
	if written {
		// A new buffer each time: a storage extension may keep the value.
		var raw []byte
		raw, err = j.appendEntryLocked(make([]byte, 0, j.entrySize), seq)
		j.entrySize = len(raw)
		ops = append(ops, storage.SetOperation(entryKey(seq), raw))
	}
	taken := j.dirty
	j.dirty = newDirtySet()
	b.mu.Unlock()

	if err == nil && len(ops) > 0 {
		err = j.client.Batch(ctx, ops...)
	}

	b.mu.Lock()
	compact := false
	if err != nil {
		j.dirty.merge(taken) // written by the next attempt
	} else {
		j.freshManifest = nil
		if written {
			j.seq = seq
			j.entries++
			compact = j.entries >= maxJournalEntries
		}
	}
	b.mu.Unlock()
	if compact {
		j.compactor.request()
	}

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

// merge adds other, the changes of a write that failed, to d, the changes
// made since it began.
func (d dirtySet) merge(other dirtySet) {
	maps.Copy(d.claims, other.claims)
	maps.Copy(d.scans, other.scans)
	for id, older := range other.findings {
		if newer := d.findings[id]; newer != nil {
			older.merge(newer)
		}
		d.findings[id] = older
	}
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

// merge adds newer, what changed after d, to d.
func (d *findingsDirt) merge(newer *findingsDirt) {
	d.whole = d.whole || newer.whole
	if newer.dropTitles || newer.dropSeen {
		d.reset(newer.dropSeen)
	}
	for _, title := range newer.titles {
		d.countTitle(title)
	}
	d.seen = append(d.seen, newer.seen...)
}

// requestSnapshot asks for a compaction (every metrics_interval).
func (j *journal) requestSnapshot() { j.compactor.request() }

// close stops the writer and the compactor, then compacts the whole state,
// so the next start replays nothing, and releases the client. It gives up
// when ctx ends before a write that is running does (the receiver has then
// cancelled the writes' context).
func (j *journal) close(ctx context.Context) error {
	close(j.stop)
	select {
	case <-j.stopped:
	case <-ctx.Done():
		return fmt.Errorf("storage: a write was still running at shutdown: %w", ctx.Err())
	}
	if err := j.compactor.wait(ctx); err != nil {
		return err
	}
	err := j.writeNow(ctx) // what changed since the last write, so the compaction covers it
	if err == nil {
		err = j.compact(ctx, j.writeNow)
	}
	if err != nil {
		err = fmt.Errorf("storage: the state could not be saved at shutdown: %w", err)
	}
	return errors.Join(err, j.client.Close(ctx))
}

// writeNow writes what changed, on the caller's goroutine: the writer's
// flush once it has stopped.
func (j *journal) writeNow(ctx context.Context) error {
	j.write(ctx)
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failedAttempt == j.attempts {
		return j.err
	}
	return nil
}

// newEpoch returns a name no earlier run used.
func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// errUnusableState is a saved state that cannot be read: it is reported
// and replaced, where a storage that cannot be reached fails the start.
var errUnusableState = errors.New("the saved state cannot be used")
