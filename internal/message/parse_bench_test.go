package message

import (
	"bytes"
	"testing"

	"github.com/detectify-otel/detectifyreceiver/internal/seed"
)

// BenchmarkParse is each seed message's parse, on a fresh copy of its body
// each time (Parse may rewrite the no-break spaces of a copied example),
// then the same message as Detectify's sender writes it, without them.
func BenchmarkParse(b *testing.B) {
	for _, m := range append(seed.Classic(), seed.Current()...) {
		b.Run(m.Name, func(b *testing.B) { benchmarkParse(b, m.Body) })
		if bytes.Contains(m.Body, nbsp) {
			b.Run(m.Name+"/as_sent", func(b *testing.B) { benchmarkParse(b, bytes.ReplaceAll(m.Body, nbsp, []byte(" "))) })
		}
	}
}

func benchmarkParse(b *testing.B, message []byte) {
	body := make([]byte, len(message))
	b.ReportAllocs()
	b.SetBytes(int64(len(message)))
	for b.Loop() {
		copy(body, message)
		if _, err := Parse(body); err != nil {
			b.Fatal(err)
		}
	}
}
