package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"fmt"
	"slices"
	"time"

	"github.com/detectify-otel/detectifyreceiver/internal/message"
)

// maxFutureSkew is how far ahead of the receiver's clock a signed
// timestamp may be: Standard Webhooks' and Stripe's tolerance for clocks
// that disagree.
const maxFutureSkew = 5 * time.Minute

// freshness refuses a replay: a signature proves who wrote a body, not
// when, so with max_message_age set a current-format message is accepted
// only if its signed `timestamp` is no older than max_message_age and no
// more than maxFutureSkew ahead. A current-format message whose timestamp
// is missing or unreadable cannot be shown to be fresh, so it is refused
// too: letting it through would make the check one that a message without
// a readable date passes forever. A classic message has no timestamp at
// all and is not checked (dedup_window is then its only replay defence).
func freshness(e *message.Event, maxAge time.Duration, now time.Time) (answer, bool) {
	if maxAge <= 0 || e.Format != message.FormatCurrent {
		return answer{}, true
	}
	switch {
	case e.Timestamp.IsZero() && slices.Contains(e.InvalidFields, "timestamp"):
		return answerTimestampInvalid, false
	case e.Timestamp.IsZero():
		return answerTimestampMissing, false
	case now.Sub(e.Timestamp) > maxAge:
		return answerTooOld, false
	case e.Timestamp.Sub(now) > maxFutureSkew:
		return answerFromFuture, false
	}
	return answer{}, true
}

// dedupRetention is how long the state remembers a delivery: dedup_window,
// and with max_message_age also the future skew, so that a message stamped
// ahead of the receiver's clock is still remembered for as long as it
// would pass the age check.
func (cfg *Config) dedupRetention() time.Duration {
	if cfg.MaxMessageAge > 0 && cfg.DedupWindow > 0 {
		return cfg.DedupWindow + maxFutureSkew
	}
	return cfg.DedupWindow
}

func (cfg *Config) validateMaxMessageAge() []error {
	switch {
	case cfg.MaxMessageAge < 0:
		return []error{fmt.Errorf("max_message_age must not be negative (0 disables it), got %s", cfg.MaxMessageAge)}
	case cfg.MaxMessageAge > 0 && cfg.DedupWindow < cfg.MaxMessageAge:
		// A replay younger than max_message_age is refused only while the
		// first delivery is remembered.
		return []error{fmt.Errorf("dedup_window (%s) must be at least max_message_age (%s): a replay that passes the age check "+
			"is recognised only while its first delivery is remembered", cfg.DedupWindow, cfg.MaxMessageAge)}
	}
	return nil
}
