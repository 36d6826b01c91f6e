package detectifyapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// ErrInvalidAnswer is an answer that is not the JSON the API documents (or
// larger than the receiver reads): asking again would not help.
var ErrInvalidAnswer = errors.New("the Detectify API's answer is not a findings list")

// StatusError is an answer with a status other than 200.
type StatusError struct {
	Code int
	// RetryAfter is the wait the answer asked for with Retry-After; zero
	// when it named none.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("the Detectify API answered %d %s", e.Code, http.StatusText(e.Code))
}

// Unauthorized is 401 (the key, signature or timestamp is not accepted) or
// 403 (the key may not read findings): nothing works until the key does.
func (e *StatusError) Unauthorized() bool {
	return e.Code == http.StatusUnauthorized || e.Code == http.StatusForbidden
}

// Retryable is an answer that may change on its own: rate limited, a
// timeout, or a server error.
func (e *StatusError) Retryable() bool {
	return e.Code == http.StatusTooManyRequests || e.Code == http.StatusRequestTimeout || e.Code >= 500
}

// retryAfter reads Retry-After: seconds, or an HTTP date.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
