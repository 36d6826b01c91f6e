package state

import (
	"slices"
	"strconv"
	"time"

	"github.com/detectify-otel/detectifyreceiver/internal/message"
)

// Bounds of the scan state, beside max_open_scans.
const (
	// maxOpenPerDomain bounds a domain's list of open scans; older ones
	// stay open (and are found by their id) but not by the domain.
	maxOpenPerDomain = 16
	// maxTitlesPerScan bounds the titles counted per scan: Detectify sends
	// at most 100 finding messages per scan.
	maxTitlesPerScan = 256
	// maxTitleBytes bounds a title as a key of the per-title counts.
	maxTitleBytes = 256
)

// rules are the scan-insight rules, applied to one event through a Tx.
type rules struct {
	maxOpenScans  int
	backfill      BackfillMode
	backfillDelay time.Duration
}

// apply counts e and updates the scan it belongs to, returning what its
// record should say of that scan. Messages without a domain are neither
// counted nor tracked: a series with an empty domain alerts nobody.
func (r rules) apply(tx Tx, e *observed, now time.Time) (Insight, error) {
	if e.Domain == "" {
		return Insight{}, nil
	}
	// A finding is counted by finding(): not when the API backfill
	// counted it already.
	if e.Kind != message.KindFinding && e.ScanState != "" {
		tx.Count(CounterKey{Domain: e.Domain, Metric: MetricScans, Value: e.ScanState}, 1)
	}
	switch e.Kind {
	case message.KindScanStarted:
		return Insight{}, r.started(tx, e, now)
	case message.KindFinding:
		return r.finding(tx, e, now)
	case message.KindScanFinished:
		return r.finished(tx, e, now)
	}
	return Insight{}, nil
}

// started opens the scan. Findings may have come first (their scan was
// then opened without a start); the start's receipt is what a duration
// is measured from.
func (r rules) started(tx Tx, e *observed, now time.Time) error {
	id := e.ScanKey
	if e.ScanID == "" {
		// The scan says no id: its findings and finish, which say none
		// either, find it as the domain's newest open scan.
		id = syntheticPrefix + e.Domain + "#" + strconv.FormatInt(now.UnixNano(), 10)
	}
	scan, found, err := tx.Scan(id)
	if err != nil {
		return err
	}
	isNew := !found || !scan.Open()
	again := found && scan.Finished // the id's earlier scan is over: a new one
	if !found || again {
		scan = ScanRecord{Domain: e.Domain, FirstSeen: now}
	}
	if scan.Started.IsZero() {
		scan.Started = now
	}
	scan.keepProfile(e.Profile)
	if err := r.open(tx, id, scan, isNew); err != nil {
		return err
	}
	if again {
		tx.DropFindings(id, false)
	}
	return nil
}

// open stores scan and, when it is new, lists it as its domain's newest
// and applies max_open_scans.
func (r rules) open(tx Tx, id string, scan ScanRecord, isNew bool) error {
	scan.Stalled, scan.Closed = false, time.Time{}
	tx.PutScan(id, scan)
	if !isNew {
		return nil
	}
	domain, err := tx.Domain(scan.Domain)
	if err != nil {
		return err
	}
	domain.Open = append(slices.DeleteFunc(domain.Open, func(s string) bool { return s == id }), id)
	if len(domain.Open) > maxOpenPerDomain {
		domain.Open = domain.Open[len(domain.Open)-maxOpenPerDomain:]
	}
	domain.Updated = scan.FirstSeen
	tx.PutDomain(scan.Domain, domain)
	// The domain's stalled-scans series exists from its first scan on, so
	// that its first stalled scan is an increase rate() can see.
	tx.Count(CounterKey{Domain: scan.Domain, Metric: MetricScans, Value: ScanStateStalled}, 0)
	return r.evict(tx, id)
}

// evict forgets the oldest open scans beyond max_open_scans (never keep,
// the one just opened).
func (r rules) evict(tx Tx, keep string) error {
	n, err := tx.OpenScans()
	if err != nil || n <= r.maxOpenScans {
		return err
	}
	oldest, err := tx.OldestOpen(n - r.maxOpenScans + 1)
	if err != nil {
		return err
	}
	removed, evicted := 0, 0
	for _, id := range oldest {
		if id == keep || removed == n-r.maxOpenScans {
			continue
		}
		found, err := r.forget(tx, id)
		if err != nil {
			return err
		}
		removed++
		if found {
			evicted++
		}
	}
	tx.Evicted(evicted)
	return nil
}

// forget drops a scan and its place in its domain's list. One whose record
// expired (Redis) only leaves the index of open scans: it is no eviction.
func (r rules) forget(tx Tx, id string) (found bool, err error) {
	scan, found, err := tx.Scan(id)
	if err != nil {
		return false, err
	}
	tx.DeleteScan(id)
	if !found {
		return false, nil
	}
	return true, r.closeInDomain(tx, scan.Domain, id)
}

func (r rules) closeInDomain(tx Tx, domainName, id string) error {
	domain, err := tx.Domain(domainName)
	if err != nil {
		return err
	}
	if i := slices.Index(domain.Open, id); i >= 0 {
		domain.Open = slices.Delete(domain.Open, i, i+1)
		tx.PutDomain(domainName, domain)
	}
	return nil
}

// scanOf finds the scan e belongs to: by its id, else the domain's newest
// open scan. id is empty when there is none.
func (r rules) scanOf(tx Tx, e *observed) (id string, scan ScanRecord, found bool, err error) {
	if e.ScanID != "" {
		id = e.ScanKey
		scan, found, err = tx.Scan(id)
		return id, scan, found, err
	}
	domain, err := tx.Domain(e.Domain)
	for err == nil && len(domain.Open) > 0 {
		id = domain.Open[len(domain.Open)-1]
		if scan, found, err = tx.Scan(id); found || err != nil {
			return id, scan, found, err
		}
		// Forgotten since (evicted or expired): drop it from the list.
		domain.Open = domain.Open[:len(domain.Open)-1]
		tx.PutDomain(e.Domain, domain)
	}
	return "", ScanRecord{}, false, err
}

// finding counts a finding message, for its domain and its scan. A finding
// for a scan already finished is counted for the domain only and does not
// reopen it, unless the scan's API backfill counted it already: then it is
// not counted again and its record says so. One for a scan never seen
// opens it, with its start unseen.
func (r rules) finding(tx Tx, e *observed, now time.Time) (Insight, error) {
	id, scan, found, err := r.scanOf(tx, e)
	if err != nil {
		return Insight{}, err
	}
	if found && scan.Backfill != nil && slices.Contains(scan.Backfill.Counted, webhookFindingKey(e)) {
		return Insight{FromAPI: true}, nil
	}
	tx.Count(CounterKey{Domain: e.Domain, Metric: MetricFindings, Value: e.Level}, 1)
	switch {
	case id == "":
		return Insight{}, nil
	case found && scan.Finished:
		return Insight{}, r.lateForBackfill(tx, id, scan, e)
	case !found:
		scan = ScanRecord{Domain: e.Domain, FirstSeen: now}
	}
	scan.Delivered++
	if scan.ByLevel == nil {
		scan.ByLevel = make(map[string]int64)
	}
	scan.ByLevel[e.Level]++
	scan.keepProfile(e.Profile)
	var insight Insight
	title := titleKey(e.Title)
	var titleCount int64
	if title != "" {
		n, titles, err := tx.TitleCount(id, title)
		if err != nil {
			return Insight{}, err
		}
		if n > 0 || titles < maxTitlesPerScan {
			titleCount = n + 1
		}
		// The 10th message of a type is Detectify's last: say so now,
		// so an alert can fire before the scan ends.
		if titleCount == perTypeLimit {
			insight.LimitReached = append(insight.LimitReached, LimitPerType)
			insight.LimitedTitles = []string{title}
			scan.LimitedTitles = append(scan.LimitedTitles, title)
		}
	}
	if scan.Delivered == perScanLimit {
		insight.LimitReached = append(insight.LimitReached, LimitPerScan)
	}
	if !found {
		if err := r.open(tx, id, scan, true); err != nil {
			return Insight{}, err
		}
	} else {
		tx.PutScan(id, scan)
	}
	if titleCount > 0 {
		tx.PutTitleCount(id, title, titleCount)
	}
	_, err = addSeen(tx, id, e)
	return insight, err
}

// lateForBackfill notes a finding that came after its scan finished while
// the scan's backfill is still to count: the backfill leaves it out, and
// the scan's withheld count falls by it.
func (r rules) lateForBackfill(tx Tx, id string, scan ScanRecord, e *observed) error {
	if !scan.Backfill.active() || scan.Backfill.State == BackfillCounted {
		return nil
	}
	added, err := addSeen(tx, id, e)
	if err != nil || !added {
		return err // known already, or past the bound
	}
	domain, err := tx.Domain(scan.Domain)
	if err != nil || domain.LastScan == nil || domain.LastScan.Scan != id || domain.LastScan.Undelivered == nil || !reportedLevels[e.Level] {
		return err
	}
	last := *domain.LastScan
	undelivered := max(0, *last.Undelivered-1)
	last.Undelivered = &undelivered
	domain.LastScan = &last
	tx.PutDomain(scan.Domain, domain)
	return nil
}

// finished closes the scan and says what Detectify withheld of it.
func (r rules) finished(tx Tx, e *observed, now time.Time) (Insight, error) {
	id, scan, found, err := r.scanOf(tx, e)
	if err != nil {
		return Insight{}, err
	}
	var insight Insight
	seen := found && !scan.Finished
	var delivered int64
	if seen {
		delivered = scan.Delivered
	}
	insight.Delivered = &delivered
	if seen && !scan.Started.IsZero() {
		if reported, ok := e.ReportedFindings(); ok {
			undelivered := max(0, reported-delivered)
			insight.Undelivered = &undelivered
		}
		duration := now.Sub(scan.Started).Seconds()
		insight.Duration = &duration
	} else {
		// The start was not seen here: a withheld count would be a guess.
		insight.Partial = true
	}
	if seen {
		insight.LimitReached, insight.LimitedTitles = limitsOf(scan)
		if err := r.closeInDomain(tx, e.Domain, id); err != nil {
			return Insight{}, err
		}
	}
	var backfill *Backfill
	if alreadyFinished := found && scan.Finished; id != "" && !alreadyFinished {
		// What is kept of a finished scan, also of one never seen: enough
		// that a late finding does not open it again, and its backfill.
		if !found {
			scan.FirstSeen = now
		}
		scan.keepProfile(e.Profile)
		closed := ScanRecord{Domain: e.Domain, FirstSeen: scan.FirstSeen, Started: scan.Started, Finished: true, Closed: now}
		if backfill = r.backfillJob(e, scan, seen, insight, now); backfill != nil {
			closed.Profile, closed.Backfill = scan.Profile, backfill
			insight.BackfillQueued = true
		}
		tx.PutScan(id, closed)
		if found {
			tx.DropFindings(id, backfill != nil)
		}
	}
	domain, err := tx.Domain(e.Domain)
	if err != nil {
		return Insight{}, err
	}
	domain.LastScan = lastScanOf(e, insight)
	if backfill != nil {
		domain.LastScan.Scan = id
		domain.LastScan.Backfilled = new(int64) // 0 until the API's findings are counted
	}
	domain.Updated = now
	tx.PutDomain(e.Domain, domain)
	return insight, nil
}

// limitsOf says which of Detectify's sender limits the scan reached, and
// the titles that reached theirs, sorted.
func limitsOf(scan ScanRecord) (limits, titles []string) {
	if scan.Delivered >= perScanLimit {
		limits = append(limits, LimitPerScan)
	}
	if len(scan.LimitedTitles) > 0 {
		titles = slices.Sorted(slices.Values(scan.LimitedTitles))
		limits = append(limits, LimitPerType)
	}
	return limits, titles
}

// ScanStateStalled is the detectify.scans state a stalled scan is counted
// under, once, when it is reported.
const ScanStateStalled = "stalled"

// syntheticPrefix starts the ids the receiver makes up for scans that
// name none; they are not shown as detectify.scan.id.
const syntheticPrefix = "~"

// scanKey names a scan in the state: its domain and its id, so that a
// message of one domain that names another domain's scan cannot change it.
func scanKey(domain, scanID string) string { return domain + scanKeySeparator + scanID }

// scanKeySeparator is a character no domain contains.
const scanKeySeparator = "\x1f"

// Stalled is an open scan that has been open longer than stale_scan_after.
type Stalled struct {
	// ScanID is the scan's id, empty when the scan named none.
	ScanID string
	Domain string
	// OpenFor is how long it has been open, from its start or, when the
	// start was not seen, from its first message.
	OpenFor time.Duration
	id      string
}

// stall reports scan id as stalled if it is still open since before
// cutoff: once, after which it no longer counts as open.
func (r rules) stall(tx Tx, id string, cutoff, now time.Time) (*Stalled, error) {
	scan, found, err := tx.Scan(id)
	if err != nil || !found || !scan.Open() {
		return nil, err
	}
	since := scan.Started
	if since.IsZero() {
		since = scan.FirstSeen
	}
	if !since.Before(cutoff) {
		return nil, nil
	}
	scan.Stalled, scan.Closed = true, now
	tx.PutScan(id, scan)
	tx.Count(CounterKey{Domain: scan.Domain, Metric: MetricScans, Value: ScanStateStalled}, 1)
	if err := r.closeInDomain(tx, scan.Domain, id); err != nil {
		return nil, err
	}
	st := &Stalled{Domain: scan.Domain, OpenFor: now.Sub(since), id: id}
	st.ScanID = scanIDOf(id)
	return st, nil
}

// titleKey bounds a title used as a key, at a rune boundary.
func titleKey(title string) string {
	if len(title) <= maxTitleBytes {
		return title
	}
	cut := maxTitleBytes
	for cut > 0 && title[cut]&0xc0 == 0x80 {
		cut--
	}
	return title[:cut]
}
