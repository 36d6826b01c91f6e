package message

import (
	"testing"

	"github.com/detectify-otel/detectifyreceiver/internal/seed"
)

// BenchmarkParse is each seed message's parse, on a fresh copy of its body
// each time (Parse may rewrite the no-break spaces of a copied example).
func BenchmarkParse(b *testing.B) {
	for _, m := range append(seed.Classic(), seed.Current()...) {
		b.Run(m.Name, func(b *testing.B) {
			body := make([]byte, len(m.Body))
			b.ReportAllocs()
			b.SetBytes(int64(len(m.Body)))
			for b.Loop() {
				copy(body, m.Body)
				if _, err := Parse(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
