package state

import "github.com/detectify-otel/detectifyreceiver/internal/message"

// observed is what the rules read of a message: the fields they use
// (176 B of the Event's 640), copied into the webhook's step, which lives
// in its Delivery. Profile, ScanID and FindingID may be cut from the
// webhook's text: what the state keeps of them is cloned (keepProfile) or
// made anew (scanKey, webhookFindingKey).
type observed struct {
	Kind                                      message.Kind
	Domain, ScanID, ScanState, Profile, Level string
	Title, FindingID, Location                string
	// ScanKey is the scan's key in the state, when ScanID names it: made
	// once, here, not in the rules, which may run more than once (Redis)
	// and where its allocation was the receiver's deepest point on the
	// stack (docs/PERFORMANCE.md, sixth session).
	ScanKey string
	// Counts are a finished scan's summary counters, nil for other
	// messages: the rules read them only then, and a finding's copy is a
	// third smaller without them.
	Counts     *[message.CategoryCount]message.Count
	reported   int64
	reportedOK bool
}

// from fills o, which is zero, from e.
func (o *observed) from(e *message.Event) {
	o.Kind, o.Domain, o.ScanID, o.ScanState, o.Profile, o.Level = e.Kind, e.Domain, e.ScanID, e.ScanState, e.Profile, e.Level
	o.Title, o.FindingID, o.Location = e.Title, e.FindingID, e.Location
	if e.ScanID != "" {
		o.ScanKey = scanKey(e.Domain, e.ScanID)
	}
	if e.Kind == message.KindScanFinished {
		counts := e.Counts
		o.Counts = &counts
	}
	o.reported, o.reportedOK = e.ReportedFindings()
}

// ReportedFindings is the message's ReportedFindings.
func (o *observed) ReportedFindings() (n int64, ok bool) { return o.reported, o.reportedOK }
