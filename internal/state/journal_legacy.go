package state

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// The files of the receiver before the compacted chunks: one snapshot
// value of the whole state, then numbered journal entries. They are read
// once, at the upgrade, and deleted by its first compaction.
const (
	legacySnapshotKey   = "detectify/snapshot"
	legacyJournalPrefix = "detectify/journal/"
	legacySnapshotVer   = 2
)

// snapshotFile is that snapshot: the whole state.
type snapshotFile struct {
	Version int                     `json:"version"`
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

// loadLegacy reads an earlier version's snapshot (or the single value of
// the version before the journal) into state.
func (j *journal) loadLegacy(ctx context.Context, state *loadedState, start *time.Time) (bool, error) {
	raw, err := j.client.Get(ctx, legacySnapshotKey)
	if err != nil {
		return false, fmt.Errorf("%w: storage: %w", ErrUnavailable, err)
	}
	snap := snapshotFile{Version: legacySnapshotVer, Epoch: j.epoch}
	if raw == nil {
		found, err := j.loadVersion1(ctx, &snap)
		if err != nil || !found {
			return false, err
		}
		j.compactor.legacy = append(j.compactor.legacy, version1Key)
	} else {
		if err := json.Unmarshal(raw, &snap); err != nil {
			return false, fmt.Errorf("%w: it is not JSON: %w", errUnusableState, err)
		}
		if snap.Version != legacySnapshotVer {
			return false, fmt.Errorf("%w: it has version %d, this receiver reads %d", errUnusableState, snap.Version, legacySnapshotVer)
		}
		j.compactor.legacy = append(j.compactor.legacy, legacySnapshotKey)
	}
	j.epoch, j.seq, *start = snap.Epoch, snap.Seq, snap.Start
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
	return true, nil
}
