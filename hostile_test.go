package detectifyreceiver

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
)

// TestHostileRequests sends the hostile rows of the request table to one
// real listener, one after another, as an attacker would: each gets its
// answer and leaves nothing in a pipeline but what it was allowed to.
func TestHostileRequests(t *testing.T) {
	// One receiver per config the rows ask for, each taking its rows in turn.
	receivers := map[string]*harness{}
	n := 0
	for _, tc := range requestCases(t) {
		if !tc.hostile {
			continue
		}
		n++
		h := receivers[tc.config]
		if h == nil {
			h = newHarness(t, configPresets[tc.config])
			receivers[tc.config] = h
		}
		t.Run(tc.name, func(t *testing.T) {
			before := len(h.logs.records())
			resp := h.send(t, tc)
			assert.Equal(t, tc.status, resp.status)
			if tc.answer != nil {
				assert.Equal(t, answerText(*tc.answer), resp.body)
			}
			want := before
			if tc.emits {
				want++
			}
			assert.Len(t, h.logs.records(), want, "log records")
		})
	}
	require.GreaterOrEqual(t, n, 50)
}

// rawRoundTrip writes raw to a new connection and returns the answer.
func rawRoundTrip(t *testing.T, addr, raw string) response {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	// The server may answer and close before reading everything.
	go func() { _, _ = io.WriteString(conn, raw) }()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// TestDecompressionBombIsCutOffWithBoundedMemory sends 64 MiB of zeros
// gzipped to 64 KiB through the server's whole handler chain: the receiver
// must stop at the 1 MiB limit, not inflate the rest. Measured as a
// benchmark, in this goroutine only.
func TestDecompressionBombIsCutOffWithBoundedMemory(t *testing.T) {
	bomb := gzipped(t, append([]byte(`{"title":"`), make([]byte, 64<<20)...))
	require.Less(t, len(bomb), 128<<10)
	handler := handlerChain(t, testConfig())
	send := func() int {
		req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(bomb))
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set(signatureHeader, signBody(testSecret, bomb))
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		return rec.Code
	}
	require.Equal(t, http.StatusRequestEntityTooLarge, send())
	result := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			send()
		}
	})
	assert.Less(t, result.AllocedBytesPerOp(), int64(16<<20), "allocated %d bytes for a 64 MiB bomb", result.AllocedBytesPerOp())
}

// handlerChain is the receiver's handler inside confighttp's (limits,
// decompression), with a state and consumers that accept everything.
func handlerChain(t testing.TB, cfg *Config) http.Handler {
	t.Helper()
	h := newInProcess(t, cfg)
	server, err := cfg.ToServer(context.Background(), nil, componenttest.NewNopTelemetrySettings(), h.routes())
	require.NoError(t, err)
	return server.Handler
}

// TestSlowClientsAreCutOff holds a connection open while sending the
// headers, then the body, byte by byte: the timeouts must close it.
func TestSlowClientsAreCutOff(t *testing.T) {
	h := newHarness(t, func(cfg *Config) {
		cfg.ReadHeaderTimeout = 300 * time.Millisecond
		cfg.ReadTimeout = 600 * time.Millisecond
	})
	tests := []struct {
		name string
		head string // sent at once
		drip string // then one byte every 50ms
	}{
		{name: "slow headers", head: "POST /webhook HTTP/1.1\r\n", drip: "Host: x\r\nX-A: " + strings.Repeat("a", 200)},
		{name: "slow body", head: fmt.Sprintf("POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s: %s\r\n\r\n",
			len(seedFinding), signatureHeader, signBody(testSecret, seedFinding)), drip: string(seedFinding)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", h.rcv.endpoint)
			require.NoError(t, err)
			defer conn.Close()
			_, err = io.WriteString(conn, tt.head)
			require.NoError(t, err)
			// Drip until the server closes the connection or answers; the
			// bound only keeps a broken server from hanging the test.
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
