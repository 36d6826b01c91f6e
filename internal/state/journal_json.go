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
	o.optString("owner", c.Owner)
	o.optTime("lease", c.Lease)
	o.optBool("counted", c.Counted)
	if !c.Insight.IsZero() {
		o.key("insight").insight(&c.Insight)
	}
	o.key("added").time(c.Added)
	o.end()
}

func (w *jsonOut) insight(i *Insight) {
	o := w.object()
	o.optIntPtr("delivered", i.Delivered)
	o.optIntPtr("undelivered", i.Undelivered)
	o.optBool("partial", i.Partial)
	o.optStrings("limit_reached", i.LimitReached)
	o.optStrings("limited_titles", i.LimitedTitles)
	o.optFloatPtr("duration", i.Duration)
	o.optBool("from_api", i.FromAPI)
	o.end()
}

// scan appends an entryScan: s with its findings when whole, else s
// without them and what changed of them.
func (w *jsonOut) scan(s *ScanRecord, whole bool, changed *findingsDelta) {
	o := w.object()
	o.key("domain").string(s.Domain)
	o.key("first_seen").time(s.FirstSeen)
	o.optTime("started", s.Started)
	o.optInt("delivered", s.Delivered)
	o.optCounts("by_level", s.ByLevel)
	o.optBool("finished", s.Finished)
	o.optBool("stalled", s.Stalled)
	o.optTime("closed", s.Closed)
	o.optString("profile", s.Profile)
	if s.Backfill != nil {
		o.key("backfill").backfill(s.Backfill)
	}
	if whole {
		o.optCounts("by_title", s.ByTitle)
		o.optStrings("seen", s.Seen)
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
	o.optInt("attempts", int64(bf.Attempts))
	o.optString("owner", bf.Owner)
	o.optTime("lease", bf.Lease)
	o.optStrings("counted", bf.Counted)
	o.end()
}

func (w *jsonOut) findingsDelta(d *findingsDelta) {
	o := w.object()
	o.optBool("drop_titles", d.DropTitles)
	o.optBool("drop_seen", d.DropSeen)
	o.optCounts("titles", d.Titles)
	o.optStrings("seen", d.Seen)
	o.end()
}

func (w *jsonOut) domain(d *DomainRecord) {
	o := w.object()
	o.optStrings("open", d.Open)
	if ls := d.LastScan; ls != nil {
		last := o.key("last_scan").object()
		last.optCounts("counts", ls.Counts)
		last.optIntPtr("undelivered", ls.Undelivered)
		last.optFloatPtr("duration", ls.Duration)
		last.optIntPtr("backfilled", ls.Backfilled)
		last.optString("scan", ls.Scan)
		last.end()
	}
	o.key("updated").time(d.Updated)
	o.end()
}

func (w *jsonOut) domainCounts(c *domainCounts) {
	o := w.object()
	o.optCounts("findings", c.findings)
	o.optCounts("scans", c.scans)
	o.key("seen").time(c.seen)
	o.end()
}
