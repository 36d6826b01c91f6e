package webhooksend

import (
	"bytes"
	"testing"

	"github.com/detectify-otel/detectifyreceiver/internal/message"
)

// TestWithheldIsWhatTheReceiverComputes reads a scenario with the
// receiver's own parser and does the receiver's arithmetic: each finding
// counts for the scan its scan id names, and a finished scan's undelivered
// findings are max(0, reported - delivered). That must be the summary's
// Withheld, in both formats.
func TestWithheldIsWhatTheReceiverComputes(t *testing.T) {
	for _, f := range formats {
		t.Run(string(f), func(t *testing.T) {
			msgs, scans := Scenario(ScenarioOptions{Format: f, DomainCount: 4, FindingsPerScan: 130, Unfinished: 1, Seed: 11})
			delivered := map[string]int64{}
			undelivered := map[string]int64{}
			for _, raw := range msgs {
				e, err := message.Parse(bytes.Clone(raw))
				if err != nil {
					t.Fatalf("the receiver refuses %s: %v", raw, err)
				}
				switch e.Kind {
				case message.KindFinding:
					delivered[e.ScanID]++
				case message.KindScanFinished:
					reported, ok := e.ReportedFindings()
					if !ok {
						t.Fatalf("no reported findings in %s", raw)
					}
					undelivered[e.ScanID] = max(0, reported-delivered[e.ScanID])
				}
			}
			withheld := 0
			for _, s := range scans {
				withheld += s.Withheld
				if delivered[s.ScanID] != int64(s.Sent) {
					t.Errorf("scan of %s: receiver counts %d findings, summary says %d sent", s.Domain, delivered[s.ScanID], s.Sent)
				}
				got, finished := undelivered[s.ScanID]
				if finished != s.Finished {
					t.Errorf("scan of %s: receiver saw it finish: %v, summary says %v", s.Domain, finished, s.Finished)
				}
				if finished && got != int64(s.Withheld) {
					t.Errorf("scan of %s: receiver computes %d undelivered, summary says %d withheld", s.Domain, got, s.Withheld)
				}
			}
			if withheld == 0 {
				t.Error("130 findings per scan should have some withheld")
			}
		})
	}
}
