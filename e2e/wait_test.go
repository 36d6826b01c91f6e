package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

const (
	// readyTimeout bounds a collector's start, build caches cold and CI busy.
	readyTimeout = 30 * time.Second
	// deliveryTimeout bounds the wait for exported data to show up.
	deliveryTimeout = 30 * time.Second
	pollInterval    = 100 * time.Millisecond
)

// eventually polls check until it returns nil, failing the test with the
// last error after timeout, or at once when p has exited.
func eventually(t *testing.T, p *process, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if exitErr := p.running(); exitErr != nil {
			t.Fatalf("%s: %v (last check: %v)", what, exitErr, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(pollInterval)
	}
}

// waitHTTPOK waits until a GET of url answers 200.
func waitHTTPOK(t *testing.T, p *process, url string) {
	t.Helper()
	eventually(t, p, readyTimeout, p.name+" ready at "+url, func() error {
		_, err := httpGet(url)
		return err
	})
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// httpGet returns the body of a 200 answer to a GET of url.
func httpGet(url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(body), nil
}

// handedOut holds every address freeAddr has returned: the kernel may
// hand out a port it has just released again, and two components of one
// configuration then collide (seen: a peer's health_check and its otlp
// receiver given the same port).
var handedOut = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

// freeAddr returns a loopback address with a port nothing listens on now
// and that no earlier call returned. The port is free only until someone
// else takes it, which on a test machine is rare enough; the collector
// then fails to start, loudly.
func freeAddr(t *testing.T) string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if !handedOut.addrs[addr] {
			handedOut.addrs[addr] = true
			return addr
		}
	}
	t.Fatal("no loopback port not handed out before in 100 tries")
	return ""
}
