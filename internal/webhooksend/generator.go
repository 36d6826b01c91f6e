package webhooksend

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"time"
)

// generator draws every random value from one seeded source, and keeps the
// clock of current-format timestamps, so a scenario is reproducible from
// its seed.
type generator struct {
	rng  *rand.Rand
	now  time.Time
	seed uint64
}

// clockStart is where generated timestamps begin: the day of Detectify's
// documented example, moved by the seed so different seeds tell different
// times.
var clockStart = time.Date(2025, time.January, 15, 14, 0, 0, 0, time.UTC)

const secondsPerYear = 365 * 24 * 60 * 60

func newGenerator(seed uint64) *generator {
	// The second PCG word only needs to differ from the first; the golden
	// ratio constant spreads small seeds apart.
	return &generator{
		rng:  rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		now:  clockStart.Add(time.Duration(seed%secondsPerYear) * time.Second),
		seed: seed,
	}
}

// timestamp advances the clock by one to ninety seconds and returns it in
// RFC 3339. Strictly increasing, so no two current-format messages of a run
// share one.
func (g *generator) timestamp() string {
	g.now = g.now.Add(time.Duration(1+g.rng.IntN(90)) * time.Second)
	return g.now.Format(time.RFC3339)
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
