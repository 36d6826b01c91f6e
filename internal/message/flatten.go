package message

import (
	"slices"
	"strings"

	"github.com/valyala/fastjson"
)

// flattener makes attributes of a subject's other fields: scalars as they
// are, arrays of scalars as slices, objects by their fields, up to
// maxFlattenDepth. What a bound turns away is counted in dropped and stays
// in the body.
type flattener struct {
	attrs   []Attribute
	limit   int
	dropped int
}

// field flattens v under key; depth is 1 for the subject's own fields.
func (f *flattener) field(key string, v *fastjson.Value, depth int) error {
	if len(key) > maxKeyBytes || isReserved(key) {
		f.dropped++
		return nil
	}
	switch v.Type() {
	case fastjson.TypeNull:
	case fastjson.TypeObject:
		if depth >= maxFlattenDepth {
			f.dropped++
			return nil
		}
		fields := fieldsOf(v.GetObject())
		if err := fields.checkDuplicates(nil); err != nil {
			return err
		}
		for i, k := range fields.keys {
			if err := f.field(key+"."+k, fields.values[i], depth+1); err != nil {
				return err
			}
		}
	case fastjson.TypeArray:
		items := v.GetArray()
		slice := make([]any, 0, len(items))
		for _, item := range items {
			value, ok := scalar(item)
			if !ok || len(slice) == maxSliceItems {
				f.dropped++
				return nil
			}
			slice = append(slice, value)
		}
		f.add(key, slice)
	default:
		if value, ok := scalar(v); ok {
			f.add(key, value)
		} else {
			f.dropped++
		}
	}
	return nil
}

// add keeps the first of two fields that flatten to one key (`"a.b"` and
// `"a":{"b"}`): an attribute map holds a key once. A scan is enough under
// limit (at most MaxAttributes).
func (f *flattener) add(key string, value any) {
	if len(f.attrs) >= f.limit || slices.ContainsFunc(f.attrs, func(a Attribute) bool { return a.Key == key }) {
		f.dropped++
		return
	}
	f.attrs = append(f.attrs, Attribute{Key: key, Value: value})
}

// scalar returns a string, bool, int64 (a number written as an integer that
// fits) or float64 (any other finite number). ok is false for objects,
// arrays, nulls, over-long strings and numbers out of range.
func scalar(v *fastjson.Value) (any, bool) {
	switch v.Type() {
	case fastjson.TypeString:
		s := v.GetStringBytes()
		return string(s), len(s) <= maxValueBytes
	case fastjson.TypeTrue:
		return true, true
	case fastjson.TypeFalse:
		return false, true
	case fastjson.TypeNumber:
		if n, err := v.Int64(); err == nil {
			return n, true
		}
		if n, ok := finiteNumber(v); ok {
			return n, true
		}
	}
	return nil, false
}

// isReserved reports whether key is one the receiver sets itself: a field
// flattened onto it would contradict the documented value.
func isReserved(key string) bool {
	switch key {
	case AttrEventType, AttrDomain, AttrReportURL, AttrFindingURL, AttrFindingTitle, AttrFindingSeverity,
		AttrFindingCVSS, AttrFindingTags, AttrFindingID, AttrFindingLocation, AttrFindingParam,
		AttrFindingStatus, AttrFindingSource, AttrScanID, AttrScanState, AttrScanPartial, AttrScanLimitReached,
		AttrScanLimitedTitles, AttrScanDuration, AttrScanBackfillOutcome, AttrInvalidFields, AttrDroppedFields:
		return true
	}
	return strings.HasPrefix(key, AttrScanFindingsPrefix)
}
