package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
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
// Config. The listener opens once every handle created so far has started
// (the collector starts a receiver after everything downstream of it, so
// no webhook reaches a pipeline that is not running), and a handle started
// later joins it. It closes at the first shutdown (the collector shuts
// pipelines down one at a time: none may receive while another is down),
// and opens again when the remaining handles start again.
type sharedReceiver struct {
	r *detectifyReceiver

	mu      sync.Mutex
	handles map[*receiverHandle]bool // created and not shut down
	serving bool

	hostsMu sync.Mutex
	hosts   map[*receiverHandle]component.Host // of the started handles
}

// acquire returns a handle on the receiver for cfg, creating it on first
// use. attach and detach wire the handle's pipeline in and out.
func (s *sharedReceivers) acquire(cfg *Config, set receiver.Settings, attach, detach func(*consumers)) (*receiverHandle, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	shared, ok := s.byConfig[cfg]
	if !ok {
		r, err := newDetectifyReceiver(cfg, set)
		if err != nil {
			return nil, err
		}
		shared = &sharedReceiver{r: r, handles: map[*receiverHandle]bool{}, hosts: map[*receiverHandle]component.Host{}}
		s.byConfig[cfg] = shared
	}
	h := &receiverHandle{owner: s, cfg: cfg, shared: shared, attach: attach, detach: detach}
	shared.mu.Lock()
	shared.handles[h] = true
	shared.mu.Unlock()
	return h, nil
}

// forget drops cfg's receiver once every handle is shut down, so that a new
// collector configuration gets a receiver of its own.
func (s *sharedReceivers) forget(cfg *Config, shared *sharedReceiver) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byConfig[cfg] == shared {
		delete(s.byConfig, cfg)
	}
}

// receiverHandle is the component a pipeline sees.
type receiverHandle struct {
	owner          *sharedReceivers
	cfg            *Config
	shared         *sharedReceiver
	attach, detach func(*consumers)
	started, shut  bool // guarded by shared.mu
}

func (h *receiverHandle) Start(ctx context.Context, host component.Host) error {
	s := h.shared
	s.mu.Lock()
	defer s.mu.Unlock()
	if h.started || h.shut {
		return nil
	}
	// Wired at start, not at creation: the pipeline is running now.
	s.r.setConsumers(h.attach)
	h.started = true
	s.setHost(h, host)
	if s.serving {
		return nil // joins the listener that serves already
	}
	for other := range s.handles {
		if !other.started {
			return nil // the last one to start opens the listener
		}
	}
	if err := s.r.start(ctx, host, s.reportStatus); err != nil {
		s.r.setConsumers(h.detach)
		h.started = false
		s.setHost(h, nil)
		return err
	}
	s.serving = true
	return nil
}

func (h *receiverHandle) Shutdown(ctx context.Context) error {
	s := h.shared
	s.mu.Lock()
	defer s.mu.Unlock()
	if h.shut {
		return nil
	}
	h.shut = true
	delete(s.handles, h)
	s.setHost(h, nil)
	var err error
	if s.serving {
		s.serving = false
		err = s.r.shutdown(ctx)
	}
	if h.started {
		s.r.setConsumers(h.detach)
	}
	if len(s.handles) == 0 {
		h.owner.forget(h.cfg, s)
		s.r.telemetry.Shutdown()
	}
	return err
}

func (s *sharedReceiver) setHost(h *receiverHandle, host component.Host) {
	s.hostsMu.Lock()
	defer s.hostsMu.Unlock()
	if host == nil {
		delete(s.hosts, h)
	} else {
		s.hosts[h] = host
	}
}

// reportStatus reports a status event (a serve error, the API refusing
// its key) to every started pipeline's host, as core's sharedcomponent
// does.
func (s *sharedReceiver) reportStatus(event *componentstatus.Event) {
	s.hostsMu.Lock()
	hosts := make([]component.Host, 0, len(s.hosts))
	for _, host := range s.hosts {
		hosts = append(hosts, host)
	}
	s.hostsMu.Unlock()
	for _, host := range hosts {
		componentstatus.ReportStatus(host, event)
	}
}
