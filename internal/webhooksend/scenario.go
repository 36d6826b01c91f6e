package webhooksend

import "fmt"

// DefaultDomainCount is the number of domains scanned when a scenario
// names none.
const DefaultDomainCount = 3

// ScenarioOptions shapes a generated scan scenario.
type ScenarioOptions struct {
	// Format is the message shape; the zero value is FormatClassic.
	Format Format
	// Domains names the scanned domains. When empty, DomainCount domains
	// under example.com are generated.
	Domains []string
	// DomainCount is the number of generated domains when Domains is empty;
	// zero or less means DefaultDomainCount.
	DomainCount int
	// FindingsPerScan is the number of findings each scan finds, of every
	// level. Detectify sends messages for fewer: see Scenario.
	FindingsPerScan int
	// Titles is the number of distinct finding titles per scan, clamped to
	// [1, MaxTitles]; zero or less means DefaultTitles.
	Titles int
	// Unfinished is the number of scans, the last ones, that never finish:
	// no finished message is sent for them. Zero or less finishes all.
	Unfinished int
	// Seed makes the scenario reproducible: equal options give equal bytes.
	Seed uint64
}

// ScanSummary is what one generated scan found and what of it the
// scenario sends, so a test can tell what a receiver should conclude.
type ScanSummary struct {
	Domain string
	// ScanID is what a receiver correlates the scan's messages by: the
	// <scan> segment of the classic report URL, the current scan's id.
	ScanID string
	// Found counts every finding of the scan by level; a finished message
	// reports these counts.
	Found LevelCounts
	// Sent is the number of finding messages sent.
	Sent int
	// Withheld is Found.Reported() - Sent: the findings of levels Detectify
	// sends messages for that got none because of its limits. It is what a
	// receiver computes as undelivered from the finished message; for an
	// unfinished scan no receiver can know it.
	Withheld int
	// Finished tells whether the scan's finished message is sent.
	Finished bool

	// ProfileToken is the scan profile's token, by which Detectify's API
	// lists the scan's findings: the first segment of the classic report
	// URL, the scan_profile_token of the current format's scan and finding
	// subjects.
	ProfileToken string
	// ReportToken names the scan in Detectify's API; it is ScanID.
	ReportToken string
	// AssetToken is the API's token of the scanned domain.
	AssetToken string
	// Findings is every finding of the scan, of every level, in the order
	// found: Found.Total() of them, Sent of them carried by a message with
	// the values that message carried, the rest withheld or of levels
	// without messages.
	Findings []Finding
}

// Scenario returns the messages of one scan per domain, in delivery order,
// and a summary of each scan. A scan's messages are scan started, a finding
// message for each finding Detectify would send, then scan finished
// (classic) or scan completed (current) with the counts of everything the
// scan found, unless the scan is one of the Unfinished.
//
// As Detectify's sender does, a scan sends messages only for findings of
// the levels its classic events cover (critical, high and medium; low and
// information findings are only counted), at most MaxFindingsPerTitle per
// title and at most MaxFindingsPerScan in all. Every message is distinct,
// so a receiver's redelivery detection never drops one.
func Scenario(opts ScenarioOptions) ([][]byte, []ScanSummary) {
	g := newGenerator(opts.Seed)
	fg := newFindingGenerator(opts.Seed)
	sh := g.shape(opts.Format)
	domains := opts.domains()
	findings := max(opts.FindingsPerScan, 0)
	titles := opts.Titles
	if titles <= 0 {
		titles = DefaultTitles
	}

	msgs := make([][]byte, 0, len(domains)*(min(findings, MaxFindingsPerScan)+2))
	scans := make([]ScanSummary, len(domains))
	for d, domain := range domains {
		s := sh.newScan(domain)
		msgs = append(msgs, sh.started(s))
		mix := g.newTitleMix(titles)
		limits := newSenderLimits()
		var found LevelCounts
		all := make([]Finding, findings)
		for i := range all {
			v := mix.draw(g)
			found.add(v.level)
			if limits.allow(v) {
				var msg []byte
				msg, all[i] = sh.finding(s, v)
				msgs = append(msgs, msg)
			}
			fg.complete(&all[i], s, v, g)
		}
		// The last Unfinished scans; more than there are means all.
		finished := d < len(domains)-opts.Unfinished
		if finished {
			msgs = append(msgs, sh.finished(s, found))
		}
		scans[d] = ScanSummary{
			Domain: domain, ScanID: s.id, Found: found,
			Sent: limits.sent, Withheld: found.Reported() - limits.sent, Finished: finished,
			ProfileToken: s.profile, ReportToken: s.id, AssetToken: derivedToken("asset", opts.Seed, domain),
			Findings: all,
		}
	}
	return msgs, scans
}

func (o ScenarioOptions) domains() []string {
	if len(o.Domains) > 0 {
		return o.Domains
	}
	n := o.DomainCount
	if n <= 0 {
		n = DefaultDomainCount
	}
	return generatedDomains(n)
}

// generatedDomains uses example.com, which is reserved for documentation,
// so generated traffic can never point at a real site.
func generatedDomains(n int) []string {
	labels := []string{"www", "api", "shop", "app", "admin", "staging", "portal", "blog"}
	out := make([]string, n)
	for i := range out {
		if i < len(labels) {
			out[i] = labels[i] + ".example.com"
		} else {
			out[i] = fmt.Sprintf("site%d.example.com", i+1)
		}
	}
	return out
}
