package webhooksend

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// UserAgent identifies requests made by this package.
const UserAgent = "detectify-send/1"

// maxDrain bounds how much of a response body is read. Reading it lets the
// connection be reused; a receiver answering with megabytes is not worth
// waiting for.
const maxDrain = 64 << 10

// Run posts cfg.Messages to cfg.URL and reports what happened. Delivery
// failures are reported in the Summary, not as an error: Run fails only for
// an invalid Config, or with ctx's error when ctx ends before every message
// has been dealt with, in which case the Summary covers the run so far. All
// goroutines and connections Run starts are gone when it returns.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	if err := cfg.Validate(); err != nil {
		return Summary{}, err
	}
	cfg = cfg.withDefaults()
	s, err := newSender(cfg)
	if err != nil {
		return Summary{}, err
	}
	defer s.close()

	total := cfg.total()
	tallies := make([]*tally, min(cfg.Concurrency, total))
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range tallies {
		t := newTally()
		tallies[w] = t
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= total || ctx.Err() != nil {
					return
				}
				s.deliver(ctx, s.messages[i%len(s.messages)], t)
			}
		})
	}
	wg.Wait()

	sum := summarize(tallies, time.Since(start))
	aborted := 0
	for _, t := range tallies {
		aborted += t.aborted
	}
	if sum.Sent < total || aborted > 0 {
		return sum, ctx.Err()
	}
	return sum, nil
}

// prepared is a message ready to post: encoded and signed once, however
// many times it is sent.
type prepared struct {
	body      []byte
	signature string
}

type sender struct {
	cfg       Config
	client    *http.Client
	transport *http.Transport
	pace      *pacer
	messages  []prepared
}

func newSender(cfg Config) (*sender, error) {
	msgs := make([]prepared, len(cfg.Messages))
	for i, raw := range cfg.Messages {
		msgs[i].body = raw
		if !cfg.Unsigned {
			msgs[i].signature = Sign(cfg.Secret, raw, cfg.Encoding)
		}
		if cfg.Gzip {
			z, err := gzipBytes(raw)
			if err != nil {
				return nil, err
			}
			msgs[i].body = z
		}
	}

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = max(tr.MaxIdleConns, cfg.Concurrency)
	tr.MaxIdleConnsPerHost = cfg.Concurrency
	// Without a cap the transport may dial for a request and then hand it a
	// connection freed meanwhile, leaving more connections than workers.
	tr.MaxConnsPerHost = cfg.Concurrency
	if cfg.Insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // opt-in for self-signed receivers
	}
	client := &http.Client{
		Transport: tr,
		// Following a redirect would turn the POST into a GET and drop the
		// body; report the 3xx instead.
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return &sender{cfg: cfg, client: client, transport: tr, pace: newPacer(cfg.Rate), messages: msgs}, nil
}

// close drops pooled connections so their goroutines end with the run.
func (s *sender) close() {
	s.transport.CloseIdleConnections()
}

// deliver sends one message and records its attempts and outcome in t.
func (s *sender) deliver(ctx context.Context, m prepared, t *tally) {
	t.sent++
	status, err := s.attempt(ctx, m, t)
	if status != 0 {
		t.finalStatus[status]++
	}
	switch {
	case err != nil && ctx.Err() != nil:
		t.failed++
		t.aborted++
	case err != nil:
		t.failed++
	case status/100 == 2:
		t.delivered++
	default:
		t.failed++
	}
}

// attempt posts m until it is accepted, refused for good or out of retries,
// retrying 429, 503 and attempts that got no answer (a refused or broken
// connection: the receiver restarting), as a webhook sender does. It
// returns the last HTTP status (0 for none), and an error when the last
// attempt got no response or ctx ended.
func (s *sender) attempt(ctx context.Context, m prepared, t *tally) (int, error) {
	status := 0
	var delay time.Duration
	var lastErr error
	for try := 0; try <= s.cfg.Retries; try++ {
		if try > 0 {
			if !sleep(ctx, delay) {
				return status, ctx.Err()
			}
			t.retries++
		}
		if !s.pace.wait(ctx) {
			return status, ctx.Err()
		}
		t.attempts++
		st, retryAfter, err := s.post(ctx, m, t)
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			t.transportErrors++
			if t.firstError == "" {
				t.firstError, t.firstErrorAt = err.Error(), time.Now()
			}
			if permanentTransportError(err) {
				return 0, err
			}
			lastErr, status = err, 0
			delay = retryDelay("", try, s.cfg.BackoffBase, s.cfg.MaxBackoff, time.Now())
			continue
		}
		t.attemptStatus[st]++
		status, lastErr = st, nil
		if !retryable(st) {
			return st, nil
		}
		delay = retryDelay(retryAfter, try, s.cfg.BackoffBase, s.cfg.MaxBackoff, time.Now())
	}
	return status, lastErr
}

// post makes one request and returns its status and Retry-After header.
func (s *sender) post(ctx context.Context, m prepared, t *tally) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(m.body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	if m.signature != "" {
		req.Header.Set(SignatureHeader, m.signature)
	}
	if s.cfg.Gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}

	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	// The status is what counts; a failed drain only costs the connection.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	_ = resp.Body.Close()
	t.latencies = append(t.latencies, time.Since(start))
	return resp.StatusCode, resp.Header.Get("Retry-After"), nil
}

// permanentTransportError reports errors no retry can mend: a certificate
// the sender does not trust (crypto/tls wraps every verification failure).
func permanentTransportError(err error) bool {
	var verification *tls.CertificateVerificationError
	return errors.As(err, &verification)
}

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
