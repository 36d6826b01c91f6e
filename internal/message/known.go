package message

import (
	"math"
	"strings"

	"github.com/valyala/fastjson"
)

// optional is a field the message may or may not carry.
type optional[T any] struct {
	value T
	ok    bool
}

// known are the fields with a documented attribute, from either format.
type known struct {
	eventType, domain            optional[string]
	reportURL, findingURL        optional[string]
	title, severity, location    optional[string]
	parameter, findingID, status optional[string]
	cvssScore                    optional[float64]
	tags                         optional[[]string]
	invalid                      []string
}

// decodeString reads a string field. A null leaves it unset; another type
// is noted as invalid under name.
func (k *known) decodeString(name string, v *fastjson.Value, field *optional[string]) {
	switch v.Type() {
	case fastjson.TypeNull:
	case fastjson.TypeString:
		*field = optional[string]{value: string(v.GetStringBytes()), ok: true}
	default:
		k.invalid = append(k.invalid, name)
	}
}

// decodeScore reads a finite number: Inf and NaN cannot be exported.
func (k *known) decodeScore(name string, v *fastjson.Value, field *optional[float64]) {
	if v.Type() == fastjson.TypeNull {
		return
	}
	if score, ok := finiteNumber(v); ok {
		*field = optional[float64]{value: score, ok: true}
		return
	}
	k.invalid = append(k.invalid, name)
}

// finiteNumber is false for a missing value (nil) as for any non-number.
func finiteNumber(v *fastjson.Value) (float64, bool) {
	if v == nil || v.Type() != fastjson.TypeNumber {
		return 0, false
	}
	f, err := v.Float64()
	return f, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
}

// decodeTags reads an array of strings, or of objects with a string `name`
// (the API's tag objects).
func (k *known) decodeTags(name string, v *fastjson.Value) {
	if v.Type() == fastjson.TypeNull {
		return
	}
	items, err := v.Array()
	if err != nil {
		k.invalid = append(k.invalid, name)
		return
	}
	tags := make([]string, 0, len(items))
	for _, item := range items {
		if item.Type() == fastjson.TypeObject {
			item = item.Get("name")
		}
		if item == nil || item.Type() != fastjson.TypeString {
			k.invalid = append(k.invalid, name)
			return
		}
		tags = append(tags, string(item.GetStringBytes()))
	}
	k.tags = optional[[]string]{value: tags, ok: true}
}

// countCategories maps the summary counters of both formats, and of
// Detectify's API, to their categories.
var countCategories = map[string]Category{
	"critical_findings":       CategoryCritical,
	"critical_level_findings": CategoryCritical,
	"high_level_findings":     CategoryHigh,
	"medium_findings":         CategoryMedium,
	"medium_level_findings":   CategoryMedium,
	"low_level_findings":      CategoryLow,
	"information_findings":    CategoryInformation,
	"notice_findings":         CategoryNotice,
}

// decodeCount reads a summary counter: a non-negative integer written
// without a fraction or exponent that fits an int64. The first counter of a
// category wins.
func decodeCount(e *Event, name string, c Category, v *fastjson.Value, invalid *[]string) {
	if v.Type() == fastjson.TypeNull || e.Counts[c].OK {
		return
	}
	n, err := v.Int64()
	if v.Type() != fastjson.TypeNumber || err != nil || n < 0 {
		*invalid = append(*invalid, name)
		return
	}
	e.Counts[c] = Count{N: n, OK: true}
}

// attributes lists the documented attributes of e and k, in a fixed order.
func (k *known) attributes(e *Event) []Attribute {
	attrs := make([]Attribute, 0, 16)
	add := func(key string, field optional[string]) {
		if field.ok {
			attrs = append(attrs, Attribute{Key: key, Value: field.value})
		}
	}
	add(AttrEventType, k.eventType)
	add(AttrDomain, k.domain)
	add(AttrReportURL, k.reportURL)
	add(AttrFindingURL, k.findingURL)
	add(AttrFindingTitle, k.title)
	if e.Level != "" {
		attrs = append(attrs, Attribute{Key: AttrFindingSeverity, Value: e.Level})
	}
	add(AttrFindingLocation, k.location)
	add(AttrFindingParam, k.parameter)
	add(AttrFindingStatus, k.status)
	if k.cvssScore.ok {
		attrs = append(attrs, Attribute{Key: AttrFindingCVSS, Value: k.cvssScore.value})
	}
	if k.tags.ok {
		attrs = append(attrs, Attribute{Key: AttrFindingTags, Value: k.tags.value})
	}
	if e.ScanID != "" {
		attrs = append(attrs, Attribute{Key: AttrScanID, Value: e.ScanID})
	}
	add(AttrFindingID, k.findingID)
	if e.ScanState != "" {
		attrs = append(attrs, Attribute{Key: AttrScanState, Value: e.ScanState})
	}
	for c, count := range e.Counts {
		if count.OK {
			attrs = append(attrs, Attribute{Key: AttrScanFindingsPrefix + Category(c).String(), Value: count.N})
		}
	}
	return attrs
}

// normalizeLevel is how a level is compared and counted: lower-cased,
// without surrounding space.
func normalizeLevel(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}
