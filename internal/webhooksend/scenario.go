package webhooksend

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
)

const (
	// DefaultDomainCount is the number of domains scanned when a scenario
	// names none.
	DefaultDomainCount = 3
	// MaxFindingsPerScan is Detectify's limit on finding messages per scan.
	MaxFindingsPerScan = 100
)

// ScenarioOptions shapes a generated scan scenario.
type ScenarioOptions struct {
	// Domains names the scanned domains. When empty, DomainCount domains
	// under example.com are generated.
	Domains []string
	// DomainCount is the number of generated domains when Domains is empty;
	// zero or less means DefaultDomainCount.
	DomainCount int
	// FindingsPerScan is the number of finding messages per scan, clamped to
	// [0, MaxFindingsPerScan].
	FindingsPerScan int
	// Seed makes the scenario reproducible: equal options give equal bytes.
	Seed uint64
}

// Scenario returns the messages of one scan per domain, in delivery order:
// event_scan_started, FindingsPerScan findings of mixed severity, then
// event_scan_finished whose critical_findings counts the findings with CVSS
// 9.0 or more and whose medium_findings counts the medium ones. Every message
// is distinct, so a receiver's redelivery detection never drops one.
func Scenario(opts ScenarioOptions) [][]byte {
	g := newGenerator(opts.Seed)
	domains := opts.domains()
	perScan := min(max(opts.FindingsPerScan, 0), MaxFindingsPerScan)

	msgs := make([][]byte, 0, len(domains)*(perScan+2))
	for _, domain := range domains {
		report := g.reportURL()
		msgs = append(msgs, mustMarshal(scanStarted{
			Type: TypeScanStarted, Domain: domain, ReportURL: report,
		}))
		done := scanFinished{
			Type: TypeScanFinished, Domain: domain, ReportURL: report,
			NoticeFindings: g.rng.IntN(4),
		}
		for range perScan {
			f := g.finding(domain, report)
			switch {
			case f.CVSSScore >= 90:
				done.CriticalFindings++
			case f.Type == TypeFindingMedium:
				done.MediumFindings++
			}
			msgs = append(msgs, mustMarshal(f))
		}
		msgs = append(msgs, mustMarshal(done))
	}
	return msgs
}

// UniqueFindings returns n distinct finding messages spread over
// DefaultDomainCount domains, for load tests where every request must reach
// the receiver's pipeline rather than be treated as a redelivery.
func UniqueFindings(n int, seed uint64) [][]byte {
	if n <= 0 {
		return nil
	}
	g := newGenerator(seed)
	domains := generatedDomains(DefaultDomainCount)
	reports := make([]string, len(domains))
	for i := range reports {
		reports[i] = g.reportURL()
	}
	msgs := make([][]byte, n)
	for i := range msgs {
		d := i % len(domains)
		msgs[i] = mustMarshal(g.finding(domains[d], reports[d]))
	}
	return msgs
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

// level describes one finding message type and the CVSS range (in tenths)
// Detectify reports it for.
type level struct {
	typ      string
	severity string
	minCVSS  cvss
	maxCVSS  cvss
	titles   []string
}

var (
	levelHigh = level{
		typ: TypeFindingHigh, severity: "high", minCVSS: 60, maxCVSS: 99,
		titles: []string{
			"SQL Injection",
			"Stored Cross-site Scripting (XSS)",
			"Reflected Cross-site Scripting (XSS)",
			"Server-Side Request Forgery (SSRF)",
			"Path Traversal",
			"Subdomain Takeover",
			"Exposed Git Repository (.git)",
		},
	}
	levelMedium = level{
		typ: TypeFindingMedium, severity: "medium", minCVSS: 30, maxCVSS: 59,
		titles: []string{
			"Login Cross Site Request Forgery (CSRF/XSRF)",
			"Open Redirect",
			"Clickjacking",
			"DOM-based Cross-site Scripting (XSS)",
			"Cross-Origin Resource Sharing (CORS) Misconfiguration",
			"Missing HTTP Strict Transport Security (HSTS)",
		},
	}
)

// generator draws every random value from one seeded source so a scenario
// is reproducible from its seed.
type generator struct {
	rng *rand.Rand
}

func newGenerator(seed uint64) *generator {
	// The second PCG word only needs to differ from the first; the golden
	// ratio constant spreads small seeds apart.
	return &generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (g *generator) finding(domain, reportURL string) finding {
	lv := levelMedium
	if g.rng.IntN(2) == 0 {
		lv = levelHigh
	}
	return finding{
		Type:       lv.typ,
		Domain:     domain,
		CVSSScore:  lv.minCVSS + cvss(g.rng.IntN(int(lv.maxCVSS-lv.minCVSS)+1)),
		Severity:   lv.severity,
		Title:      lv.titles[g.rng.IntN(len(lv.titles))],
		FindingURL: reportURL + "/" + g.uuid(),
		Tags:       []string{"new"},
	}
}

// reportURL has Detectify's shape: a 32-hex report token and a 40-hex scan id.
func (g *generator) reportURL() string {
	return "https://detectify.com/report/" + g.hex(16) + "/" + g.hex(20)
}

// hex returns n random bytes hex-encoded.
func (g *generator) hex(n int) string {
	return hex.EncodeToString(g.bytes(n))
}

// uuid returns a random (version 4) UUID.
func (g *generator) uuid() string {
	b := g.bytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (g *generator) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.rng.Uint32())
	}
	return b
}
