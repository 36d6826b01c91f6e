package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/receiver"
)

// receivers maps each Config to the one receiver serving it, so the logs and
// the metrics pipeline of `receivers: detectify:` share a listener.
var receivers = sharedReceivers{byConfig: make(map[*Config]*sharedReceiver)}

type sharedReceivers struct {
	mu       sync.Mutex
	byConfig map[*Config]*sharedReceiver
}

// sharedReceiver is started by its first user and shut down by its last.
type sharedReceiver struct {
	*detectifyReceiver
	users     int
	startOnce sync.Once
	startErr  error
}

// acquire returns a handle on the receiver for cfg, creating it on first
// use; attach wires the caller's consumer into it.
func (s *sharedReceivers) acquire(cfg *Config, set receiver.Settings, attach func(*detectifyReceiver)) (*receiverHandle, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	shared, ok := s.byConfig[cfg]
	if !ok {
		r, err := newDetectifyReceiver(cfg, set)
		if err != nil {
			return nil, err
		}
		shared = &sharedReceiver{detectifyReceiver: r}
		s.byConfig[cfg] = shared
	}
	attach(shared.detectifyReceiver)
	shared.users++
	return &receiverHandle{owner: s, cfg: cfg, shared: shared}, nil
}

// release drops one user and reports whether it was the last.
func (s *sharedReceivers) release(cfg *Config) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	shared := s.byConfig[cfg]
	shared.users--
	if shared.users > 0 {
		return false
	}
	delete(s.byConfig, cfg)
	return true
}

// receiverHandle is the component a pipeline sees.
type receiverHandle struct {
	owner        *sharedReceivers
	cfg          *Config
	shared       *sharedReceiver
	shutdownOnce sync.Once
}

func (h *receiverHandle) Start(ctx context.Context, host component.Host) error {
	h.shared.startOnce.Do(func() { h.shared.startErr = h.shared.Start(ctx, host) })
	return h.shared.startErr
}

func (h *receiverHandle) Shutdown(ctx context.Context) error {
	var err error
	h.shutdownOnce.Do(func() {
		if h.owner.release(h.cfg) {
			err = h.shared.Shutdown(ctx)
		}
	})
	return err
}
