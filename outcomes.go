package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/detectify-otel/detectifyreceiver/internal/metadata"
)

// outcome is how a webhook request was answered, the `outcome` attribute
// of otelcol_receiver_detectify_requests.
type outcome int

const (
	outcomeAccepted     outcome = iota // 200, emitted
	outcomeDuplicate                   // 200, already emitted within dedup_window
	outcomeUnauthorized                // 401, signature missing or wrong
	outcomeMalformed                   // 400 or 415, not a JSON object
	outcomeTooLarge                    // 413, over max_request_body_size
	outcomeRefused                     // 503 or 400, a consumer refused it
	outcomeStale                       // 400, outside max_message_age
	outcomeCount
)

var outcomeNames = [outcomeCount]string{"accepted", "duplicate", "unauthorized", "malformed", "too_large", "refused", "stale"}

func (o outcome) String() string { return outcomeNames[o] }

// outcomeCounter counts requests by outcome with attribute sets built once,
// so counting costs no allocation on the request path.
type outcomeCounter struct {
	counter metric.Int64Counter
	options [outcomeCount][]metric.AddOption
}

func newOutcomeCounter(tb *metadata.TelemetryBuilder) outcomeCounter {
	c := outcomeCounter{counter: tb.ReceiverDetectifyRequests}
	for o := range outcomeCount {
		c.options[o] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", o.String())))}
	}
	return c
}

func (c outcomeCounter) add(ctx context.Context, o outcome) {
	c.counter.Add(ctx, 1, c.options[o]...)
}
