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

// documented are the fields with a documented attribute, from either
// format, as the message sent them.
type documented struct {
	eventType, domain            optional[string]
	reportURL, findingURL        optional[string]
	title, location              optional[string]
	parameter, findingID, status optional[string]
	cvssScore                    optional[float64]
	tags                         optional[[]string]
}

// known is what a reader gathers: the documented fields, the severity a
// finding's level is read from, and the fields sent with the wrong type.
type known struct {
	documented
	severity optional[string]
	counts   [CategoryCount]Count
	invalid  []string
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
	return finite(v.Float64())
}

// finite is a parsed number that can be exported: not Inf or NaN.
func finite(f float64, err error) (float64, bool) {
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
func (k *known) decodeCount(name string, c Category, v *fastjson.Value) {
	if v.Type() == fastjson.TypeNull || k.counts[c].OK {
		return
	}
	n, err := v.Int64()
	if v.Type() != fastjson.TypeNumber || err != nil || n < 0 {
		k.invalid = append(k.invalid, name)
		return
	}
	k.counts[c] = Count{N: n, OK: true}
}

// normalizeLevel is how a level is compared and counted: lower-cased,
// without surrounding space.
func normalizeLevel(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}
