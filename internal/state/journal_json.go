package state

// The journal's entries as JSON (jsonOut): the fields entryFile and the
// records it holds declare, with the same names and omissions, so that
// journal_load.go reads them with encoding/json. journal_json_test.go
// holds the two to each other.

// appendEntryLocked appends entry seq: the current value of every record
// changed since the last entry, or null for one that is gone.
func (j *journal) appendEntryLocked(buf []byte, seq uint64) ([]byte, error) {
	b, d := j.b, &j.dirty
	w := &jsonOut{b: buf}
	o := w.object()
	o.key("epoch").string(j.epoch)
	o.key("seq").uint(seq)
	if len(d.claims) > 0 {
		claims := o.key("claims").object()
		for key := range d.claims {
			w := claims.hexKey(key[:])
			if c, ok := b.claimRecordLocked(key); ok {
				w.claim(savedClaimRecord(c))
			} else {
				w.null()
			}
		}
		claims.end()
	}
	if len(d.scans) > 0 {
		scans := o.key("scans").object()
		for id := range d.scans {
			w := scans.key(id)
			s, ok := b.scans[id]
			dirt := d.findings[id]
			switch {
			case !ok:
				w.null()
			case len(s.ByTitle)+len(s.Seen) <= wholeFindings || dirt != nil && dirt.whole:
				w.scan(&s.ScanRecord, true, nil)
			default:
				w.scan(&s.ScanRecord, false, dirt.delta(s))
			}
		}
		scans.end()
	}
	if len(d.domains) > 0 {
		domains := o.key("domains").object()
		for name := range d.domains {
			w := domains.key(name)
			if dom, ok := b.domains[name]; ok {
				w.domain(&dom.DomainRecord)
			} else {
				w.null()
			}
		}
		domains.end()
	}
	if len(d.counts) > 0 {
		counts := o.key("counts").object()
		b.counts.appendJSON(&counts, d.counts)
		counts.end()
	}
	o.end()
	return w.b, w.err
}

func (w *jsonOut) claim(c claimRecord) {
	o := w.object()
	o.key("state").uint(uint64(c.State))
	if c.Owner != "" {
		o.key("owner").string(c.Owner)
	}
	if !c.Lease.IsZero() {
		o.key("lease").time(c.Lease)
	}
	if c.Counted {
		o.key("counted").bool(true)
	}
	if i := &c.Insight; i.Delivered != nil || i.Undelivered != nil || i.Partial || len(i.LimitReached) > 0 ||
		len(i.LimitedTitles) > 0 || i.Duration != nil || i.FromAPI {
		o.key("insight").insight(i)
	}
	o.key("added").time(c.Added)
	o.end()
}

func (w *jsonOut) insight(i *Insight) {
	o := w.object()
	if i.Delivered != nil {
		o.key("delivered").int(*i.Delivered)
	}
	if i.Undelivered != nil {
		o.key("undelivered").int(*i.Undelivered)
	}
	if i.Partial {
		o.key("partial").bool(true)
	}
	if len(i.LimitReached) > 0 {
		o.key("limit_reached").strings(i.LimitReached)
	}
	if len(i.LimitedTitles) > 0 {
		o.key("limited_titles").strings(i.LimitedTitles)
	}
	if i.Duration != nil {
		o.key("duration").float(*i.Duration)
	}
	if i.FromAPI {
		o.key("from_api").bool(true)
	}
	o.end()
}

// scan appends an entryScan: s with its findings when whole, else s
// without them and what changed of them.
func (w *jsonOut) scan(s *ScanRecord, whole bool, changed *findingsDelta) {
	o := w.object()
	o.key("domain").string(s.Domain)
	o.key("first_seen").time(s.FirstSeen)
	if !s.Started.IsZero() {
		o.key("started").time(s.Started)
	}
	if s.Delivered != 0 {
		o.key("delivered").int(s.Delivered)
	}
	if len(s.ByLevel) > 0 {
		o.key("by_level").counts(s.ByLevel)
	}
	if s.Finished {
		o.key("finished").bool(true)
	}
	if s.Stalled {
		o.key("stalled").bool(true)
	}
	if !s.Closed.IsZero() {
		o.key("closed").time(s.Closed)
	}
	if s.Profile != "" {
		o.key("profile").string(s.Profile)
	}
	if s.Backfill != nil {
		o.key("backfill").backfill(s.Backfill)
	}
	if whole && len(s.ByTitle) > 0 {
		o.key("by_title").counts(s.ByTitle)
	}
	if whole && len(s.Seen) > 0 {
		o.key("seen").strings(s.Seen)
	}
	if changed != nil {
		o.key("changed").findingsDelta(changed)
	}
	o.end()
}

func (w *jsonOut) backfill(bf *Backfill) {
	o := w.object()
	o.key("state").string(bf.State)
	o.key("due").time(bf.Due)
	if bf.Attempts != 0 {
		o.key("attempts").int(int64(bf.Attempts))
	}
	if bf.Owner != "" {
		o.key("owner").string(bf.Owner)
	}
	if !bf.Lease.IsZero() {
		o.key("lease").time(bf.Lease)
	}
	if len(bf.Counted) > 0 {
		o.key("counted").strings(bf.Counted)
	}
	o.end()
}

func (w *jsonOut) findingsDelta(d *findingsDelta) {
	o := w.object()
	if d.DropTitles {
		o.key("drop_titles").bool(true)
	}
	if d.DropSeen {
		o.key("drop_seen").bool(true)
	}
	if len(d.Titles) > 0 {
		o.key("titles").counts(d.Titles)
	}
	if len(d.Seen) > 0 {
		o.key("seen").strings(d.Seen)
	}
	o.end()
}

func (w *jsonOut) domain(d *DomainRecord) {
	o := w.object()
	if len(d.Open) > 0 {
		o.key("open").strings(d.Open)
	}
	if ls := d.LastScan; ls != nil {
		last := o.key("last_scan").object()
		if len(ls.Counts) > 0 {
			last.key("counts").counts(ls.Counts)
		}
		if ls.Undelivered != nil {
			last.key("undelivered").int(*ls.Undelivered)
		}
		if ls.Duration != nil {
			last.key("duration").float(*ls.Duration)
		}
		if ls.Backfilled != nil {
			last.key("backfilled").int(*ls.Backfilled)
		}
		if ls.Scan != "" {
			last.key("scan").string(ls.Scan)
		}
		last.end()
	}
	o.key("updated").time(d.Updated)
	o.end()
}

func (w *jsonOut) domainCounts(c *domainCounts) {
	o := w.object()
	if len(c.findings) > 0 {
		o.key("findings").counts(c.findings)
	}
	if len(c.scans) > 0 {
		o.key("scans").counts(c.scans)
	}
	o.key("seen").time(c.seen)
	o.end()
}
