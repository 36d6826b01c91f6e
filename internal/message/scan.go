package message

import (
	"fmt"
)

// maxDepth bounds the nesting of objects and arrays, as fastjson's parser
// does (fastjson.MaxDepth), so that the current format's parse of a body
// this scanner accepted cannot fail on depth.
const maxDepth = 300

// valueKind is a JSON value's type, as its first byte says.
type valueKind uint8

const (
	kindString valueKind = iota + 1
	kindNumber
	kindObject
	kindArray
	kindLiteral // true, false, null
)

// member is one field of the top-level object, as spans of the body.
type member struct {
	// key is the field's name: the bytes between its quotes. A name
	// with an escape is kept quoted (keyEscaped) until Parse decodes it.
	key []byte
	// value is the whole value, a string with its quotes.
	value []byte
	// start is value's offset in the body.
	start int
	kind  valueKind
	// plain: a string without escapes, whose text is value without its
	// quotes.
	plain      bool
	keyEscaped bool
}

// text is a plain string member's value, copied.
func (m *member) text() string { return string(m.value[1 : len(m.value)-1]) }

// scanner checks a body against JSON's grammar (RFC 8259) in one pass,
// noting the top-level object's members. It allocates nothing but the
// members' slice and an error: the classic message, Detectify's most
// common, is then read from the spans without building a tree.
type scanner struct {
	b []byte
	i int
}

// scanObject checks that body is exactly one JSON object and appends its
// members to members.
func scanObject(body []byte, members []member) ([]member, error) {
	s := scanner{b: body}
	s.skipSpace()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return members, s.fail("the body is not an object")
	}
	members, err := s.object(1, members, true)
	if err != nil {
		return members, err
	}
	s.skipSpace()
	if s.i != len(s.b) {
		return members, s.fail("data after the object")
	}
	return members, nil
}

// fail is a scan error: what was wrong and where, for the debug log.
func (s *scanner) fail(what string) error {
	return fmt.Errorf("%s at offset %d", what, s.i)
}

func (s *scanner) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// object scans the object at s.i; top says to note its members.
func (s *scanner) object(depth int, members []member, top bool) ([]member, error) {
	if depth > maxDepth {
		return members, s.fail("nesting too deep")
	}
	s.i++ // {
	s.skipSpace()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return members, nil
	}
	for {
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return members, s.fail("expected a field name")
		}
		keyStart := s.i
		keyPlain, err := s.string()
		if err != nil {
			return members, err
		}
		keyEnd := s.i
		s.skipSpace()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return members, s.fail("expected a colon")
		}
		s.i++
		s.skipSpace()
		valueStart := s.i
		kind, plain, err := s.value(depth)
		if err != nil {
			return members, err
		}
		if top {
			key := s.b[keyStart+1 : keyEnd-1]
			if !keyPlain {
				key = s.b[keyStart:keyEnd] // quoted, for decoding
			}
			members = append(members, member{
				key: key, value: s.b[valueStart:s.i], start: valueStart,
				kind: kind, plain: plain, keyEscaped: !keyPlain,
			})
		}
		s.skipSpace()
		if s.i >= len(s.b) {
			return members, s.fail("unterminated object")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.skipSpace()
		case '}':
			s.i++
			return members, nil
		default:
			return members, s.fail("expected a comma or a closing brace")
		}
	}
}

func (s *scanner) array(depth int) error {
	if depth > maxDepth {
		return s.fail("nesting too deep")
	}
	s.i++ // [
	s.skipSpace()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return nil
	}
	for {
		if _, _, err := s.value(depth); err != nil {
			return err
		}
		s.skipSpace()
		if s.i >= len(s.b) {
			return s.fail("unterminated array")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.skipSpace()
		case ']':
			s.i++
			return nil
		default:
			return s.fail("expected a comma or a closing bracket")
		}
	}
}

// value scans the value at s.i, inside a container at depth.
func (s *scanner) value(depth int) (kind valueKind, plain bool, err error) {
	if s.i >= len(s.b) {
		return 0, false, s.fail("expected a value")
	}
	switch c := s.b[s.i]; {
	case c == '"':
		plain, err = s.string()
		return kindString, plain, err
	case c == '{':
		_, err = s.object(depth+1, nil, false)
		return kindObject, false, err
	case c == '[':
		return kindArray, false, s.array(depth + 1)
	case c == 't':
		return kindLiteral, false, s.literal("true")
	case c == 'f':
		return kindLiteral, false, s.literal("false")
	case c == 'n':
		return kindLiteral, false, s.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return kindNumber, false, s.number()
	}
	return 0, false, s.fail("expected a value")
}

func (s *scanner) literal(word string) error {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return s.fail("invalid literal")
	}
	s.i += len(word)
	return nil
}

// string scans the string at s.i; plain is false when it has an escape.
func (s *scanner) string() (plain bool, err error) {
	s.i++ // "
	plain = true
	for {
		for s.i < len(s.b) && !stringSpecial[s.b[s.i]] {
			s.i++
		}
		if s.i >= len(s.b) {
			return false, s.fail("unterminated string")
		}
		switch s.b[s.i] {
		case '"':
			s.i++
			return plain, nil
		case '\\':
			plain = false
			if err := s.escape(); err != nil {
				return false, err
			}
		default:
			return false, s.fail("control character in a string")
		}
	}
}

// stringSpecial are the bytes that end a string's run of plain text: the
// quote, the backslash and the control characters JSON forbids there.
var stringSpecial = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// escape checks the escape sequence at s.i and steps over it.
func (s *scanner) escape() error {
	if s.i+1 >= len(s.b) {
		return s.fail("unterminated string")
	}
	switch s.b[s.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.i += 2
		return nil
	case 'u':
		if len(s.b)-s.i < 6 {
			return s.fail("invalid escape")
		}
		for _, c := range s.b[s.i+2 : s.i+6] {
			if !isHex(c) {
				return s.fail("invalid escape")
			}
		}
		s.i += 6
		return nil
	}
	return s.fail("invalid escape")
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// number scans -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? at s.i; what
// follows it is the container's to check.
func (s *scanner) number() error {
	if s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case !s.digits():
		return s.fail("invalid number")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if !s.digits() {
			return s.fail("invalid number")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if !s.digits() {
			return s.fail("invalid number")
		}
	}
	return nil
}

// digits steps over one or more digits; false when there is none.
func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}
