package webhooksend

// DefaultTitles is the number of distinct finding titles per scan when a
// scenario names none: few enough that a scan with a hundred findings has
// titles found more than Detectify's ten messages per title.
const DefaultTitles = 12

// titleMix is the finding types one scan finds and how common each is.
type titleMix struct {
	vulns []vulnerability
	// cumulative[i] is the summed weight of vulns[:i+1].
	cumulative []float64
}

// newTitleMix picks k distinct types at random. Weights fall with rank
// (1, 1/2, 1/3, ...) as on real sites, where a few types make up most
// findings and hit the per-title limit first.
func (g *generator) newTitleMix(k int) titleMix {
	k = min(max(k, 1), MaxTitles)
	all := catalog
	g.rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	m := titleMix{vulns: all[:k], cumulative: make([]float64, k)}
	sum := 0.0
	for i := range k {
		sum += 1 / float64(i+1)
		m.cumulative[i] = sum
	}
	return m
}

// draw returns the type of the next finding.
func (m titleMix) draw(g *generator) vulnerability {
	x := g.rng.Float64() * m.cumulative[len(m.cumulative)-1]
	for i, c := range m.cumulative {
		if x < c {
			return m.vulns[i]
		}
	}
	return m.vulns[len(m.vulns)-1]
}
