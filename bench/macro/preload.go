package main

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

// preloadVar, in a target's -extra environment, fills the receiver's state
// before the warm-up: that many scans started, each of its own domain, so
// that the figures show whether a webhook's cost grows with the state.
const preloadVar = "BENCH_PRELOAD"

// preloadOf reads BENCH_PRELOAD from a target's environment.
func preloadOf(env []string) (int, error) {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, preloadVar+"="); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, nil
}

// preload sends n signed scan starts, 16 at a time, each for a domain of
// its own (not one of the mix's), and fails unless every one is answered
// 200.
func preload(url string, n int) error {
	client := &http.Client{Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				body := fmt.Appendf(nil, `{"type":"event_scan_started","domain":"preload-%d.example.net"}`, i)
				req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Detectify-Signature", webhooksend.Sign([]byte(secret), body, webhooksend.EncodingHex))
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("preload: scan start %d answered %d", i, resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}
