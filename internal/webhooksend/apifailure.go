package webhooksend

import (
	"net/http"
	"time"
)

// Failure is one misbehaviour FakeAPI.FailNext queues for a request, so a
// test can drive a client through rate limiting, server errors, slowness
// and garbage in a known order. Fields combine: a Delay then a Status, a
// Delay then a normal answer, a Delay then a Malformed body.
type Failure struct {
	// Delay holds the answer back this long, or until the client gives up.
	Delay time.Duration
	// Status, when not zero, is answered instead of the findings, with an
	// error body.
	Status int
	// RetryAfter, with Status, is sent as the Retry-After header, e.g. "2".
	RetryAfter string
	// Malformed answers 200 with a truncated JSON body.
	Malformed bool
}

// Shorthands for the failures tests need most.
var (
	// FailRateLimited is a 429 asking the client to wait a second.
	FailRateLimited = Failure{Status: http.StatusTooManyRequests, RetryAfter: "1"}
	// FailServerError is a 500.
	FailServerError = Failure{Status: http.StatusInternalServerError}
	// FailMalformed is a 200 whose body is not JSON.
	FailMalformed = Failure{Malformed: true}
)

// malformedBody is the start of a findings list, cut off.
const malformedBody = `[{"uuid": "2b8f0a6e-`

// FailNext makes the next requests, one each in order, whatever they ask
// and however they are signed, misbehave as fs say; requests after them
// are served normally again.
func (a *FakeAPI) FailNext(fs ...Failure) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failures = append(a.failures, fs...)
}

// nextFailure takes the first queued failure; a.mu must be held.
func (a *FakeAPI) nextFailure() (Failure, bool) {
	if len(a.failures) == 0 {
		return Failure{}, false
	}
	f := a.failures[0]
	a.failures = a.failures[1:]
	return f, true
}

// apply misbehaves on w and reports whether it answered; a Failure of only
// a Delay leaves the answer to the API.
func (f Failure) apply(w http.ResponseWriter, r *http.Request) bool {
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	switch {
	case f.Status != 0:
		status, body, _ := apiError(f.Status, "injected failure")
		w.Header().Set("Content-Type", "application/json")
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		w.WriteHeader(status)
		_, _ = w.Write(body)
	case f.Malformed:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(malformedBody))
	default:
		return false
	}
	return true
}

// status is the status apply answers with.
func (f Failure) status() int {
	if f.Status != 0 {
		return f.Status
	}
	return http.StatusOK
}
