package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// storageClient returns the client of the storage extension named by
// `storage:`, for this receiver.
func storageClient(ctx context.Context, host component.Host, storageID, receiverID component.ID) (storage.Client, error) {
	ext, found := host.GetExtensions()[storageID]
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
	return client, nil
}
