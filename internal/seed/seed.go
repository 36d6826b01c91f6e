// Package seed holds the one copy of each example message that the tests,
// the golden files and detectify-send use.
//
// Classic: the three example messages of Detectify's support article
// (shared/seed/detectify-webhooks.txt), byte for byte, including the
// no-break spaces (U+00A0) the page indents them with.
//
// Current: the one example of Detectify's documentation site, verbatim
// (finding.json) and as a copy from the page keeps it, indented with
// no-break spaces (finding_nbsp.json). Detectify gives no example of its
// other events; scan_started.json, scan_completed.json and
// asset_changed.json are modelled on the finding and on the fields the
// API and the Splunk integration use, and say nothing more than that.
package seed // import "github.com/detectify-otel/detectifyreceiver/internal/seed"

import (
	"embed"
	"path"
)

//go:embed classic/*.json current/*.json
var files embed.FS

// Message is one example message.
type Message struct {
	Name string // e.g. classic/finding_high
	Body []byte
}

// Classic returns the support article's examples in the order a receiver
// sees them: scan started, a high finding, scan finished.
func Classic() []Message {
	return read("classic", "scan_started", "finding_high", "scan_finished")
}

// Current returns the current-format examples in the order of a scan: scan
// started, the documented finding, scan completed, then an asset change.
func Current() []Message {
	return read("current", "scan_started", "finding", "scan_completed", "asset_changed")
}

// Get returns one message by its name, e.g. "classic/finding_high".
func Get(name string) []byte {
	body, err := files.ReadFile(name + ".json")
	if err != nil {
		panic("seed: no message " + name)
	}
	return body
}

// read returns fresh copies, so callers may modify them.
func read(dir string, names ...string) []Message {
	out := make([]Message, 0, len(names))
	for _, name := range names {
		full := path.Join(dir, name)
		out = append(out, Message{Name: full, Body: Get(full)})
	}
	return out
}
