package state

import "github.com/detectify-otel/detectifyreceiver/internal/message"

// observed is what the rules read of a message. The rules get a copy: a
// step's function outlives the call that makes it (the backends run it
// through an interface), so whatever it refers to is moved to the heap,
// and a copy of these fields costs less than the whole Event (its
// documented fields and attributes) moved there for every webhook.
type observed struct {
	Kind                                      message.Kind
	Domain, ScanID, ScanState, Profile, Level string
	Title, FindingID, Location                string
	// Counts are a finished scan's summary counters, nil for other
	// messages: the rules read them only then, and a finding's copy is a
	// third smaller without them.
	Counts     *[message.CategoryCount]message.Count
	reported   int64
	reportedOK bool
}

func observe(e *message.Event) observed {
	o := observed{
		Kind: e.Kind, Domain: e.Domain, ScanID: e.ScanID, ScanState: e.ScanState, Profile: e.Profile, Level: e.Level,
		Title: e.Title, FindingID: e.FindingID, Location: e.Location,
	}
	if e.Kind == message.KindScanFinished {
		counts := e.Counts
		o.Counts = &counts
	}
	o.reported, o.reportedOK = e.ReportedFindings()
	return o
}

// ReportedFindings is the message's ReportedFindings.
func (o *observed) ReportedFindings() (n int64, ok bool) { return o.reported, o.reportedOK }
