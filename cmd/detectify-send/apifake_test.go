package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

const (
	testAPIKey = "api-key-do-not-print"
	// testAPISecret is base64 of "api-secret-do-not-print".
	testAPISecret = "YXBpLXNlY3JldC1kby1ub3QtcHJpbnQ="
)

// lockedBuffer lets a test read what a running command has written.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var apiURLPattern = regexp.MustCompile(`fake Detectify API: (http://127\.0\.0\.1:\d+/rest/v2) `)

// runWithAPI starts the command with -api-fake on a free port and returns
// the API's printed URL, the command's output so far, and a wait for its
// exit code; cancelling ctx interrupts it as Ctrl-C would.
func runWithAPI(t *testing.T, getenv func(string) string, args ...string) (string, *lockedBuffer, context.CancelFunc, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var stdout, stderr lockedBuffer
	codes := make(chan int, 1)
	go func() {
		codes <- run(ctx, append(args, "-api-fake", "127.0.0.1:0"), &stdout, &stderr, getenv)
	}()
	wait := func() int {
		select {
		case code := <-codes:
			return code
		case <-time.After(10 * time.Second):
			t.Fatalf("detectify-send did not exit; stderr:\n%s", stderr.String())
			return -1
		}
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := apiURLPattern.FindStringSubmatch(stderr.String()); m != nil {
			return m[1], &stderr, cancel, wait
		}
		select {
		case code := <-codes:
			t.Fatalf("detectify-send exited %d before serving; stderr:\n%s", code, stderr.String())
		default:
		}
	}
	t.Fatalf("no API URL printed; stderr:\n%s", stderr.String())
	return "", nil, nil, nil
}

// getFindings asks the API for a scan's findings, signed with secret when
// it is not empty, and returns the status and the uuids listed.
func getFindings(t *testing.T, endpoint, key, secret string, s webhooksend.ScanSummary) (int, []string) {
	t.Helper()
	path := "/findings/" + s.ProfileToken + "/?report_token=" + s.ReportToken
	req, err := http.NewRequest(http.MethodGet, endpoint+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(webhooksend.APIKeyHeader, key)
	if secret != "" {
		raw, _ := base64.StdEncoding.DecodeString(secret)
		ts := time.Now().Unix()
		req.Header.Set(webhooksend.APITimestampHeader, strconv.FormatInt(ts, 10))
		req.Header.Set(webhooksend.SignatureHeader, webhooksend.APISignature(raw, http.MethodGet, path, key, ts, nil))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []struct{ UUID string }
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
			t.Fatal(err)
		}
	}
	uuids := make([]string, len(list))
	for i, f := range list {
		uuids[i] = f.UUID
	}
	return resp.StatusCode, uuids
}

// The API serves the sent scenario's every finding, signed requests only,
// under the uuids the receiver got in the webhooks, until interrupted.
func TestAPIFakeServesTheScenario(t *testing.T) {
	for _, format := range []webhooksend.Format{webhooksend.FormatClassic, webhooksend.FormatCurrent} {
		t.Run(string(format), func(t *testing.T) {
			srv, rc := startReceiver(t, http.StatusOK)
			getenv := env(map[string]string{secretEnv: testSecret, apiKeyEnv: testAPIKey, apiSecretEnv: testAPISecret})
			endpoint, stderr, interrupt, wait := runWithAPI(t, getenv,
				"-url", srv.URL, "-format", string(format), "-scenario", "-domains", "2", "-findings", "130", "-titles", "5", "-random-seed", "5")
			msgs, scans := webhooksend.Scenario(webhooksend.ScenarioOptions{
				Format: format, DomainCount: 2, FindingsPerScan: 130, Titles: 5, Seed: 5,
			})
			// The send ends before the API does; wait for it.
			for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stderr.String(), "serves until interrupted"); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the send did not end; stderr:\n%s", stderr.String())
				}
			}
			bodies, bad := rc.seen()
			if len(bodies) != len(msgs) || bad != 0 {
				t.Fatalf("receiver got %d of %d messages, %d badly signed", len(bodies), len(msgs), bad)
			}
			received := bytes.Join(bodies, nil)
			for _, s := range scans {
				code, uuids := getFindings(t, endpoint, testAPIKey, testAPISecret, s)
				var want []string
				for _, f := range s.Findings {
					want = append(want, f.UUID)
				}
				if code != http.StatusOK || !slices.Equal(uuids, want) || s.Withheld == 0 {
					t.Errorf("%s: %d, %d findings served, want %d (%d withheld)", s.Domain, code, len(uuids), len(want), s.Withheld)
				}
				// Sent findings under the uuid their webhook carried, the
				// others under uuids no webhook did.
				for _, f := range s.Findings {
					if bytes.Contains(received, []byte(f.UUID)) != f.Sent {
						t.Errorf("finding %s (sent %v) is in the webhooks: %v", f.UUID, f.Sent, !f.Sent)
					}
				}
				if code, _ := getFindings(t, endpoint, testAPIKey, "", s); code != http.StatusUnauthorized {
					t.Errorf("unsigned request answered %d", code)
				}
			}
			interrupt()
			if code := wait(); code != exitOK {
				t.Errorf("exit code %d; stderr:\n%s", code, stderr.String())
			}
			out := stderr.String()
			if !strings.Contains(out, "served 4 requests (200×2 401×2), 2 refused for their signature or timestamp") {
				t.Errorf("no account of what was served:\n%s", out)
			}
			for _, s := range []string{testAPIKey, testAPISecret, "api-secret-do-not-print", testSecret} {
				if strings.Contains(out, s) {
					t.Errorf("printed a key or secret %q:\n%s", s, out)
				}
			}
		})
	}
}

// Without a key anywhere, the demo key; from the environment, that key.
func TestAPIFakeKey(t *testing.T) {
	tests := []struct {
		name        string
		vars        map[string]string
		args        []string
		key, refuse string
	}{
		{"demo key", map[string]string{}, nil, demoAPIKey, testAPIKey},
		{"key from the environment", map[string]string{apiKeyEnv: testAPIKey}, nil, testAPIKey, demoAPIKey},
		{"flag over the environment", map[string]string{apiKeyEnv: "other"}, []string{"-api-key", testAPIKey}, testAPIKey, "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := startReceiver(t, http.StatusOK)
			tt.vars[secretEnv] = testSecret
			args := append([]string{"-quiet", "-url", srv.URL, "-scenario", "-api-linger", "300ms", "-random-seed", "3"}, tt.args...)
			endpoint, stderr, _, wait := runWithAPI(t, env(tt.vars), args...)
			_, scans := webhooksend.Scenario(webhooksend.ScenarioOptions{FindingsPerScan: 5, Seed: 3})
			if code, uuids := getFindings(t, endpoint, tt.key, "", scans[0]); code != http.StatusOK || len(uuids) != 5 {
				t.Errorf("with the key: %d, %d findings", code, len(uuids))
			}
			if code, _ := getFindings(t, endpoint, tt.refuse, "", scans[0]); code != http.StatusUnauthorized {
				t.Errorf("with another key: %d", code)
			}
			// -api-linger ends the command by itself.
			if code := wait(); code != exitOK {
				t.Errorf("exit code %d; stderr:\n%s", code, stderr.String())
			}
			if out := stderr.String(); strings.Contains(out, testAPIKey) || strings.Count(out, "\n") != 1 {
				t.Errorf("-quiet printed more than the API's URL, or the key:\n%s", out)
			}
		})
	}
}
