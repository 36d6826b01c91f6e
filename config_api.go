package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/detectify-otel/detectifyreceiver/internal/detectifyapi"
	"github.com/detectify-otel/detectifyreceiver/internal/state"
)

// Defaults of the api block.
const (
	defaultAPITimeout           = 30 * time.Second
	defaultAPIRequestsPerMinute = 30
	defaultAPIMaxFindings       = 1000
	// maxAPIFindings bounds max_findings_per_scan: a scan's record keeps
	// the keys of what its backfill counted.
	maxAPIFindings = 10_000
)

// Backfill modes of api::backfill.
const (
	backfillWhenLimited = "when_limited"
	backfillAlways      = "always"
	backfillNever       = "never"
)

// defaultAPILevels are the levels the webhooks carry and a finished scan's
// undelivered count covers.
var defaultAPILevels = []string{"critical", "high", "medium"}

// APIConfig lets the receiver fetch from Detectify's API the findings a
// scan's webhooks did not deliver. A pointer in Config, like Redis's: fmt
// cannot reach the String method of a configopaque value behind
// configoptional's unexported field, so %#v would show the key.
type APIConfig struct {
	// ClientConfig is the HTTP client: endpoint (Detectify's public API v2
	// by default), timeout, tls, proxy_url, headers.
	confighttp.ClientConfig `mapstructure:",squash"`
	// Key is the API key (X-Detectify-Key).
	Key configopaque.String `mapstructure:"key"`
	// Secret signs each request, for keys that have one (base64, as
	// Detectify shows it).
	Secret configopaque.String `mapstructure:"secret"`
	// Backfill says which finished scans are completed from the API:
	// when_limited (default), always or never.
	Backfill string `mapstructure:"backfill"`
	// Levels are the levels of the findings fetched; by default those
	// Detectify's webhooks carry and a scan's undelivered count covers.
	Levels []string `mapstructure:"levels"`
	// MaxRequestsPerMinute bounds this replica's requests to the API.
	MaxRequestsPerMinute int `mapstructure:"max_requests_per_minute"`
	// MaxFindingsPerScan bounds the findings read for one scan.
	MaxFindingsPerScan int `mapstructure:"max_findings_per_scan"`
	// Delay is how long after a scan's finish its findings are fetched;
	// 0 (default) at once: Detectify sends the finish with the report done.
	Delay time.Duration `mapstructure:"delay"`
}

func (a *APIConfig) endpoint() string {
	if a.Endpoint == "" {
		return detectifyapi.DefaultEndpoint
	}
	return a.Endpoint
}

func (a *APIConfig) backfillMode() state.BackfillMode {
	switch a.Backfill {
	case backfillAlways:
		return state.BackfillAlways
	case backfillNever:
		return state.BackfillNever
	default:
		return state.BackfillWhenLimited
	}
}

func (a *APIConfig) levels() []string {
	if len(a.Levels) == 0 {
		return defaultAPILevels
	}
	return a.Levels
}

func (a *APIConfig) requestsPerMinute() int {
	if a.MaxRequestsPerMinute == 0 {
		return defaultAPIRequestsPerMinute
	}
	return a.MaxRequestsPerMinute
}

func (a *APIConfig) maxFindings() int {
	if a.MaxFindingsPerScan == 0 {
		return defaultAPIMaxFindings
	}
	return a.MaxFindingsPerScan
}

// httpClientConfig is the client block with the default timeout.
func (a *APIConfig) httpClientConfig() confighttp.ClientConfig {
	c := a.ClientConfig
	c.Endpoint = a.endpoint()
	if c.Timeout <= 0 {
		c.Timeout = defaultAPITimeout
	}
	return c
}

// knownLevels are the levels Detectify's API names.
var knownLevels = map[string]bool{"critical": true, "high": true, "medium": true, "low": true, "information": true}

func (cfg *Config) validateAPI() []error {
	a := cfg.API
	if a == nil {
		return nil
	}
	var errs []error
	if a.Key == "" {
		errs = append(errs, errors.New("api::key must be set: the Detectify API key the findings are read with"))
	}
	if a.Secret != "" {
		if _, err := detectifyapi.New(detectifyapi.Config{Endpoint: detectifyapi.DefaultEndpoint, Secret: string(a.Secret)}); err != nil {
			errs = append(errs, errors.New("api::secret must be base64, as Detectify shows API secrets"))
		}
	}
	if u, err := url.Parse(a.endpoint()); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("api::endpoint must be an http or https URL, got %q", a.Endpoint))
	}
	switch a.Backfill {
	case "", backfillWhenLimited, backfillAlways, backfillNever:
	default:
		errs = append(errs, fmt.Errorf("api::backfill must be when_limited, always or never, got %q", a.Backfill))
	}
	for _, level := range a.Levels {
		if !knownLevels[strings.ToLower(level)] {
			errs = append(errs, fmt.Errorf("api::levels: unknown level %q (critical, high, medium, low, information)", level))
		}
	}
	if a.MaxRequestsPerMinute < 0 {
		errs = append(errs, fmt.Errorf("api::max_requests_per_minute must be positive, got %d", a.MaxRequestsPerMinute))
	}
	if a.MaxFindingsPerScan < 0 || a.MaxFindingsPerScan > maxAPIFindings {
		errs = append(errs, fmt.Errorf("api::max_findings_per_scan must be positive and at most %d (each is remembered with its scan), got %d",
			maxAPIFindings, a.MaxFindingsPerScan))
	}
	if a.Delay < 0 {
		errs = append(errs, fmt.Errorf("api::delay must not be negative, got %s", a.Delay))
	}
	if a.Timeout < 0 {
		errs = append(errs, fmt.Errorf("api::timeout must not be negative, got %s", a.Timeout))
	}
	return errs
}
