package webhooksend

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRunDeliversSignedMessages(t *testing.T) {
	for _, enc := range append(Encodings(), "") {
		t.Run("encoding="+enc, func(t *testing.T) {
			srv, rc := startReceiver(t, nil)
			msgs := SeedMessages()
			sum, err := Run(context.Background(), Config{URL: srv.URL, Messages: msgs, Secret: secret, Encoding: enc})
			if err != nil {
				t.Fatal(err)
			}
			if !sum.OK() || sum.Sent != 3 || sum.Delivered != 3 || sum.Attempts != 3 {
				t.Errorf("summary:\n%s", sum)
			}
			if !maps.Equal(sum.FinalStatus, map[int]int{200: 3}) {
				t.Errorf("final statuses %v, want 3×200", sum.FinalStatus)
			}
			got := rc.seen()
			if len(got) != len(msgs) {
				t.Fatalf("receiver saw %d requests, want %d", len(got), len(msgs))
			}
			for i, req := range got {
				// One worker keeps the scan's order.
				if !bytes.Equal(req.body, msgs[i]) {
					t.Errorf("request %d body %q, want %q", i, req.body, msgs[i])
				}
				if ct := req.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q", ct)
				}
				if err := verifySignature(secret, req.body, req.header.Get(SignatureHeader), enc); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func TestRunRetries(t *testing.T) {
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	tests := []struct {
		name          string
		respond       func(int, http.ResponseWriter, *http.Request)
		retries       int
		wantDelivered bool
		wantAttempts  map[int]int
		wantFinal     map[int]int
	}{
		{
			name: "503 then 200", respond: statuses(503, 200), retries: 3, wantDelivered: true,
			wantAttempts: map[int]int{503: 1, 200: 1}, wantFinal: map[int]int{200: 1},
		},
		{
			name: "429 twice then 202", respond: statuses(429, 429, 202), retries: 3, wantDelivered: true,
			wantAttempts: map[int]int{429: 2, 202: 1}, wantFinal: map[int]int{202: 1},
		},
		{
			name: "503 with a past HTTP-date", retries: 1, wantDelivered: true,
			respond: func(n int, w http.ResponseWriter, r *http.Request) {
				if n == 0 {
					status(503, "Retry-After", past)(n, w, r)
					return
				}
				w.WriteHeader(200)
			},
			wantAttempts: map[int]int{503: 1, 200: 1}, wantFinal: map[int]int{200: 1},
		},
		{
			name: "503 without Retry-After backs off", retries: 2, wantDelivered: true,
			respond: func(n int, w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader([]int{503, 503, 200}[min(n, 2)])
			},
			wantAttempts: map[int]int{503: 2, 200: 1}, wantFinal: map[int]int{200: 1},
		},
		{
			name: "retries exhausted", respond: statuses(503), retries: 2,
			wantAttempts: map[int]int{503: 3}, wantFinal: map[int]int{503: 1},
		},
		{
			name: "no retries configured", respond: statuses(429), retries: 0,
			wantAttempts: map[int]int{429: 1}, wantFinal: map[int]int{429: 1},
		},
		{
			name: "400 is not retried", respond: statuses(400), retries: 3,
			wantAttempts: map[int]int{400: 1}, wantFinal: map[int]int{400: 1},
		},
		{
			name: "500 is not retried", respond: statuses(500), retries: 3,
			wantAttempts: map[int]int{500: 1}, wantFinal: map[int]int{500: 1},
		},
		{
			name: "redirects are not followed", respond: status(307, "Location", "/elsewhere"), retries: 3,
			wantAttempts: map[int]int{307: 1}, wantFinal: map[int]int{307: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, rc := startReceiver(t, tt.respond)
			msg := SeedMessages()[1]
			sum, err := Run(context.Background(), Config{
				URL: srv.URL, Messages: [][]byte{msg}, Secret: secret,
				Retries: tt.retries, BackoffBase: time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			attempts := 0
			for _, n := range tt.wantAttempts {
				attempts += n
			}
			wantDelivered := map[bool]int{true: 1}[tt.wantDelivered]
			if sum.Sent != 1 || sum.Delivered != wantDelivered || sum.Failed != 1-wantDelivered ||
				sum.Attempts != attempts || sum.Retries != attempts-1 || sum.OK() != tt.wantDelivered {
				t.Errorf("summary:\n%s", sum)
			}
			if !maps.Equal(sum.AttemptStatus, tt.wantAttempts) || !maps.Equal(sum.FinalStatus, tt.wantFinal) {
				t.Errorf("statuses: every %v final %v; want %v and %v", sum.AttemptStatus, sum.FinalStatus, tt.wantAttempts, tt.wantFinal)
			}
			got := rc.seen()
			if len(got) != attempts {
				t.Fatalf("receiver saw %d requests, want %d", len(got), attempts)
			}
			// A retry is a redelivery: same body, same signature.
			for _, req := range got {
				if !bytes.Equal(req.body, msg) || req.header.Get(SignatureHeader) != got[0].header.Get(SignatureHeader) {
					t.Errorf("retry differs from the first attempt")
				}
			}
		})
	}
}

func TestRunCountCyclesMessages(t *testing.T) {
	srv, rc := startReceiver(t, nil)
	msgs := SeedMessages()
	sum, err := Run(context.Background(), Config{URL: srv.URL, Messages: msgs, Secret: secret, Count: 7})
	if err != nil || sum.Sent != 7 || sum.Delivered != 7 {
		t.Fatalf("err %v, summary:\n%s", err, sum)
	}
	for i, req := range rc.seen() {
		if !bytes.Equal(req.body, msgs[i%len(msgs)]) {
			t.Errorf("request %d is not message %d", i, i%len(msgs))
		}
	}
}

func TestRunConcurrencyAndKeepAlive(t *testing.T) {
	for _, workers := range []int{1, 4} {
		t.Run("workers="+strconv.Itoa(workers), func(t *testing.T) {
			srv, rc := startReceiver(t, func(int, http.ResponseWriter, *http.Request) {
				time.Sleep(time.Millisecond) // lets requests overlap
			})
			msgs := UniqueFindings(40, 1)
			sum, err := Run(context.Background(), Config{URL: srv.URL, Messages: msgs, Secret: secret, Concurrency: workers})
			if err != nil || !sum.OK() || sum.Delivered != len(msgs) {
				t.Fatalf("err %v, summary:\n%s", err, sum)
			}
			rc.mu.Lock()
			defer rc.mu.Unlock()
			if len(rc.requests) != len(msgs) {
				t.Errorf("receiver saw %d requests, want %d", len(rc.requests), len(msgs))
			}
			if rc.maxInflight > workers {
				t.Errorf("%d requests in flight with %d workers", rc.maxInflight, workers)
			}
			// Kept-alive connections are reused rather than redialled.
			if rc.conns > workers {
				t.Errorf("%d connections for %d workers", rc.conns, workers)
			}
		})
	}
}

func TestRunUnsigned(t *testing.T) {
	srv, rc := startReceiver(t, nil)
	sum, err := Run(context.Background(), Config{URL: srv.URL, Messages: SeedMessages(), Unsigned: true, Secret: secret})
	if err != nil || !sum.OK() {
		t.Fatalf("err %v, summary:\n%s", err, sum)
	}
	for _, req := range rc.seen() {
		if _, ok := req.header[SignatureHeader]; ok {
			t.Errorf("unsigned request carries %s", SignatureHeader)
		}
	}
}

func TestRunGzip(t *testing.T) {
	srv, rc := startReceiver(t, nil)
	msgs, _ := Scenario(ScenarioOptions{DomainCount: 1, FindingsPerScan: 2})
	sum, err := Run(context.Background(), Config{URL: srv.URL, Messages: msgs, Secret: secret, Encoding: EncodingBase64, Gzip: true})
	if err != nil || !sum.OK() {
		t.Fatalf("err %v, summary:\n%s", err, sum)
	}
	got := rc.seen()
	if len(got) != len(msgs) {
		t.Fatalf("receiver saw %d requests, want %d", len(got), len(msgs))
	}
	for i, req := range got {
		if req.header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("request %d is not gzip-encoded", i)
		}
		// readBody gunzipped it; the signature covers the JSON, not the gzip.
		if !bytes.Equal(req.body, msgs[i]) {
			t.Errorf("request %d decompresses to %q, want %q", i, req.body, msgs[i])
		}
		if err := verifySignature(secret, req.body, req.header.Get(SignatureHeader), EncodingBase64); err != nil {
			t.Error(err)
		}
	}
}

func TestRunRate(t *testing.T) {
	srv, rc := startReceiver(t, nil)
	const rate, n = 50.0, 6
	sum, err := Run(context.Background(), Config{
		URL: srv.URL, Messages: UniqueFindings(n, 2), Secret: secret, Rate: rate, Concurrency: 3,
	})
	if err != nil || !sum.OK() || len(rc.seen()) != n {
		t.Fatalf("err %v, summary:\n%s", err, sum)
	}
	// Requests are spaced one interval apart across all workers, so the run
	// cannot be faster than n-1 intervals; only that bound is safe to assert.
	if minimum := time.Duration(float64(n-1) / rate * float64(time.Second)); sum.Elapsed < minimum {
		t.Errorf("%d requests at %v/s took %v, want at least %v", n, rate, sum.Elapsed, minimum)
	}
}

func TestRunTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the rejected handshake is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	msgs := SeedMessages()[:1]

	sum, err := Run(context.Background(), Config{URL: srv.URL, Messages: msgs, Secret: secret, Insecure: true})
	if err != nil || !sum.OK() {
		t.Errorf("insecure: err %v, summary:\n%s", err, sum)
	}

	sum, err = Run(context.Background(), Config{URL: srv.URL, Messages: msgs, Secret: secret, Retries: 3})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 1 || sum.TransportErrors != 1 || sum.Attempts != 1 || !strings.Contains(sum.FirstError, "certificate") {
		t.Errorf("verified TLS to a self-signed server should fail once:\n%s", sum)
	}
}

func TestRunTransportErrors(t *testing.T) {
	release := make(chan struct{})
	hang, _ := startReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before hang.Close

	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		name    string
		url     string
		timeout time.Duration
		want    string
	}{
		{"connection refused", closedURL, 0, "refused"},
		{"request timeout", hang.URL, 50 * time.Millisecond, "deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sum, err := Run(context.Background(), Config{
				URL: tt.url, Messages: SeedMessages(), Secret: secret, Timeout: tt.timeout, Retries: 3,
				BackoffBase: time.Millisecond, MaxBackoff: time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			// Retried like 503s (a receiver restarting refuses connections),
			// and given up after the retries.
			if sum.Sent != 3 || sum.Failed != 3 || sum.TransportErrors != 12 || sum.Attempts != 12 || sum.Retries != 9 {
				t.Errorf("summary:\n%s", sum)
			}
			if !strings.Contains(sum.FirstError, tt.want) {
				t.Errorf("first error %q lacks %q", sum.FirstError, tt.want)
			}
		})
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	good := Config{URL: "http://127.0.0.1:1/webhook", Messages: SeedMessages(), Secret: secret}
	tests := []struct {
		name   string
		modify func(*Config)
	}{
		{"no URL", func(c *Config) { c.URL = "" }},
		{"relative URL", func(c *Config) { c.URL = "/webhook" }},
		{"ftp URL", func(c *Config) { c.URL = "ftp://127.0.0.1/x" }},
		{"no host", func(c *Config) { c.URL = "http:///webhook" }},
		{"no messages", func(c *Config) { c.Messages = nil }},
		{"no secret", func(c *Config) { c.Secret = nil }},
		{"bad encoding", func(c *Config) { c.Encoding = "base32" }},
		{"negative count", func(c *Config) { c.Count = -1 }},
		{"negative rate", func(c *Config) { c.Rate = -1 }},
		{"negative concurrency", func(c *Config) { c.Concurrency = -1 }},
		{"negative retries", func(c *Config) { c.Retries = -1 }},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.modify(&cfg)
			if _, err := Run(context.Background(), cfg); err == nil {
				t.Error("Run accepted the config")
			}
		})
	}
	cfg := good
	cfg.Secret = nil
	if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrNoSecret) {
		t.Errorf("missing secret gave %v, want ErrNoSecret", err)
	}
}
