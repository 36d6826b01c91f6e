package webhooksend

// UniqueFindings returns n distinct classic finding messages; see
// UniqueFindingsIn.
func UniqueFindings(n int, seed uint64) [][]byte {
	return UniqueFindingsIn(FormatClassic, n, seed)
}

// UniqueFindingsIn returns n distinct finding messages of one format,
// spread over one scan on each of DefaultDomainCount domains, for load
// tests where every request must reach the receiver's pipeline rather than
// be treated as a redelivery. They are not held to Detectify's sender
// limits. Classic findings are high or medium, as classic events are;
// current ones are of all five levels.
func UniqueFindingsIn(f Format, n int, seed uint64) [][]byte {
	if n <= 0 {
		return nil
	}
	g := newGenerator(seed)
	sh := g.shape(f)
	domains := generatedDomains(DefaultDomainCount)
	scans := make([]scan, len(domains))
	for i, d := range domains {
		scans[i] = sh.newScan(d)
	}
	vulns := catalog[:]
	if !f.current() {
		vulns = messagedVulnerabilities()
	}
	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i], _ = sh.finding(scans[i%len(scans)], vulns[g.rng.IntN(len(vulns))])
	}
	return msgs
}

// messagedVulnerabilities returns the catalog's types of the levels
// Detectify sends finding messages for.
func messagedVulnerabilities() []vulnerability {
	var out []vulnerability
	for _, v := range catalog {
		if v.level.messaged() {
			out = append(out, v)
		}
	}
	return out
}
