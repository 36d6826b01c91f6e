package webhooksend

import (
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
)

var secret = []byte("test-secret")

// request is what the test receiver saw, with the body decompressed.
type request struct {
	body   []byte
	header http.Header
}

// receiver records requests and answers each with respond(n), n counting
// requests from zero. It tracks concurrency and connections so tests can
// check the sender's limits.
type receiver struct {
	t       *testing.T
	respond func(n int, w http.ResponseWriter, r *http.Request)

	mu          sync.Mutex
	requests    []request
	inflight    int
	maxInflight int
	conns       int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		rc.t.Errorf("reading request: %v", err)
	}
	rc.mu.Lock()
	n := len(rc.requests)
	rc.requests = append(rc.requests, request{body: body, header: r.Header.Clone()})
	rc.inflight++
	rc.maxInflight = max(rc.maxInflight, rc.inflight)
	rc.mu.Unlock()

	defer func() {
		rc.mu.Lock()
		rc.inflight--
		rc.mu.Unlock()
	}()
	if rc.respond != nil {
		rc.respond(n, w, r)
	}
}

func readBody(r *http.Request) ([]byte, error) {
	if r.Header.Get("Content-Encoding") != "gzip" {
		return io.ReadAll(r.Body)
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return io.ReadAll(zr)
}

func (rc *receiver) seen() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.requests)
}

// startReceiver serves rc on loopback until the test ends.
func startReceiver(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request)) (*httptest.Server, *receiver) {
	t.Helper()
	rc := &receiver{t: t, respond: respond}
	srv := httptest.NewUnstartedServer(rc)
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			rc.mu.Lock()
			rc.conns++
			rc.mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, rc
}

// status answers every request with code, setting the given headers.
func status(code int, header ...string) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
	}
}

// statuses answers request n with codes[n], and the last code after that.
// A 429 or 503 carries Retry-After: 0 so retries are immediate.
func statuses(codes ...int) func(int, http.ResponseWriter, *http.Request) {
	return func(n int, w http.ResponseWriter, _ *http.Request) {
		code := codes[min(n, len(codes)-1)]
		if retryable(code) {
			w.Header().Set("Retry-After", "0")
		}
		w.WriteHeader(code)
	}
}
