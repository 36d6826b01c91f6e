package state

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// version1Key is where receivers before the journal kept their state: one
// value, saved every metrics_interval.
const version1Key = "detectify_state"

// version1State is that value: the counts, the last scans' counts
// (critical, medium, notice) and the deliveries, with the signals
// (1 logs, 2 metrics) each was settled for.
type version1State struct {
	Version   int       `json:"version"`
	StartTime time.Time `json:"start_time"`
	Domains   map[string]struct {
		Findings map[string]int64 `json:"findings"`
		Scans    map[string]int64 `json:"scans"`
		LastScan [3]*int64        `json:"last_scan"`
	} `json:"domains"`
	Deliveries []struct {
		Key     []byte    `json:"key"`
		Settled uint8     `json:"settled"`
		Counted bool      `json:"counted"`
		Added   time.Time `json:"added"`
	} `json:"deliveries"`
}

// loadVersion1 reads a state saved by a receiver before the journal into
// snap, so that an upgrade keeps the counts and the dedup memory.
func (j *journal) loadVersion1(ctx context.Context, snap *snapshotFile) (bool, error) {
	raw, err := j.client.Get(ctx, version1Key)
	if err != nil {
		return false, fmt.Errorf("%w: storage: %w", ErrUnavailable, err)
	}
	if raw == nil {
		return false, nil
	}
	var v1 version1State
	if err := json.Unmarshal(raw, &v1); err != nil || v1.Version != 1 {
		return false, fmt.Errorf("%w: the earlier receiver's state is unreadable", errUnusableState)
	}
	snap.Start = v1.StartTime
	snap.Counts = make(map[string]DomainCounts, len(v1.Domains))
	snap.Domains = make(map[string]DomainRecord)
	for name, d := range v1.Domains {
		snap.Counts[name] = DomainCounts{Findings: d.Findings, Scans: d.Scans, Seen: v1.StartTime}
		var last LastScan
		for i, category := range []string{"critical", "medium", "notice"} {
			if d.LastScan[i] != nil {
				if last.Counts == nil {
					last.Counts = make(map[string]int64)
				}
				last.Counts[category] = *d.LastScan[i]
			}
		}
		if last.Counts != nil {
			snap.Domains[name] = DomainRecord{LastScan: &last, Updated: v1.StartTime}
		}
	}
	const logsSettled = 1
	for _, d := range v1.Deliveries {
		rec := claimRecord{Added: d.Added, Counted: d.Counted}
		switch {
		case d.Settled&logsSettled != 0: // its record was delivered
			rec.State = claimSettled
		case d.Counted:
			rec.State = claimPending
		default:
			continue
		}
		snap.Claims = append(snap.Claims, savedClaim{Key: hex.EncodeToString(d.Key), claimRecord: rec})
	}
	return true, nil
}
