package message

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/valyala/fastjson"
)

// The reasons Parse refuses a body. Each is a fixed sentence a client may
// read; the parser's own error, which may quote the body, is wrapped for
// the debug log only.
var (
	ErrNotObject    = errors.New("body must be a JSON object")
	ErrInvalidJSON  = errors.New("body is not valid JSON")
	ErrDuplicateKey = errors.New("body has a key more than once")
)

// Parse reads body, which must be a JSON object, in the shape its keys say:
// `event_type` is the current format, `type` the classic one; with neither,
// a nested finding, scan or asset object is the current format, anything
// else the classic one. A known field of the wrong type is noted in
// InvalidFields, never an error: the message was signed and its body is
// kept whole. Parse may rewrite body's white space (no-break spaces between
// tokens), so callers keep their own copy of the text.
func Parse(body []byte) (Event, error) {
	var e Event
	if err := ParseInto(body, string(body), &e); err != nil {
		return Event{}, err
	}
	return e, nil
}

// ParseInto is Parse into *e, which must be the zero Event, and is left
// partly filled on an error. The handler parses into the Event of its
// scratch space: a returned one would be two more copies of it in its
// frame.
//
// text is body as received, as a string: the record's body. The values
// only a record uses (the classic format's URLs and tags) are cut from it
// rather than copied, so they cost no allocation and keep alive nothing
// the record does not. Whoever keeps one of them past the record clones
// it: the state does, for the scan profile the URLs name. The values the
// state keeps (domain, title, level) are copies.
func ParseInto(body []byte, text string, e *Event) error {
	if len(text) != len(body) { // not body's text: cut nothing from it
		text = string(body)
	}
	if bytes.Contains(body, nbsp) {
		spacesForNBSP(body)
	}
	if firstToken(body) != '{' {
		return ErrNotObject
	}
	ps := parseStates.Get().(*parseState)
	defer ps.release()
	ps.text = text
	// One pass checks the whole body and notes the top level's members;
	// only the current format, whose subject is nested, builds a tree.
	var err error
	ps.members, err = scanObject(body, ps.members[:0])
	if err == nil {
		err = ps.decodeEscapedKeys()
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidJSON, err)
	}
	if !isCurrent(ps.members) {
		return parseClassic(ps, e)
	}
	root, err := ps.parser.ParseBytes(body)
	if err != nil { // the scan accepted it: not expected
		return fmt.Errorf("%w: %w", ErrInvalidJSON, err)
	}
	top, err := root.Object()
	if err != nil {
		return ErrNotObject
	}
	return parseCurrent(fieldsOf(top), e)
}

// parseState is what one parse reuses: the top level's members and a
// fastjson parser, which keeps its buffers between parses.
type parseState struct {
	members []member
	parser  fastjson.Parser
	// text is the body as a string, as received: the no-break spaces the
	// parse may rewrite are between tokens, so its strings are the body's.
	text string
}

var parseStates = sync.Pool{New: func() any { return new(parseState) }}

// maxPooledMembers bounds what a pooled parseState keeps of a body with
// many fields.
const maxPooledMembers = 256

func (ps *parseState) release() {
	clear(ps.members) // they point into the caller's body
	ps.text = ""
	if cap(ps.members) > maxPooledMembers {
		ps.members = nil
	}
	parseStates.Put(ps)
}

// cut is the text's bytes [from, to): a string, not a copy.
func (ps *parseState) cut(from, to int) string { return ps.text[from:to] }

// decodeEscapedKeys decodes the names written with an escape, which the
// scan left quoted, so that every key compares as the name it spells.
func (ps *parseState) decodeEscapedKeys() error {
	for i := range ps.members {
		m := &ps.members[i]
		if !m.keyEscaped {
			continue
		}
		v, err := ps.parser.ParseBytes(m.key)
		if err != nil {
			return err
		}
		m.key = bytes.Clone(v.GetStringBytes())
		m.keyEscaped = false
	}
	return nil
}

// isCurrent says which format the top level is in, as Parse documents.
func isCurrent(members []member) bool {
	var eventType, classicType, nested bool
	for i := range members {
		switch m := &members[i]; string(m.key) {
		case "event_type":
			eventType = true
		case "type":
			classicType = true
		case "finding", "scan", "asset":
			nested = nested || m.kind == kindObject
		}
	}
	return eventType || !classicType && nested
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
