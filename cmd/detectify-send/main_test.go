package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
	"go.uber.org/goleak"
)

const testSecret = "TOPSECRET-do-not-print"

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// env stands in for the process environment.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

var withSecret = env(map[string]string{secretEnv: testSecret})

// receiver verifies signatures with testSecret and answers with code.
type receiver struct {
	mu      sync.Mutex
	bodies  [][]byte
	badSigs int
}

func startReceiver(t *testing.T, code int) (*httptest.Server, *receiver) {
	t.Helper()
	rc := &receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte(testSecret))
		mac.Write(body)
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, body)
		if r.Header.Get("X-Detectify-Signature") != hex.EncodeToString(mac.Sum(nil)) {
			rc.badSigs++
		}
		rc.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return srv, rc
}

// seen returns the bodies received and how many were badly signed.
func (rc *receiver) seen() ([][]byte, int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.bodies, rc.badSigs
}

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(ctx context.Context, getenv func(string) string, args ...string) result {
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr, getenv)
	return result{code, stdout.String(), stderr.String()}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		res := runCLI(context.Background(), withSecret, arg)
		if res.code != exitOK || res.stderr != "" || !strings.Contains(res.stdout, "Examples:") {
			t.Fatalf("%s: code %d, stderr %q, stdout:\n%s", arg, res.code, res.stderr, res.stdout)
		}
	}
}

// The help states the scenario's title bounds; they must be the library's.
func TestHelpTitleBounds(t *testing.T) {
	want := fmt.Sprintf("1 to %d (default %d)", webhooksend.MaxTitles, webhooksend.DefaultTitles)
	if !strings.Contains(helpText, want) {
		t.Errorf("help text lacks %q", want)
	}
}

func TestHelpNamesEveryFlag(t *testing.T) {
	newFlagSet(&options{}).VisitAll(func(f *flag.Flag) {
		if !strings.Contains(helpText, "\n  -"+f.Name+" ") && !strings.Contains(helpText, "\n    -"+f.Name+" ") {
			t.Errorf("help text does not describe -%s", f.Name)
		}
	})
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"type":`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  func(string) string
		args []string
		want string
	}{
		{"unknown flag", withSecret, []string{"-bogus"}, "not defined"},
		{"bad number", withSecret, []string{"-count", "many"}, "invalid value"},
		{"positional argument", withSecret, []string{"extra"}, "unexpected argument"},
		{"no secret", env(nil), nil, "no secret"},
		{"bad encoding", withSecret, []string{"-encoding", "base32"}, "encoding"},
		{"two sources", withSecret, []string{"-seed", "-scenario"}, "choose one"},
		{"file and unique", withSecret, []string{"-file", "x.json", "-unique", "3"}, "choose one"},
		{"findings without scenario", withSecret, []string{"-findings", "3"}, "need -scenario"},
		{"titles without scenario", withSecret, []string{"-unique", "3", "-titles", "3"}, "need -scenario"},
		{"unfinished without scenario", withSecret, []string{"-unfinished", "1"}, "need -scenario"},
		{"random seed with seed messages", withSecret, []string{"-random-seed", "3"}, "needs -scenario"},
		{"negative findings", withSecret, []string{"-scenario", "-findings", "-1"}, "-findings must not be negative"},
		{"zero titles", withSecret, []string{"-scenario", "-titles", "0"}, "-titles must be 1 to"},
		{"more titles than known", withSecret, []string{"-scenario", "-titles", "33"}, "-titles must be 1 to 32"},
		{"negative unfinished", withSecret, []string{"-scenario", "-unfinished", "-1"}, "-unfinished must not be negative"},
		{"more unfinished than domains", withSecret, []string{"-scenario", "-unfinished", "4"}, "more than the 3 scanned domains"},
		{"more unfinished than named domains", withSecret, []string{"-scenario", "-domains", "a.test,b.test", "-unfinished", "3"}, "more than the 2 scanned domains"},
		{"unknown format", withSecret, []string{"-format", "v2"}, `unknown format "v2"`},
		{"empty format", withSecret, []string{"-scenario", "-format", ""}, "unknown format"},
		{"format with file", withSecret, []string{"-format", "current", "-file", "x.json"}, "-format does not apply to -file"},
		{"zero domains", withSecret, []string{"-scenario", "-domains", "0"}, "at least 1"},
		{"empty domain name", withSecret, []string{"-scenario", "-domains", "a.test,,b.test"}, "empty name"},
		{"zero unique", withSecret, []string{"-unique", "0"}, "at least 1"},
		{"zero concurrency", withSecret, []string{"-concurrency", "0"}, "at least 1"},
		{"negative rate", withSecret, []string{"-rate", "-5"}, "-rate"},
		{"NaN rate", withSecret, []string{"-rate", "NaN"}, "-rate"},
		{"zero timeout", withSecret, []string{"-timeout", "0s"}, "positive"},
		{"negative count", withSecret, []string{"-count", "-1"}, "count"},
		{"negative retries", withSecret, []string{"-retries", "-1"}, "retries"},
		{"bad URL scheme", withSecret, []string{"-url", "ftp://localhost/x"}, "scheme"},
		{"missing file", withSecret, []string{"-file", filepath.Join(dir, "missing.json")}, "no such file"},
		{"invalid file", withSecret, []string{"-file", bad}, "not valid JSON"},
		{"api-fake without scenario", withSecret, []string{"-api-fake", "127.0.0.1:0", "-api-linger", "1ms"}, "-api-fake needs -scenario"},
		{"api-fake with seed", withSecret, []string{"-seed", "-api-fake", "127.0.0.1:0", "-api-linger", "1ms"}, "-api-fake needs -scenario"},
		{"api-fake without address", withSecret, []string{"-scenario", "-api-fake", ""}, "needs an address"},
		{"api-key without api-fake", withSecret, []string{"-scenario", "-api-key", "k"}, "need -api-fake"},
		{"api-secret without api-fake", withSecret, []string{"-scenario", "-api-secret", "c2VjcmV0"}, "need -api-fake"},
		{"api-linger without api-fake", withSecret, []string{"-scenario", "-api-linger", "1s"}, "need -api-fake"},
		{"negative api-linger", withSecret, []string{"-scenario", "-api-fake", "127.0.0.1:0", "-api-linger", "-1s"}, "-api-linger must not be negative"},
		{"api-secret not base64", withSecret, []string{"-scenario", "-api-fake", "127.0.0.1:0", "-api-secret", "not base64!"}, "-api-secret (or DETECTIFY_API_SECRET) must be standard base64"},
		{"api secret from env not base64", env(map[string]string{secretEnv: testSecret, apiSecretEnv: "%%%"}), []string{"-scenario", "-api-fake", "127.0.0.1:0"}, "must be standard base64"},
		{"api-fake bad address", withSecret, []string{"-scenario", "-api-fake", "127.0.0.1:99999"}, "-api-fake: listen tcp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCLI(context.Background(), tt.env, tt.args...)
			if res.code != exitUsage {
				t.Errorf("exit code %d, want %d", res.code, exitUsage)
			}
			if !strings.Contains(res.stderr, tt.want) || !strings.Contains(res.stderr, "-h") {
				t.Errorf("stderr %q lacks %q and a pointer to -h", res.stderr, tt.want)
			}
			if res.stdout != "" {
				t.Errorf("stdout %q, want nothing", res.stdout)
			}
		})
	}
}

func TestDelivers(t *testing.T) {
	srv, rc := startReceiver(t, http.StatusOK)
	res := runCLI(context.Background(), withSecret, "-url", srv.URL)
	if res.code != exitOK {
		t.Fatalf("exit code %d, stderr %q", res.code, res.stderr)
	}
	if !strings.Contains(res.stdout, "3 sent, 3 delivered, 0 failed") {
		t.Errorf("summary:\n%s", res.stdout)
	}
	if bodies, bad := rc.seen(); len(bodies) != 3 || bad != 0 {
		t.Errorf("receiver got %d messages, %d badly signed", len(bodies), bad)
	}
}

func TestCountAndUnique(t *testing.T) {
	srv, rc := startReceiver(t, http.StatusOK)
	res := runCLI(context.Background(), withSecret, "-url", srv.URL, "-unique", "5", "-count", "12")
	if res.code != exitOK || !strings.Contains(res.stderr, "-random-seed ") {
		t.Fatalf("%+v", res)
	}
	if bodies, _ := rc.seen(); len(bodies) != 12 {
		t.Errorf("receiver got %d requests, want 12", len(bodies))
	}
}

func TestFailureExitCode(t *testing.T) {
	srv, _ := startReceiver(t, http.StatusBadRequest)
	for _, quiet := range []bool{false, true} {
		args := []string{"-url", srv.URL}
		if quiet {
			args = append(args, "-quiet")
		}
		res := runCLI(context.Background(), withSecret, args...)
		if res.code != exitFailed || !strings.Contains(res.stderr, "3 of 3 messages failed") {
			t.Errorf("quiet=%v: %+v", quiet, res)
		}
		if quiet != (res.stdout == "") {
			t.Errorf("quiet=%v but stdout is %q", quiet, res.stdout)
		}
	}
}

func TestInterrupted(t *testing.T) {
	srv, _ := startReceiver(t, http.StatusOK)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := runCLI(ctx, withSecret, "-url", srv.URL)
	if res.code != exitFailed || !strings.Contains(res.stderr, "interrupted") {
		t.Errorf("%+v", res)
	}
}

func TestUnsignedNeedsNoSecret(t *testing.T) {
	srv, rc := startReceiver(t, http.StatusOK)
	res := runCLI(context.Background(), env(nil), "-url", srv.URL, "-unsigned")
	if res.code != exitOK || !strings.Contains(res.stderr, "unsigned") {
		t.Fatalf("%+v", res)
	}
	if _, bad := rc.seen(); bad != 3 {
		t.Errorf("%d of 3 unsigned requests carried a valid signature", 3-bad)
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	ok, _ := startReceiver(t, http.StatusOK)
	refused, _ := startReceiver(t, http.StatusUnauthorized)
	runs := [][]string{
		{"-h"},
		{"-url", ok.URL},
		{"-url", refused.URL},
		{"-url", ok.URL, "-secret", testSecret, "-encoding", "base64"},
		{"-secret", testSecret, "-bogus"},
		{"-secret", testSecret, "-url", "ftp://x"},
		{"-secret", testSecret, "extra"},
	}
	for _, args := range runs {
		res := runCLI(context.Background(), withSecret, args...)
		if strings.Contains(res.stdout+res.stderr, testSecret) {
			t.Errorf("%v printed the secret:\n%s%s", args, res.stdout, res.stderr)
		}
	}
}

func TestURLPasswordRedacted(t *testing.T) {
	srv, _ := startReceiver(t, http.StatusOK)
	withPassword := strings.Replace(srv.URL, "http://", "http://user:hunter2@", 1)
	res := runCLI(context.Background(), withSecret, "-url", withPassword)
	if res.code != exitOK || strings.Contains(res.stderr, "hunter2") {
		t.Errorf("%+v", res)
	}
}
