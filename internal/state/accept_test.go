package state

import (
	"context"
	"time"

	"github.com/detectify-otel/detectifyreceiver/internal/message"
)

// Accept claims and records a body, as the receiver's handler does.
func (s *State) Accept(ctx context.Context, key Key, e *message.Event, now time.Time) (Delivery, error) {
	d, err := s.Claim(ctx, key, now)
	if err != nil {
		return Delivery{}, err
	}
	if d.Status == ClaimNew {
		err = s.Record(ctx, &d, e, now)
	}
	return d, err
}
