package webhooksend

// level is a finding's level on Detectify's current five-level scale.
type level uint8

const (
	critical level = iota
	high
	medium
	low
	information
)

var levelNames = [...]string{"critical", "high", "medium", "low", "information"}

func (l level) String() string { return levelNames[l] }

// messaged reports whether Detectify sends finding messages for the level.
// The classic format has events for high findings (its high includes
// critical) and medium ones only. Generated scenarios hold the current
// format to the same levels, so that in both formats what was withheld is
// what a receiver computes from the finished message: its reported count
// (see LevelCounts.Reported) minus the finding messages delivered.
func (l level) messaged() bool { return l <= medium }

// LevelCounts counts findings by level.
type LevelCounts struct {
	Critical, High, Medium, Low, Information int
}

func (c *LevelCounts) add(l level) {
	switch l {
	case critical:
		c.Critical++
	case high:
		c.High++
	case medium:
		c.Medium++
	case low:
		c.Low++
	case information:
		c.Information++
	}
}

// Total is the number of findings of every level.
func (c LevelCounts) Total() int {
	return c.Critical + c.High + c.Medium + c.Low + c.Information
}

// Reported is the number of findings of the levels Detectify sends finding
// messages for, as a receiver reads it from the scan's finished message:
// classic critical_findings + medium_findings, current critical, high and
// medium counts.
func (c LevelCounts) Reported() int {
	return c.Critical + c.High + c.Medium
}
