package webhooksend

import (
	"encoding/json"
	"strconv"
)

// scan is one generated scan: what its messages share.
type scan struct {
	domain string
	// id is what a receiver correlates the scan's messages by: the <scan>
	// segment of the classic report URL, the current scan object's id.
	id string
	// profile is the scan profile's token, by which the API lists findings.
	profile   string
	reportURL string // classic only
}

// shape writes the messages of one format.
type shape interface {
	newScan(domain string) scan
	started(s scan) []byte
	finding(s scan, v vulnerability) ([]byte, Finding)
	finished(s scan, found LevelCounts) []byte
}

func (g *generator) shape(f Format) shape {
	if f.current() {
		return currentShape{g}
	}
	return classicShape{g}
}

// cvss is a CVSS score kept in tenths, so 9.0 is written as "9.0" like
// Detectify does rather than the "9" encoding/json would produce for a float.
type cvss int

func (c cvss) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(c)/10, 'f', 1, 64), nil
}

// mustMarshal encodes the fixed message structs of this package. They hold
// only strings, integers and string slices, so encoding cannot fail; a
// failure is a programming error.
func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("webhooksend: encoding message: " + err.Error())
	}
	return b
}
