package state

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
)

const (
	// chunkSize bounds a compacted chunk: the storage extension never holds
	// a large value, which a B-tree rewrites whenever a neighbour changes.
	chunkSize = 64 << 10
	// compactBatch bounds the records read under the backend's lock at a
	// time: a compaction never holds the webhooks up for long.
	compactBatch = 256
	// purgeBatch bounds the deletions of one write.
	purgeBatch = 1000
)

func chunkKey(gen uint64, n int) string { return fmt.Sprintf("%s%016x/%08x", chunkKeyPrefix, gen, n) }

// manifestFile names the compacted state and where the journal resumes.
type manifestFile struct {
	Version int       `json:"version"`
	Epoch   string    `json:"epoch"`
	Start   time.Time `json:"start"`
	// Seq is the last journal entry the chunks supersede: a start replays
	// the entries after it.
	Seq    uint64 `json:"seq"`
	Gen    uint64 `json:"gen"`
	Chunks int    `json:"chunks"`
	// What its compaction deletes once it is written: the entries from
	// PurgeFrom to Seq and the previous generation's chunks. A start after
	// a crash half way through deletes them again.
	PurgeFrom  uint64 `json:"purge_from,omitempty"`
	PrevGen    uint64 `json:"prev_gen,omitempty"`
	PrevChunks int    `json:"prev_chunks,omitempty"`
}

// chunkLine is one record of a compacted chunk, keyed by K.
type chunkLine struct {
	K      string        `json:"k"`
	Claim  *claimRecord  `json:"c,omitempty"`
	Scan   *ScanRecord   `json:"s,omitempty"`
	Domain *DomainRecord `json:"d,omitempty"`
	Counts *DomainCounts `json:"n,omitempty"`
}

// compactor rewrites the journal as chunks of the current state, in the
// background. The compaction is fuzzy: it reads the records a few at a
// time while webhooks go on changing them, and is replayed from the last
// entry written before it began. That is exact because every entry holds
// the whole new value of what it changed (of a scan's findings, what they
// forgot first, then each new value): a record read half way is
// overwritten by the entries after it.
type compactor struct {
	want chan struct{}
	done chan struct{}

	mu       sync.Mutex // one compaction at a time
	manifest manifestFile
	// legacy are an earlier version's keys, deleted once this version's
	// first compaction is written.
	legacy []string
}

func newCompactor() compactor {
	return compactor{want: make(chan struct{}, 1), done: make(chan struct{})}
}

// request asks for a compaction, without waiting for it.
func (c *compactor) request() {
	select {
	case c.want <- struct{}{}:
	default:
	}
}

func (c *compactor) start(ctx context.Context, j *journal) {
	go func() {
		defer close(c.done)
		// What a compaction before a restart left undeleted.
		c.mu.Lock()
		_ = j.purge(ctx, c.manifest, nil)
		c.mu.Unlock()
		for {
			select {
			case <-j.stop:
				return
			case <-ctx.Done():
				return
			case <-c.want:
				// A failure leaves the journal as it is: replayed from the
				// last manifest, and compacted at the next request.
				_ = j.compact(ctx, j.sync)
			}
		}
	}()
}

// wait returns once the compactor stopped, or with ctx's error.
func (c *compactor) wait(ctx context.Context) error {
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("storage: a compaction was still running at shutdown: %w", ctx.Err())
	}
}

// compact writes the state as chunks of a new generation, then the
// manifest naming them, then deletes what they supersede. flush makes
// every change made so far durable in the journal.
func (j *journal) compact(ctx context.Context, flush func(context.Context) error) error {
	c := &j.compactor
	c.mu.Lock()
	defer c.mu.Unlock()
	b := j.b

	b.mu.Lock()
	from := j.seq // what the chunks read is, at least, the state up to it
	scans := slices.Collect(maps.Keys(b.scans))
	domains := slices.Collect(maps.Keys(b.domains))
	claims := slices.Collect(maps.Keys(b.claims))
	var settled []chunkLine // immutable once settled: copied, written after
	b.settled.each(func(key Key, added time.Time) {
		settled = append(settled, chunkLine{K: hex.EncodeToString(key[:]), Claim: &claimRecord{State: claimSettled, Added: added}})
	})
	b.mu.Unlock()

	w := chunkWriter{ctx: ctx, client: j.client, gen: c.manifest.Gen + 1}
	err := lockedLines(&w, b, claims, func(k Key) (chunkLine, bool) {
		rec, ok := b.claimRecordLocked(k)
		saved := savedClaimRecord(rec)
		return chunkLine{K: hex.EncodeToString(k[:]), Claim: &saved}, ok && rec.State != claimSettled
	})
	for _, line := range settled {
		err = w.add(err, line)
	}
	if err == nil {
		err = lockedLines(&w, b, scans, func(id string) (chunkLine, bool) {
			s, ok := b.scans[id]
			if !ok {
				return chunkLine{}, false
			}
			return chunkLine{K: id, Scan: &s.ScanRecord}, true
		})
	}
	if err == nil {
		err = lockedLines(&w, b, domains, func(name string) (chunkLine, bool) {
			d, ok := b.domains[name]
			if !ok {
				return chunkLine{}, false
			}
			return chunkLine{K: name, Domain: &d.DomainRecord}, true
		})
	}
	for name, counts := range b.counts.snapshot(b.counts.all()) {
		err = w.add(err, chunkLine{K: name, Counts: &counts})
	}
	err = w.flush(err)
	if err == nil {
		// Everything the chunks read is in the journal before the manifest
		// names them: replaying it makes records read half way through a
		// group of changes whole again.
		err = flush(ctx)
	}
	if err != nil {
		return err
	}
	m := manifestFile{Version: manifestVersion, Epoch: j.epoch, Start: b.counts.Start(), Seq: from,
		Gen: w.gen, Chunks: w.n, PurgeFrom: c.manifest.Seq + 1, PrevGen: c.manifest.Gen, PrevChunks: c.manifest.Chunks}
	if err := j.writeManifest(ctx, m); err != nil {
		return err
	}
	b.mu.Lock()
	j.entries = j.seq - from
	b.mu.Unlock()
	if err := j.purge(ctx, m, c.legacy); err != nil {
		return err
	}
	c.legacy = nil
	return nil
}

// writeManifest writes m and makes it the compactor's.
func (j *journal) writeManifest(ctx context.Context, m manifestFile) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := j.client.Batch(ctx, storage.SetOperation(manifestKey, raw)); err != nil {
		return fmt.Errorf("%w: storage: %w", ErrUnavailable, err)
	}
	j.compactor.manifest = m
	return nil
}

// purge deletes what m supersedes, and more keys, a batch at a time.
func (j *journal) purge(ctx context.Context, m manifestFile, more []string) error {
	var keys []string
	for seq := max(m.PurgeFrom, 1); seq <= m.Seq && m.PurgeFrom > 0; seq++ {
		keys = append(keys, entryKey(seq))
	}
	if m.PrevGen != m.Gen {
		for n := range m.PrevChunks {
			keys = append(keys, chunkKey(m.PrevGen, n))
		}
	}
	keys = append(keys, more...)
	for batch := range slices.Chunk(keys, purgeBatch) {
		ops := make([]*storage.Operation, len(batch))
		for i, k := range batch {
			ops[i] = storage.DeleteOperation(k)
		}
		if err := j.client.Batch(ctx, ops...); err != nil {
			return fmt.Errorf("%w: storage: %w", ErrUnavailable, err)
		}
	}
	return nil
}

// chunkWriter cuts lines into chunks of the generation gen and writes
// each as it fills.
type chunkWriter struct {
	ctx    context.Context
	client storage.Client
	gen    uint64
	buf    bytes.Buffer
	n      int // chunks written
}

// lockedLines adds the line of each key, read under the backend's lock a
// batch at a time; a key whose record is gone is left out.
func lockedLines[K comparable](w *chunkWriter, b *memoryBackend, keys []K, line func(K) (chunkLine, bool)) error {
	var err error
	for batch := range slices.Chunk(keys, compactBatch) {
		b.mu.Lock()
		for _, k := range batch {
			if l, ok := line(k); ok {
				err = w.append(err, l)
			}
		}
		b.mu.Unlock()
		if err == nil && w.buf.Len() >= chunkSize {
			err = w.write()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// append encodes l into the current chunk.
func (w *chunkWriter) append(err error, l chunkLine) error {
	if err != nil {
		return err
	}
	raw, err := json.Marshal(l)
	if err != nil {
		return err
	}
	w.buf.Write(raw)
	w.buf.WriteByte('\n')
	return nil
}

// add appends l and writes the chunk once full.
func (w *chunkWriter) add(err error, l chunkLine) error {
	if err = w.append(err, l); err == nil && w.buf.Len() >= chunkSize {
		err = w.write()
	}
	return err
}

// flush writes what is left.
func (w *chunkWriter) flush(err error) error {
	if err == nil && w.buf.Len() > 0 {
		err = w.write()
	}
	return err
}

func (w *chunkWriter) write() error {
	if err := w.client.Batch(w.ctx, storage.SetOperation(chunkKey(w.gen, w.n), bytes.Clone(w.buf.Bytes()))); err != nil {
		return fmt.Errorf("%w: storage: %w", ErrUnavailable, err)
	}
	w.n++
	w.buf.Reset()
	return nil
}
