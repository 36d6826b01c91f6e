package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

// persistentSender delivers webhooks as Detectify does, and more
// stubbornly: each body is retried until it is answered 200, after a 503
// (honouring Retry-After) and after a transport error too (connection
// refused while a collector is down, a connection reset by a SIGKILL).
// webhooksend.Run gives up on a transport error and reports only totals,
// so the crash and replica tests use this loop: they need to know the fate
// of every body.
type persistentSender struct {
	client *http.Client

	// Per attempt.
	attempts, transportErrors, busy503, stateDown503, other503 atomic.Int64
	// 503 answers without a usable Retry-After.
	noRetryAfter atomic.Int64
	// inFlight counts the requests under way to each URL.
	inFlight [4]atomic.Int64
	// Per 200 answer.
	accepted, duplicate atomic.Int64

	mu sync.Mutex
	// acceptedAnswers counts the "accepted" answers each body got: more
	// than one means the receiver processed it twice and said so.
	acceptedAnswers map[[sha256.Size]byte]int
	// acknowledged holds each body answered 200 (its first such answer).
	acknowledged map[[sha256.Size]byte]acknowledgement
}

// acknowledgement is how a body's delivery ended.
type acknowledgement struct {
	answer    string    // accepted or duplicate
	target    int       // the index of the URL that answered 200
	firstSent time.Time // the first attempt began
	at        time.Time // the 200 arrived
	attempts  int
}

// newPersistentSender returns a sender whose connections are closed when the test
// ends, before the collectors are stopped: net/http's Shutdown waits 5s
// for a connection that was opened but never carried a request, which a
// client pool leaves behind now and then.
func newPersistentSender(t *testing.T) *persistentSender {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 64
	t.Cleanup(tr.CloseIdleConnections)
	return &persistentSender{
		// A 503 of a stalled Redis comes after go-redis's timeouts (3s
		// and more); a slow machine must not turn a 200 into an error.
		client:          &http.Client{Transport: tr, Timeout: 30 * time.Second},
		acceptedAnswers: map[[sha256.Size]byte]int{},
		acknowledged:    map[[sha256.Size]byte]acknowledgement{},
	}
}

// signedMessage is a body ready to post.
type signedMessage struct {
	body   []byte
	sig    string
	digest [sha256.Size]byte
}

func signAll(bodies [][]byte) []signedMessage {
	out := make([]signedMessage, len(bodies))
	for i, b := range bodies {
		out[i] = signedMessage{body: b, sig: webhooksend.Sign([]byte(e2eSecret), b, ""), digest: sha256.Sum256(b)}
	}
	return out
}

// deliver posts m until it is answered 200; pick chooses the URL of each
// try (0, 1, ...) among urls. It fails on any other answer than 200, 503
// or a transport error, and when ctx ends first.
func (s *persistentSender) deliver(ctx context.Context, m signedMessage, urls []string, pick func(try int) int) (acknowledgement, error) {
	ack := acknowledgement{firstSent: time.Now()}
	backoff := 20 * time.Millisecond
	for try := 0; ; try++ {
		if err := ctx.Err(); err != nil {
			return ack, fmt.Errorf("not acknowledged after %d attempts: %w", try, err)
		}
		target := pick(try)
		ack.attempts++
		s.attempts.Add(1)
		s.inFlight[target].Add(1)
		status, answer, retryAfter, err := s.post(ctx, urls[target], m)
		s.inFlight[target].Add(-1)
		var wait time.Duration
		switch {
		case err != nil:
			s.transportErrors.Add(1)
			wait, backoff = backoff, min(2*backoff, 500*time.Millisecond)
		case status == http.StatusOK:
			ack.answer, ack.target, ack.at = answer, target, time.Now()
			s.mu.Lock()
			defer s.mu.Unlock()
			switch answer {
			case "accepted":
				s.acceptedAnswers[m.digest]++
				s.accepted.Add(1)
			case "duplicate":
				s.duplicate.Add(1)
			default:
				return ack, fmt.Errorf("200 with an unknown status %q", answer)
			}
			if _, seen := s.acknowledged[m.digest]; !seen {
				s.acknowledged[m.digest] = ack
			}
			return ack, nil
		case status == http.StatusServiceUnavailable:
			switch {
			case strings.Contains(answer, "identical delivery is being processed"):
				s.busy503.Add(1)
			case strings.Contains(answer, "state is temporarily unavailable"):
				s.stateDown503.Add(1)
			default:
				s.other503.Add(1)
			}
			// Retry-After as sent (1s); anything unusable means 1s too.
			wait = time.Second
			if secs, err := strconv.Atoi(retryAfter); err == nil && secs >= 0 && secs <= 5 {
				wait = time.Duration(secs) * time.Second
			} else {
				s.noRetryAfter.Add(1)
			}
		default:
			return ack, fmt.Errorf("answered %d %s", status, answer)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
	}
}

// post makes one attempt: the status, the answer's status field (for 200)
// or text, and Retry-After.
func (s *persistentSender) post(ctx context.Context, url string, m signedMessage) (int, string, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(m.body))
	if err != nil {
		return 0, "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhooksend.SignatureHeader, m.sig)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", "", err
	}
	answer := strings.TrimSpace(string(text))
	if resp.StatusCode == http.StatusOK {
		switch answer {
		case `{"status":"accepted"}`:
			answer = "accepted"
		case `{"status":"duplicate"}`:
			answer = "duplicate"
		}
	}
	return resp.StatusCode, answer, resp.Header.Get("Retry-After"), nil
}

// deliverAll delivers every message with workers in parallel, each to the
// URL pick chooses, and returns the first error.
func (s *persistentSender) deliverAll(ctx context.Context, workers int, msgs []signedMessage, urls []string, pick func(i, try int) int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range min(workers, len(msgs)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(msgs) {
					return
				}
				if _, err := s.deliver(ctx, msgs[i], urls, func(try int) int { return pick(i, try) }); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// closeIdle closes the connections the sender keeps open, so that a
// collector stopped now need not wait for them.
func (s *persistentSender) closeIdle() { s.client.CloseIdleConnections() }

// acknowledgedCount is the number of distinct bodies answered 200.
func (s *persistentSender) acknowledgedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.acknowledged)
}

// acknowledgedAfter counts the bodies first acknowledged after t.
func (s *persistentSender) acknowledgedAfter(t time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, a := range s.acknowledged {
		if a.at.After(t) {
			n++
		}
	}
	return n
}

// acceptedTwice lists the bodies answered "accepted" more than once.
func (s *persistentSender) acceptedTwice() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.acceptedAnswers {
		if c > 1 {
			n++
		}
	}
	return n
}

// checkRefusals fails the test for a 503 that is neither a body in flight
// elsewhere nor the state unavailable, or that has no Retry-After.
func (s *persistentSender) checkRefusals(t *testing.T) {
	t.Helper()
	if n := s.other503.Load(); n > 0 {
		t.Errorf("%d answers 503 for another reason than a body in flight elsewhere or the state unavailable", n)
	}
	if n := s.noRetryAfter.Load(); n > 0 {
		t.Errorf("%d answers 503 without a usable Retry-After", n)
	}
}

func (s *persistentSender) String() string {
	return fmt.Sprintf("%d attempts, %d transport errors, 503: %d in flight elsewhere + %d state unavailable + %d other; "+
		"200 answers: %d accepted, %d duplicate",
		s.attempts.Load(), s.transportErrors.Load(), s.busy503.Load(), s.stateDown503.Load(), s.other503.Load(),
		s.accepted.Load(), s.duplicate.Load())
}
