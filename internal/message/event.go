// Package message turns a verified Detectify webhook body into one Event,
// whichever of Detectify's two message shapes it has: the classic one
// (`type`, flat fields) or the current one (`event_type`, a timestamp and
// the subject in a nested object). The receiver's handler, translator and
// state only ever see the Event.
package message // import "github.com/detectify-otel/detectifyreceiver/internal/message"

import "time"

// Format is the message shape an Event was read from.
type Format uint8

const (
	// FormatClassic is the flat message of Detectify's support article:
	// `type` = event_scan_started, event_finding_high, ...
	FormatClassic Format = iota
	// FormatCurrent is the message of Detectify's documentation site:
	// `event_type`, `timestamp`, the subject in a nested object.
	FormatCurrent
)

func (f Format) String() string {
	if f == FormatCurrent {
		return "current"
	}
	return "classic"
}

// Kind is what a message reports.
type Kind uint8

const (
	KindOther Kind = iota // any other or no type
	KindFinding
	KindScanStarted
	KindScanFinished
	KindAssetChanged
)

// Category is a level a scan's summary counts findings in.
type Category uint8

const (
	CategoryCritical Category = iota
	CategoryHigh
	CategoryMedium
	CategoryLow
	CategoryInformation
	CategoryNotice
	CategoryCount
)

var categoryNames = [CategoryCount]string{"critical", "high", "medium", "low", "information", "notice"}

func (c Category) String() string { return categoryNames[c] }

// Count is one of a scan summary's counts; OK is false when the message
// did not carry it.
type Count struct {
	N  int64
	OK bool
}

// Attribute is one flattened field of the log record. Value is a string,
// int64, float64, bool or []any of those.
type Attribute struct {
	Key   string
	Value any
}

// Event is what the receiver understands of one message. Every field is
// optional: a signed message is accepted whatever it carries, and the body
// keeps what is not modelled here. Some strings are cut from the text
// ParseInto was given (the classic URLs and tags, and the Profile, ScanID
// and FindingID they name): whoever keeps one past the record clones it.
type Event struct {
	Format Format
	Kind   Kind
	// Type is `type` (classic) or `event_type` (current) as sent.
	Type string
	// Domain is the scanned domain or asset; empty when the message names none.
	Domain string
	// Level is a finding's level, lower-cased; empty when unknown.
	Level string
	// Title is a finding's title.
	Title string
	// ScanID identifies the scan the message belongs to, when it says: the
	// report token Detectify's API names the scan's findings by.
	ScanID string
	// Profile is the scan profile's token, when the message says (the
	// report URL's first segment, or scan_profile_token): what Detectify's
	// API lists a scan's findings under.
	Profile string
	// FindingID is a finding's id (its uuid), when the message says.
	FindingID string
	// Location is where a finding was found, when the message says.
	Location string
	// ScanState is the state of a scan event (`started`, `finished`, or the
	// state a type names), empty for other events.
	ScanState string
	// Timestamp is when Detectify says the event happened; zero when the
	// message has no valid one.
	Timestamp time.Time
	// Counts are the scan summary's counts, by category.
	Counts [CategoryCount]Count
	// doc are the fields with a documented attribute, as the message sent
	// them; PutAttributes writes them.
	doc documented
	// Extra are the current format's other subject fields, flattened:
	// attributes after the documented ones.
	Extra []Attribute
	// InvalidFields names known fields sent with another JSON type: they are
	// left out of the attributes and kept in the body.
	InvalidFields []string
	// DroppedFields counts fields that were not made attributes because of
	// a bound (attribute count, nesting depth, size): they stay in the body.
	DroppedFields int
}

// ReportedFindings is the number of findings the scan summary says
// Detectify sends finding messages for: in the classic format
// critical_findings + medium_findings (its summary counts high findings as
// critical), in the current one the critical, high and medium counts. ok is
// false when the message carries none of them.
func (e *Event) ReportedFindings() (n int64, ok bool) {
	categories := []Category{CategoryCritical, CategoryMedium}
	if e.Format == FormatCurrent {
		categories = []Category{CategoryCritical, CategoryHigh, CategoryMedium}
	}
	for _, c := range categories {
		if e.Counts[c].OK {
			n += e.Counts[c].N
			ok = true
		}
	}
	return n, ok
}

// SetScan names the domain and scan the event belongs to, in its fields and
// in its documented attributes alike: an API finding takes its scan's.
func (e *Event) SetScan(domain, scanID string) {
	e.Domain, e.ScanID = domain, scanID
	e.doc.domain = optional[string]{value: domain, ok: true}
}
