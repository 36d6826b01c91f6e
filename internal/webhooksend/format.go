package webhooksend

import "fmt"

// Format is the shape of the messages generated or taken from the seed.
type Format string

// Detectify's two message shapes. The zero Format means FormatClassic.
const (
	// FormatClassic is the flat message of Detectify's support article:
	// `type` = event_scan_started, event_finding_high, ...
	FormatClassic Format = "classic"
	// FormatCurrent is the message of Detectify's documentation site:
	// `event_type`, an RFC 3339 `timestamp` and the subject in an object
	// named after the event.
	FormatCurrent Format = "current"
)

// ParseFormat accepts "classic" and "current".
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatClassic, FormatCurrent:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q (want %s or %s)", s, FormatClassic, FormatCurrent)
}

// current reports whether f is FormatCurrent; anything else is classic.
func (f Format) current() bool { return f == FormatCurrent }
