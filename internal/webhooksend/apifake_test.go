package webhooksend

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	testAPIKey = "demo-key"
	// testAPISecret is base64 of "detectify-demo-secret".
	testAPISecret = "ZGV0ZWN0aWZ5LWRlbW8tc2VjcmV0"
)

// apiNow is the fake's clock in these tests.
var apiNow = time.Date(2025, time.January, 15, 14, 30, 0, 0, time.UTC)

// The signature of a known request, computed with openssl rather than Go:
//
//	printf 'GET;/findings/abc123/?report_token=def456;demo-key;1736951400;' |
//	  openssl dgst -sha256 -mac HMAC -macopt hexkey:$(printf detectify-demo-secret | xxd -p) -binary | base64
func TestAPISignatureKnownAnswer(t *testing.T) {
	got := APISignature([]byte("detectify-demo-secret"), "GET", "/findings/abc123/?report_token=def456", testAPIKey, apiNow.Unix(), nil)
	if want := "ICWz4QLW+je+d1/aK3DA3kI6/hX8w0laSCah4H2PUXs="; got != want {
		t.Errorf("signature %s, want %s", got, want)
	}
}

// apiScans are the scans every fake in these tests serves: a classic and a
// current scenario, both over Detectify's limits.
func apiScans(t *testing.T) []ScanSummary {
	t.Helper()
	_, classic := Scenario(ScenarioOptions{DomainCount: 2, FindingsPerScan: 130, Titles: 5, Seed: 11})
	_, current := Scenario(ScenarioOptions{Format: FormatCurrent, DomainCount: 1, FindingsPerScan: 130, Titles: 5, Seed: 12})
	return append(classic, current...)
}

func startFakeAPI(t *testing.T, secret string, scans []ScanSummary, opts FakeAPIOptions) (*FakeAPI, *httptest.Server) {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return apiNow }
	}
	api, err := NewFakeAPI(testAPIKey, secret, scans, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return api, srv
}

// apiRequest is a request to the fake and how it is authenticated.
type apiRequest struct {
	method string // GET when empty
	path   string // relative to the base path, query included
	key    string
	// secret signs the request when not nil; signedPath, signedMethod and
	// at, when set, are signed instead of the request's own.
	secret       []byte
	signedPath   string
	signedMethod string
	at           time.Time
	noTimestamp  bool
	noSignature  bool
}

func (q apiRequest) do(t *testing.T, srv *httptest.Server, base string) (*http.Response, []byte) {
	t.Helper()
	method := cmpOr(q.method, http.MethodGet)
	req, err := http.NewRequest(method, srv.URL+base+q.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q.key != "" {
		req.Header.Set(APIKeyHeader, q.key)
	}
	if q.secret != nil {
		at := q.at
		if at.IsZero() {
			at = apiNow
		}
		if !q.noTimestamp {
			req.Header.Set(APITimestampHeader, strconv.FormatInt(at.Unix(), 10))
		}
		if !q.noSignature {
			req.Header.Set(SignatureHeader, APISignature(q.secret, cmpOr(q.signedMethod, method), cmpOr(q.signedPath, q.path), q.key, at.Unix(), nil))
		}
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func findingsPath(s ScanSummary) string {
	return "/findings/" + s.ProfileToken + "/?report_token=" + s.ReportToken
}

func TestFakeAPIAuthentication(t *testing.T) {
	scans := apiScans(t)
	secret, _ := base64.StdEncoding.DecodeString(testAPISecret)
	path := findingsPath(scans[0])
	other := findingsPath(scans[1])
	tests := []struct {
		name       string
		unsigned   bool // the fake has no secret
		req        apiRequest
		wantStatus int
		wantSig    bool // counted as a signature failure
	}{
		{"signed", false, apiRequest{path: path, key: testAPIKey, secret: secret}, 200, false},
		{"timestamp 4m59s old", false, apiRequest{path: path, key: testAPIKey, secret: secret, at: apiNow.Add(-MaxAPIClockSkew + time.Second)}, 200, false},
		{"timestamp 4m59s ahead", false, apiRequest{path: path, key: testAPIKey, secret: secret, at: apiNow.Add(MaxAPIClockSkew - time.Second)}, 200, false},
		{"no key", false, apiRequest{path: path, secret: secret}, 401, false},
		{"wrong key", false, apiRequest{path: path, key: "other-key", secret: secret}, 401, false},
		{"key prefix", false, apiRequest{path: path, key: testAPIKey[:4], secret: secret}, 401, false},
		{"wrong secret", false, apiRequest{path: path, key: testAPIKey, secret: []byte("another-secret")}, 401, true},
		{"no timestamp", false, apiRequest{path: path, key: testAPIKey, secret: secret, noTimestamp: true}, 401, true},
		{"stale timestamp", false, apiRequest{path: path, key: testAPIKey, secret: secret, at: apiNow.Add(-MaxAPIClockSkew - time.Second)}, 401, true},
		{"future timestamp", false, apiRequest{path: path, key: testAPIKey, secret: secret, at: apiNow.Add(MaxAPIClockSkew + time.Second)}, 401, true},
		{"no signature", false, apiRequest{path: path, key: testAPIKey, secret: secret, noSignature: true}, 401, true},
		{"tampered query", false, apiRequest{path: path, signedPath: other, key: testAPIKey, secret: secret}, 401, true},
		{"tampered path", false, apiRequest{path: path, signedPath: "/findings/" + scans[1].ProfileToken + "/?report_token=" + scans[0].ReportToken, key: testAPIKey, secret: secret}, 401, true},
		{"query not signed", false, apiRequest{path: path, signedPath: "/findings/" + scans[0].ProfileToken + "/", key: testAPIKey, secret: secret}, 401, true},
		{"base path signed too", false, apiRequest{path: path, signedPath: DefaultAPIBasePath + path, key: testAPIKey, secret: secret}, 401, true},
		{"other method signed", false, apiRequest{path: path, signedMethod: http.MethodPost, key: testAPIKey, secret: secret}, 401, true},
		{"no secret: key alone", true, apiRequest{path: path, key: testAPIKey}, 200, false},
		{"no secret: wrong key", true, apiRequest{path: path, key: "other-key"}, 401, false},
		{"not GET", false, apiRequest{method: http.MethodPost, path: path, key: testAPIKey, secret: secret}, 405, false},
		{"unknown profile", false, apiRequest{path: "/findings/" + strings.Repeat("0", 32) + "/", key: testAPIKey, secret: secret}, 404, false},
		{"unknown report", false, apiRequest{path: "/findings/" + scans[0].ProfileToken + "/?report_token=" + scans[1].ReportToken, key: testAPIKey, secret: secret}, 404, false},
		{"unknown resource", false, apiRequest{path: "/reports/" + scans[0].ProfileToken + "/latest/", key: testAPIKey, secret: secret}, 404, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secretOpt := testAPISecret
			if tt.unsigned {
				secretOpt = ""
			}
			api, srv := startFakeAPI(t, secretOpt, scans, FakeAPIOptions{})
			resp, body := tt.req.do(t, srv, DefaultAPIBasePath)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			if resp.StatusCode != http.StatusOK {
				var e struct {
					Error struct {
						Code    int    `json:"code"`
						Message string `json:"message"`
					} `json:"error"`
				}
				if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != tt.wantStatus || e.Error.Message == "" {
					t.Errorf("error body %s", body)
				}
			}
			sig := 0
			if tt.wantSig {
				sig = 1
			}
			if api.Requests() != 1 || api.SignatureFailures() != sig || !maps.Equal(api.Statuses(), map[int]int{tt.wantStatus: 1}) {
				t.Errorf("requests %d, signature failures %d (want %d), statuses %v", api.Requests(), api.SignatureFailures(), sig, api.Statuses())
			}
		})
	}
}

// wireFinding is a finding object as a client decodes it.
type wireFinding struct {
	UUID      string `json:"uuid"`
	Title     string `json:"title"`
	Severity  string `json:"severity"`
	Status    string `json:"status"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
	Asset     struct {
		Token, Name string
	} `json:"asset"`
	Location   string `json:"location"`
	Tags       []struct{ Name string }
	CVSSScores map[string]struct {
		Score            float64
		Vector, Severity string
	} `json:"cvss_scores"`
	Links struct {
		DetailsPage string `json:"details_page"`
	} `json:"links"`
	ReportToken      string `json:"report_token"`
	ScanProfileToken string `json:"scan_profile_token"`
}

var wireKeys = []string{"uuid", "title", "severity", "status", "created_at", "updated_at", "asset", "location", "tags", "cvss_scores", "links", "report_token", "scan_profile_token"}

func decodeFindings(t *testing.T, body []byte) []wireFinding {
	t.Helper()
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("%v: %.200s", err, body)
	}
	out := make([]wireFinding, len(raw))
	for i, r := range raw {
		keysOf(t, r, wireKeys...)
		unmarshal(t, r, &out[i])
	}
	return out
}

// Each scan's findings come back whole, as its summary lists them.
func TestFakeAPIServesFindings(t *testing.T) {
	scans := apiScans(t)
	_, srv := startFakeAPI(t, testAPISecret, scans, FakeAPIOptions{})
	secret, _ := base64.StdEncoding.DecodeString(testAPISecret)
	for _, s := range scans {
		resp, body := apiRequest{path: findingsPath(s), key: testAPIKey, secret: secret}.do(t, srv, DefaultAPIBasePath)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: status %d, %s", s.Domain, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		got := decodeFindings(t, body)
		if len(got) != s.Found.Total() || s.Withheld == 0 {
			t.Fatalf("%s: %d findings served, %d found (%d withheld)", s.Domain, len(got), s.Found.Total(), s.Withheld)
		}
		for i, w := range got {
			checkWireFinding(t, s, s.Findings[i], w)
		}
	}
	// Without report_token, the profile's every report.
	resp, body := apiRequest{path: "/findings/" + scans[0].ProfileToken + "/", key: testAPIKey, secret: secret}.do(t, srv, DefaultAPIBasePath)
	if got := decodeFindings(t, body); resp.StatusCode != 200 || len(got) != scans[0].Found.Total() {
		t.Errorf("profile without report: status %d, %d findings", resp.StatusCode, len(got))
	}
}

func checkWireFinding(t *testing.T, s ScanSummary, f Finding, w wireFinding) {
	t.Helper()
	at, err := time.Parse(time.RFC3339, w.CreatedAt)
	if err != nil || !at.Equal(f.Found) || w.UpdatedAt != w.CreatedAt {
		t.Errorf("finding %s created %q updated %q, found %s", f.UUID, w.CreatedAt, w.UpdatedAt, f.Found)
	}
	cvss := w.CVSSScores["cvss_3_1"]
	if w.UUID != f.UUID || w.Title != f.Title || w.Severity != f.Level || w.Location != f.Location || w.Status != "new" ||
		cvss.Score != f.CVSS || cvss.Severity != f.Level || !strings.HasPrefix(cvss.Vector, "CVSS:3.1/") || len(w.CVSSScores) != 1 {
		t.Errorf("served %+v for %+v", w, f)
	}
	if w.Asset.Token != s.AssetToken || w.Asset.Name != s.Domain || w.ReportToken != s.ReportToken || w.ScanProfileToken != s.ProfileToken ||
		w.Links.DetailsPage != "https://detectify.com/report/"+s.ProfileToken+"/"+s.ReportToken+"/"+f.UUID ||
		len(w.Tags) != 1 || w.Tags[0].Name != "new" {
		t.Errorf("served %+v for a finding of %s", w, s.Domain)
	}
}

func TestFakeAPIPages(t *testing.T) {
	scans := apiScans(t)
	s := scans[0]
	secret, _ := base64.StdEncoding.DecodeString(testAPISecret)
	for _, absolute := range []bool{false, true} {
		t.Run("absolute="+strconv.FormatBool(absolute), func(t *testing.T) {
			api, srv := startFakeAPI(t, testAPISecret, scans, FakeAPIOptions{PageSize: 7, AbsoluteNext: absolute})
			var got []string
			path, pages := findingsPath(s), 0
			for path != "" && pages < 100 {
				resp, body := apiRequest{path: path, key: testAPIKey, secret: secret}.do(t, srv, DefaultAPIBasePath)
				var pg struct {
					Findings json.RawMessage `json:"findings"`
					Next     *string         `json:"next"`
				}
				keys := []string{"findings", "next"}
				if pages == (s.Found.Total()+6)/7-1 {
					keys = keys[:1] // the last page has no next
				}
				keysOf(t, body, keys...)
				unmarshal(t, body, &pg)
				if resp.StatusCode != 200 {
					t.Fatalf("page %d: status %d", pages+1, resp.StatusCode)
				}
				fs := decodeFindings(t, pg.Findings)
				if len(fs) > 7 || len(fs) == 0 {
					t.Errorf("page of %d findings", len(fs))
				}
				for _, f := range fs {
					got = append(got, f.UUID)
				}
				pages++
				path = ""
				if pg.Next != nil {
					path = *pg.Next
					if absolute {
						prefix := srv.URL + DefaultAPIBasePath
						if !strings.HasPrefix(path, prefix) {
							t.Fatalf("next %q does not begin with %s", path, prefix)
						}
						path = strings.TrimPrefix(path, prefix)
					}
				}
			}
			var want []string
			for _, f := range s.Findings {
				want = append(want, f.UUID)
			}
			if !slices.Equal(got, want) || pages != (len(want)+6)/7 || api.Requests() != pages {
				t.Errorf("%d pages (%d requests) gave %d findings, want %d in %d pages", pages, api.Requests(), len(got), len(want), (len(want)+6)/7)
			}
		})
	}
	_, srv := startFakeAPI(t, testAPISecret, scans, FakeAPIOptions{PageSize: 7})
	for page, want := range map[string]int{"0": 400, "x": 400, "-1": 400, "999": 200} {
		resp, body := apiRequest{path: findingsPath(s) + "&page=" + page, key: testAPIKey, secret: secret}.do(t, srv, DefaultAPIBasePath)
		if resp.StatusCode != want || (want == 200 && string(body) != `{"findings":[]}`) {
			t.Errorf("page %s: %d %s, want %d", page, resp.StatusCode, body, want)
		}
	}
}

func TestFakeAPIBasePath(t *testing.T) {
	scans := apiScans(t)
	secret, _ := base64.StdEncoding.DecodeString(testAPISecret)
	_, srv := startFakeAPI(t, testAPISecret, scans, FakeAPIOptions{BasePath: "/detectify/api/"})
	req := apiRequest{path: findingsPath(scans[0]), key: testAPIKey, secret: secret}
	if resp, _ := req.do(t, srv, "/detectify/api"); resp.StatusCode != 200 {
		t.Errorf("under the base path: %d", resp.StatusCode)
	}
	if resp, _ := req.do(t, srv, DefaultAPIBasePath); resp.StatusCode != 404 {
		t.Errorf("under the default base path: %d", resp.StatusCode)
	}
}

// Injected failures come in the order queued, one request each, before
// any check; then the API answers normally again.
func TestFakeAPIFailures(t *testing.T) {
	scans := apiScans(t)
	secret, _ := base64.StdEncoding.DecodeString(testAPISecret)
	api, srv := startFakeAPI(t, testAPISecret, scans, FakeAPIOptions{})
	api.FailNext(
		Failure{Status: 429, RetryAfter: "3"},
		FailServerError,
		Failure{Status: 403},
		FailMalformed,
		Failure{Delay: 80 * time.Millisecond},
		Failure{Delay: 40 * time.Millisecond, Status: 503, RetryAfter: "1"},
	)
	good := apiRequest{path: findingsPath(scans[0]), key: testAPIKey, secret: secret}
	tests := []struct {
		req        apiRequest
		wantStatus int
		retryAfter string
		wantJSON   bool // a findings list
		minElapsed time.Duration
	}{
		{good, 429, "3", false, 0},
		{apiRequest{path: good.path, key: "wrong"}, 500, "", false, 0}, // a failure before the key is checked
		{good, 403, "", false, 0},
		{good, 200, "", false, 0}, // malformed
		{good, 200, "", true, 80 * time.Millisecond},
		{good, 503, "1", false, 40 * time.Millisecond},
		{good, 200, "", true, 0},
		{apiRequest{path: good.path, key: "wrong"}, 401, "", false, 0},
	}
	for i, tt := range tests {
		start := time.Now()
		resp, body := tt.req.do(t, srv, DefaultAPIBasePath)
		elapsed := time.Since(start)
		if resp.StatusCode != tt.wantStatus || resp.Header.Get("Retry-After") != tt.retryAfter || elapsed < tt.minElapsed {
			t.Errorf("request %d: %d Retry-After %q after %s, want %d %q after at least %s",
				i, resp.StatusCode, resp.Header.Get("Retry-After"), elapsed, tt.wantStatus, tt.retryAfter, tt.minElapsed)
		}
		var list []json.RawMessage
		if err := json.Unmarshal(body, &list); (err == nil) != tt.wantJSON {
			t.Errorf("request %d: body %.80s, want a findings list: %v", i, body, tt.wantJSON)
		}
	}
	want := map[int]int{429: 1, 500: 1, 403: 1, 200: 3, 503: 1, 401: 1}
	if got := api.Statuses(); !maps.Equal(got, want) || api.Requests() != len(tests) || api.SignatureFailures() != 0 {
		t.Errorf("statuses %v (want %v), %d requests, %d signature failures", got, want, api.Requests(), api.SignatureFailures())
	}
}

// A client that gives up during an injected delay frees the handler at
// once (goleak checks nothing is left behind).
func TestFakeAPIDelayEndsWithClient(t *testing.T) {
	scans := apiScans(t)
	api, srv := startFakeAPI(t, "", scans, FakeAPIOptions{})
	api.FailNext(Failure{Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+DefaultAPIBasePath+findingsPath(scans[0]), nil)
	req.Header.Set(APIKeyHeader, testAPIKey)
	start := time.Now()
	_, err := srv.Client().Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the client's deadline", err)
	}
	srv.Close() // waits for the handler
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("handler held the server %s after the client left", d)
	}
}

func TestNewFakeAPIRefuses(t *testing.T) {
	if _, err := NewFakeAPI("", "", nil, FakeAPIOptions{}); err == nil {
		t.Error("empty key accepted")
	}
	_, err := NewFakeAPI(testAPIKey, "not base64!", nil, FakeAPIOptions{})
	if err == nil || strings.Contains(err.Error(), "not base64!") {
		t.Errorf("bad secret: %v (and the secret must not be echoed)", err)
	}
}
