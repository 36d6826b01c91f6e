package state

import (
	"context"
	"time"

	"github.com/detectify-otel/detectifyreceiver/internal/message"
)

// Claim is ClaimInto returning the Delivery, for tests.
func (s *State) Claim(ctx context.Context, key Key, now time.Time) (Delivery, error) {
	var d Delivery
	err := s.ClaimInto(ctx, key, now, &d)
	return d, err
}

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
