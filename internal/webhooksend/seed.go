package webhooksend

import _ "embed" // for the seed messages

// The three example messages from Detectify's webhook documentation. The
// documentation page indents them with non-breaking spaces, an HTML artefact
// that is not JSON whitespace; the files use plain spaces so the examples
// stay valid JSON while keeping the documented layout.
var (
	//go:embed seed/scan_started.json
	seedScanStarted string
	//go:embed seed/finding_high.json
	seedFindingHigh string
	//go:embed seed/scan_finished.json
	seedScanFinished string
)

// SeedMessages returns Detectify's documented example messages in the order
// a receiver would see them: scan started, a high finding, scan finished.
// Each call returns fresh slices, so callers may modify them.
func SeedMessages() [][]byte {
	return [][]byte{
		[]byte(seedScanStarted),
		[]byte(seedFindingHigh),
		[]byte(seedScanFinished),
	}
}
