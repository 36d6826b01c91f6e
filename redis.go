package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/detectify-otel/detectifyreceiver/internal/metadata"
	"github.com/detectify-otel/detectifyreceiver/internal/state"
)

// redisClient builds the client of shared_state::redis: one node, a
// cluster (several endpoints) or sentinels (with sentinel_master), with
// its round trips in the component's telemetry.
func redisClient(ctx context.Context, cfg *RedisConfig, telemetry *metadata.TelemetryBuilder) (redis.UniversalClient, error) {
	opts := &redis.UniversalOptions{
		Addrs:      cfg.Endpoints,
		MasterName: cfg.SentinelMaster,
		Username:   cfg.Username,
		Password:   string(cfg.Password),
		DB:         cfg.DB,
		ClientName: "otelcol-detectify",
		// A stalled Redis must not hold webhooks: every round trip is
		// bounded, by the caller's context too, and retried once.
		DialTimeout:           cfg.timeout(),
		ReadTimeout:           cfg.timeout(),
		WriteTimeout:          cfg.timeout(),
		ContextTimeoutEnabled: true,
		MaxRetries:            1,
	}
	if cfg.Endpoint != "" {
		opts.Addrs = []string{cfg.Endpoint}
	}
	if cfg.TLS.HasValue() {
		tlsConfig, err := cfg.TLS.Get().LoadTLSConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("shared_state::redis::tls: %w", err)
		}
		opts.TLSConfig = tlsConfig
	}
	client := redis.NewUniversalClient(opts)
	client.AddHook(redisTelemetry{telemetry})
	return client, nil
}

// replicaID is shared_state::redis::replica_id, else the host name (a pod's
// name in Kubernetes).
func replicaID(cfg *RedisConfig) (string, error) {
	if cfg.ReplicaID != "" {
		return cfg.ReplicaID, nil
	}
	name, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("shared_state::redis::replica_id is not set and the host name is unknown: %w", err)
	}
	return name, nil
}

// openSharedState connects to Redis and loads this replica's counters. The
// client is the state's from then on: closing the state closes it.
func (r *detectifyReceiver) openSharedState(ctx context.Context, cfg *RedisConfig) error {
	replica, err := replicaID(cfg)
	if err != nil {
		return err
	}
	client, err := redisClient(ctx, cfg, r.telemetry)
	if err != nil {
		return err
	}
	s, err := state.NewRedis(ctx, r.cfg.stateConfig(), state.RedisConfig{Client: client, KeyPrefix: cfg.keyPrefix(), Replica: replica}, r.now())
	if err != nil {
		return fmt.Errorf("shared_state: %w", err)
	}
	r.state = s
	return nil
}

// redisTelemetry times the round trips to Redis. Its failures are counted
// where they cost something (stateFailed): a round trip that fails may be
// retried by go-redis, or be an answer it handles itself.
type redisTelemetry struct{ t *metadata.TelemetryBuilder }

func (h redisTelemetry) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redisTelemetry) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		h.t.ReceiverDetectifyRedisLatency.Record(ctx, time.Since(start).Seconds())
		return err
	}
}

func (h redisTelemetry) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmds)
		h.t.ReceiverDetectifyRedisLatency.Record(ctx, time.Since(start).Seconds())
		return err
	}
}
