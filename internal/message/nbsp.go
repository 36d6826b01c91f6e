package message

// nbsp is U+00A0 in UTF-8. Detectify's documentation indents its example
// messages with it, so copies of them carry it where JSON wants white space.
var nbsp = []byte("\u00a0")

// spacesForNBSP replaces, in place, every U+00A0 outside JSON strings with
// two spaces: only the parse is lenient, strings are left untouched. It
// runs only for bodies that contain one, which Detectify's own sender does
// not produce, so it is written plainly, byte by byte.
func spacesForNBSP(body []byte) {
	inString, escaped := false, false
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && c == 0xc2 && i+1 < len(body) && body[i+1] == 0xa0:
			body[i], body[i+1] = ' ', ' '
			i++
		}
	}
}
