package state

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"
)

// load reads the saved state into the backend, before it serves anything:
// the compacted chunks its manifest names, then the journal after them. It
// reports whether there was one; a state of an earlier version is read
// and rewritten by the first compaction.
func (j *journal) load(ctx context.Context, now time.Time) (bool, error) {
	j.epoch = newEpoch()
	raw, err := j.client.Get(ctx, manifestKey)
	if err != nil {
		return false, fmt.Errorf("%w: storage: %w", ErrUnavailable, err)
	}
	state := newLoadedState()
	var start time.Time
	legacy := raw == nil
	if legacy {
		found, err := j.loadLegacy(ctx, state, &start)
		if err != nil || !found {
			return false, err
		}
		// The first compaction purges this version's entries after it.
		j.compactor.manifest.Seq = j.seq
	} else {
		var m manifestFile
		if err := json.Unmarshal(raw, &m); err != nil {
			return false, fmt.Errorf("%w: its manifest is not JSON: %w", errUnusableState, err)
		}
		if m.Version != manifestVersion {
			return false, fmt.Errorf("%w: it has version %d, this receiver reads %d", errUnusableState, m.Version, manifestVersion)
		}
		if err := j.loadChunks(ctx, m, state); err != nil {
			return false, err
		}
		j.epoch, j.seq, start = m.Epoch, m.Seq, m.Start
		j.compactor.manifest = m
	}
	if err := j.replay(ctx, state, legacy); err != nil {
		return false, err
	}
	j.b.restore(start, state, now)
	if legacy {
		j.compactor.request() // in this version's files from now on
	}
	return true, nil
}

// startFresh names a new, empty state in the storage. The writer writes
// its manifest first, with the first entry if there is one, so that the
// entries written before the first compaction are replayed after a crash;
// and a storage that does not answer does not hold the start up.
func (j *journal) startFresh() error {
	m := manifestFile{Version: manifestVersion, Epoch: j.epoch, Start: j.b.counts.Start()}
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	j.compactor.manifest = m
	j.b.mu.Lock()
	j.seq, j.entries, j.freshManifest = 0, 0, raw
	j.changed++ // a change to sync: a compaction's manifest must come after it
	j.b.mu.Unlock()
	j.kickWriter()
	return nil
}

func (j *journal) loadChunks(ctx context.Context, m manifestFile, state *loadedState) error {
	for n := range m.Chunks {
		raw, err := j.client.Get(ctx, chunkKey(m.Gen, n))
		if err != nil {
			return fmt.Errorf("%w: storage: %w", ErrUnavailable, err)
		}
		if raw == nil {
			return fmt.Errorf("%w: chunk %d of %d is missing", errUnusableState, n, m.Chunks)
		}
		for line := range bytes.Lines(raw) {
			var l chunkLine
			if err := json.Unmarshal(line, &l); err != nil {
				return fmt.Errorf("%w: chunk %d is not JSON lines: %w", errUnusableState, n, err)
			}
			switch {
			case l.Claim != nil:
				state.claims[l.K] = l.Claim
			case l.Scan != nil:
				state.scans[l.K] = l.Scan
			case l.Domain != nil:
				state.domains[l.K] = l.Domain
			case l.Counts != nil:
				state.counts[l.K] = l.Counts
			}
		}
	}
	return nil
}

// replay applies the journal entries after j.seq, in order, until one is
// missing or belongs to another epoch (left by a state that could not be
// read). After an earlier version's state, its entries come first.
func (j *journal) replay(ctx context.Context, state *loadedState, legacy bool) error {
	for {
		key := entryKey(j.seq + 1)
		raw, err := j.client.Get(ctx, key)
		if err == nil && raw == nil && legacy {
			key = legacyJournalPrefix + strconv.FormatUint(j.seq+1, 10)
			raw, err = j.client.Get(ctx, key)
			j.compactor.legacy = append(j.compactor.legacy, key)
		}
		if err != nil {
			return fmt.Errorf("%w: storage: %w", ErrUnavailable, err)
		}
		if raw == nil {
			return nil
		}
		var e entryFile
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("%w: journal entry %d is not JSON: %w", errUnusableState, j.seq+1, err)
		}
		if e.Epoch != j.epoch {
			return nil
		}
		maps.Copy(state.claims, e.Claims)
		state.applyScans(e)
		maps.Copy(state.domains, e.Domains)
		maps.Copy(state.counts, e.Counts)
		j.seq++
		j.entries++
	}
}

// loadedState is the saved state with the journal applied; nil values are
// deleted records.
type loadedState struct {
	claims  map[string]*claimRecord
	scans   map[string]*ScanRecord
	domains map[string]*DomainRecord
	counts  map[string]*DomainCounts
}

func newLoadedState() *loadedState {
	return &loadedState{claims: map[string]*claimRecord{}, scans: map[string]*ScanRecord{},
		domains: map[string]*DomainRecord{}, counts: map[string]*DomainCounts{}}
}

// applyScans applies an entry's scans: each whole, or its record and
// what changed of the findings it had.
func (s *loadedState) applyScans(e entryFile) {
	for id, in := range e.Scans {
		if in == nil || in.ScanRecord == nil {
			s.scans[id] = nil
			continue
		}
		rec := in.ScanRecord
		if in.Changed != nil {
			rec.ScanFindings = ScanFindings{}
			if prev := s.scans[id]; prev != nil {
				rec.ScanFindings = prev.ScanFindings
			}
			in.Changed.applyTo(&rec.ScanFindings)
		}
		s.scans[id] = rec
	}
}

// restore fills the backend from a loaded state: expired claims are
// dropped, and the indexes rebuilt in their original order.
func (b *memoryBackend) restore(start time.Time, s *loadedState, now time.Time) {
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
		s.rec.adoptLimitedTitles()
		b.putScanLocked(s.key, *s.rec, s.rec.FirstSeen)
		if restored := b.scans[s.key]; restored != nil { // not over the bound on closed scans
			restored.ScanFindings = s.rec.ScanFindings
		}
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
