package webhooksend

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Summary reports the outcome of a run. Every message ends up either
// Delivered or Failed, so Delivered+Failed == Sent.
type Summary struct {
	// Sent counts messages attempted, once each however often retried.
	Sent int
	// Delivered counts messages that eventually got a 2xx response.
	Delivered int
	// Failed counts messages given up on: a non-retryable status, retries
	// exhausted, a transport error or cancellation.
	Failed int

	// Attempts counts HTTP requests made, retries included.
	Attempts int
	// Retries counts attempts beyond each message's first.
	Retries int
	// TransportErrors counts attempts that got no HTTP response
	// (connection refused, timeout, TLS failure); cancellation excluded.
	TransportErrors int
	// FirstError describes the earliest transport error, if any.
	FirstError string

	// FinalStatus counts messages by the status of their last attempt.
	FinalStatus map[int]int
	// AttemptStatus counts every attempt by status.
	AttemptStatus map[int]int

	// Latency covers attempts that got a response, body included.
	Latency Latency
	// Elapsed is the wall time of the run.
	Elapsed time.Duration
}

// Latency holds percentiles of request latency.
type Latency struct {
	P50, P90, P99, Max time.Duration
}

// OK reports whether every message was delivered.
func (s Summary) OK() bool {
	return s.Failed == 0 && s.Delivered == s.Sent
}

// Rate is the achieved request rate, retries included, in requests per
// second.
func (s Summary) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Attempts) / s.Elapsed.Seconds()
}

// Print writes the summary as an aligned, human-readable table.
func (s Summary) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "messages:\t%d sent, %d delivered, %d failed\n", s.Sent, s.Delivered, s.Failed)
	fmt.Fprintf(tw, "requests:\t%d (%d retries, %d transport errors)\n", s.Attempts, s.Retries, s.TransportErrors)
	fmt.Fprintf(tw, "final status:\t%s\n", FormatStatuses(s.FinalStatus))
	fmt.Fprintf(tw, "every status:\t%s\n", FormatStatuses(s.AttemptStatus))
	if l := s.Latency; len(s.AttemptStatus) > 0 {
		fmt.Fprintf(tw, "latency:\tp50 %s  p90 %s  p99 %s  max %s\n",
			roundDuration(l.P50), roundDuration(l.P90), roundDuration(l.P99), roundDuration(l.Max))
	} else {
		fmt.Fprintf(tw, "latency:\tno responses\n")
	}
	fmt.Fprintf(tw, "elapsed:\t%s (%.1f requests/s)\n", roundDuration(s.Elapsed), s.Rate())
	if s.FirstError != "" {
		fmt.Fprintf(tw, "first error:\t%s\n", s.FirstError)
	}
	return tw.Flush()
}

// String returns the Print output.
func (s Summary) String() string {
	var b strings.Builder
	_ = s.Print(&b) // a strings.Builder never fails
	return b.String()
}

// FormatStatuses renders status counts like "200×9 503×2", lowest status first.
func FormatStatuses(m map[int]int) string {
	if len(m) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(m))
	for _, code := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d×%d", code, m[code]))
	}
	return strings.Join(parts, " ")
}

// roundDuration keeps three significant digits or so: enough to read,
// short enough to scan.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// tally is one worker's private record of a run, merged when the run ends
// so workers never contend on shared counters.
type tally struct {
	sent, delivered, failed int
	attempts, retries       int
	transportErrors         int
	aborted                 int // failed because ctx ended
	firstError              string
	firstErrorAt            time.Time
	finalStatus             map[int]int
	attemptStatus           map[int]int
	latencies               []time.Duration
}

func newTally() *tally {
	return &tally{finalStatus: map[int]int{}, attemptStatus: map[int]int{}}
}

func summarize(tallies []*tally, elapsed time.Duration) Summary {
	s := Summary{FinalStatus: map[int]int{}, AttemptStatus: map[int]int{}, Elapsed: elapsed}
	var latencies []time.Duration
	var firstErrorAt time.Time
	for _, t := range tallies {
		s.Sent += t.sent
		s.Delivered += t.delivered
		s.Failed += t.failed
		s.Attempts += t.attempts
		s.Retries += t.retries
		s.TransportErrors += t.transportErrors
		if t.firstError != "" && (s.FirstError == "" || t.firstErrorAt.Before(firstErrorAt)) {
			s.FirstError, firstErrorAt = t.firstError, t.firstErrorAt
		}
		for k, v := range t.finalStatus {
			s.FinalStatus[k] += v
		}
		for k, v := range t.attemptStatus {
			s.AttemptStatus[k] += v
		}
		latencies = append(latencies, t.latencies...)
	}
	s.Latency = latencyOf(latencies)
	return s
}

// latencyOf computes nearest-rank percentiles; it sorts ds in place.
func latencyOf(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	rank := func(p int) time.Duration {
		i := (p*len(ds) + 99) / 100 // ceil(p% of n), 1-based
		return ds[max(i, 1)-1]
	}
	return Latency{P50: rank(50), P90: rank(90), P99: rank(99), Max: ds[len(ds)-1]}
}
