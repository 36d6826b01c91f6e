package webhooksend

import (
	"encoding/base64"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultAPIBasePath is the path of Detectify's public REST API v2 on
// api.detectify.com, under which FakeAPI serves by default.
const DefaultAPIBasePath = "/rest/v2"

// FakeAPIOptions shape a FakeAPI; the zero value serves Detectify's base
// path, one list per answer, by the system clock.
type FakeAPIOptions struct {
	// BasePath is where the API's paths begin; empty means
	// DefaultAPIBasePath.
	BasePath string
	// PageSize, when positive, answers pages of at most PageSize findings,
	// {"findings": [...], "next": "..."}, instead of one JSON array.
	// ASSUMPTION: public material shows no pagination; the contract the
	// receiver follows accepts both shapes.
	PageSize int
	// AbsoluteNext writes a page's next as an absolute URL
	// (http://host/rest/v2/findings/...) rather than a path relative to
	// the base path.
	AbsoluteNext bool
	// Now is the clock request timestamps are checked against; nil means
	// time.Now.
	Now func() time.Time
}

// FakeAPI is an http.Handler standing in for the part of Detectify's REST
// API a findings backfill uses: GET {base}/findings/{profile}/ with an
// optional report_token, authenticated by X-Detectify-Key and, for a key
// with a secret, a signed timestamp. It serves the full findings of the
// scans it is given, every level, sent or withheld, with the uuids their
// webhook messages carried. Safe for concurrent use.
type FakeAPI struct {
	key    string
	secret []byte // decoded; nil accepts requests without a signature
	opts   FakeAPIOptions
	// reports maps a profile token to its reports in the order given, and
	// findings a profile and report to the report's findings.
	reports  map[string][]string
	findings map[[2]string][]apiFinding

	mu                sync.Mutex
	failures          []Failure
	requests          int
	signatureFailures int
	statuses          map[int]int
}

// NewFakeAPI serves the findings of scans to requests carrying key and,
// when secret (standard base64, as Detectify hands it out) is not empty,
// signed with it.
func NewFakeAPI(key, secret string, scans []ScanSummary, opts FakeAPIOptions) (*FakeAPI, error) {
	if key == "" {
		return nil, errors.New("fake API: empty key")
	}
	var decoded []byte
	if secret != "" {
		var err error
		if decoded, err = base64.StdEncoding.DecodeString(secret); err != nil {
			return nil, errors.New("fake API: the secret is not standard base64")
		}
	}
	if opts.BasePath == "" {
		opts.BasePath = DefaultAPIBasePath
	}
	opts.BasePath = strings.TrimSuffix(opts.BasePath, "/")
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &FakeAPI{
		key: key, secret: decoded, opts: opts,
		reports: map[string][]string{}, findings: map[[2]string][]apiFinding{},
		statuses: map[int]int{},
	}
	for _, s := range scans {
		k := [2]string{s.ProfileToken, s.ReportToken}
		if _, seen := a.findings[k]; !seen {
			a.reports[s.ProfileToken] = append(a.reports[s.ProfileToken], s.ReportToken)
		}
		a.findings[k] = append(a.findings[k], apiFindings(s)...)
	}
	return a, nil
}

// BasePath is the path the API's paths are relative to.
func (a *FakeAPI) BasePath() string { return a.opts.BasePath }

// Requests is the number of requests the API has answered, whatever the
// answer.
func (a *FakeAPI) Requests() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.requests
}

// SignatureFailures is the number of requests refused for a missing or
// stale timestamp or a missing or wrong signature (not a wrong key).
func (a *FakeAPI) SignatureFailures() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.signatureFailures
}

// Statuses counts the answers by status code, injected failures included.
func (a *FakeAPI) Statuses() map[int]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.statuses)
}

// ServeHTTP answers in this order: an injected failure, if one is queued;
// 404 for a path outside the base path; 405 for a method other than GET; 401 for a wrong key, timestamp or
// signature; 404 for a path other than /findings/{profile}/ or an unknown
// profile or report; 400 for a bad page; else 200 with the findings.
func (a *FakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.requests++
	f, failing := a.nextFailure()
	a.mu.Unlock()
	if failing && f.apply(w, r) {
		a.count(f.status(), false)
		return
	}
	status, body, sigFailure := a.answer(r)
	a.count(status, sigFailure)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body) //nolint:gosec // JSON the fake made itself, served as application/json; a failed write means the client hung up
}

func (a *FakeAPI) count(status int, sigFailure bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.statuses[status]++
	if sigFailure {
		a.signatureFailures++
	}
}

// answer is the API proper: the status and body for r, and whether a
// timestamp or signature was refused.
func (a *FakeAPI) answer(r *http.Request) (status int, body []byte, sigFailure bool) {
	if !strings.HasPrefix(r.URL.Path, a.opts.BasePath+"/") {
		return apiError(http.StatusNotFound, "no such resource")
	}
	if r.Method != http.MethodGet {
		return apiError(http.StatusMethodNotAllowed, "only GET is served here")
	}
	reqBody, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return apiError(http.StatusBadRequest, "unreadable body")
	}
	if msg, sig := a.authenticate(r, reqBody); msg != "" {
		status, body, _ = apiError(http.StatusUnauthorized, msg)
		return status, body, sig
	}
	rel, ok := strings.CutPrefix(r.URL.Path, a.opts.BasePath+"/findings/")
	profile := strings.TrimSuffix(rel, "/")
	if !ok || profile == "" || strings.Contains(profile, "/") {
		return apiError(http.StatusNotFound, "no such resource")
	}
	reports, ok := a.reports[profile]
	if !ok {
		return apiError(http.StatusNotFound, "unknown scan profile")
	}
	query := r.URL.Query()
	if rt := query.Get("report_token"); rt != "" {
		if _, ok := a.findings[[2]string{profile, rt}]; !ok {
			return apiError(http.StatusNotFound, "unknown report")
		}
		reports = []string{rt}
	}
	var all []apiFinding
	for _, rt := range reports {
		all = append(all, a.findings[[2]string{profile, rt}]...)
	}
	if all == nil {
		all = []apiFinding{} // [] rather than null
	}
	if a.opts.PageSize <= 0 {
		return http.StatusOK, mustMarshal(all), false
	}
	return a.page(r, profile, query, all)
}

// apiPage is a page of findings when FakeAPIOptions.PageSize is set.
type apiPage struct {
	Findings []apiFinding `json:"findings"`
	Next     string       `json:"next,omitempty"`
}

// page answers the page named by the query's page (1 when absent); a page
// past the last is empty.
func (a *FakeAPI) page(r *http.Request, profile string, query url.Values, all []apiFinding) (int, []byte, bool) {
	n := 1
	if p := query.Get("page"); p != "" {
		var err error
		if n, err = strconv.Atoi(p); err != nil || n < 1 {
			return apiError(http.StatusBadRequest, "page must be a positive integer")
		}
	}
	size := a.opts.PageSize
	first := min((n-1)*size, len(all))
	last := min(first+size, len(all))
	pg := apiPage{Findings: all[first:last]}
	if last < len(all) {
		query.Set("page", strconv.Itoa(n+1))
		pg.Next = "/findings/" + profile + "/?" + query.Encode()
		if a.opts.AbsoluteNext {
			pg.Next = "http://" + r.Host + a.opts.BasePath + pg.Next
		}
	}
	return http.StatusOK, mustMarshal(pg), false
}

// apiError is an error answer in the shape Detectify's API documents;
// clients should not rely on it.
func apiError(status int, message string) (int, []byte, bool) {
	var e struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	e.Error.Code, e.Error.Message = status, message
	return status, mustMarshal(e), false
}
