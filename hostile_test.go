package detectifyreceiver

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hostileCase is one request an attacker (or a broken proxy) could send.
// Requests are signed with the test secret unless the case changes that.
type hostileCase struct {
	name    string
	body    []byte
	mutate  func(t *testing.T, req *http.Request)
	raw     func(h *harness) string // a raw HTTP/1.1 request, for what net/http would not send
	status  int
	emitted bool // a few hostile-looking inputs are legitimate and must be accepted
}

func withHeader(key, value string) func(*testing.T, *http.Request) {
	return func(_ *testing.T, req *http.Request) { req.Header.Set(key, value) }
}

func withSignature(signature string) func(*testing.T, *http.Request) {
	return withHeader(signatureHeader, signature)
}

func hostileCases(t *testing.T) []hostileCase {
	finding := readSeed(t, "finding_high")
	good := signBody(testSecret, finding)
	nested := strings.Repeat(`{"a":`, 10_000) + "1" + strings.Repeat("}", 10_000)
	largeString := []byte(`{"type":"event_finding_high","title":"` + strings.Repeat("A", defaultMaxRequestBodySize) + `"}`)
	gzipBody := gzipped(t, finding)

	return []hostileCase{
		// The signature header.
		{name: "signature missing", body: finding, mutate: func(_ *testing.T, r *http.Request) { r.Header.Del(signatureHeader) }, status: 401},
		{name: "signature empty", body: finding, mutate: withSignature(""), status: 401},
		{name: "signature truncated by one digit", body: finding, mutate: withSignature(good[:63]), status: 401},
		{name: "signature with one digit too many", body: finding, mutate: withSignature(good + "0"), status: 401},
		{name: "signature padded inside with a space", body: finding, mutate: withSignature(good[:32] + " " + good[32:]), status: 401},
		{name: "base64 signature with extra padding", body: finding, mutate: withSignature("AAAA" + strings.Repeat("=", 40)), status: 401},
		{name: "signature with sha256= prefix", body: finding, mutate: withSignature("sha256=" + good), status: 401},
		{name: "signature with SHA256= prefix", body: finding, mutate: withSignature("SHA256=" + good), status: 401},
		{name: "signature twice, both valid", body: finding, mutate: func(_ *testing.T, r *http.Request) { r.Header.Add(signatureHeader, good) }, status: 401},
		{name: "two signatures joined by a comma", body: finding, mutate: withSignature(good + "," + good), status: 401},
		{name: "signature 64 KiB long", body: finding, mutate: withSignature(strings.Repeat("a", 64<<10)), status: 401},
		{name: "signature with non-hex letters", body: finding, mutate: withSignature(strings.Repeat("g", 64)), status: 401},
		{name: "signature with non-ASCII characters", body: finding, mutate: withSignature(strings.Repeat("é", 32)), status: 401},
		{name: "signature of another body", body: finding, mutate: withSignature(signBody(testSecret, readSeed(t, "scan_started"))), status: 401},
		{name: "signature of the body plus a newline", body: finding, mutate: withSignature(signBody(testSecret, append(bytes.Clone(finding), '\n'))), status: 401},
		{name: "signature made with another secret", body: finding, mutate: withSignature(signBody("another-secret-0123456789", finding)), status: 401},
		{name: "signature made with the secret plus a newline", body: finding, mutate: withSignature(signBody(testSecret+"\n", finding)), status: 401},
		{name: "signature of the empty body", body: finding, mutate: withSignature(signBody(testSecret, nil)), status: 401},
		{name: "all-zero signature", body: finding, mutate: withSignature(strings.Repeat("0", 64)), status: 401},

		// The body, correctly signed.
		{name: "empty body", body: []byte{}, status: 400},
		{name: "white space only", body: []byte(" \n\t "), status: 400},
		{name: "not JSON", body: []byte("type=event_finding_high"), status: 400},
		{name: "JSON array", body: []byte(`[{"type":"event_finding_high"}]`), status: 400},
		{name: "JSON string", body: []byte(`"event_finding_high"`), status: 400},
		{name: "JSON number", body: []byte(`42`), status: 400},
		{name: "JSON null", body: []byte(`null`), status: 400},
		{name: "JSON true", body: []byte(`true`), status: 400},
		{name: "truncated object", body: finding[:len(finding)-3], status: 400},
		{name: "object followed by garbage", body: append(bytes.Clone(finding), "garbage"...), status: 400},
		{name: "two objects", body: []byte(`{"type":"event_scan_started"}{"type":"event_scan_started"}`), status: 400},
		{name: "nested 10,000 levels deep", body: []byte(nested), status: 400},
		{name: "duplicate type key", body: []byte(`{"type":"event_scan_started","type":"event_finding_high"}`), status: 400},
		{name: "invalid UTF-8", body: []byte("{\"title\":\"\xc3\x28\"}"), status: 400},
		{name: "NUL byte outside strings", body: []byte("{\"type\":\x00\"event_scan_started\"}"), status: 400},
		{name: "raw NUL byte inside a string", body: []byte("{\"title\":\"a\x00b\"}"), status: 400},
		{name: "invalid escape", body: []byte(`{"title":"\x"}`), status: 400},
		{name: "number with two signs", body: []byte(`{"cvss_score":--1}`), status: 400},
		{name: "1 MiB string", body: largeString, status: 413},
		{name: "huge CVSS score is kept in the body only", body: []byte(`{"type":"event_finding_high","domain":"my.domain","cvss_score":1e999}`), status: 200, emitted: true},
		{name: "huge count is kept in the body only", body: []byte(`{"type":"event_scan_finished","domain":"my.domain","critical_findings":100000000000000000000000}`), status: 200, emitted: true},
		{name: "escaped NUL in a string is legal JSON", body: []byte(`{"type":"event_finding_high","domain":"my.domain","title":"a\u0000b"}`), status: 200, emitted: true},
		{name: "lone surrogate escape is legal JSON", body: []byte(`{"type":"event_finding_high","domain":"my.domain","title":"\ud800"}`), status: 200, emitted: true},

		// Content type and encoding.
		{name: "HTML content type", body: finding, mutate: withHeader("Content-Type", "text/html"), status: 415},
		{name: "form content type", body: finding, mutate: withHeader("Content-Type", "application/x-www-form-urlencoded"), status: 415},
		{name: "multipart content type", body: finding, mutate: withHeader("Content-Type", "multipart/form-data; boundary=x"), status: 415},
		{name: "unparsable content type", body: finding, mutate: withHeader("Content-Type", ";;;"), status: 415},
		{name: "corrupt gzip", body: []byte("\x1f\x8b\x08\x00garbage"), mutate: withHeader("Content-Encoding", "gzip"), status: 400},
		{name: "truncated gzip", body: gzipBody[:len(gzipBody)/2], mutate: func(_ *testing.T, r *http.Request) {
			r.Header.Set("Content-Encoding", "gzip")
			r.Header.Set(signatureHeader, good)
		}, status: 400},
		{name: "gzip announced, plain body", body: finding, mutate: withHeader("Content-Encoding", "gzip"), status: 400},
		{name: "unsupported encoding", body: finding, mutate: withHeader("Content-Encoding", "br"), status: 400},

		// Lengths and headers, sent raw.
		{name: "Content-Length over the limit, body never sent", raw: func(h *harness) string {
			return fmt.Sprintf("POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s: %s\r\n\r\n", 100<<20, signatureHeader, good)
		}, status: 413},
		{name: "headers over 1 MiB", raw: func(h *harness) string {
			return "POST /webhook HTTP/1.1\r\nHost: x\r\nX-Padding: " + strings.Repeat("p", 2<<20) + "\r\nContent-Length: 2\r\n\r\n{}"
		}, status: 431},
		{name: "malformed request line", raw: func(h *harness) string { return "POST /webhook HTTP/9.9\r\nHost: x\r\n\r\n" }, status: 505},
		{name: "conflicting Content-Length headers", raw: func(h *harness) string {
			return "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"
		}, status: 400},
	}
}

// TestHostileRequests sends every hostile case to a real listener and
// checks its status and that nothing reached a pipeline.
func TestHostileRequests(t *testing.T) {
	cases := hostileCases(t)
	require.GreaterOrEqual(t, len(cases), 40)
	h := newHarness(t, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logsBefore, metricsBefore := len(h.logs.records()), len(h.metrics.emissions())
			status := h.sendHostile(t, tc)
			assert.Equal(t, tc.status, status)
			wantNew := 0
			if tc.emitted {
				wantNew = 1
			}
			assert.Len(t, h.logs.records(), logsBefore+wantNew, "log records")
			assert.Len(t, h.metrics.emissions(), metricsBefore+wantNew, "metrics emissions")
		})
	}
}

func (h *harness) sendHostile(t *testing.T, tc hostileCase) int {
	if tc.raw != nil {
		return rawRoundTrip(t, h.rcv.endpoint, tc.raw(h))
	}
	req := h.newRequest(tc.body)
	if tc.mutate != nil {
		tc.mutate(t, req)
	}
	resp, err := h.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// rawRoundTrip writes raw to a new connection and returns the status the
// server answers with.
func rawRoundTrip(t *testing.T, addr, raw string) int {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	// The server may answer and close before reading everything.
	go func() { _, _ = io.WriteString(conn, raw) }()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestDecompressionBombIsCutOffWithBoundedMemory sends 64 MiB of zeros
// gzipped to 64 KiB: the receiver must stop at the 1 MiB limit, not
// inflate the rest.
func TestDecompressionBombIsCutOffWithBoundedMemory(t *testing.T) {
	h := newHarness(t, nil)
	bomb := gzipped(t, append([]byte(`{"title":"`), make([]byte, 64<<20)...))
	require.Less(t, len(bomb), 128<<10)
	req := h.newRequest(bomb)
	req.Header.Set("Content-Encoding", "gzip")

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	resp := h.do(req)
	runtime.ReadMemStats(&after)

	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.status)
	allocated := after.TotalAlloc - before.TotalAlloc
	assert.Less(t, allocated, uint64(16<<20), "allocated %d bytes for a 64 MiB bomb", allocated)
	assert.Empty(t, h.logs.records())
}

// TestSlowClientsAreCutOff holds a connection open while sending the
// headers, then the body, byte by byte: the timeouts must close it.
func TestSlowClientsAreCutOff(t *testing.T) {
	h := newHarness(t, func(cfg *Config) {
		cfg.ReadHeaderTimeout = 300 * time.Millisecond
		cfg.ReadTimeout = 600 * time.Millisecond
	})
	finding := readSeed(t, "finding_high")
	tests := []struct {
		name string
		head string // sent at once
		drip string // then one byte every 50ms
	}{
		{name: "slow headers", head: "POST /webhook HTTP/1.1\r\n", drip: "Host: x\r\nX-A: " + strings.Repeat("a", 200)},
		{name: "slow body", head: fmt.Sprintf("POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s: %s\r\n\r\n",
			len(finding), signatureHeader, signBody(testSecret, finding)), drip: string(finding)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", h.rcv.endpoint)
			require.NoError(t, err)
			defer conn.Close()
			_, err = io.WriteString(conn, tt.head)
			require.NoError(t, err)
			// Drip until the server closes the connection; the bound only
			// keeps a broken server from hanging the test.
			closed := false
			for i := 0; i < len(tt.drip) && !closed; i++ {
				time.Sleep(50 * time.Millisecond)
				_, err = conn.Write([]byte{tt.drip[i]})
				closed = err != nil
			}
			if !closed { // everything was written: the server must still have given up
				require.NoError(t, conn.SetReadDeadline(time.Now().Add(30*time.Second)))
				_, err = io.ReadAll(conn)
				closed = err == nil || !isTimeout(err)
			}
			assert.True(t, closed, "the server kept a slow client's connection open")
			assert.Empty(t, h.logs.records())
		})
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
