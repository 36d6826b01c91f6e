package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

// Loopback addresses standing in for the parties of the source-pinning
// example: Linux answers on all of 127.0.0.0/8, so each gets its own.
const (
	detectifyAddr = "127.0.0.2" // Detectify's egress, the one address let through
	strangerAddr  = "127.0.0.4" // anyone else
	proxyAddr     = "127.0.0.3" // the address nginx connects to the receiver from
)

// pinningNginx is the reverse proxy of README's "Pinning the source" on
// loopback: the same allow/deny and X-Forwarded-For lines, with test
// addresses. @DIR@ holds its pid and temporary files.
const pinningNginx = `
daemon off;
worker_processes 1;
error_log stderr warn;
pid @DIR@/nginx.pid;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path @DIR@/body;
  proxy_temp_path @DIR@/proxy;
  fastcgi_temp_path @DIR@/fastcgi;
  uwsgi_temp_path @DIR@/uwsgi;
  scgi_temp_path @DIR@/scgi;
  server {
    listen @LISTEN@;
    location = /webhook {
      allow @DETECTIFY@;
      deny all;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_bind @PROXY@;
      proxy_pass http://@RECEIVER@;
    }
  }
}
`

// startPinningProxy runs nginx in front of receiver (host:port) and
// returns its webhook URL.
func startPinningProxy(t *testing.T, receiver string) string {
	t.Helper()
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		t.Fatalf("nginx is missing: `make deps` installs it (Debian package nginx-light): %v", err)
	}
	dir := t.TempDir()
	listen := freeAddr(t)
	conf := strings.NewReplacer("@DIR@", dir, "@LISTEN@", listen, "@DETECTIFY@", detectifyAddr,
		"@PROXY@", proxyAddr, "@RECEIVER@", receiver).Replace(pinningNginx)
	if os.Geteuid() == 0 {
		conf = "user root;\n" + conf // its workers read and write dir, the test's own
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, nginx, nil, "-p", dir, "-c", path, "-e", "stderr")
	eventually(t, p, 30*time.Second, "nginx listening", func() error {
		conn, err := net.DialTimeout("tcp", listen, time.Second)
		if err == nil {
			_ = conn.Close()
		}
		return err
	})
	return "http://" + listen + "/webhook"
}

// postFrom posts body, signed with e2eSecret, from the loopback address
// from, with the given extra headers; it returns the status and answer.
func postFrom(t *testing.T, from, url string, body []byte, header map[string]string) (int, string) {
	t.Helper()
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: dialer.DialContext}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Detectify-Signature", webhooksend.Sign([]byte(e2eSecret), body, webhooksend.EncodingHex))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("post from %s: %v", from, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(answer)
}

// stampedFinding is a current-format finding on domain stamped at.
func stampedFinding(domain string, at time.Time) []byte {
	return fmt.Appendf(nil, `{"event_type":"finding","timestamp":%q,"finding":{"title":"SQL Injection","severity":"high","asset":%q}}`,
		at.UTC().Format(time.RFC3339), domain)
}

// TestSourcePinningExample runs examples/source-pinning.yaml behind nginx:
// Detectify's address gets through, and the record of its webhook carries
// the address nginx saw (the X-Forwarded-For header, through the
// attributes processor, whatever the sender claimed in that header) and
// the proxy's own; another address is refused by the proxy and nothing of
// it reaches the pipeline; a replay of a day-old message through the
// proxy is refused by max_message_age.
func TestSourcePinningExample(t *testing.T) {
	sink := startOTLPSink(t)
	// The example itself, as startDistribution runs one, with its exporter
	// told to speak the sink's plain JSON.
	receiver := freeAddr(t)
	dist := startProcess(t, distributionBinary, map[string]string{
		"DETECTIFY_ENDPOINT": receiver, "DETECTIFY_WEBHOOK_SECRET": e2eSecret, "OTLP_ENDPOINT": sink.url,
	}, "--config="+filepath.Join("..", "examples", "source-pinning.yaml"), "--set=service.telemetry.metrics.level=none",
		"--set=exporters::otlp_http::encoding=json", "--set=exporters::otlp_http::compression=none")
	waitHTTPOK(t, dist, "http://"+receiver+"/health")
	url := startPinningProxy(t, receiver)

	status, answer := postFrom(t, strangerAddr, url, stampedFinding("stranger.example", time.Now()), nil)
	if status != http.StatusForbidden {
		t.Errorf("from %s: %d %q, want 403 from the proxy", strangerAddr, status, answer)
	}
	status, answer = postFrom(t, detectifyAddr, url, stampedFinding("stale.example", time.Now().Add(-25*time.Hour)), nil)
	if status != http.StatusBadRequest || !strings.Contains(answer, "older than max_message_age") {
		t.Errorf("a day-old message: %d %q, want 400 older than max_message_age", status, answer)
	}
	status, answer = postFrom(t, detectifyAddr, url, stampedFinding("pinned.example", time.Now()),
		map[string]string{"X-Forwarded-For": "198.51.100.7"}) // a claim the proxy overwrites
	if status != http.StatusOK {
		t.Fatalf("from %s: %d %q, want 200", detectifyAddr, status, answer)
	}

	eventually(t, dist, deliveryTimeout, "the record at the backend", func() error {
		if n := len(sink.snapshot()); n == 0 {
			return fmt.Errorf("no record yet")
		}
		return nil
	})
	time.Sleep(time.Second) // one batch timeout more: anything else sent would be here by now
	records := sink.snapshot()
	if len(records) != 1 {
		t.Fatalf("%d records at the backend, want the one from %s: %v", len(records), detectifyAddr, records)
	}
	want := map[string]any{
		"detectify.domain":     "pinned.example",
		"client.address":       detectifyAddr,
		"network.peer.address": proxyAddr,
	}
	for k, v := range want {
		if got := records[0].attrs[k]; got != v {
			t.Errorf("record attribute %s = %v, want %v (all: %v)", k, got, v, records[0].attrs)
		}
	}
}
