// Package state keeps what the receiver remembers between webhooks: which
// bodies it has seen (dedup), the scans that are open, the last finished
// scan of each domain and the per-domain counts. The rules (what counts,
// what was withheld, when a scan is stalled) are written once, in rules.go,
// over a Tx; two backends implement it: in memory (saved through a
// storage extension) and Redis (shared by replicas).
package state // import "github.com/detectify-otel/detectifyreceiver/internal/state"

import (
	"crypto/sha256"
	"slices"
	"strings"
	"time"

	"github.com/detectify-otel/detectifyreceiver/internal/message"
)

// Key identifies a delivery by its body: Detectify's messages carry their
// report or finding URL, so identical bodies are redeliveries. A hash of
// the body, not of its signature, so a body re-signed during a secret
// rotation is still recognised.
type Key [sha256.Size]byte

// KeyOf returns body's key.
func KeyOf(body []byte) Key { return sha256.Sum256(body) }

// Insight is what the receiver adds to a record from what it saw of the
// scan. Nil fields and empty slices are not set on the record.
type Insight struct {
	Delivered     *int64   `json:"delivered,omitempty"`
	Undelivered   *int64   `json:"undelivered,omitempty"`
	Partial       bool     `json:"partial,omitempty"`
	LimitReached  []string `json:"limit_reached,omitempty"`
	LimitedTitles []string `json:"limited_titles,omitempty"`
	// Duration is in seconds: from the start's receipt to the finish's, or
	// to now for a stalled scan.
	Duration *float64 `json:"duration,omitempty"`
	// FromAPI says a finding was counted and emitted by the scan's API
	// backfill before this webhook came: it is neither counted nor emitted.
	FromAPI bool `json:"from_api,omitempty"`
	// BackfillQueued says a finish queued its scan's API backfill.
	BackfillQueued bool `json:"-"`
}

// IsZero says the insight sets nothing on a record, so a saved claim
// leaves it out: encoding/json's omitzero asks it, and so does the
// journal's hand-written entry. BackfillQueued is not saved.
func (i Insight) IsZero() bool {
	return i.Delivered == nil && i.Undelivered == nil && !i.Partial && len(i.LimitReached) == 0 &&
		len(i.LimitedTitles) == 0 && i.Duration == nil && !i.FromAPI
}

// Limit names of detectify.scan.limit_reached.
const (
	LimitPerScan = "per_scan"
	LimitPerType = "per_type"
)

// Detectify's sender limits (shared/seed/detectify-webhooks.txt).
const (
	perScanLimit = 100
	perTypeLimit = 10
)

// claimState is where a remembered delivery is.
type claimState uint8

const (
	// claimInFlight: a request is processing the body now.
	claimInFlight claimState = iota + 1
	// claimPending: it was counted, but its record was not accepted yet
	// (the logs pipeline refused it retryably, or the process stopped).
	claimPending
	// claimSettled: done; a redelivery is a duplicate.
	claimSettled
)

// claimRecord is what is remembered of one body for dedup_window.
type claimRecord struct {
	State claimState `json:"state"`
	// Owner is the request holding an in-flight claim, until Lease.
	Owner string    `json:"owner,omitempty"`
	Lease time.Time `json:"lease,omitzero"`
	// Counted is set once the body's event is in the state: a retry sends
	// the record again without counting it twice, with the same Insight.
	Counted bool      `json:"counted,omitempty"`
	Insight Insight   `json:"insight,omitzero"`
	Added   time.Time `json:"added"`
}

// ScanRecord is one scan, from its first message to a while after its end.
type ScanRecord struct {
	Domain    string    `json:"domain"`
	FirstSeen time.Time `json:"first_seen"`
	// Started is when its start was received; zero when it was not seen.
	Started time.Time `json:"started,omitzero"`
	// Delivered counts the finding messages received, ByLevel by level.
	Delivered int64            `json:"delivered,omitempty"`
	ByLevel   map[string]int64 `json:"by_level,omitempty"`
	// LimitedTitles are the titles whose count reached Detectify's limit
	// per type, in the order they reached it. Not saved with the record:
	// a saved state has them from ByTitle (adoptLimitedTitles), Redis in
	// redisScanValue.
	LimitedTitles []string `json:"-"`
	Finished      bool     `json:"finished,omitempty"`
	Stalled       bool     `json:"stalled,omitempty"`
	// Closed is when it finished or was reported stalled: what is kept of
	// it is forgotten a while after.
	Closed time.Time `json:"closed,omitzero"`
	// Profile is the scan profile's token, when a message named it.
	Profile string `json:"profile,omitempty"`
	// Backfill is the finished scan's API backfill, when it has one.
	Backfill *Backfill `json:"backfill,omitempty"`

	// ScanFindings are kept apart from the record (the Tx's TitleCount and
	// Seen): a finding reads and writes its own title and key, so that its
	// webhook costs the same however many findings its scan has. They are
	// in a record only where it is saved whole (a compacted state, or one
	// an earlier version wrote); Tx.Scan returns a record without them.
	ScanFindings
}

// ScanFindings are what a scan keeps per finding, each bounded.
type ScanFindings struct {
	// ByTitle counts the finding messages by title (maxTitlesPerScan).
	ByTitle map[string]int64 `json:"by_title,omitempty"`
	// Seen holds the webhookFindingKey of each finding a webhook delivered
	// (maxSeenPerScan), kept after the finish for its backfill.
	Seen []string `json:"seen,omitempty"`
}

// keepProfile sets the scan's profile to profile, when a message names
// one. It is cloned: a message's is cut from the webhook's text (it is in
// the URLs), which the state must not keep alive.
func (s *ScanRecord) keepProfile(profile string) {
	if profile != "" && profile != s.Profile {
		s.Profile = strings.Clone(profile)
	}
}

// core is the record without its findings.
func (s ScanRecord) core() ScanRecord {
	s.ScanFindings = ScanFindings{}
	return s
}

// adoptLimitedTitles fills LimitedTitles from the counts of a record an
// earlier version saved, which kept no list of them.
func (s *ScanRecord) adoptLimitedTitles() {
	for title, n := range s.ByTitle {
		if n >= perTypeLimit && !slices.Contains(s.LimitedTitles, title) {
			s.LimitedTitles = append(s.LimitedTitles, title)
		}
	}
}

// Open reports whether the scan counts as open: neither finished nor
// reported as stalled.
func (s *ScanRecord) Open() bool { return !s.Finished && !s.Stalled }

// DomainRecord is what the scan rules keep per domain.
type DomainRecord struct {
	// Open lists the ids of the domain's open scans, oldest first: a message
	// without a scan id belongs to the newest.
	Open     []string  `json:"open,omitempty"`
	LastScan *LastScan `json:"last_scan,omitempty"`
	Updated  time.Time `json:"updated"`
}

// LastScan is what the domain's last finished scan reported and what the
// receiver saw of it.
type LastScan struct {
	Counts      map[string]int64 `json:"counts,omitempty"` // by category
	Undelivered *int64           `json:"undelivered,omitempty"`
	Duration    *float64         `json:"duration,omitempty"`
	// Backfilled counts the findings its API backfill delivered; nil when
	// it has none. Scan names the scan while one is to come.
	Backfilled *int64 `json:"backfilled,omitempty"`
	Scan       string `json:"scan,omitempty"`
}

func lastScanOf(e *observed, insight Insight) *LastScan {
	ls := &LastScan{Undelivered: insight.Undelivered, Duration: insight.Duration}
	if e.Counts == nil {
		return ls
	}
	for c, count := range e.Counts {
		if count.OK {
			if ls.Counts == nil {
				ls.Counts = make(map[string]int64)
			}
			ls.Counts[message.Category(c).String()] = count.N
		}
	}
	return ls
}
