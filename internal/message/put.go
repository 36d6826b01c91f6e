package message

import "go.opentelemetry.io/collector/pdata/pcommon"

// countAttributes are the summary counts' attribute keys, by category.
var countAttributes = func() (keys [CategoryCount]string) {
	for c := range CategoryCount {
		keys[c] = AttrScanFindingsPrefix + c.String()
	}
	return keys
}()

// PutAttributes writes e's attributes into m: the documented ones in a
// fixed order, then the flattened fields. They go straight into the
// record: a list of boxed values in between was most of the parse's
// allocations (docs/PERFORMANCE.md, run L).
func (e *Event) PutAttributes(m pcommon.Map) {
	d := &e.doc
	putText(m, AttrEventType, d.eventType)
	putText(m, AttrDomain, d.domain)
	putText(m, AttrReportURL, d.reportURL)
	putText(m, AttrFindingURL, d.findingURL)
	putText(m, AttrFindingTitle, d.title)
	if e.Level != "" {
		m.PutStr(AttrFindingSeverity, e.Level)
	}
	putText(m, AttrFindingLocation, d.location)
	putText(m, AttrFindingParam, d.parameter)
	putText(m, AttrFindingStatus, d.status)
	if d.cvssScore.ok {
		m.PutDouble(AttrFindingCVSS, d.cvssScore.value)
	}
	if d.tags.ok {
		PutStrings(m, AttrFindingTags, d.tags.value)
	}
	if e.ScanID != "" {
		m.PutStr(AttrScanID, e.ScanID)
	}
	putText(m, AttrFindingID, d.findingID)
	if e.ScanState != "" {
		m.PutStr(AttrScanState, e.ScanState)
	}
	for c, count := range e.Counts {
		if count.OK {
			m.PutInt(countAttributes[c], count.N)
		}
	}
	for _, a := range e.Extra {
		putAttribute(m, a.Key, a.Value)
	}
}

// AttributeCount is how many attributes PutAttributes writes.
func (e *Event) AttributeCount() int { return e.documentedCount() + len(e.Extra) }

// documentedCount is how many attributes PutAttributes writes before the
// flattened fields: what is left of MaxAttributes is theirs.
func (e *Event) documentedCount() int {
	d := &e.doc
	n := 0
	for _, ok := range []bool{
		d.eventType.ok, d.domain.ok, d.reportURL.ok, d.findingURL.ok, d.title.ok, e.Level != "",
		d.location.ok, d.parameter.ok, d.status.ok, d.cvssScore.ok, d.tags.ok, e.ScanID != "",
		d.findingID.ok, e.ScanState != "",
	} {
		if ok {
			n++
		}
	}
	for _, count := range e.Counts {
		if count.OK {
			n++
		}
	}
	return n
}

func putText(m pcommon.Map, key string, field optional[string]) {
	if field.ok {
		m.PutStr(key, field.value)
	}
}

// PutStrings sets key to a slice of strings.
func PutStrings(m pcommon.Map, key string, values []string) {
	slice := m.PutEmptySlice(key)
	slice.EnsureCapacity(len(values))
	for _, s := range values {
		slice.AppendEmpty().SetStr(s)
	}
}

// putAttribute sets a flattened field: a scalar, or a slice of scalars.
func putAttribute(m pcommon.Map, key string, value any) {
	switch v := value.(type) {
	case string:
		m.PutStr(key, v)
	case int64:
		m.PutInt(key, v)
	case float64:
		m.PutDouble(key, v)
	case bool:
		m.PutBool(key, v)
	case []any:
		_ = m.PutEmptySlice(key).FromRaw(v) // items of the scalar types above
	}
}
