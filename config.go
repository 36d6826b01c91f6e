package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"

	"github.com/detectify-otel/detectifyreceiver/internal/metadata"
	"github.com/detectify-otel/detectifyreceiver/internal/state"
)

const (
	defaultEndpoint           = "localhost:8765"
	defaultPath               = "/webhook"
	defaultHealthPath         = "/health"
	defaultMaxRequestBodySize = 1 << 20
	defaultReadHeaderTimeout  = 10 * time.Second
	defaultReadTimeout        = 30 * time.Second
	defaultDedupWindow        = 10 * time.Minute
	defaultDedupMaxEntries    = 100_000
	defaultMetricsInterval    = 60 * time.Second
	minMetricsInterval        = time.Second
	defaultMetricsFlush       = time.Second
	defaultMaxDomains         = 10_000
	defaultMaxOpenScans       = 10_000
	defaultStaleScanAfter     = 48 * time.Hour
)

// Config configures the detectify receiver. One Config backs one HTTP
// listener, shared by the logs and the metrics receiver built from it.
type Config struct {
	confighttp.ServerConfig `mapstructure:",squash"`

	// Path is where Detectify posts its webhooks.
	Path string `mapstructure:"path"`
	// HealthPath answers GET with 200 for load balancers; empty disables it.
	HealthPath string `mapstructure:"health_path"`

	// Secret is the key Detectify signs each body with (X-Detectify-Signature).
	Secret configopaque.String `mapstructure:"secret"`
	// PreviousSecrets are still accepted while a rotation is under way.
	PreviousSecrets []configopaque.String `mapstructure:"previous_secrets"`
	// AllowUnsigned accepts webhooks without a signature. Only for trusted
	// networks: anyone who can reach the endpoint can then forge findings.
	AllowUnsigned bool `mapstructure:"allow_unsigned"`

	// DedupWindow is how long an accepted body is remembered so that a
	// redelivery is acknowledged without being emitted twice; 0 disables.
	DedupWindow time.Duration `mapstructure:"dedup_window"`
	// DedupMaxEntries bounds the memory of remembered deliveries.
	DedupMaxEntries int `mapstructure:"dedup_max_entries"`
	// MaxMessageAge refuses a current-format message whose signed
	// timestamp is older than this (or too far ahead); 0 disables. See
	// freshness.go.
	MaxMessageAge time.Duration `mapstructure:"max_message_age"`

	// MetricsInterval is how often every metric series is emitted again, so
	// exporters that expire idle series (Prometheus after 5m) keep them.
	MetricsInterval time.Duration `mapstructure:"metrics_interval"`
	// MetricsFlushInterval is how often the series webhooks changed are
	// emitted: the changes of many webhooks go out together.
	MetricsFlushInterval time.Duration `mapstructure:"metrics_flush_interval"`

	// MaxDomains bounds the domains with series of their own; past it, new
	// domains are counted under detectify.domain=_other.
	MaxDomains int `mapstructure:"max_domains"`
	// DomainIdleTimeout forgets the series of domains with no webhook for
	// that long; 0 keeps them.
	DomainIdleTimeout time.Duration `mapstructure:"domain_idle_timeout"`
	// MaxOpenScans bounds the scans followed at once, oldest evicted first.
	MaxOpenScans int `mapstructure:"max_open_scans"`
	// StaleScanAfter is how long a scan may stay open before it is reported
	// as stalled; 0 disables the report.
	StaleScanAfter time.Duration `mapstructure:"stale_scan_after"`

	// SharedState keeps the dedup memory, the scan state and each
	// replica's counters in Redis, so that several replicas behind a load
	// balancer behave as one.
	SharedState SharedStateConfig `mapstructure:"shared_state"`

	// API lets the receiver fetch from Detectify's API the findings a
	// scan's webhooks did not deliver (api:); off when unset.
	API *APIConfig `mapstructure:"api"`

	// StorageID names a storage extension (e.g. file_storage) that keeps the
	// counts, the scan state and the dedup memory across restarts: every
	// webhook's effect is written to it before the webhook is answered.
	// Without one they start afresh, with a new start time.
	StorageID *component.ID `mapstructure:"storage"`

	// Metrics, Events and ResourceAttributes switch each generated metric,
	// log event and resource attribute on or off (see documentation.md).
	Metrics            metadata.MetricsConfig            `mapstructure:"metrics"`
	Events             metadata.EventsConfig             `mapstructure:"events"`
	ResourceAttributes metadata.ResourceAttributesConfig `mapstructure:"resource_attributes"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// SharedStateConfig says where replicas share their state.
type SharedStateConfig struct {
	// Redis is a pointer, not a configoptional.Optional: fmt cannot reach
	// the String method of a configopaque value behind Optional's
	// unexported field, so %#v of the config would show the password.
	Redis *RedisConfig `mapstructure:"redis"`
}

// RedisConfig is the Redis the replicas share, as go-redis's universal
// client takes it: one endpoint; several (a Redis Cluster); or sentinels
// with sentinel_master.
type RedisConfig struct {
	Endpoint       string                                          `mapstructure:"endpoint"`
	Endpoints      []string                                        `mapstructure:"endpoints"`
	SentinelMaster string                                          `mapstructure:"sentinel_master"`
	Username       string                                          `mapstructure:"username"`
	Password       configopaque.String                             `mapstructure:"password"`
	DB             int                                             `mapstructure:"db"`
	TLS            configoptional.Optional[configtls.ClientConfig] `mapstructure:"tls"`
	// KeyPrefix starts every key, so that several collectors can share one
	// Redis; defaultKeyPrefix when empty.
	KeyPrefix string `mapstructure:"key_prefix"`
	// ReplicaID names this replica's counters; the host name by default.
	// Give each replica its own, stable across its restarts.
	ReplicaID string `mapstructure:"replica_id"`
	// Timeout bounds one round trip to Redis (dialling, reading, writing):
	// a webhook that cannot be claimed in time is answered 503, and the
	// health path says unhealthy, instead of hanging with a stalled Redis.
	Timeout time.Duration `mapstructure:"timeout"`
}

// defaultRedisTimeout is generous for a Redis on the same network.
const defaultRedisTimeout = time.Second

// timeout is timeout or its default.
func (r *RedisConfig) timeout() time.Duration {
	if r.Timeout <= 0 {
		return defaultRedisTimeout
	}
	return r.Timeout
}

const defaultKeyPrefix = "detectify/"

// keyPrefix is key_prefix or its default.
func (r *RedisConfig) keyPrefix() string {
	if r.KeyPrefix == "" {
		return defaultKeyPrefix
	}
	return r.KeyPrefix
}

func createDefaultConfig() *Config {
	server := confighttp.NewDefaultServerConfig()
	server.NetAddr.Endpoint = defaultEndpoint
	server.MaxRequestBodySize = defaultMaxRequestBodySize
	server.CompressionAlgorithms = []string{"", "gzip"}
	server.ReadHeaderTimeout = defaultReadHeaderTimeout
	server.ReadTimeout = defaultReadTimeout
	return &Config{
		ServerConfig:         server,
		Path:                 defaultPath,
		HealthPath:           defaultHealthPath,
		DedupWindow:          defaultDedupWindow,
		DedupMaxEntries:      defaultDedupMaxEntries,
		MetricsInterval:      defaultMetricsInterval,
		MetricsFlushInterval: defaultMetricsFlush,
		MaxDomains:           defaultMaxDomains,
		MaxOpenScans:         defaultMaxOpenScans,
		StaleScanAfter:       defaultStaleScanAfter,
		Metrics:              metadata.DefaultMetricsConfig(),
		Events:               metadata.DefaultEventsConfig(),
		ResourceAttributes:   metadata.DefaultResourceAttributesConfig(),
	}
}

func (cfg *Config) metricsBuilderConfig() metadata.MetricsBuilderConfig {
	return metadata.MetricsBuilderConfig{Metrics: cfg.Metrics, ResourceAttributes: cfg.ResourceAttributes}
}

// knownCompressions are the Content-Encodings confighttp can decode.
var knownCompressions = map[string]bool{
	"": true, "gzip": true, "zstd": true, "zlib": true, "deflate": true, "snappy": true, "lz4": true, "x-snappy-framed": true,
}

// Validate only validates: it never changes the config.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.NetAddr.Endpoint == "" {
		errs = append(errs, errors.New("endpoint must be set, e.g. localhost:8765"))
	}
	errs = append(errs, validatePath("path", cfg.Path, false))
	errs = append(errs, validatePath("health_path", cfg.HealthPath, true))
	if cfg.HealthPath != "" && cfg.HealthPath == cfg.Path {
		errs = append(errs, fmt.Errorf("health_path must differ from path (both %q)", cfg.Path))
	}
	errs = append(errs, cfg.validateSecrets()...)
	if cfg.MaxRequestBodySize <= 0 {
		errs = append(errs, fmt.Errorf("max_request_body_size must be positive, got %d", cfg.MaxRequestBodySize))
	}
	for _, c := range cfg.CompressionAlgorithms {
		if !knownCompressions[c] {
			errs = append(errs, fmt.Errorf("compression_algorithms: unknown algorithm %q", c))
		}
	}
	if cfg.ReadHeaderTimeout <= 0 {
		errs = append(errs, errors.New("read_header_timeout must be positive: an internet-facing endpoint needs it to cut off slow clients"))
	}
	if cfg.ReadTimeout <= 0 {
		errs = append(errs, errors.New("read_timeout must be positive: an internet-facing endpoint needs it to cut off slow clients"))
	}
	if cfg.DedupWindow < 0 {
		errs = append(errs, fmt.Errorf("dedup_window must not be negative (0 disables it), got %s", cfg.DedupWindow))
	}
	if cfg.DedupWindow > 0 && cfg.DedupMaxEntries <= 0 {
		errs = append(errs, fmt.Errorf("dedup_max_entries must be positive when dedup_window is set, got %d", cfg.DedupMaxEntries))
	}
	errs = append(errs, cfg.validateMaxMessageAge()...)
	if cfg.MetricsInterval < minMetricsInterval {
		errs = append(errs, fmt.Errorf("metrics_interval must be at least %s, got %s", minMetricsInterval, cfg.MetricsInterval))
	}
	if cfg.MetricsFlushInterval <= 0 || cfg.MetricsFlushInterval > cfg.MetricsInterval {
		errs = append(errs, fmt.Errorf("metrics_flush_interval must be positive and at most metrics_interval (%s), got %s",
			cfg.MetricsInterval, cfg.MetricsFlushInterval))
	}
	if cfg.MaxDomains <= 0 {
		errs = append(errs, fmt.Errorf("max_domains must be positive, got %d", cfg.MaxDomains))
	}
	if cfg.DomainIdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("domain_idle_timeout must not be negative (0 keeps domains), got %s", cfg.DomainIdleTimeout))
	}
	if cfg.MaxOpenScans <= 0 {
		errs = append(errs, fmt.Errorf("max_open_scans must be positive, got %d", cfg.MaxOpenScans))
	}
	if cfg.StaleScanAfter < 0 {
		errs = append(errs, fmt.Errorf("stale_scan_after must not be negative (0 disables it), got %s", cfg.StaleScanAfter))
	}
	errs = append(errs, cfg.validateSharedState()...)
	errs = append(errs, cfg.validateAPI()...)
	return errors.Join(errs...)
}

func (cfg *Config) validateSharedState() []error {
	r := cfg.SharedState.Redis
	if r == nil {
		return nil
	}
	var errs []error
	switch {
	case r.Endpoint == "" && len(r.Endpoints) == 0:
		errs = append(errs, errors.New("shared_state::redis::endpoint must be set, e.g. localhost:6379 (or endpoints, for a cluster or sentinels)"))
	case r.Endpoint != "" && len(r.Endpoints) > 0:
		errs = append(errs, errors.New("shared_state::redis: set endpoint or endpoints, not both"))
	}
	if r.Timeout < 0 {
		errs = append(errs, fmt.Errorf("shared_state::redis::timeout must not be negative, got %s", r.Timeout))
	}
	if r.DB < 0 {
		errs = append(errs, fmt.Errorf("shared_state::redis::db must not be negative, got %d", r.DB))
	}
	if strings.ContainsAny(r.KeyPrefix, "{}") {
		errs = append(errs, fmt.Errorf("shared_state::redis::key_prefix must not contain '{' or '}', got %q", r.KeyPrefix))
	}
	if cfg.StorageID != nil {
		errs = append(errs, errors.New("storage must not be set with shared_state::redis: Redis keeps the dedup memory, the scan state "+
			"and each replica's counters across restarts; use storage for a single replica, shared_state for several"))
	}
	return errs
}

// stateConfig is what bounds the receiver's state.
func (cfg *Config) stateConfig() state.Config {
	c := state.Config{
		DedupWindow:       cfg.dedupRetention(),
		DedupMaxEntries:   cfg.DedupMaxEntries,
		MaxOpenScans:      cfg.MaxOpenScans,
		StaleScanAfter:    cfg.StaleScanAfter,
		MaxDomains:        cfg.MaxDomains,
		DomainIdleTimeout: cfg.DomainIdleTimeout,
	}
	if cfg.API != nil {
		c.Backfill, c.BackfillDelay = cfg.API.backfillMode(), cfg.API.Delay
	}
	return c
}

func (cfg *Config) validateSecrets() []error {
	var errs []error
	switch {
	case cfg.Secret == "" && !cfg.AllowUnsigned:
		errs = append(errs, errors.New("secret must be set to verify X-Detectify-Signature; to accept unsigned webhooks on a trusted network set allow_unsigned: true"))
	case cfg.Secret != "" && cfg.AllowUnsigned:
		errs = append(errs, errors.New("allow_unsigned must be false when secret is set: signed and unsigned webhooks cannot both be accepted"))
	}
	if len(cfg.PreviousSecrets) > 0 && cfg.Secret == "" {
		errs = append(errs, errors.New("previous_secrets requires secret: set the new key as secret and keep the old ones in previous_secrets"))
	}
	for i, s := range cfg.PreviousSecrets {
		if s == "" {
			errs = append(errs, fmt.Errorf("previous_secrets[%d] is empty", i))
		}
	}
	return errs
}

// validatePath accepts a plain absolute URL path: it becomes an exact
// http.ServeMux pattern, so pattern syntax and query parts are refused.
func validatePath(key, path string, mayBeEmpty bool) error {
	switch {
	case path == "" && mayBeEmpty:
		return nil
	case !strings.HasPrefix(path, "/"):
		return fmt.Errorf("%s must start with '/', got %q", key, path)
	case strings.ContainsAny(path, "{}?# \t\r\n"):
		return fmt.Errorf("%s must be a plain URL path without '{', '}', '?', '#' or spaces, got %q", key, path)
	}
	return nil
}

// secrets returns the keys a signature may be made with, current one first.
func (cfg *Config) secrets() [][]byte {
	if cfg.Secret == "" {
		return nil
	}
	keys := [][]byte{[]byte(cfg.Secret)}
	for _, s := range cfg.PreviousSecrets {
		keys = append(keys, []byte(s))
	}
	return keys
}
