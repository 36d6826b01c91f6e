package detectifyreceiver

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/detectify-otel/detectifyreceiver/internal/metadata"
)

// loadConfig unmarshals the named entry of testdata/config.yaml over the
// factory's defaults, as the collector does.
func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	id := component.NewID(metadata.Type)
	if name != "" {
		id = component.NewIDWithName(metadata.Type, name)
	}
	sub, err := cm.Sub(id.String())
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig()
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg.(*Config)
}

// joinedErrors returns the errors Validate joined; one when err is not a join.
func joinedErrors(err error) []error {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		return joined.Unwrap()
	}
	return []error{err}
}

func TestCreateDefaultConfig(t *testing.T) {
	cfg, ok := NewFactory().CreateDefaultConfig().(*Config)
	require.True(t, ok, "default config must be a *Config")

	assert.Equal(t, "localhost:8765", cfg.NetAddr.Endpoint)
	assert.Equal(t, "/webhook", cfg.Path)
	assert.Equal(t, "/health", cfg.HealthPath)
	assert.Equal(t, int64(1<<20), cfg.MaxRequestBodySize)
	assert.Equal(t, []string{"", "gzip"}, cfg.CompressionAlgorithms)
	assert.Equal(t, 10*time.Second, cfg.ReadHeaderTimeout)
	assert.Equal(t, 30*time.Second, cfg.ReadTimeout)
	assert.Equal(t, 10*time.Minute, cfg.DedupWindow)
	assert.Equal(t, 100_000, cfg.DedupMaxEntries)
	assert.Equal(t, 60*time.Second, cfg.MetricsInterval)
	assert.Equal(t, time.Second, cfg.MetricsFlushInterval)
	assert.Equal(t, 10_000, cfg.MaxDomains)
	assert.Zero(t, cfg.DomainIdleTimeout)
	assert.Equal(t, 10_000, cfg.MaxOpenScans)
	assert.Equal(t, 48*time.Hour, cfg.StaleScanAfter)
	assert.Nil(t, cfg.StorageID)
	assert.False(t, cfg.AllowUnsigned)
	assert.Empty(t, cfg.Secret)
	assert.Empty(t, cfg.PreviousSecrets)
	assert.Equal(t, metadata.DefaultMetricsConfig(), cfg.Metrics)
	assert.Equal(t, metadata.DefaultEventsConfig(), cfg.Events)
	assert.Equal(t, metadata.DefaultResourceAttributesConfig(), cfg.ResourceAttributes)

	// Unsigned webhooks are refused unless asked for: no secret, no start.
	err := cfg.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "secret")
	assert.Contains(t, err.Error(), "allow_unsigned: true")

	// The defaults plus a secret are a working config.
	cfg.Secret = "default-plus-s3cr3t"
	require.NoError(t, cfg.Validate())
}

func TestLoadConfig(t *testing.T) {
	customExpected := createDefaultConfig()
	customExpected.NetAddr.Endpoint = "0.0.0.0:9443"
	customExpected.Path = "/hooks/detectify"
	customExpected.HealthPath = "/ready"
	customExpected.Secret = "custom-current-s3cr3t-7f1e"
	customExpected.PreviousSecrets = []configopaque.String{"custom-previous-s3cr3t-a9b2", "custom-previous-s3cr3t-c4d8"}
	customExpected.AllowUnsigned = false
	customExpected.IncludeMetadata = true
	customExpected.MaxRequestBodySize = 262144
	customExpected.CompressionAlgorithms = []string{"", "gzip", "zstd"}
	customExpected.ReadHeaderTimeout = 5 * time.Second
	customExpected.ReadTimeout = 20 * time.Second
	customExpected.WriteTimeout = 15 * time.Second
	customExpected.DedupWindow = 30 * time.Minute
	customExpected.DedupMaxEntries = 5000
	customExpected.MaxMessageAge = 25 * time.Minute
	customExpected.MetricsInterval = 2 * time.Minute
	customExpected.MetricsFlushInterval = 5 * time.Second
	customExpected.MaxDomains = 500
	customExpected.DomainIdleTimeout = 720 * time.Hour
	customExpected.MaxOpenScans = 2000
	customExpected.StaleScanAfter = 72 * time.Hour
	storage := component.MustNewIDWithName("file_storage", "detectify")
	customExpected.StorageID = &storage
	// The generated switches remember which keys the user set, in unexported
	// fields: build them with their own unmarshaller from the same values.
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"detectify.scans": map[string]any{"enabled": false},
	}).Unmarshal(&customExpected.Metrics))
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"detectify.event": map[string]any{"enabled": false},
	}).Unmarshal(&customExpected.Events))
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"service.name": map[string]any{"enabled": false},
	}).Unmarshal(&customExpected.ResourceAttributes))
	require.False(t, customExpected.Metrics.DetectifyScans.Enabled)
	require.True(t, customExpected.Metrics.DetectifyFindings.Enabled, "unset switches keep their default")
	require.False(t, customExpected.Events.DetectifyEvent.Enabled)
	require.True(t, customExpected.Events.DetectifyFinding.Enabled)
	require.False(t, customExpected.ResourceAttributes.ServiceName.Enabled)

	unsignedExpected := createDefaultConfig()
	unsignedExpected.AllowUnsigned = true

	dedupDisabledExpected := createDefaultConfig()
	dedupDisabledExpected.Secret = "dedup-disabled-s3cr3t"
	dedupDisabledExpected.DedupWindow = 0
	dedupDisabledExpected.DedupMaxEntries = 0
	dedupDisabledExpected.HealthPath = ""

	replicasExpected := createDefaultConfig()
	replicasExpected.Secret = "replicas-s3cr3t"
	replicasExpected.SharedState.Redis = &RedisConfig{
		Endpoint: "redis.internal:6379", Username: "detectify", Password: "redis-pa55word-9f8e", DB: 2,
		TLS: configoptional.Some(configtls.ClientConfig{}), ReplicaID: "collector-0",
	}

	apiExpected := createDefaultConfig()
	apiExpected.Secret = "api-s3cr3t-0123456789"
	apiExpected.API = &APIConfig{Key: "api-key-0123", Secret: "dGVzdC1hcGktc2VjcmV0", Backfill: "always",
		Levels: []string{"critical", "high"}, MaxRequestsPerMinute: 12, MaxFindingsPerScan: 500, Delay: 2 * time.Minute}
	apiExpected.API.Endpoint = "https://detectify.example/rest/v2"
	apiExpected.API.Timeout = 10 * time.Second

	tests := []struct {
		name     string
		expected *Config
	}{
		{name: "", expected: createDefaultConfig()},
		{name: "api", expected: apiExpected},
		{name: "replicas", expected: replicasExpected},
		{name: "custom", expected: customExpected},
		{name: "unsigned", expected: unsignedExpected},
		{name: "dedup_disabled", expected: dedupDisabledExpected},
	}
	for _, tt := range tests {
		t.Run("detectify/"+tt.name, func(t *testing.T) {
			cfg := loadConfig(t, tt.name)
			assert.Equal(t, tt.expected, cfg)
			if tt.name == "" {
				// An empty entry is the defaults, which need a secret.
				require.Error(t, cfg.Validate())
				return
			}
			require.NoError(t, cfg.Validate())
		})
	}
}

func TestConfigValidateInvalid(t *testing.T) {
	tests := []struct {
		name string
		// key is the offending key, which the message must name.
		key string
		// message is a more precise part of the message, so that a key
		// contained in another (path in health_path) is not matched by the
		// wrong error.
		message string
	}{
		{name: "no_secret", key: "secret", message: "allow_unsigned: true"},
		{name: "unsigned_with_secret", key: "allow_unsigned", message: "allow_unsigned must be false"},
		{name: "previous_without_secret", key: "previous_secrets", message: "previous_secrets requires secret"},
		{name: "empty_previous", key: "previous_secrets", message: "previous_secrets[1] is empty"},
		{name: "bad_path", key: "path", message: "path must start with '/'"},
		{name: "path_with_brace", key: "path", message: `got "/webhook/{id}"`},
		{name: "health_equals_path", key: "health_path", message: "health_path must differ from path"},
		{name: "negative_dedup", key: "dedup_window", message: "dedup_window must not be negative"},
		{name: "zero_dedup_entries", key: "dedup_max_entries", message: "dedup_max_entries must be positive"},
		{name: "negative_max_message_age", key: "max_message_age", message: "max_message_age must not be negative"},
		{name: "max_message_age_over_dedup_window", key: "max_message_age", message: "dedup_window (10m0s) must be at least max_message_age (24h0m0s)"},
		{name: "max_message_age_without_dedup", key: "max_message_age", message: "dedup_window (0s) must be at least max_message_age"},
		{name: "short_interval", key: "metrics_interval", message: "metrics_interval must be at least"},
		{name: "zero_read_timeout", key: "read_timeout", message: "read_timeout must be positive"},
		{name: "zero_read_header_timeout", key: "read_header_timeout", message: "read_header_timeout must be positive"},
		{name: "bad_compression", key: "compression_algorithms", message: `"brotli"`},
		{name: "zero_body_size", key: "max_request_body_size", message: "max_request_body_size must be positive"},
		{name: "no_endpoint", key: "endpoint", message: "endpoint must be set"},
		{name: "zero_flush_interval", key: "metrics_flush_interval", message: "metrics_flush_interval must be positive"},
		{name: "flush_over_interval", key: "metrics_flush_interval", message: "at most metrics_interval"},
		{name: "zero_max_domains", key: "max_domains", message: "max_domains must be positive"},
		{name: "negative_idle", key: "domain_idle_timeout", message: "domain_idle_timeout must not be negative"},
		{name: "zero_max_open_scans", key: "max_open_scans", message: "max_open_scans must be positive"},
		{name: "negative_stale", key: "stale_scan_after", message: "stale_scan_after must not be negative"},
		{name: "redis_without_endpoint", key: "shared_state::redis::endpoint", message: "must be set"},
		{name: "redis_endpoint_and_endpoints", key: "shared_state::redis", message: "not both"},
		{name: "redis_with_storage", key: "storage", message: "use storage for a single replica, shared_state for several"},
		{name: "redis_bad_prefix", key: "key_prefix", message: "must not contain '{' or '}'"},
		{name: "redis_negative_db", key: "shared_state::redis::db", message: "must not be negative"},
		{name: "api_without_key", key: "api::key", message: "must be set"},
		{name: "api_secret_not_base64", key: "api::secret", message: "must be base64"},
		{name: "api_bad_endpoint", key: "api::endpoint", message: "http or https URL"},
		{name: "api_bad_backfill", key: "api::backfill", message: `got "sometimes"`},
		{name: "api_bad_level", key: "api::levels", message: `"severe"`},
		{name: "api_negative_rpm", key: "api::max_requests_per_minute", message: "must be positive"},
		{name: "api_too_many_findings", key: "api::max_findings_per_scan", message: "at most 10000"},
		{name: "api_negative_delay", key: "api::delay", message: "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadConfig(t, tt.name)

			err := cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.key)
			assert.Contains(t, err.Error(), tt.message)
			// Each entry breaks one thing: a second error would mean the
			// substring may have come from elsewhere.
			assert.Len(t, joinedErrors(err), 1, "errors: %v", err)
		})
	}
}

func TestConfigValidateDoesNotMutate(t *testing.T) {
	for _, name := range []string{
		"", "custom", "unsigned", "dedup_disabled",
		"no_secret", "unsigned_with_secret", "previous_without_secret", "empty_previous",
		"bad_path", "path_with_brace", "health_equals_path", "negative_dedup",
		"zero_dedup_entries", "short_interval", "zero_read_timeout",
		"zero_read_header_timeout", "bad_compression", "zero_body_size", "no_endpoint",
		"zero_flush_interval", "flush_over_interval", "zero_max_domains", "negative_idle",
		"zero_max_open_scans", "negative_stale", "replicas", "redis_without_endpoint", "redis_endpoint_and_endpoints",
		"redis_with_storage", "redis_bad_prefix", "redis_negative_db",
		"negative_max_message_age", "max_message_age_over_dedup_window", "max_message_age_without_dedup",
		"api", "api_without_key", "api_bad_backfill", "api_bad_level",
	} {
		t.Run("detectify/"+name, func(t *testing.T) {
			cfg := loadConfig(t, name)
			// A second, independent unmarshal is a deep copy: it shares no
			// slice or pointer with cfg.
			before := loadConfig(t, name)
			require.Equal(t, before, cfg)

			_ = cfg.Validate()
			assert.Equal(t, before, cfg, "Validate changed the config")
		})
	}
}

func TestConfigDoesNotLeakSecrets(t *testing.T) {
	for _, name := range []string{
		"custom", "replicas", "unsigned_with_secret", "previous_without_secret", "empty_previous",
		"bad_path", "path_with_brace", "health_equals_path", "negative_dedup",
		"zero_dedup_entries", "short_interval", "zero_read_timeout",
		"zero_read_header_timeout", "bad_compression", "zero_body_size", "no_endpoint",
	} {
		t.Run("detectify/"+name, func(t *testing.T) {
			cfg := loadConfig(t, name)
			var secrets []string
			if cfg.Secret != "" {
				secrets = append(secrets, string(cfg.Secret))
			}
			for _, s := range cfg.PreviousSecrets {
				if s != "" {
					secrets = append(secrets, string(s))
				}
			}
			if cfg.SharedState.Redis != nil && cfg.SharedState.Redis.Password != "" {
				secrets = append(secrets, string(cfg.SharedState.Redis.Password))
			}
			require.NotEmpty(t, secrets, "entry must carry a secret to check")

			outputs := map[string]string{
				"%v":  fmt.Sprintf("%v", cfg),
				"%+v": fmt.Sprintf("%+v", cfg),
				"%#v": fmt.Sprintf("%#v", cfg),
				"*%v": fmt.Sprintf("%v", *cfg),
			}
			if err := cfg.Validate(); err != nil {
				outputs["Validate"] = err.Error()
			}
			for what, out := range outputs {
				for _, secret := range secrets {
					assert.NotContains(t, out, secret, "%s shows a secret", what)
				}
			}
			assert.Contains(t, outputs["%+v"], "[REDACTED]", "secret should be masked, not dropped")
		})
	}
}

func TestConfigSecrets(t *testing.T) {
	tests := []struct {
		name     string
		secret   configopaque.String
		previous []configopaque.String
		expected [][]byte
	}{
		{name: "none", expected: nil},
		{name: "current only", secret: "a", expected: [][]byte{[]byte("a")}},
		{
			name: "current first, then previous", secret: "new",
			previous: []configopaque.String{"old1", "old2"},
			expected: [][]byte{[]byte("new"), []byte("old1"), []byte("old2")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig()
			cfg.Secret = tt.secret
			cfg.PreviousSecrets = tt.previous
			assert.Equal(t, tt.expected, cfg.secrets())
		})
	}
}
