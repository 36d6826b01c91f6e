package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/detectify-otel/detectifyreceiver/internal/detectifyapi"
	"github.com/detectify-otel/detectifyreceiver/internal/message"
	"github.com/detectify-otel/detectifyreceiver/internal/state"
)

// Timing of the backfill.
const (
	// backfillPoll is how often due backfills are looked for when no
	// finish woke the worker (a retry's time, another replica's job).
	backfillPoll = time.Second
	// backfillBatch bounds the jobs taken at one look.
	backfillBatch = 16
	// backfillLease is how long a worker holds a job; a replica that died
	// holding one is taken over after it.
	backfillLease = 30 * time.Second
	// backfillAttempts bounds the failed attempts of a job (rate limited,
	// server errors, no answer) before it gives up.
	backfillAttempts = 8
	// backfillFirstBackoff doubles with each failed attempt, up to
	// backfillMaxBackoff: about 40 minutes from the first to the last.
	backfillFirstBackoff = 10 * time.Second
	backfillMaxBackoff   = 15 * time.Minute
	// maxRetryAfter caps the wait an answer may ask for.
	maxRetryAfter = time.Hour
	// authPause is how long backfills wait after the API refused the key
	// (401, 403) before one request tries it again: no retry storm.
	authPause = 10 * time.Minute
)

// Outcomes of otelcol_receiver_detectify_backfill_jobs and of
// detectify.scan.backfill.outcome.
const (
	backfillCompleted     = "completed"
	backfillRefused       = "refused"
	backfillNotFound      = "not_found"
	backfillInvalidAnswer = "invalid_answer"
	backfillGaveUp        = "gave_up"
	// backfillDropped: the scan was forgotten before its job ended
	// (telemetry only: there is no scan left to report on).
	backfillDropped = "dropped"
)

// backfiller fetches from Detectify's API the findings that a finished
// scan's webhooks did not deliver, and emits them as finding records. It
// runs beside the webhook path, never on it: a finish only queues a job in
// the state (saved, shared by replicas) and wakes it.
type backfiller struct {
	r     *detectifyReceiver
	api   *detectifyapi.Client
	http  *http.Client
	owner string // this worker, in the jobs it holds
	lease time.Duration
	wake  chan struct{}
	done  sync.WaitGroup

	// Only the worker's goroutine uses these.
	pausedUntil time.Time // the API refused the key or asked to wait: nothing before
	refused     bool      // the API refused the key last
	warned      time.Time // the last warning that the state could not be read
}

func newBackfiller(ctx context.Context, r *detectifyReceiver, host component.Host) (*backfiller, error) {
	a := r.cfg.API
	httpCfg := a.httpClientConfig()
	httpClient, err := httpCfg.ToClient(ctx, host.GetExtensions(), r.settings.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	levels := map[string]bool{}
	for _, l := range a.levels() {
		levels[strings.ToLower(l)] = true
	}
	api, err := detectifyapi.New(detectifyapi.Config{
		Endpoint: httpCfg.Endpoint, Key: string(a.Key), Secret: string(a.Secret), HTTP: httpClient,
		RequestsPerMinute: a.requestsPerMinute(), MaxFindings: a.maxFindings(),
		Observe: r.countAPIAnswer,
		// The bound on findings counts only those of the levels fetched.
		Keep: func(obj json.RawMessage) bool {
			e, err := parseAPIFinding(obj, state.BackfillJob{})
			return err == nil && levels[e.Level]
		},
	})
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	return &backfiller{r: r, api: api, http: httpClient, owner: hex.EncodeToString(id[:]), lease: backfillLease,
		wake: make(chan struct{}, 1)}, nil
}

// stop waits for the worker to end (its context was cancelled) until ctx
// ends, and closes the API client's idle connections.
func (b *backfiller) stop(ctx context.Context) bool {
	stopped := waitUntil(ctx, &b.done)
	b.http.CloseIdleConnections()
	return stopped
}

// start runs the worker until ctx ends.
func (b *backfiller) start(ctx context.Context) {
	b.done.Add(1)
	go func() {
		defer b.done.Done()
		poll := time.NewTicker(backfillPoll)
		defer poll.Stop()
		for {
			b.runDue(ctx)
			select {
			case <-ctx.Done():
				return
			case <-b.wake:
			case <-poll.C:
			}
		}
	}()
}

// kick wakes the worker: a finish queued a job. It never blocks.
func (b *backfiller) kick() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// runDue takes and runs the jobs due now, one at a time: the API's rate
// limit is the pace anyway.
func (b *backfiller) runDue(ctx context.Context) {
	now := b.r.now()
	if now.Before(b.pausedUntil) {
		return
	}
	ids, err := b.r.state.DueBackfills(ctx, now, backfillBatch)
	if err != nil {
		// Looked for every second: said once a minute while it lasts.
		if ctx.Err() == nil && now.Sub(b.warned) >= time.Minute {
			b.warned = now
			b.r.stateFailed(ctx, "Could not look for Detectify scans to complete from the API", err)
		}
		return
	}
	for _, id := range ids {
		if ctx.Err() != nil || b.r.now().Before(b.pausedUntil) {
			return
		}
		job, taken, err := b.r.state.TakeBackfill(ctx, id, b.owner, b.r.now(), b.lease)
		if err != nil {
			b.r.stateFailed(ctx, "Could not take a Detectify scan to complete from the API", err)
			return
		}
		if taken {
			b.run(ctx, job)
		}
	}
}

// run does one attempt of a job: list the scan's findings, count those no
// webhook delivered, emit them, and end the attempt.
func (b *backfiller) run(ctx context.Context, job state.BackfillJob) {
	log := b.r.settings.Logger.With(zap.String("domain", job.Domain), zap.String("scan", job.ScanID))
	// The hold is renewed before each page: a long listing is not taken
	// over by another replica while this one is alive.
	renew := func() error { return b.r.state.RenewBackfill(ctx, job, b.r.now(), b.lease) }
	listing, err := b.api.Findings(ctx, job.Profile, job.ScanID, renew)
	if !job.Counted { // said once, by the attempt that counts
		if listing.Truncated > 0 {
			b.r.telemetry.ReceiverDetectifyBackfillFindingsTruncated.Add(ctx, int64(listing.Truncated))
			log.Warn("The Detectify API listed more findings for the scan than are read (api::max_findings_per_scan, or too large); the rest are not read",
				zap.Int("max_findings_per_scan", b.r.cfg.API.maxFindings()), zap.Int("not_read", listing.Truncated))
		}
		if listing.Incomplete {
			log.Warn("The Detectify API's listing of the scan had more pages than are read; the rest are not read")
		}
	}
	if err != nil {
		b.failed(ctx, job, err, log)
		return
	}
	b.keyAccepted(log)
	findings, records := b.parse(job, listing.Findings, log)
	emit, err := b.r.state.CountBackfill(ctx, job, findings, b.r.now())
	if err != nil {
		b.stateFailed(ctx, job, err)
		return
	}
	logs := b.r.translator.apiFindingLogs(records, emit, b.r.now())
	logsErr := b.r.consumeLogs(ctx, logs)
	switch {
	case logsErr != nil && ctx.Err() != nil:
		// Stopping: counted, so the next start emits them, uncounted.
		b.end(context.WithoutCancel(ctx), job, state.BackfillEndRelease, b.r.now())
		return
	case logsErr != nil && !consumererror.IsPermanent(logsErr) && job.Attempts+1 < backfillAttempts:
		// Counted: the next attempt emits the same findings, uncounted.
		b.end(ctx, job, state.BackfillEndRetry, b.r.now().Add(backoff(job.Attempts)))
		return
	case logsErr != nil && !consumererror.IsPermanent(logsErr):
		log.Warn("Gave up emitting the findings fetched from the Detectify API: the logs pipeline kept refusing them; they are counted, not emitted",
			zap.Int("findings", len(emit)), zap.Error(logsErr))
		if b.end(ctx, job, state.BackfillEndGiveUp, time.Time{}) {
			b.ended(ctx, job, backfillGaveUp, log)
		}
		return
	}
	outcome := backfillCompleted
	if logsErr != nil {
		outcome = backfillRefused
	}
	if b.end(ctx, job, state.BackfillEndDone, time.Time{}) {
		b.ended(ctx, job, outcome, log)
	}
}

// parse reads the API's finding objects as current-format findings of the
// job's scan (the client kept those of the levels fetched).
func (b *backfiller) parse(job state.BackfillJob, raw []json.RawMessage, log *zap.Logger) ([]state.BackfillFinding, []apiFinding) {
	findings := make([]state.BackfillFinding, 0, len(raw))
	records := make([]apiFinding, 0, len(raw))
	for _, obj := range raw {
		e, err := parseAPIFinding(obj, job)
		if err != nil {
			log.Debug("A finding the Detectify API listed is not a JSON object; it is left out", zap.Error(err))
			continue
		}
		findings = append(findings, state.BackfillFinding{Keys: state.FindingKeys(e.FindingID, e.Title, e.Location, e.Level), Level: e.Level})
		records = append(records, apiFinding{event: e, body: string(obj)})
	}
	return findings, records
}

// failed ends an attempt whose listing failed: the key refused pauses
// every job; a scan the API does not know, or an answer it cannot read,
// ends the job; anything else is retried with backoff until it gives up.
func (b *backfiller) failed(ctx context.Context, job state.BackfillJob, err error, log *zap.Logger) {
	now := b.r.now()
	var status *detectifyapi.StatusError
	switch {
	case ctx.Err() != nil:
		b.end(context.WithoutCancel(ctx), job, state.BackfillEndRelease, now) // shutting down: the next start resumes it
	case errors.Is(err, state.ErrClaimLost), errors.Is(err, state.ErrBackfillGone):
		b.stateFailed(ctx, job, err) // renewing the hold found it lost
	case errors.As(err, &status) && status.Code == http.StatusUnauthorized:
		// The key itself: every job waits, none is given up for it.
		b.keyRefused(status, log)
		b.end(ctx, job, state.BackfillEndRelease, b.pausedUntil)
	case errors.As(err, &status) && status.Unauthorized() && job.Attempts+1 < backfillAttempts:
		// 403 may be this profile's only: an attempt, so the job ends.
		b.keyRefused(status, log)
		b.end(ctx, job, state.BackfillEndRetry, b.pausedUntil)
	case errors.As(err, &status) && status.Unauthorized():
		b.giveUp(ctx, job, backfillGaveUp, err, log)
	case errors.As(err, &status) && status.Code == http.StatusNotFound:
		b.keyAccepted(log)
		b.giveUp(ctx, job, backfillNotFound, err, log)
	case errors.Is(err, detectifyapi.ErrInvalidAnswer):
		b.giveUp(ctx, job, backfillInvalidAnswer, err, log)
	case errors.As(err, &status) && !status.Retryable():
		b.giveUp(ctx, job, backfillGaveUp, err, log)
	case job.Attempts+1 >= backfillAttempts:
		b.giveUp(ctx, job, backfillGaveUp, err, log)
	default:
		wait := backoff(job.Attempts)
		if status != nil {
			b.keyAccepted(log) // an answer other than 401/403: the key works
			asked := min(status.RetryAfter, maxRetryAfter)
			wait = max(wait, asked)
			if status.Code == http.StatusTooManyRequests {
				b.pausedUntil = now.Add(asked) // every job waits what the API asked
			}
		}
		log.Info("The Detectify API could not list the scan's findings; trying again", zap.Error(err),
			zap.Duration("in", wait), zap.Int("attempt", job.Attempts+1))
		b.end(ctx, job, state.BackfillEndRetry, now.Add(wait))
	}
}

// keyRefused pauses every backfill after a 401 or 403, and says so once.
func (b *backfiller) keyRefused(status *detectifyapi.StatusError, log *zap.Logger) {
	b.pausedUntil = b.r.now().Add(authPause)
	if b.refused {
		return
	}
	b.refused = true
	problem := "the key, its secret or the request's timestamp is not accepted (check api::key, api::secret and this host's clock)"
	if status.Code == http.StatusForbidden {
		problem = "the key may not read findings (give it that permission in Detectify)"
	}
	log.Error("Detectify's API refused the API key: "+problem+"; backfills wait and try again every "+authPause.String(),
		zap.Int("status", status.Code))
	b.r.reportStatus(componentstatus.NewRecoverableErrorEvent(fmt.Errorf("detectify api: %d: %s", status.Code, problem)))
}

// keyAccepted ends a pause for a refused key.
func (b *backfiller) keyAccepted(log *zap.Logger) {
	if !b.refused {
		return
	}
	b.refused = false
	log.Info("Detectify's API accepts the API key again; backfills go on")
	b.r.reportStatus(componentstatus.NewEvent(componentstatus.StatusOK))
}

func (b *backfiller) giveUp(ctx context.Context, job state.BackfillJob, outcome string, err error, log *zap.Logger) {
	log.Warn("Gave up completing a Detectify scan from the API: its withheld findings stay missing",
		zap.String("outcome", outcome), zap.Error(err), zap.Int("attempts", job.Attempts+1))
	if b.end(ctx, job, state.BackfillEndGiveUp, time.Time{}) {
		b.ended(ctx, job, outcome, log)
	}
}

// end ends the attempt in the state; false when it could not (another
// worker took the job over, or the state is unavailable).
func (b *backfiller) end(ctx context.Context, job state.BackfillJob, end state.BackfillEnd, retryAt time.Time) bool {
	if err := b.r.state.EndBackfill(ctx, job, end, retryAt, b.r.now()); err != nil {
		b.stateFailed(ctx, job, err)
		return false
	}
	return true
}

func (b *backfiller) stateFailed(ctx context.Context, job state.BackfillJob, err error) {
	switch {
	case errors.Is(err, state.ErrClaimLost):
		b.r.settings.Logger.Info("Another replica took over a Detectify scan's backfill", zap.String("scan", job.ScanID))
		return
	case errors.Is(err, state.ErrBackfillGone):
		b.r.settings.Logger.Warn("A Detectify scan was forgotten before its backfill ended (max_open_scans); its withheld findings stay missing",
			zap.String("domain", job.Domain), zap.String("scan", job.ScanID))
		b.r.telemetry.ReceiverDetectifyBackfillJobs.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", backfillDropped))))
		return
	}
	b.r.stateFailed(ctx, "Could not record a Detectify scan's backfill; it is tried again", err)
}

// ended counts a job that ended and emits its summary record.
func (b *backfiller) ended(ctx context.Context, job state.BackfillJob, outcome string, log *zap.Logger) {
	summary, err := b.r.state.BackfillSummary(ctx, job)
	if err != nil {
		b.r.stateFailed(ctx, "Could not read a Detectify scan's backfill", err)
	}
	if outcome == backfillCompleted {
		log.Info("Completed a Detectify scan from the API", zap.Int64p("backfilled", summary.Backfilled), zap.Int64p("still_missing", summary.Undelivered))
	}
	if err := b.r.consumeLogs(ctx, b.r.translator.backfilledLogs(job, outcome, summary, b.r.now())); err != nil {
		log.Debug("The summary of a Detectify scan's backfill was not accepted", zap.Error(err))
	}
	b.r.telemetry.ReceiverDetectifyBackfillJobs.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", outcome))))
}

// countAPIAnswer counts a request to the API by its answer; 0 is none.
func (r *detectifyReceiver) countAPIAnswer(ctx context.Context, code int) {
	status := "error"
	if code > 0 {
		status = strconv.Itoa(code)
	}
	r.telemetry.ReceiverDetectifyAPIRequests.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(attribute.String("status", status))))
}

// backoff is the wait after attempt n (from 0) failed.
func backoff(n int) time.Duration {
	d := backfillFirstBackoff
	for range n {
		if d >= backfillMaxBackoff {
			break
		}
		d *= 2
	}
	return min(d, backfillMaxBackoff)
}

// apiFinding is a finding the API listed, read as a current-format
// finding of its scan, with the API's object as its body.
type apiFinding struct {
	event message.Event
	body  string
}

// parseAPIFinding reads an API finding object as the subject of a
// current-format finding message, so that its record has a webhook
// finding's attributes, and gives it the job's domain and scan: its
// counts then go to the same series as the scan's webhooks.
func parseAPIFinding(obj json.RawMessage, job state.BackfillJob) (message.Event, error) {
	envelope := make([]byte, 0, len(obj)+40)
	envelope = append(envelope, `{"event_type":"finding","finding":`...)
	envelope = append(envelope, obj...)
	envelope = append(envelope, '}')
	e, err := message.Parse(envelope)
	if err != nil {
		return message.Event{}, err
	}
	if e.Kind != message.KindFinding {
		return message.Event{}, errors.New("not a finding object")
	}
	e.SetScan(job.Domain, job.ScanID)
	return e, nil
}
