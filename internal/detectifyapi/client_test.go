package detectifyapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testKey    = "demo-key"
	testSecret = "ZGVtby1hcGktc2VjcmV0LTAxMjM0NTY3ODk=" // base64("demo-api-secret-0123456789")
)

// A known answer, computed outside Go (Python's hmac, as Detectify's
// example client signs).
func TestSignatureMatchesDetectifysExampleClient(t *testing.T) {
	secret, err := decodeSecret(testSecret)
	require.NoError(t, err)
	assert.Equal(t, "uXDWbOt7dYg2VHwr8a/myCfe9dWV5bCmx83EU6Otf6Y=",
		Signature(secret, "GET", "/findings/p1/?report_token=r1", testKey, 1700000000, nil))
}

// fakeAPI answers as detectify-api.md says the API does: it checks the key
// and, with a secret, the timestamp and the signature over the path
// relative to its base, /rest/v2.
type fakeAPI struct {
	t        *testing.T
	secret   []byte
	findings map[string][]map[string]any // by profile
	pageSize int
	// answer, when set, answers request n (from 1) instead.
	answer   func(n int, w http.ResponseWriter) bool
	requests atomic.Int64
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := int(f.requests.Add(1))
	if f.answer != nil && f.answer(n, w) {
		return
	}
	rel, ok := strings.CutPrefix(r.URL.RequestURI(), "/rest/v2")
	if r.Header.Get(keyHeader) != testKey || !ok {
		http.Error(w, `{"error":{"code":401}}`, http.StatusUnauthorized)
		return
	}
	if f.secret != nil {
		ts, err := strconv.ParseInt(r.Header.Get(timestampHeader), 10, 64)
		want := Signature(f.secret, r.Method, rel, testKey, ts, nil)
		if err != nil || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute || r.Header.Get(signatureHeader) != want {
			http.Error(w, `{"error":{"code":401}}`, http.StatusUnauthorized)
			return
		}
	}
	profile, ok := strings.CutPrefix(r.URL.Path, "/rest/v2/findings/")
	profile = strings.TrimSuffix(profile, "/")
	all, known := f.findings[profile]
	if !ok || !known {
		http.Error(w, `{"error":{"code":404}}`, http.StatusNotFound)
		return
	}
	var list []map[string]any
	for _, item := range all {
		if item["report_token"] == nil || item["report_token"] == r.URL.Query().Get("report_token") {
			list = append(list, item)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if f.pageSize == 0 {
		_ = json.NewEncoder(w).Encode(list)
		return
	}
	from, _ := strconv.Atoi(r.URL.Query().Get("page"))
	to := min(from+f.pageSize, len(list))
	p := map[string]any{"findings": list[from:to]}
	if to < len(list) {
		p["next"] = fmt.Sprintf("/findings/%s/?report_token=%s&page=%d", profile, r.URL.Query().Get("report_token"), to)
	}
	_ = json.NewEncoder(w).Encode(p)
}

func findingsOf(report string, n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"uuid": fmt.Sprintf("u%d", i), "title": "XSS", "severity": "high", "report_token": report}
	}
	return out
}

func newClient(t *testing.T, url string, secret string, maxFindings int) *Client {
	c, err := New(Config{Endpoint: url + "/rest/v2", Key: testKey, Secret: secret, HTTP: &http.Client{Timeout: 2 * time.Second},
		RequestsPerMinute: 60_000, MaxFindings: maxFindings})
	require.NoError(t, err)
	return c
}

func uuids(t *testing.T, l Listing) []string {
	var out []string
	for _, raw := range l.Findings {
		var f struct{ UUID string }
		require.NoError(t, json.Unmarshal(raw, &f))
		out = append(out, f.UUID)
	}
	return out
}

func TestFindingsOfAReport(t *testing.T) {
	other := findingsOf("other-report", 2)
	for i := range other {
		other[i]["uuid"] = fmt.Sprintf("x%d", i)
	}
	noReport := map[string]any{"uuid": "n0", "title": "SQLi", "severity": "critical"}
	tests := []struct {
		name         string
		secret       string
		pageSize     int
		maxFindings  int
		want         []string
		truncated    int
		wantRequests int
	}{
		{name: "a plain list, signed", secret: testSecret, maxFindings: 100, want: []string{"u0", "u1", "u2", "n0"}, wantRequests: 1},
		{name: "a key without a secret", maxFindings: 100, want: []string{"u0", "u1", "u2", "n0"}, wantRequests: 1},
		{name: "pages followed, each signed", secret: testSecret, pageSize: 2, maxFindings: 100, want: []string{"u0", "u1", "u2", "n0"}, wantRequests: 2},
		{name: "bounded by max findings", secret: testSecret, maxFindings: 2, want: []string{"u0", "u1"}, truncated: 2, wantRequests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeAPI{t: t, pageSize: tt.pageSize, findings: map[string][]map[string]any{
				"p1": append(append(findingsOf("r1", 3), other...), noReport),
			}}
			if tt.secret != "" {
				fake.secret, _ = base64.StdEncoding.DecodeString(tt.secret)
			}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			l, err := newClient(t, srv.URL, tt.secret, tt.maxFindings).Findings(context.Background(), "p1", "r1", nil)
			require.NoError(t, err)
			assert.Equal(t, tt.want, uuids(t, l), "the report's findings; another report's are left out")
			assert.Equal(t, tt.truncated, l.Truncated)
			assert.Equal(t, tt.wantRequests, l.Requests)
		})
	}
}

func TestAWrongKeyOrSecretIsUnauthorized(t *testing.T) {
	secret, _ := base64.StdEncoding.DecodeString(testSecret)
	fake := &fakeAPI{t: t, secret: secret, findings: map[string][]map[string]any{"p1": findingsOf("r1", 1)}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	for name, c := range map[string]*Client{
		"another secret": newClient(t, srv.URL, base64.StdEncoding.EncodeToString([]byte("not the secret")), 10),
		"no secret":      newClient(t, srv.URL, "", 10),
	} {
		_, err := c.Findings(context.Background(), "p1", "r1", nil)
		var se *StatusError
		require.ErrorAs(t, err, &se, name)
		assert.True(t, se.Unauthorized(), name)
	}
}

func TestAnswersThatAreNotFindings(t *testing.T) {
	answer := func(status int, header map[string]string, body string) func(int, http.ResponseWriter) bool {
		return func(_ int, w http.ResponseWriter) bool {
			for k, v := range header {
				w.Header().Set(k, v)
			}
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
			return true
		}
	}
	tests := []struct {
		name         string
		answer       func(int, http.ResponseWriter) bool
		unauthorized bool
		retryable    bool
		code         int
		retryAfter   time.Duration
		invalid      bool
	}{
		{name: "401", answer: answer(401, nil, `{}`), code: 401, unauthorized: true},
		{name: "403", answer: answer(403, nil, `{}`), code: 403, unauthorized: true},
		{name: "404", answer: answer(404, nil, `{}`), code: 404},
		{name: "400", answer: answer(400, nil, `{}`), code: 400},
		{name: "429 with Retry-After seconds", answer: answer(429, map[string]string{"Retry-After": "7"}, ``), code: 429, retryable: true, retryAfter: 7 * time.Second},
		{name: "429 with a Retry-After date", answer: answer(429, map[string]string{"Retry-After": time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)}, ``), code: 429, retryable: true, retryAfter: 89 * time.Second},
		{name: "429 without Retry-After", answer: answer(429, nil, ``), code: 429, retryable: true},
		{name: "500", answer: answer(500, nil, `oops`), code: 500, retryable: true},
		{name: "503", answer: answer(503, map[string]string{"Retry-After": "3"}, ``), code: 503, retryable: true, retryAfter: 3 * time.Second},
		{name: "malformed JSON", answer: answer(200, nil, `[{"uuid":`), invalid: true},
		{name: "an object without findings", answer: answer(200, nil, `{"error":"no"}`), invalid: true},
		{name: "a string", answer: answer(200, nil, `"findings"`), invalid: true},
		{name: "an object whose findings are not a list", answer: answer(200, nil, `{"findings":{"uuid":"u"}}`), invalid: true},
		{name: "a next link to another host", answer: answer(200, nil, `{"findings":[],"next":"https://evil.example/rest/v2/findings/p1/"}`), invalid: true},
		{name: "a next link with user info", answer: answer(200, nil, `{"findings":[],"next":"@evil.example/x"}`), invalid: true},
		{name: "a next link that is a host name", answer: answer(200, nil, `{"findings":[],"next":".evil.example/x"}`), invalid: true},
		{name: "a scheme-relative next link", answer: answer(200, nil, `{"findings":[],"next":"//evil.example/rest/v2/findings/p1/"}`), invalid: true},
		{name: "a next link out of the base path", answer: answer(200, nil, `{"findings":[],"next":"/rest/v2/../admin/"}`), invalid: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(&fakeAPI{t: t, answer: tt.answer})
			defer srv.Close()
			_, err := newClient(t, srv.URL, testSecret, 10).Findings(context.Background(), "p1", "r1", nil)
			require.Error(t, err)
			if tt.invalid {
				assert.ErrorIs(t, err, ErrInvalidAnswer)
				return
			}
			var se *StatusError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.code, se.Code)
			assert.Equal(t, tt.unauthorized, se.Unauthorized())
			assert.Equal(t, tt.retryable, se.Retryable())
			assert.InDelta(t, tt.retryAfter.Seconds(), se.RetryAfter.Seconds(), 1.5)
		})
	}
}

func TestASlowServerIsCutOffByTheClientsTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(&fakeAPI{t: t, answer: func(int, http.ResponseWriter) bool {
		<-release
		return true
	}})
	defer srv.Close()
	defer close(release)
	c, err := New(Config{Endpoint: srv.URL + "/rest/v2", Key: testKey, HTTP: &http.Client{Timeout: 100 * time.Millisecond},
		RequestsPerMinute: 60, MaxFindings: 10})
	require.NoError(t, err)
	start := time.Now()
	_, err = c.Findings(context.Background(), "p1", "r1", nil)
	require.Error(t, err)
	var se *StatusError
	assert.False(t, errors.As(err, &se), "a transport error, not an answer")
	assert.Less(t, time.Since(start), 2*time.Second)
}

// A list far larger than max findings is read within it.
func TestAHugeListIsBounded(t *testing.T) {
	fake := &fakeAPI{t: t, findings: map[string][]map[string]any{"p1": findingsOf("r1", 20_000)}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	l, err := newClient(t, srv.URL, "", 100).Findings(context.Background(), "p1", "r1", nil)
	require.NoError(t, err)
	assert.Len(t, l.Findings, 100)
	assert.Equal(t, 19_900, l.Truncated)
}

// Requests wait for the rate limit: the second of a minute's one request
// waits until the context ends.
func TestRequestsWaitForTheRateLimit(t *testing.T) {
	fake := &fakeAPI{t: t, findings: map[string][]map[string]any{"p1": findingsOf("r1", 1)}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, err := New(Config{Endpoint: srv.URL + "/rest/v2", Key: testKey, HTTP: srv.Client(), RequestsPerMinute: 1, MaxFindings: 10})
	require.NoError(t, err)
	_, err = c.Findings(context.Background(), "p1", "r1", nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = c.Findings(ctx, "p1", "r1", nil)
	require.Error(t, err)
	assert.Equal(t, int64(1), fake.requests.Load(), "the second request was never sent")
}

// null is read as no findings.
func TestANullAnswerIsNoFindings(t *testing.T) {
	srv := httptest.NewServer(&fakeAPI{t: t, answer: func(_ int, w http.ResponseWriter) bool {
		_, _ = w.Write([]byte("null\n"))
		return true
	}})
	defer srv.Close()
	l, err := newClient(t, srv.URL, "", 10).Findings(context.Background(), "p1", "r1", nil)
	require.NoError(t, err)
	assert.Empty(t, l.Findings)
}

// A redirect is not followed: it would carry the key and the signature to
// wherever it points.
func TestARedirectIsNotFollowed(t *testing.T) {
	var stolen atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { stolen.Add(1) }))
	defer elsewhere.Close()
	srv := httptest.NewServer(&fakeAPI{t: t, answer: func(_ int, w http.ResponseWriter) bool {
		w.Header().Set("Location", elsewhere.URL+"/steal")
		w.WriteHeader(http.StatusFound)
		return true
	}})
	defer srv.Close()
	_, err := newClient(t, srv.URL, testSecret, 10).Findings(context.Background(), "p1", "r1", nil)
	var se *StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusFound, se.Code)
	assert.False(t, se.Retryable())
	assert.Zero(t, stolen.Load(), "the other host got a request")
}

// Only the wanted findings count against the bound; a finding too large to
// be a record's body is not read; a listing past the page bound says so.
func TestWhatAListingKeeps(t *testing.T) {
	items := findingsOf("r1", 6)
	for i, item := range items {
		if i%2 == 0 {
			item["severity"] = "low"
		}
	}
	items[5]["description"] = strings.Repeat("x", maxFindingBytes)
	fake := &fakeAPI{t: t, pageSize: 1, findings: map[string][]map[string]any{"p1": items}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c := newClient(t, srv.URL, "", 1)
	c.cfg.Keep = func(raw json.RawMessage) bool { return !strings.Contains(string(raw), `"low"`) }
	pages := 0
	l, err := c.Findings(context.Background(), "p1", "r1", func() error { pages++; return nil })
	require.NoError(t, err)
	assert.Equal(t, []string{"u1"}, uuids(t, l), "the first high one; the low ones before it are not counted")
	assert.Equal(t, 2, l.Truncated, "u3 past the bound, u5 too large")
	assert.Equal(t, 6, pages, "the hook runs before each page")
	assert.False(t, l.Incomplete)

	stop := errors.New("lost the job")
	_, err = c.Findings(context.Background(), "p1", "r1", func() error { return stop })
	assert.ErrorIs(t, err, stop)
}

func TestConfigRefusals(t *testing.T) {
	for name, cfg := range map[string]Config{
		"endpoint without scheme": {Endpoint: "api.detectify.com/rest/v2"},
		"ftp endpoint":            {Endpoint: "ftp://api.detectify.com/rest/v2"},
		"secret not base64":       {Endpoint: DefaultEndpoint, Secret: "not base64!"},
	} {
		_, err := New(cfg)
		assert.Error(t, err, name)
	}
}
