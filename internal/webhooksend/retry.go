package webhooksend

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// retryable reports whether a status asks the sender to try again later:
// 429 (rate limited) and 503 (overloaded or not ready). Other failures
// would fail again with the same body.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
}

// retryDelay is the wait before retry number retry (0 for the first). A
// valid Retry-After wins; otherwise the wait doubles from base. Either way
// it is capped at limit.
func retryDelay(retryAfter string, retry int, base, limit time.Duration, now time.Time) time.Duration {
	if d, ok := parseRetryAfter(retryAfter, now); ok {
		return min(d, limit)
	}
	return jitter(backoff(retry, base, limit))
}

// parseRetryAfter reads either form RFC 9110 allows: delay seconds or an
// HTTP-date. A date in the past means retry now.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// backoff returns base·2^retry, capped at limit without overflowing.
func backoff(retry int, base, limit time.Duration) time.Duration {
	d := base
	for range retry {
		if d >= limit/2 {
			return limit
		}
		d *= 2
	}
	return min(d, limit)
}

// jitter spreads d over [d/2, d] so parallel senders that were refused
// together do not return together.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// sleep waits for d or until ctx is done, reporting whether the full wait
// elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
