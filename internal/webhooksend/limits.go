package webhooksend

// Detectify's limits on the finding messages it sends, so as not to flood
// the receiving endpoint; findings beyond them are only counted in the scan
// finished message.
const (
	// MaxFindingsPerScan is the limit on finding messages per scan.
	MaxFindingsPerScan = 100
	// MaxFindingsPerTitle is the limit on finding messages per finding
	// type, which Detectify tells apart by title.
	MaxFindingsPerTitle = 10
)

// senderLimits decides, finding by finding, what Detectify sends of one
// scan.
type senderLimits struct {
	sent    int
	byTitle map[string]int
}

func newSenderLimits() *senderLimits {
	return &senderLimits{byTitle: map[string]int{}}
}

// allow reports whether a finding of this type gets a message, and counts
// it when it does. Findings of levels without messages never count.
func (s *senderLimits) allow(v vulnerability) bool {
	if !v.level.messaged() || s.sent >= MaxFindingsPerScan || s.byTitle[v.title] >= MaxFindingsPerTitle {
		return false
	}
	s.sent++
	s.byTitle[v.title]++
	return true
}
