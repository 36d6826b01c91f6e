package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// stateKey is where the receiver keeps its state in the storage extension.
const stateKey = "detectify_state"

// stateVersion changes when persistedState changes incompatibly; a state of
// another version is ignored, as if there were none.
const stateVersion = 1

// persistedState is what survives a restart: the cumulative counts with
// their start time (so the series continue instead of resetting), the last
// scans, and the deliveries already accepted.
type persistedState struct {
	Version    int                        `json:"version"`
	StartTime  time.Time                  `json:"start_time"`
	Domains    map[string]persistedDomain `json:"domains"`
	Deliveries []persistedDelivery        `json:"deliveries"`
}

type persistedDomain struct {
	Findings map[string]int64 `json:"findings"`
	Scans    map[string]int64 `json:"scans,omitempty"`
	// LastScan holds the critical, medium and notice counts; null where the
	// last finished scan did not report one.
	LastScan [3]*int64 `json:"last_scan"`
}

type persistedDelivery struct {
	Key     []byte  `json:"key"`
	Settled signals `json:"settled"`
	Counted bool    `json:"counted,omitempty"`
	// FirstOfDomain: absent in states saved before it existed, read as false.
	FirstOfDomain bool      `json:"first_of_domain,omitempty"`
	Added         time.Time `json:"added"`
}

// stateStore reads and writes the state through a storage extension.
type stateStore struct {
	client storage.Client
}

// openStateStore returns nil when no storage extension is configured.
func openStateStore(ctx context.Context, host component.Host, storageID *component.ID, receiverID component.ID) (*stateStore, error) {
	if storageID == nil {
		return nil, nil
	}
	ext, found := host.GetExtensions()[*storageID]
	if !found {
		return nil, fmt.Errorf("storage: extension %q is not configured in service::extensions", storageID)
	}
	storageExt, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("storage: extension %q is not a storage extension", storageID)
	}
	client, err := storageExt.GetClient(ctx, component.KindReceiver, receiverID, "")
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	return &stateStore{client: client}, nil
}

// load returns the saved state, or nil when there is none to use.
func (s *stateStore) load(ctx context.Context) (*persistedState, error) {
	raw, err := s.client.Get(ctx, stateKey)
	if err != nil || raw == nil {
		return nil, err
	}
	var state persistedState
	if err := json.Unmarshal(raw, &state); err != nil {
		return nil, fmt.Errorf("stored state is unreadable: %w", err)
	}
	if state.Version != stateVersion {
		return nil, fmt.Errorf("stored state has version %d, this receiver reads %d", state.Version, stateVersion)
	}
	return &state, nil
}

func (s *stateStore) save(ctx context.Context, state *persistedState) error {
	state.Version = stateVersion
	raw, err := json.Marshal(state)
	if err != nil {
		return err
	}
	return s.client.Set(ctx, stateKey, raw)
}

func (s *stateStore) close(ctx context.Context) error {
	return s.client.Close(ctx)
}
