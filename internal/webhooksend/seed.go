package webhooksend

import "github.com/detectify-otel/detectifyreceiver/internal/seed"

// SeedMessages returns Detectify's classic example messages, byte for byte
// as its support article shows them, in the order a receiver would see
// them: scan started, a high finding, scan finished. Each call returns
// fresh slices, so callers may modify them.
func SeedMessages() [][]byte {
	return SeedMessagesIn(FormatClassic)
}

// SeedMessagesIn returns the example messages of one format from package
// seed, which holds the one copy of each: for FormatCurrent scan started, a
// finding, scan completed and an asset change. Each call returns fresh
// slices.
func SeedMessagesIn(f Format) [][]byte {
	msgs := seed.Classic()
	if f.current() {
		msgs = seed.Current()
	}
	bodies := make([][]byte, len(msgs))
	for i, m := range msgs {
		bodies[i] = m.Body
	}
	return bodies
}
