package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

// fakeAPIServer is -api-fake: Detectify's findings API for the scans being
// sent, on a listener of its own, so a receiver can backfill what the
// webhooks withheld.
type fakeAPIServer struct {
	api  *webhooksend.FakeAPI
	srv  *http.Server
	url  string
	done chan error
}

// startFakeAPI listens before anything is sent, so the API is up by the
// time a receiver learns of a finished scan.
func startFakeAPI(o *options, scans []webhooksend.ScanSummary) (*fakeAPIServer, error) {
	api, err := webhooksend.NewFakeAPI(o.apiKey, o.apiSecret, scans, webhooksend.FakeAPIOptions{})
	if err != nil {
		return nil, fmt.Errorf("-api-fake: %w", err)
	}
	ln, err := net.Listen("tcp", o.apiFake)
	if err != nil {
		return nil, fmt.Errorf("-api-fake: %w", err)
	}
	f := &fakeAPIServer{
		api:  api,
		srv:  &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second},
		url:  "http://" + reachable(ln.Addr()) + api.BasePath(),
		done: make(chan error, 1),
	}
	go func() { f.done <- f.srv.Serve(ln) }()
	return f, nil
}

// reachable is an address a client can dial: a listener on every
// interface is reached through localhost.
func reachable(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return addr.String()
	}
	return net.JoinHostPort("localhost", fmt.Sprint(tcp.Port))
}

// describe says where the API is and what it serves, never the key or
// secret.
func (f *fakeAPIServer) describe(o *options, scans []webhooksend.ScanSummary) string {
	findings := 0
	for _, s := range scans {
		findings += len(s.Findings)
	}
	key := "key from -api-key or $" + apiKeyEnv
	if o.apiKey == demoAPIKey {
		key = "the demo key " + demoAPIKey
	}
	signing := "requests signed with the secret"
	if o.apiSecret == "" {
		signing = "unsigned requests (no secret)"
	}
	return fmt.Sprintf("fake Detectify API: %s (%d findings of %d scans; %s; %s)", f.url, findings, len(scans), key, signing)
}

// linger serves until ctx ends or, with -api-linger, that long.
func linger(ctx context.Context, d time.Duration) {
	if d <= 0 {
		<-ctx.Done()
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// stop ends the server, waiting a little for requests in flight, and
// unless quiet says what it served.
func (f *fakeAPIServer) stop(stderr io.Writer, quiet bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		_ = f.srv.Close()
	}
	if err := <-f.done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "fake Detectify API: %v\n", err)
	}
	if quiet {
		return
	}
	fmt.Fprintf(stderr, "fake Detectify API: served %d requests (%s), %d refused for their signature or timestamp\n",
		f.api.Requests(), webhooksend.FormatStatuses(f.api.Statuses()), f.api.SignatureFailures())
}
