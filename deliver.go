package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/zap"
)

// retryAfterSeconds is the Retry-After sent with 503: long enough for a
// memory_limiter to recover, short enough not to delay findings.
const retryAfterSeconds = "1"

const dataFormat = "json"

// deliveryResult is the answer to a request that passed every check.
type deliveryResult struct {
	status  int
	outcome outcome
	reason  string
}

// deliver emits e to every consumer that has not already settled this body
// and answers only once they returned: retryable failures give 503, so the
// sender retries and only the signals still missing are emitted again.
// key is the body's hash, zero when dedup is off.
func (r *detectifyReceiver) deliver(ctx context.Context, e event, body string, key deliveryKey, received time.Time) deliveryResult {
	done, ok := r.deliveries.begin(key, received)
	if !ok {
		return deliveryResult{status: http.StatusServiceUnavailable, outcome: outcomeRefused,
			reason: "an identical delivery is being processed; retry later"}
	}
	if done.settled == r.wantedSignals() {
		r.deliveries.finish(key, done)
		return deliveryResult{status: http.StatusOK, outcome: outcomeDuplicate}
	}

	// Deferred: a panic in a pipeline must not leave the body marked in
	// flight, or every redelivery would be turned away until a restart.
	defer func() { r.deliveries.finish(key, done) }()

	var errs [2]error
	if r.logsConsumer != nil && done.settled&signalLogs == 0 {
		errs[0] = r.consumeLogs(ctx, e, body, received)
		if settles(errs[0]) {
			done.settled |= signalLogs
		}
	}
	if r.metricsConsumer != nil && done.settled&signalMetrics == 0 {
		if !done.counted {
			done.firstOfDomain = r.metrics.record(e)
			done.counted = true
		}
		if md := r.metrics.snapshotEvent(e, done.firstOfDomain, received); md.DataPointCount() > 0 {
			errs[1] = r.consumeMetrics(ctx, md)
		}
		if settles(errs[1]) {
			done.settled |= signalMetrics
		}
	}
	return resultOf(errs[:])
}

func (r *detectifyReceiver) wantedSignals() signals {
	var s signals
	if r.logsConsumer != nil {
		s |= signalLogs
	}
	if r.metricsConsumer != nil {
		s |= signalMetrics
	}
	return s
}

// settles reports whether a consumer's answer ends the body's delivery for
// that signal: accepted, or refused for good (retrying cannot help).
func settles(err error) bool {
	return err == nil || consumererror.IsPermanent(err)
}

// resultOf maps consumer errors to a status: any retryable error is a 503,
// so the sender comes back for it; otherwise a permanent one is a 400. The
// errors themselves are logged, not answered: they can name internal hosts.
func resultOf(errs []error) deliveryResult {
	permanent := false
	for _, err := range errs {
		switch {
		case err == nil:
		case !consumererror.IsPermanent(err):
			return deliveryResult{status: http.StatusServiceUnavailable, outcome: outcomeRefused,
				reason: "the pipeline is temporarily unable to accept data; retry later"}
		default:
			permanent = true
		}
	}
	if permanent {
		return deliveryResult{status: http.StatusBadRequest, outcome: outcomeRefused,
			reason: "the pipeline refused the data for good; see the collector's log"}
	}
	return deliveryResult{status: http.StatusOK, outcome: outcomeAccepted}
}

func (r *detectifyReceiver) consumeLogs(ctx context.Context, e event, body string, received time.Time) error {
	ld := r.translator.toLogs(e, body, received)
	if ld.LogRecordCount() == 0 { // the event is disabled in the config
		return nil
	}
	ctx = r.obsrecv.StartLogsOp(ctx)
	err := r.logsConsumer.ConsumeLogs(ctx, ld)
	r.obsrecv.EndLogsOp(ctx, dataFormat, ld.LogRecordCount(), err)
	if err != nil {
		r.settings.Logger.Warn("Logs pipeline refused a Detectify webhook", zap.Error(err),
			zap.Bool("retryable", !consumererror.IsPermanent(err)))
	}
	return err
}
