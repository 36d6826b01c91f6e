package webhooksend

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"0", 0, true},
		{"3", 3 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"", 0, false},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestBackoff(t *testing.T) {
	base, limit := 100*time.Millisecond, time.Second
	tests := []struct {
		retry int
		want  time.Duration
	}{
		{0, 100 * time.Millisecond},
		{1, 200 * time.Millisecond},
		{3, 800 * time.Millisecond},
		{4, time.Second},
		{1000, time.Second},
	}
	for _, tt := range tests {
		if got := backoff(tt.retry, base, limit); got != tt.want {
			t.Errorf("backoff(%d) = %v, want %v", tt.retry, got, tt.want)
		}
	}
}

func TestRetryDelay(t *testing.T) {
	now := time.Now()
	limit := 5 * time.Second
	if got := retryDelay("2", 0, time.Second, limit, now); got != 2*time.Second {
		t.Errorf("Retry-After: 2 gave %v", got)
	}
	if got := retryDelay("3600", 0, time.Second, limit, now); got != limit {
		t.Errorf("Retry-After: 3600 gave %v, want the %v cap", got, limit)
	}
	for range 100 {
		if got := retryDelay("", 2, time.Second, limit, now); got < 2*time.Second || got > 4*time.Second {
			t.Fatalf("third retry without Retry-After waited %v, want 2s..4s", got)
		}
	}
}

func TestRetryable(t *testing.T) {
	for status, want := range map[int]bool{200: false, 400: false, 401: false, 429: true, 500: false, 502: false, 503: true} {
		if retryable(status) != want {
			t.Errorf("retryable(%d) = %v", status, !want)
		}
	}
}

func TestSleepStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if sleep(ctx, time.Hour) {
		t.Error("sleep on a cancelled context reported a full wait")
	}
	if sleep(ctx, 0) {
		t.Error("zero sleep on a cancelled context reported success")
	}
	if !sleep(context.Background(), time.Millisecond) {
		t.Error("sleep without cancellation failed")
	}
}

func TestPacer(t *testing.T) {
	ctx := context.Background()
	if p := newPacer(0); p != nil || !p.wait(ctx) {
		t.Fatal("an unlimited pacer should never wait")
	}

	// Slots are spaced by the interval, so n waits take at least n-1
	// intervals however fast the machine is.
	p := newPacer(100)
	start := time.Now()
	for range 6 {
		if !p.wait(ctx) {
			t.Fatal("wait failed")
		}
	}
	if elapsed := time.Since(start); elapsed < 5*p.interval {
		t.Errorf("6 waits at 100/s took %v, want at least %v", elapsed, 5*p.interval)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	slow := newPacer(0.001)
	slow.wait(ctx) // takes the free first slot
	if slow.wait(cancelled) {
		t.Error("wait on a cancelled context succeeded")
	}
}
