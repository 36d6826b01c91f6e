package message

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/valyala/fastjson"
)

// The reasons Parse refuses a body. Each is a fixed sentence a client may
// read; the parser's own error, which quotes the body, is wrapped for the
// debug log only.
var (
	ErrNotObject    = errors.New("body must be a JSON object")
	ErrInvalidJSON  = errors.New("body is not valid JSON")
	ErrDuplicateKey = errors.New("body has a key more than once")
)

// parsers are reused: a fastjson.Parser keeps its buffers between parses.
var parsers fastjson.ParserPool

// Parse reads body, which must be a JSON object, in the shape its keys say:
// `event_type` is the current format, `type` the classic one; with neither,
// a nested finding, scan or asset object is the current format, anything
// else the classic one. A known field of the wrong type is noted in
// InvalidFields, never an error: the message was signed and its body is
// kept whole. Parse may rewrite body's white space (no-break spaces between
// tokens), so callers keep their own copy of the text.
func Parse(body []byte) (Event, error) {
	if bytes.Contains(body, nbsp) {
		spacesForNBSP(body)
	}
	if firstToken(body) != '{' {
		return Event{}, ErrNotObject
	}
	p := parsers.Get()
	defer parsers.Put(p)
	// Parse bounds the nesting depth; Validate then checks what Parse
	// tolerates (number syntax, escapes, control characters).
	root, err := p.ParseBytes(body)
	if err == nil {
		err = fastjson.ValidateBytes(body)
	}
	if err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrInvalidJSON, err)
	}
	top, err := root.Object()
	if err != nil {
		return Event{}, ErrNotObject
	}
	var e Event
	if isCurrent(top) {
		err = parseCurrent(fieldsOf(top), &e)
	} else {
		err = parseClassic(top, &e)
	}
	if err != nil {
		return Event{}, err
	}
	return e, nil
}

// firstToken is body's first byte after JSON white space, 0 when there is
// none: a loop, where bytes.TrimLeft built a set of the white space on
// every call.
func firstToken(body []byte) byte {
	for _, c := range body {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			return c
		}
	}
	return 0
}

// isCurrent says which format the top level is in, as Parse documents, in
// one pass over its keys.
func isCurrent(top *fastjson.Object) bool {
	var eventType, classicType, nested bool
	top.Visit(func(key []byte, v *fastjson.Value) {
		switch string(key) {
		case "event_type":
			eventType = true
		case "type":
			classicType = true
		case "finding", "scan", "asset":
			nested = nested || v.Type() == fastjson.TypeObject
		}
	})
	return eventType || !classicType && nested
}

// objectFields are an object's fields in the order of the body.
type objectFields struct {
	keys   []string
	values []*fastjson.Value
	// duplicates are the keys that appear more than once.
	duplicates []string
}

func fieldsOf(o *fastjson.Object) objectFields {
	f := objectFields{keys: make([]string, 0, o.Len()), values: make([]*fastjson.Value, 0, o.Len())}
	var seen map[string]struct{}
	if o.Len() > 8 {
		seen = make(map[string]struct{}, o.Len())
	}
	o.Visit(func(key []byte, v *fastjson.Value) {
		k := string(key)
		if seen != nil {
			if _, dup := seen[k]; dup {
				f.duplicates = append(f.duplicates, k)
			}
			seen[k] = struct{}{}
		} else if f.index(k) >= 0 {
			f.duplicates = append(f.duplicates, k)
		}
		f.keys = append(f.keys, k)
		f.values = append(f.values, v)
	})
	return f
}

// checkDuplicates refuses a key the receiver reads that appears twice:
// parsers disagree on which copy wins, so none is picked. Keys it does not
// read may repeat: they are not ambiguous here. read nil means every key.
func (f objectFields) checkDuplicates(read func(key string) bool) error {
	for _, k := range f.duplicates {
		if read == nil || read(k) {
			return fmt.Errorf("%w: %q", ErrDuplicateKey, k)
		}
	}
	return nil
}

func (f objectFields) index(key string) int {
	for i, k := range f.keys {
		if k == key {
			return i
		}
	}
	return -1
}

// get returns the value of key, nil when absent.
func (f objectFields) get(key string) *fastjson.Value {
	if i := f.index(key); i >= 0 {
		return f.values[i]
	}
	return nil
}
