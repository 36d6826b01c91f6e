package message

// Attribute keys of the log records, as declared in metadata.yaml (a test
// in the receiver holds the two together). They are an API: users' queries
// and alert rules depend on them.
const (
	AttrEventType       = "detectify.event.type"
	AttrDomain          = "detectify.domain"
	AttrReportURL       = "detectify.report.url"
	AttrFindingURL      = "detectify.finding.url"
	AttrFindingTitle    = "detectify.finding.title"
	AttrFindingSeverity = "detectify.finding.severity"
	AttrFindingCVSS     = "detectify.finding.cvss_score"
	AttrFindingTags     = "detectify.finding.tags"
	AttrFindingID       = "detectify.finding.id"
	AttrFindingLocation = "detectify.finding.location"
	AttrFindingParam    = "detectify.finding.parameter"
	AttrFindingStatus   = "detectify.finding.status"
	AttrFindingSource   = "detectify.finding.source"
	AttrScanID          = "detectify.scan.id"
	AttrScanState       = "detectify.scan.state"
	// AttrScanFindingsPrefix + a category name: a scan summary's count.
	AttrScanFindingsPrefix = "detectify.scan.findings."
	AttrInvalidFields      = "detectify.payload.invalid_fields"
	AttrDroppedFields      = "detectify.payload.dropped_fields"

	// What the receiver adds from what it saw of the scan (scan insight).
	AttrScanDelivered     = AttrScanFindingsPrefix + "delivered"
	AttrScanUndelivered   = AttrScanFindingsPrefix + "undelivered"
	AttrScanPartial       = "detectify.scan.partial"
	AttrScanLimitReached  = "detectify.scan.limit_reached"
	AttrScanLimitedTitles = "detectify.scan.limited_titles"
	AttrScanDuration      = "detectify.scan.duration"

	// What the receiver's API backfill adds.
	AttrScanBackfilled      = AttrScanFindingsPrefix + "backfilled"
	AttrScanBackfillOutcome = "detectify.scan.backfill.outcome"
)

// Values of AttrFindingSource.
const (
	SourceWebhook = "webhook"
	SourceAPI     = "api"
)

// Bounds on what one message can make of its record, so that a signed but
// hostile body cannot blow up memory downstream.
const (
	// MaxAttributes bounds a record's attributes. The message may use all
	// but reservedAttributes of them; the receiver adds the rest (scan
	// insight, invalid and dropped fields).
	MaxAttributes      = 64
	reservedAttributes = 10
	// maxFlattenDepth is how deep below the subject object fields become
	// attributes: its fields, their objects' fields, and one level more.
	maxFlattenDepth = 3
	// maxSliceItems bounds an array made into a slice attribute.
	maxSliceItems = 64
	// maxValueBytes bounds a flattened string value, and maxKeyBytes a
	// flattened attribute key; longer ones stay in the body only.
	maxValueBytes = 8 << 10
	maxKeyBytes   = 256
)
