package webhooksend

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind, which
// is how a sender that ignores cancellation or leaks connections shows up.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
