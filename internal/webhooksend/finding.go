package webhooksend

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"strconv"
	"time"
)

// Finding is one finding of a generated scan as Detectify's API lists it.
// A finding a webhook message carried (Sent) has the values that message
// carried; the others have their own, drawn from a generator apart from
// the messages' so a seed's messages are the same whether or not anything
// reads the findings.
type Finding struct {
	// UUID is the finding's id: the last segment of a classic message's
	// finding_url, a current message's finding.uuid.
	UUID  string
	Title string
	// Level is the five-level severity: critical, high, medium, low or
	// information. A classic message says "high" for a critical finding
	// (its events have no critical level); its CVSS score tells them apart.
	Level string
	// Location is the URL where the finding is, a current message's
	// finding.url. Classic messages carry none.
	Location string
	// CVSS is the CVSS 3.1 base score: a classic message's cvss_score;
	// current messages carry none.
	CVSS float64
	// Found is when the finding was found: a current message's timestamp.
	Found time.Time
	// Sent tells whether a webhook message carried the finding.
	Sent bool
}

// cvssRanges are the scores, in tenths, a finding of each level gets.
// Critical, high and medium are the classic events' ranges (see
// classicLevels); low ones are scored below them and information has none.
var cvssRanges = [...]struct{ min, max cvss }{
	critical:    {90, 99},
	high:        {60, 89},
	medium:      {30, 59},
	low:         {1, 29},
	information: {0, 0},
}

// newFindingGenerator is the second generator of a scenario: it draws what
// no message carries (withheld findings, classic findings' locations and
// times, current findings' scores), so the messages of a seed stay the same
// bytes as before findings were recorded.
func newFindingGenerator(seed uint64) *generator {
	g := newGenerator(seed)
	g.rng = rand.New(rand.NewPCG(^seed, seed^0xd1b54a32d192ed03))
	return g
}

// complete fills what the finding's message did not carry, or all of it
// for a finding without a message. msgs is the message generator, read
// only for its clock: a finding is found after the last message sent.
func (g *generator) complete(f *Finding, s scan, v vulnerability, msgs *generator) {
	f.Title, f.Level = v.title, v.level.String()
	if f.UUID == "" {
		f.UUID = g.uuid()
	}
	if f.Location == "" {
		f.Location = findingLocation(s.domain, v, 1+g.rng.IntN(9999))
	}
	if f.CVSS == 0 {
		r := cvssRanges[v.level]
		f.CVSS = float64(r.min+cvss(g.rng.IntN(int(r.max-r.min)+1))) / 10
	}
	if f.Found.IsZero() {
		g.now = later(g.now, msgs.now)
		g.timestamp()
		f.Found = g.now
	}
}

// findingLocation is where on the site a finding of type v is: its path
// with its parameter set to n.
func findingLocation(domain string, v vulnerability, n int) string {
	return "https://" + domain + v.path + "?" + v.parameter + "=" + strconv.Itoa(n)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// derivedToken is a 32-hex token fixed by the seed, a label and a domain,
// for tokens no message generator draws: current scans' profile tokens and
// every scan's asset token. Hashing rather than drawing keeps the
// messages' random sequence as it was.
func derivedToken(label string, seed uint64, domain string) string {
	h := sha256.New()
	h.Write([]byte(label))
	h.Write(binary.BigEndian.AppendUint64(nil, seed))
	h.Write([]byte(domain))
	return hex.EncodeToString(h.Sum(nil)[:16])
}
