package detectifyapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// DefaultEndpoint is the public API's base, v2: what public clients use
// for findings and reports.
const DefaultEndpoint = "https://api.detectify.com/rest/v2"

// Bounds of one listing.
const (
	// maxPages bounds the pages of one listing.
	maxPages = 100
	// maxAnswerBytes bounds one page's answer.
	maxAnswerBytes = 64 << 20
	// maxListingBytes bounds the findings kept of one listing, and
	// maxFindingBytes one finding (it becomes a record's body).
	maxListingBytes = 64 << 20
	maxFindingBytes = 256 << 10
)

// Config is how the client reaches the API.
type Config struct {
	// Endpoint is the API's base URL, e.g. DefaultEndpoint.
	Endpoint string
	Key      string
	// Secret is the key's secret as Detectify shows it (base64); empty
	// when the key has none.
	Secret string
	// HTTP sends the requests (timeouts, TLS, proxy).
	HTTP *http.Client
	// RequestsPerMinute bounds the requests this client makes.
	RequestsPerMinute int
	// MaxFindings bounds the findings read for one report.
	MaxFindings int
	// Observe, when set, is told each request's answer: its status code,
	// or 0 when none came.
	Observe func(ctx context.Context, code int)
	// Keep, when set, says which of the report's findings are wanted: only
	// those count against MaxFindings.
	Keep func(json.RawMessage) bool
}

// Client lists a report's findings.
type Client struct {
	cfg     Config
	base    *url.URL
	secret  []byte
	limiter *rate.Limiter
	now     func() time.Time
}

// New checks cfg and makes a client.
func New(cfg Config) (*Client, error) {
	base, err := url.Parse(strings.TrimSuffix(cfg.Endpoint, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("the endpoint must be an http or https URL")
	}
	var secret []byte
	if cfg.Secret != "" {
		if secret, err = decodeSecret(cfg.Secret); err != nil {
			return nil, err
		}
	}
	perMinute := max(cfg.RequestsPerMinute, 1)
	if cfg.HTTP != nil {
		// A redirect would carry the key and signature wherever it
		// points (Go keeps custom headers): it is answered as it is.
		cfg.HTTP.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return &Client{
		cfg: cfg, base: base, secret: secret,
		limiter: rate.NewLimiter(rate.Every(time.Minute/time.Duration(perMinute)), 1),
		now:     time.Now,
	}, nil
}

// decodeSecret reads the secret as the examples do, as base64 (padded or
// not, standard or URL-safe).
func decodeSecret(s string) ([]byte, error) {
	for _, enc := range secretEncodings {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("the secret is not base64, as Detectify shows API secrets")
}

// Listing is what the API listed of a report.
type Listing struct {
	// Findings are the raw finding objects of the report, at most
	// MaxFindings.
	Findings []json.RawMessage
	// Truncated counts the wanted findings not read: past MaxFindings, past
	// the listing's byte budget, or larger than a finding may be.
	Truncated int
	// Incomplete is true when the listing had more pages than are read.
	Incomplete bool
	// Requests counts the requests made.
	Requests int
}

// Findings lists the findings of report under a scan profile, every page.
// beforePage, when set, runs before each request (the receiver renews its
// hold on the job there) and ends the listing with its error. Each request
// waits for the rate limit first. On an error, what was listed so far is
// returned with it.
func (c *Client) Findings(ctx context.Context, profile, report string, beforePage func() error) (Listing, error) {
	var out Listing
	kept := 0
	path := "/findings/" + url.PathEscape(profile) + "/?report_token=" + url.QueryEscape(report)
	for page := 0; path != ""; page++ {
		if page == maxPages {
			out.Incomplete = true
			break
		}
		if beforePage != nil {
			if err := beforePage(); err != nil {
				return out, err
			}
		}
		body, err := c.get(ctx, path)
		out.Requests++
		if err != nil {
			return out, err
		}
		var items []json.RawMessage
		if items, path, err = c.readPage(body); err != nil {
			return out, err
		}
		for _, raw := range items {
			if !ofReport(raw, report) || (c.cfg.Keep != nil && !c.cfg.Keep(raw)) {
				continue
			}
			if len(out.Findings) >= c.cfg.MaxFindings || len(raw) > maxFindingBytes || kept+len(raw) > maxListingBytes {
				out.Truncated++
				continue
			}
			out.Findings = append(out.Findings, raw)
			kept += len(raw)
		}
	}
	return out, nil
}

// get requests path (relative to the endpoint) and returns the body of a
// 200 answer.
func (c *Client) get(ctx context.Context, path string) ([]byte, error) {
	if err := c.limiter.Wait(ctx); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base.String()+path, http.NoBody)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	authenticate(req, c.cfg.Key, c.secret, path, c.now())
	resp, err := c.cfg.HTTP.Do(req)
	code := 0
	if err == nil {
		code = resp.StatusCode
	}
	if c.cfg.Observe != nil {
		c.cfg.Observe(ctx, code)
	}
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection is reused
		return nil, &StatusError{Code: resp.StatusCode, RetryAfter: retryAfter(resp.Header, c.now())}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxAnswerBytes {
		return nil, fmt.Errorf("%w: larger than %d MiB", ErrInvalidAnswer, maxAnswerBytes>>20)
	}
	return body, nil
}

// page is the paged shape of an answer (an ASSUMPTION: public clients read
// a plain array).
type page struct {
	Findings *[]json.RawMessage `json:"findings"`
	Next     string             `json:"next"`
}

// readPage reads a page's findings and the path of the next page, empty on
// the last.
func (c *Client) readPage(body []byte) (items []json.RawMessage, next string, err error) {
	trimmed := bytes.TrimSpace(body)
	if string(trimmed) == "null" {
		return nil, "", nil // no findings, as some APIs say it
	}
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(body, &items); err != nil {
			return nil, "", fmt.Errorf("%w: %w", ErrInvalidAnswer, err)
		}
		return items, "", nil
	}
	var p page
	if err := json.Unmarshal(body, &p); err != nil || p.Findings == nil {
		return nil, "", fmt.Errorf("%w: neither an array nor an object with findings", ErrInvalidAnswer)
	}
	if p.Next != "" {
		if next, err = c.relative(p.Next); err != nil {
			return nil, "", err
		}
	}
	return *p.Findings, next, nil
}

// relative turns a next link (absolute, or a path relative to the
// endpoint) into a path relative to the endpoint. A link that resolves
// anywhere else is refused: the key is sent with every request.
func (c *Client) relative(link string) (string, error) {
	u, err := url.Parse(link)
	if err != nil {
		return "", fmt.Errorf("%w: its next link is not a URL", ErrInvalidAnswer)
	}
	if !u.IsAbs() && u.Host == "" && !strings.HasPrefix(u.Path, "/") {
		return "", fmt.Errorf("%w: its next link is neither absolute nor a path", ErrInvalidAnswer)
	}
	if !u.IsAbs() && u.Host == "" && !strings.HasPrefix(u.Path, c.base.Path+"/") {
		u.Path = c.base.Path + u.Path // relative to the endpoint, as the contract says
	}
	u = c.base.ResolveReference(u)
	if u.Scheme != c.base.Scheme || u.Host != c.base.Host || u.User != nil || !strings.HasPrefix(u.Path, c.base.Path+"/") {
		return "", fmt.Errorf("%w: its next link leaves the endpoint", ErrInvalidAnswer)
	}
	return strings.TrimPrefix(u.RequestURI(), c.base.Path), nil
}

// ofReport reports whether a finding belongs to report: it names it, or
// names no report (then the request's report_token is trusted).
func ofReport(raw json.RawMessage, report string) bool {
	var f struct {
		ReportToken *string `json:"report_token"`
	}
	if err := json.Unmarshal(raw, &f); err != nil || f.ReportToken == nil {
		return err == nil
	}
	return *f.ReportToken == report
}
