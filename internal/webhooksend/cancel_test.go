package webhooksend

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"testing"
	"time"
)

// runUntilCancelled starts Run, cancels it once the receiver has seen a
// request, and fails the test unless Run then returns promptly.
func runUntilCancelled(t *testing.T, cfg Config, arrived <-chan struct{}) (Summary, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		sum Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := Run(ctx, cfg)
		done <- result{sum, err}
	}()

	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		cancel()
		<-done
		t.Fatal("no request reached the receiver")
	}
	cancel()
	select {
	case r := <-done:
		return r.sum, r.err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
	return Summary{}, nil
}

func TestRunCancelInFlight(t *testing.T) {
	arrived := make(chan struct{}, 100)
	release := make(chan struct{})
	srv, _ := startReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })

	sum, err := runUntilCancelled(t, Config{
		URL: srv.URL, Messages: UniqueFindings(100, 3), Secret: secret, Concurrency: 2,
	}, arrived)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if sum.Sent == 0 || sum.Sent > 2 || sum.Delivered != 0 || sum.Failed != sum.Sent || sum.TransportErrors != 0 {
		t.Errorf("summary:\n%s", sum)
	}
}

func TestRunCancelDuringBackoff(t *testing.T) {
	srv, _ := startReceiver(t, status(http.StatusServiceUnavailable, "Retry-After", "3600"))

	// The deadline leaves ample time for the first response and ends the
	// run during the hour-long wait that follows it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	sum, err := Run(ctx, Config{
		URL: srv.URL, Messages: SeedMessages(), Secret: secret, Retries: 5, MaxBackoff: time.Hour,
	})
	if elapsed := time.Since(start); elapsed > 30*time.Second {
		t.Errorf("Run took %v to notice the deadline", elapsed)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	if sum.Sent != 1 || sum.Failed != 1 || sum.Attempts != 1 || sum.Retries != 0 ||
		!maps.Equal(sum.FinalStatus, map[int]int{503: 1}) {
		t.Errorf("summary:\n%s", sum)
	}
}

func TestRunCancelledBeforeStart(t *testing.T) {
	srv, rc := startReceiver(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sum, err := Run(ctx, Config{URL: srv.URL, Messages: SeedMessages(), Secret: secret})
	if !errors.Is(err, context.Canceled) || sum.Sent != 0 || len(rc.seen()) != 0 {
		t.Errorf("err %v, %d requests, summary:\n%s", err, len(rc.seen()), sum)
	}
}
