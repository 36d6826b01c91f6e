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

// sharedReceiver is the receiver behind every handle created from one
// Config. The collector starts a receiver after everything downstream of it
// and shuts it down before, one pipeline at a time. So the listener opens
// when the last handle starts (no webhook reaches a pipeline that is not
// running yet) and closes at the first shutdown (none reaches a pipeline
// that is shutting down).
type sharedReceiver struct {
	*detectifyReceiver

	mu       sync.Mutex
	handles  int // created from the Config
	started  int // of those, started
	stopped  bool
	startErr error
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
	shared.mu.Lock()
	defer shared.mu.Unlock()
	attach(shared.detectifyReceiver)
	shared.handles++
	return &receiverHandle{owner: s, cfg: cfg, shared: shared}, nil
}

// forget drops cfg's receiver once the collector is done with it, so that a
// new collector configuration gets a receiver of its own.
func (s *sharedReceivers) forget(cfg *Config, shared *sharedReceiver) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byConfig[cfg] == shared {
		delete(s.byConfig, cfg)
	}
}

// receiverHandle is the component a pipeline sees.
type receiverHandle struct {
	owner        *sharedReceivers
	cfg          *Config
	shared       *sharedReceiver
	started      bool
	shutdownOnce sync.Once
}

func (h *receiverHandle) Start(ctx context.Context, host component.Host) error {
	s := h.shared
	s.mu.Lock()
	defer s.mu.Unlock()
	if h.started || s.stopped {
		return nil
	}
	h.started = true
	s.started++
	if s.started == s.handles {
		s.startErr = s.detectifyReceiver.Start(ctx, host)
	}
	return s.startErr
}

func (h *receiverHandle) Shutdown(ctx context.Context) error {
	var err error
	h.shutdownOnce.Do(func() {
		s := h.shared
		h.owner.forget(h.cfg, s)
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.stopped {
			s.stopped = true
			err = s.detectifyReceiver.Shutdown(ctx)
		}
	})
	return err
}
