package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/detectify-otel/detectifyreceiver/internal/message"
	"github.com/detectify-otel/detectifyreceiver/internal/state"
)

const dataFormat = "json"

// routes answers POST on path, GET on health_path, 405 with an Allow header
// for other methods on those paths (ServeMux does that) and 404 elsewhere.
func (r *detectifyReceiver) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+exactPattern(r.cfg.Path), r.handleWebhook)
	if r.cfg.HealthPath != "" {
		mux.HandleFunc("GET "+exactPattern(r.cfg.HealthPath), r.handleHealth)
	}
	return mux
}

// exactPattern makes a ServeMux pattern match path only: a trailing slash
// would otherwise match the whole subtree.
func exactPattern(path string) string {
	if strings.HasSuffix(path, "/") {
		return path + "{$}"
	}
	return path
}

// handleHealth answers 200 while the receiver can take webhooks: with
// shared_state, while Redis answers, so that a load balancer routes around
// a replica that cannot.
func (r *detectifyReceiver) handleHealth(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := context.WithTimeout(req.Context(), healthTimeout)
	defer cancel()
	if err := r.state.Healthy(ctx); err != nil {
		r.settings.Logger.Debug("Health check: the state is unavailable", zap.Error(err))
		answerUnhealthy.write(w)
		return
	}
	answerHealthy.write(w)
}

// healthTimeout bounds the health check's look at the state.
const healthTimeout = 2 * time.Second

func (r *detectifyReceiver) handleWebhook(w http.ResponseWriter, req *http.Request) {
	r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	a := r.processWebhook(req)
	r.outcomes.add(req.Context(), a.outcome)
	a.write(w)
}

// processWebhook is the whole per-webhook path, top to bottom, in three
// calls: admit, record, emit. They are calls in turn, not nested, so the
// checks' frame is gone by the time the state's rules run, and the
// parser's by the time the pipeline does (docs/PERFORMANCE.md, sixth
// session).
func (r *detectifyReceiver) processWebhook(req *http.Request) answer {
	sc := scratches.Get().(*scratch)
	defer sc.release()
	if a, admitted := r.admit(req, sc); !admitted {
		return a
	}
	defer r.releaseOnPanic(req.Context(), &sc.delivery, sc.received)
	if a, recorded := r.record(req, sc); !recorded {
		return a
	}
	return r.emit(req.Context(), sc)
}

// admit runs the checks in order of cost (size, then the signature before
// any parsing, so that a forged request costs one HMAC), then claims the
// body: a redelivery is answered without being parsed again. An admitted
// webhook's body, receipt and claim are in sc.
func (r *detectifyReceiver) admit(req *http.Request, sc *scratch) (answer, bool) {
	ctx := req.Context()
	if req.ContentLength > r.cfg.MaxRequestBodySize {
		return r.refuse(req, answerTooLarge, nil), false
	}
	body, err := readBody(req, &sc.buf)
	if err != nil {
		if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
			return r.refuse(req, answerTooLarge, nil), false
		}
		return r.refuse(req, answerUnreadable, err), false
	}
	if r.verifier != nil {
		if err := r.verifier.verify(req.Header.Values(signatureHeader), body); err != nil {
			return r.refuse(req, signatureAnswers[err], nil), false
		}
	}
	received := r.now()
	if !isJSONContentType(req.Header.Get("Content-Type")) {
		return r.refuse(req, answerContentType, nil), false
	}
	if !utf8.Valid(body) {
		return r.refuse(req, answerNotUTF8, nil), false
	}
	var key state.Key
	if r.cfg.DedupWindow > 0 {
		key = state.KeyOf(body)
	}
	d := &sc.delivery
	if err := r.state.ClaimInto(ctx, key, received, d); err != nil {
		return r.stateUnavailable(ctx, err), false
	}
	switch d.Status {
	case state.ClaimBusy:
		return answerInFlight, false
	case state.ClaimDuplicate:
		// Answered once the memory of it is durable, like the first answer.
		if err := r.state.Sync(ctx); err != nil {
			return r.stateUnavailable(ctx, err), false
		}
		return answerDuplicate, false
	}
	sc.body, sc.received = body, received
	return answer{}, true
}

// record parses an admitted webhook and records it in the state. A
// recorded webhook's Event and Insight are in sc.
func (r *detectifyReceiver) record(req *http.Request, sc *scratch) (answer, bool) {
	ctx, d, received := req.Context(), &sc.delivery, sc.received
	// The record's body is the text as signed: Parse may rewrite the
	// body's white space.
	sc.text = string(sc.body)
	e := &sc.event
	if err := message.ParseInto(sc.body, sc.text, e); err != nil {
		// Released: the same body will be refused the same way.
		_ = r.state.Settle(ctx, d, false, received)
		return r.refuse(req, parseAnswer(err), err), false
	}
	if a, fresh := freshness(e, r.cfg.MaxMessageAge, received); !fresh {
		// Released, like a body that does not parse: nothing is left in flight.
		_ = r.state.Settle(ctx, d, false, received)
		return r.refuse(req, a, nil), false
	}
	if len(e.InvalidFields) > 0 {
		r.settings.Logger.Debug("Detectify webhook has fields of an unexpected type; they are kept in the body only",
			zap.Strings("fields", e.InvalidFields))
	}
	if err := r.state.Record(ctx, d, e, received); err != nil {
		return r.stateUnavailable(ctx, err), false
	}
	if d.Insight.FromAPI {
		// The scan's API backfill emitted and counted this finding.
		return r.settleDuplicate(ctx, d, received), false
	}
	if d.Insight.BackfillQueued && r.backfill != nil {
		r.backfill.kick()
	}
	return answer{}, true
}

// emit sends a recorded webhook's log record, settles its claim, and
// makes that durable before answering.
func (r *detectifyReceiver) emit(ctx context.Context, sc *scratch) answer {
	d, received := &sc.delivery, sc.received
	logsErr := r.consumeLogs(ctx, r.translator.webhookLogs(&sc.event, d.Insight, sc.text, received))
	settled := logsErr == nil || consumererror.IsPermanent(logsErr)
	if err := r.state.Settle(ctx, d, settled, received); err != nil {
		// The record went out; only a redelivery could send it again.
		r.settings.Logger.Warn("Could not remember a delivered Detectify webhook", zap.Error(err))
	}
	if err := r.state.Sync(ctx); err != nil {
		return r.stateUnavailable(ctx, err)
	}
	switch {
	case logsErr == nil:
		return answerAccepted
	case consumererror.IsPermanent(logsErr):
		return answerRefused
	default:
		return answerRetry
	}
}

// settleDuplicate answers a webhook whose finding is already delivered,
// once that is durable.
func (r *detectifyReceiver) settleDuplicate(ctx context.Context, d *state.Delivery, received time.Time) answer {
	if err := r.state.Settle(ctx, d, true, received); err != nil {
		r.settings.Logger.Warn("Could not remember a delivered Detectify webhook", zap.Error(err))
	}
	if err := r.state.Sync(ctx); err != nil {
		return r.stateUnavailable(ctx, err)
	}
	return answerDuplicate
}

// releaseOnPanic releases a claim when what follows it panics (the parser,
// the rules, the pipeline) before the panic goes on to net/http, or every
// redelivery would be turned away as in flight until the process restarts.
func (r *detectifyReceiver) releaseOnPanic(ctx context.Context, d *state.Delivery, received time.Time) {
	if p := recover(); p != nil {
		_ = r.state.Settle(context.WithoutCancel(ctx), d, false, received)
		panic(p)
	}
}

// refuse answers a request that failed a check. err, when there is one, is
// logged at debug level: it may quote the body or name addresses.
func (r *detectifyReceiver) refuse(req *http.Request, a answer, err error) answer {
	// Check first: a flood of forgeries must not pay for fields nobody logs.
	if ce := r.settings.Logger.Check(zap.DebugLevel, "Refused a Detectify webhook"); ce != nil {
		ce.Write(zap.Int("status", a.status), zap.String("reason", a.reason), zap.String("remote", req.RemoteAddr), zap.Error(err))
	}
	return a
}

func (r *detectifyReceiver) stateUnavailable(ctx context.Context, err error) answer {
	r.stateFailed(ctx, "Detectify receiver state unavailable; the webhook will be retried", err)
	return answerStateDown
}

// stateFailed logs a failure of the state that a webhook or a periodic task
// pays for, and counts it when the state is in Redis: the failures users
// alert on, not every failed round trip (go-redis retries, and answers such
// as NOSCRIPT that it handles itself).
func (r *detectifyReceiver) stateFailed(ctx context.Context, msg string, err error) {
	r.settings.Logger.Warn(msg, zap.Error(err))
	if r.cfg.SharedState.Redis != nil {
		r.telemetry.ReceiverDetectifyRedisErrors.Add(ctx, 1)
	}
}

var signatureAnswers = map[error]answer{
	errSignatureMissing:   answerSigMissing,
	errSignatureAmbiguous: answerSigAmbiguous,
	errSignatureEncoding:  answerSigEncoding,
	errSignatureMismatch:  answerSigMismatch,
}

func parseAnswer(err error) answer {
	switch {
	case errors.Is(err, message.ErrNotObject):
		return answerNotObject
	case errors.Is(err, message.ErrDuplicateKey):
		return answerDuplicateKey
	default:
		return answerInvalidJSON
	}
}

// isJSONContentType accepts JSON media types, text/plain (some senders label
// JSON so) and no Content-Type at all.
func isJSONContentType(contentType string) bool {
	if contentType == "" || contentType == "application/json" { // what Detectify sends: no parsing
		return true
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mediaType == "application/json" || strings.HasSuffix(mediaType, "+json") || mediaType == "text/plain"
}

// consumeLogs sends ld to the logs pipeline; empty logs (no logs pipeline,
// or the event switched off) are not sent.
func (r *detectifyReceiver) consumeLogs(ctx context.Context, ld plog.Logs) error {
	next := r.consumers.Load().logs
	if next == nil || ld.LogRecordCount() == 0 {
		return nil
	}
	ctx = r.obsrecv.StartLogsOp(ctx)
	err := next.ConsumeLogs(ctx, ld)
	r.obsrecv.EndLogsOp(ctx, dataFormat, ld.LogRecordCount(), err)
	if err != nil {
		r.settings.Logger.Warn("Logs pipeline refused Detectify records", zap.Error(err),
			zap.Bool("retryable", !consumererror.IsPermanent(err)))
	}
	return err
}
