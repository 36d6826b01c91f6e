package state

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"
)

// jsonOut appends JSON values to a buffer: the journal's entries are
// written with it, not with encoding/json, whose reflection and sorted map
// keys took a third of the journal writer's time (docs/PERFORMANCE.md,
// eighth session). What it writes decodes with encoding/json to what
// encoding/json would have written; only the order of map keys differs.
type jsonOut struct {
	b   []byte
	err error // the first value that has no JSON form
}

// jsonObject is an object being written: it knows whether a field needs a
// comma before it.
type jsonObject struct {
	w      *jsonOut
	fields int
}

func (w *jsonOut) object() jsonObject {
	w.b = append(w.b, '{')
	return jsonObject{w: w}
}

// key appends a field's name; its value follows.
func (o *jsonObject) key(name string) *jsonOut {
	o.next()
	o.w.string(name)
	o.w.b = append(o.w.b, ':')
	return o.w
}

// hexKey appends a field named by the hex digits of name.
func (o *jsonObject) hexKey(name []byte) *jsonOut {
	o.next()
	o.w.b = append(o.w.b, '"')
	o.w.b = hex.AppendEncode(o.w.b, name)
	o.w.b = append(o.w.b, '"', ':')
	return o.w
}

func (o *jsonObject) next() {
	if o.fields > 0 {
		o.w.b = append(o.w.b, ',')
	}
	o.fields++
}

func (o *jsonObject) end() { o.w.b = append(o.w.b, '}') }

// The opt fields are left out when their value is empty, as a field
// tagged omitempty (omitzero for a time) is by encoding/json.

func (o *jsonObject) optBool(name string, v bool) {
	if v {
		o.key(name).bool(true)
	}
}

func (o *jsonObject) optInt(name string, v int64) {
	if v != 0 {
		o.key(name).int(v)
	}
}

func (o *jsonObject) optIntPtr(name string, v *int64) {
	if v != nil {
		o.key(name).int(*v)
	}
}

func (o *jsonObject) optFloatPtr(name string, v *float64) {
	if v != nil {
		o.key(name).float(*v)
	}
}

func (o *jsonObject) optString(name, v string) {
	if v != "" {
		o.key(name).string(v)
	}
}

func (o *jsonObject) optStrings(name string, v []string) {
	if len(v) > 0 {
		o.key(name).strings(v)
	}
}

func (o *jsonObject) optCounts(name string, v map[string]int64) {
	if len(v) > 0 {
		o.key(name).counts(v)
	}
}

func (o *jsonObject) optTime(name string, v time.Time) {
	if !v.IsZero() {
		o.key(name).time(v)
	}
}

func (w *jsonOut) null() { w.b = append(w.b, "null"...) }

func (w *jsonOut) bool(v bool) { w.b = strconv.AppendBool(w.b, v) }

func (w *jsonOut) int(v int64) { w.b = strconv.AppendInt(w.b, v, 10) }

func (w *jsonOut) uint(v uint64) { w.b = strconv.AppendUint(w.b, v, 10) }

// float appends v in its shortest form that reads back as v; like
// encoding/json, it refuses NaN and the infinities.
func (w *jsonOut) float(v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		w.fail(errors.New("json: a number that is NaN or infinite"))
		return
	}
	w.b = strconv.AppendFloat(w.b, v, 'g', -1, 64)
}

// string appends s quoted. The names, titles and ids the state holds are
// plain ASCII; anything else is escaped by encoding/json.
func (w *jsonOut) string(s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			quoted, err := json.Marshal(s)
			w.fail(err)
			w.b = append(w.b, quoted...)
			return
		}
	}
	w.b = append(w.b, '"')
	w.b = append(w.b, s...)
	w.b = append(w.b, '"')
}

// time appends t as time.Time's MarshalJSON does, with the same check:
// RFC 3339 with nanoseconds, and no year outside [0,9999].
func (w *jsonOut) time(t time.Time) {
	b, err := t.AppendText(append(w.b, '"'))
	if err != nil {
		w.fail(err)
		return
	}
	w.b = append(b, '"')
}

func (w *jsonOut) strings(list []string) {
	w.b = append(w.b, '[')
	for i, s := range list {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.string(s)
	}
	w.b = append(w.b, ']')
}

func (w *jsonOut) counts(m map[string]int64) {
	o := w.object()
	for name, n := range m {
		o.key(name).int(n)
	}
	o.end()
}

func (w *jsonOut) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}
