package state

import "github.com/detectify-otel/detectifyreceiver/internal/message"

// observed is what the rules read of a message. They read a copy: a
// step's function reaches the backend through an interface, so the
// compiler moves whatever it refers to to the heap, and these fields
// (160 B) cost less there than the whole Event (640 B, with its documented
// fields and attributes) for every webhook.
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
