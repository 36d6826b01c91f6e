package webhooksend

import (
	"strings"
	"testing"
	"time"
)

func TestLatencyOf(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		out := make([]time.Duration, len(n))
		for i, v := range n {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i
	}
	tests := []struct {
		name string
		in   []time.Duration
		want Latency
	}{
		{"none", nil, Latency{}},
		{"one", ms(7), Latency{P50: 7 * time.Millisecond, P90: 7 * time.Millisecond, P99: 7 * time.Millisecond, Max: 7 * time.Millisecond}},
		{"hundred", ms(hundred...), Latency{P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}},
	}
	for _, tt := range tests {
		if got := latencyOf(tt.in); got != tt.want {
			t.Errorf("%s: latencyOf = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestSummaryPrint(t *testing.T) {
	s := Summary{
		Sent: 10, Delivered: 9, Failed: 1,
		Attempts: 12, Retries: 2, TransportErrors: 0,
		FinalStatus:   map[int]int{200: 9, 400: 1},
		AttemptStatus: map[int]int{503: 2, 200: 9, 400: 1},
		Latency:       Latency{P50: time.Millisecond, P90: 2 * time.Millisecond, P99: 3 * time.Millisecond, Max: 4 * time.Millisecond},
		Elapsed:       2 * time.Second,
	}
	out := s.String()
	for _, want := range []string{
		"10 sent, 9 delivered, 1 failed",
		"12 (2 retries, 0 transport errors)",
		"200×9 400×1",
		"200×9 400×1 503×2",
		"p50 1ms  p90 2ms  p99 3ms  max 4ms",
		"2s (6.0 requests/s)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "first error") {
		t.Errorf("summary without errors mentions one:\n%s", out)
	}
	if s.OK() {
		t.Error("a summary with a failure is OK")
	}
	if out := (Summary{}).String(); !strings.Contains(out, "no responses") || !strings.Contains(out, "final status:  none") {
		t.Errorf("empty summary:\n%s", out)
	}
	if !(Summary{Sent: 2, Delivered: 2}).OK() {
		t.Error("a fully delivered summary is not OK")
	}
}
