package detectifyreceiver

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/detectify-otel/detectifyreceiver/internal/detectifyapi"
	"github.com/detectify-otel/detectifyreceiver/internal/webhooksend"
)

const (
	apiKey    = "test-api-key"
	apiSecret = "dGVzdC1hcGktc2VjcmV0" // base64("test-api-secret")
)

// scriptedAPI is Detectify's API for one scan profile ("tok"): it checks
// the key and the signature, and answers the report's findings, or what
// the test scripted for the next requests.
type scriptedAPI struct {
	t      *testing.T
	mu     sync.Mutex
	script []func(w http.ResponseWriter) // answers for the next requests
	hold   chan struct{}                 // when set, every answer waits for it
	report map[string][]map[string]any   // findings by report token
	paths  []string
}

func newScriptedAPI(t *testing.T) (*scriptedAPI, string) {
	a := &scriptedAPI{t: t, report: map[string][]map[string]any{}}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return a, srv.URL + "/rest/v2"
}

func (a *scriptedAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.paths = append(a.paths, r.URL.RequestURI())
	var next func(http.ResponseWriter)
	if len(a.script) > 0 {
		next, a.script = a.script[0], a.script[1:]
	}
	hold := a.hold
	a.mu.Unlock()
	if hold != nil {
		<-hold
	}
	if next != nil {
		next(w)
		return
	}
	secret, _ := base64.StdEncoding.DecodeString(apiSecret)
	rel := strings.TrimPrefix(r.URL.RequestURI(), "/rest/v2")
	ts, _ := strconv.ParseInt(r.Header.Get("X-Detectify-Timestamp"), 10, 64)
	if r.Header.Get("X-Detectify-Key") != apiKey || r.Header.Get("X-Detectify-Signature") != detectifyapi.Signature(secret, "GET", rel, apiKey, ts, nil) {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/rest/v2/findings/tok/") {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	a.mu.Lock()
	list := a.report[r.URL.Query().Get("report_token")]
	a.mu.Unlock()
	_ = json.NewEncoder(w).Encode(list)
}

// answer scripts the next requests' answers.
func (a *scriptedAPI) answer(answers ...func(http.ResponseWriter)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.script = append(a.script, answers...)
}

func (a *scriptedAPI) requests() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.paths)
}

func status(code int, header ...string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
	}
}

// apiListing is what the API lists for report "s1": f0…f(n-1), high, and
// one low finding.
func apiListing(n int) []map[string]any {
	var out []map[string]any
	for i := range n {
		out = append(out, map[string]any{
			"uuid": fmt.Sprintf("f%d", i), "title": fmt.Sprintf("XSS %d", i), "severity": "high",
			"asset": map[string]any{"token": "a", "name": "api.example.com"}, "location": fmt.Sprintf("https://api.example.com/p%d", i),
			"report_token": "s1", "scan_profile_token": "tok", "tags": []any{map[string]any{"name": "new"}},
		})
	}
	return append(out, map[string]any{"uuid": "low", "title": "Cookie flag", "severity": "low", "report_token": "s1"})
}

func withAPI(endpoint string) func(*Config) {
	return func(cfg *Config) {
		cfg.API = &APIConfig{Key: apiKey, Secret: apiSecret, MaxRequestsPerMinute: 60_000}
		cfg.API.Endpoint = endpoint
	}
}

// playLimitedScan posts a classic scan of api.example.com whose webhooks
// delivered findings f0…f(delivered-1) and whose finish reports reported.
func playLimitedScan(h *harness, delivered, reported int) {
	const report = "https://detectify.com/report/tok/s1"
	h.postOK([]byte(`{"type":"event_scan_started","domain":"api.example.com","report_url":"` + report + `"}`))
	for i := range delivered {
		h.postOK([]byte(fmt.Sprintf(`{"type":"event_finding_high","domain":"api.example.com","title":"XSS %d","severity":"high","finding_url":"%s/f%d"}`, i, report, i)))
	}
	h.postOK([]byte(fmt.Sprintf(`{"type":"event_scan_finished","domain":"api.example.com","report_url":"%s","critical_findings":%d,"medium_findings":0,"notice_findings":1}`, report, reported)))
}

// eventually waits, bounded, for cond.
func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 10*time.Millisecond, msg)
}

// stepUntil moves the receiver's clock on by step and wakes the backfill
// worker until cond holds: a retry's time is counted from the clock when
// its attempt ended, which the test does not see.
func stepUntil(t *testing.T, h *harness, step time.Duration, cond func() bool, msg string) {
	t.Helper()
	eventually(t, func() bool {
		if cond() {
			return true
		}
		h.setNow(time.Unix(0, h.clock.Load()).Add(step))
		h.rcv.backfill.kick()
		return false
	}, msg)
}

func recordsFrom(h *harness, source string) []plog.LogRecord {
	var out []plog.LogRecord
	for _, lr := range h.logs.records() {
		if v, ok := lr.Attributes().Get("detectify.finding.source"); ok && v.Str() == source {
			out = append(out, lr)
		}
	}
	return out
}

func eventRecords(h *harness, name string) []plog.LogRecord {
	var out []plog.LogRecord
	for _, lr := range h.logs.records() {
		if lr.EventName() == name {
			out = append(out, lr)
		}
	}
	return out
}

func TestBackfillEmitsWhatTheWebhooksWithheld(t *testing.T) {
	api, endpoint := newScriptedAPI(t)
	api.report["s1"] = apiListing(5)
	h := newHarness(t, withAPI(endpoint))
	playLimitedScan(h, 3, 5)

	eventually(t, func() bool {
		return h.telemetrySum("otelcol_receiver_detectify_backfill_jobs", "outcome")["completed"] == 1
	}, "the backfill ends (its summary record comes first)")
	fromAPI := recordsFrom(h, "api")
	require.Len(t, fromAPI, 2, "f3 and f4: f0…f2 came by webhook, the low one is not a level fetched")
	assert.Len(t, recordsFrom(h, "webhook"), 3)
	for i, lr := range fromAPI {
		attrs := recordAttributes(lr)
		id := fmt.Sprintf("f%d", i+3)
		assert.Equal(t, "detectify.finding", lr.EventName())
		assert.Equal(t, id, attrs["detectify.finding.id"])
		assert.Equal(t, "api.example.com", attrs["detectify.domain"])
		assert.Equal(t, "s1", attrs["detectify.scan.id"])
		assert.Equal(t, "high", attrs["detectify.finding.severity"])
		assert.Equal(t, fmt.Sprintf("XSS %d", i+3), attrs["detectify.finding.title"])
		assert.Equal(t, fmt.Sprintf("https://api.example.com/p%d", i+3), attrs["detectify.finding.location"])
		assert.Equal(t, []any{"new"}, attrs["detectify.finding.tags"])
		assert.Equal(t, plog.SeverityNumberError, lr.SeverityNumber())
		var body map[string]any
		require.NoError(t, json.Unmarshal([]byte(lr.Body().Str()), &body), "the API's object is the body")
		assert.Equal(t, id, body["uuid"])
	}
	summary := recordAttributes(eventRecords(h, "detectify.scan.backfilled")[0])
	assert.Equal(t, map[string]any{"detectify.domain": "api.example.com", "detectify.scan.id": "s1",
		"detectify.scan.backfill.outcome": "completed", "detectify.scan.findings.backfilled": int64(2),
		"detectify.scan.findings.undelivered": int64(0)}, summary)

	h.flush()
	m := h.metrics.current(t)
	assert.Equal(t, 5.0, m["detectify.findings{detectify.domain=api.example.com,detectify.finding.severity=high}"], "counted once each, as Detectify's report says")
	assert.Equal(t, 2.0, m["detectify.scan.findings.backfilled{detectify.domain=api.example.com}"])
	assert.Equal(t, 0.0, m["detectify.scan.findings.undelivered{detectify.domain=api.example.com}"], "nothing is missing any more")
	assert.Equal(t, map[string]int64{"completed": 1}, h.telemetrySum("otelcol_receiver_detectify_backfill_jobs", "outcome"))
	assert.Equal(t, map[string]int64{"200": 1}, h.telemetrySum("otelcol_receiver_detectify_api_requests", "status"))

	// Detectify redelivers f4 later, in a body of its own: the backfill
	// emitted and counted it already.
	resp := h.post([]byte(`{"type":"event_finding_high","domain":"api.example.com","title":"XSS 4","severity":"high","finding_url":"https://detectify.com/report/tok/s1/f4","tags":["late"]}`))
	assert.Equal(t, http.StatusOK, resp.status)
	assert.JSONEq(t, `{"status":"duplicate"}`, resp.body)
	h.flush()
	assert.Equal(t, 5.0, h.metrics.current(t)["detectify.findings{detectify.domain=api.example.com,detectify.finding.severity=high}"])
	assert.Len(t, recordsFrom(h, "webhook"), 3)
}

func TestNoBackfillWhenNothingIsMissing(t *testing.T) {
	api, endpoint := newScriptedAPI(t)
	api.report["s1"] = apiListing(3)
	h := newHarness(t, withAPI(endpoint))
	playLimitedScan(h, 3, 3)
	h.rcv.backfill.kick()
	time.Sleep(50 * time.Millisecond) // the worker would have asked by now
	assert.Zero(t, api.requests(), "when_limited: every finding came by webhook")
	h.flush()
	_, present := h.metrics.current(t)["detectify.scan.findings.backfilled{detectify.domain=api.example.com}"]
	assert.False(t, present)
}

// Answers that end a job, and answers it waits out.
func TestBackfillFailures(t *testing.T) {
	tests := []struct {
		name         string
		answers      []func(http.ResponseWriter)
		step         time.Duration // the clock moves by it until the retry
		minWait      time.Duration // the retry comes no sooner
		wantOutcome  string
		wantRequests int
		wantAPI      int // records from the API in the end
	}{
		{name: "404 ends it", answers: []func(http.ResponseWriter){status(404)}, wantOutcome: "not_found", wantRequests: 1},
		{name: "malformed JSON ends it", answers: []func(http.ResponseWriter){func(w http.ResponseWriter) { _, _ = w.Write([]byte(`[{"uuid":`)) }},
			wantOutcome: "invalid_answer", wantRequests: 1},
		{name: "400 ends it", answers: []func(http.ResponseWriter){status(400)}, wantOutcome: "gave_up", wantRequests: 1},
		{name: "429 waits its Retry-After, then completes", answers: []func(http.ResponseWriter){status(429, "Retry-After", "120")},
			step: 5 * time.Second, minWait: 120 * time.Second, wantOutcome: "completed", wantRequests: 2, wantAPI: 2},
		{name: "500 is retried with backoff, then completes", answers: []func(http.ResponseWriter){status(500)},
			step: time.Second, minWait: backfillFirstBackoff, wantOutcome: "completed", wantRequests: 2, wantAPI: 2},
		{name: "a redirect ends it", answers: []func(http.ResponseWriter){status(302, "Location", "http://127.0.0.1:1/elsewhere")},
			wantOutcome: "gave_up", wantRequests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api, endpoint := newScriptedAPI(t)
			api.report["s1"] = apiListing(5)
			api.answer(tt.answers...)
			h := newHarness(t, withAPI(endpoint))
			playLimitedScan(h, 3, 5)
			eventually(t, func() bool { return api.requests() >= 1 }, "the first attempt")
			if tt.step > 0 {
				time.Sleep(50 * time.Millisecond)
				assert.Equal(t, 1, api.requests(), "not again before its time")
				stepUntil(t, h, tt.step, func() bool { return api.requests() == 2 }, "the retry")
				assert.GreaterOrEqual(t, time.Unix(0, h.clock.Load()).Sub(testNow), tt.minWait, "the retry came too soon")
			}
			eventually(t, func() bool {
				return h.telemetrySum("otelcol_receiver_detectify_backfill_jobs", "outcome")[tt.wantOutcome] == 1
			}, "the job ends "+tt.wantOutcome)
			assert.Equal(t, tt.wantRequests, api.requests())
			assert.Len(t, recordsFrom(h, "api"), tt.wantAPI)
			summary := eventRecords(h, "detectify.scan.backfilled")
			require.Len(t, summary, 1)
			assert.Equal(t, tt.wantOutcome, recordAttributes(summary[0])["detectify.scan.backfill.outcome"])
		})
	}
}

// A job that keeps failing gives up after its attempts, each waiting
// longer.
func TestBackfillGivesUpAfterItsAttempts(t *testing.T) {
	api, endpoint := newScriptedAPI(t)
	for range backfillAttempts {
		api.answer(status(503))
	}
	h := newHarness(t, withAPI(endpoint))
	playLimitedScan(h, 3, 5)
	eventually(t, func() bool { return api.requests() == 1 }, "attempt 1")
	for attempt := 1; attempt < backfillAttempts; attempt++ {
		stepUntil(t, h, backoff(attempt-1), func() bool { return api.requests() == attempt+1 }, "attempt "+strconv.Itoa(attempt+1))
	}
	eventually(t, func() bool {
		return h.telemetrySum("otelcol_receiver_detectify_backfill_jobs", "outcome")["gave_up"] == 1
	}, "given up")
	h.setNow(time.Unix(0, h.clock.Load()).Add(24 * time.Hour))
	h.rcv.backfill.kick()
	time.Sleep(50 * time.Millisecond)
	assert.Equal(t, backfillAttempts, api.requests(), "no request after giving up")
	assert.Equal(t, map[string]int64{"503": int64(backfillAttempts)}, h.telemetrySum("otelcol_receiver_detectify_api_requests", "status"))
}

// A refused key is said once, reported on the component and waited out:
// no retry storm. The job is not lost: once the key works, it completes.
func TestARefusedKeyPausesBackfillsAndSaysSo(t *testing.T) {
	for _, code := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			api, endpoint := newScriptedAPI(t)
			api.report["s1"] = apiListing(5)
			api.answer(status(code))
			host := &statusHost{Host: componenttest.NewNopHost()}
			h := newHarnessOn(t, host, withAPI(endpoint))
			playLimitedScan(h, 3, 5)
			eventually(t, func() bool { return len(host.reported()) > 0 }, "a status is reported")
			events := host.reported()
			require.Len(t, events, 2, "once, to each pipeline (both on this host)")
			assert.Same(t, events[0], events[1])
			assert.Equal(t, componentstatus.StatusRecoverableError, events[0].Status())
			assert.NotContains(t, events[0].Err().Error(), apiKey)

			h.setNow(testNow.Add(authPause - time.Second))
			for range 3 {
				h.rcv.backfill.kick()
				time.Sleep(20 * time.Millisecond)
			}
			assert.Equal(t, 1, api.requests(), "nothing is asked during the pause")

			h.setNow(testNow.Add(authPause))
			h.rcv.backfill.kick()
			eventually(t, func() bool { return len(recordsFrom(h, "api")) == 2 }, "completed once the key works")
			events = host.reported()
			require.Len(t, events, 4)
			assert.Equal(t, componentstatus.StatusOK, events[3].Status())
		})
	}
}

// The webhook path does not wait for the API: a finish is answered while
// the API hangs, and so are the webhooks after it.
func TestTheWebhookPathNeverWaitsForTheAPI(t *testing.T) {
	api, endpoint := newScriptedAPI(t)
	api.report["s1"] = apiListing(5)
	api.hold = make(chan struct{})
	h := newHarness(t, withAPI(endpoint))
	start := time.Now()
	playLimitedScan(h, 3, 5)
	eventually(t, func() bool { return api.requests() == 1 }, "the backfill asks")
	for i := range 20 {
		h.postOK([]byte(fmt.Sprintf(`{"type":"event_finding_high","domain":"other.example.com","title":"t%d"}`, i)))
	}
	assert.Less(t, time.Since(start), 5*time.Second)
	close(api.hold)
	eventually(t, func() bool { return len(recordsFrom(h, "api")) == 2 }, "the backfill completes after")
}

// With storage, a job pending at a crash is done after the restart.
func TestAPendingBackfillIsResumedAfterARestart(t *testing.T) {
	api, endpoint := newScriptedAPI(t)
	api.report["s1"] = apiListing(5)
	api.answer(status(503)) // the first attempt fails: pending at the crash
	store := newCrashableStorage()
	configure := func(cfg *Config) { withStorage(cfg); withAPI(endpoint)(cfg) }
	before := newHarnessOn(t, store.host(), configure)
	playLimitedScan(before, 3, 5)
	eventually(t, func() bool { return api.requests() == 1 }, "the first attempt")
	time.Sleep(50 * time.Millisecond)
	before.crash()

	after := newHarnessAt(t, store.host(), testNow.Add(time.Hour), configure)
	eventually(t, func() bool { return len(recordsFrom(after, "api")) == 2 }, "resumed after the restart")
	after.flush()
	assert.Equal(t, 5.0, after.metrics.current(t)["detectify.findings{detectify.domain=api.example.com,detectify.finding.severity=high}"])
}

// A scan Detectify cuts short, played as Detectify would send it, against
// the sender's fake API serving the scan's full findings: every finding of
// the levels fetched arrives once, and the counts equal the report.
func TestAScanCutShortIsCompletedFromTheAPI(t *testing.T) {
	for name, format := range map[string]webhooksend.Format{"classic": webhooksend.FormatClassic, "current": webhooksend.FormatCurrent} {
		t.Run(name, func(t *testing.T) {
			msgs, scans := webhooksend.Scenario(webhooksend.ScenarioOptions{Format: format,
				Domains: []string{"big.example.com"}, FindingsPerScan: 130, Seed: 17})
			scan := scans[0]
			require.Positive(t, scan.Withheld, "the scenario must hit Detectify's limits")
			fake, err := webhooksend.NewFakeAPI(apiKey, apiSecret, scans, webhooksend.FakeAPIOptions{PageSize: 40})
			require.NoError(t, err)
			srv := httptest.NewServer(fake)
			t.Cleanup(srv.Close)
			h := newHarness(t, withAPI(srv.URL+fake.BasePath()))
			h.postOK(msgs...)

			eventually(t, func() bool { return len(eventRecords(h, "detectify.scan.backfilled")) == 1 }, "the backfill ends")
			assert.Len(t, recordsFrom(h, "webhook"), scan.Sent)
			assert.Len(t, recordsFrom(h, "api"), scan.Withheld)
			ids := map[string]int{}
			for _, lr := range append(recordsFrom(h, "webhook"), recordsFrom(h, "api")...) {
				id, _ := lr.Attributes().Get("detectify.finding.id")
				ids[id.Str()]++
			}
			for _, f := range scan.Findings {
				if knownLevelFetched(f.Level) {
					assert.Equal(t, 1, ids[f.UUID], "finding %s (%s, sent %v) once", f.UUID, f.Level, f.Sent)
				}
			}
			h.flush()
			var counted float64
			for series, v := range h.metrics.current(t) {
				if strings.HasPrefix(series, "detectify.findings{detectify.domain=big.example.com,") {
					counted += v
				}
			}
			assert.Equal(t, float64(scan.Found.Reported()), counted, "the counts equal Detectify's report")
			assert.Equal(t, 0.0, h.metrics.current(t)["detectify.scan.findings.undelivered{detectify.domain=big.example.com}"])
			assert.Equal(t, float64(scan.Withheld), h.metrics.current(t)["detectify.scan.findings.backfilled{detectify.domain=big.example.com}"])
			assert.Zero(t, fake.SignatureFailures())
		})
	}
}

func knownLevelFetched(level string) bool {
	return level == "critical" || level == "high" || level == "medium"
}

// Findings counted whose records the logs pipeline refuses for now are
// emitted by the next attempt, not counted again.
func TestBackfilledRecordsRefusedForNowAreEmittedByTheNextAttempt(t *testing.T) {
	api, endpoint := newScriptedAPI(t)
	api.report["s1"] = apiListing(5)
	api.hold = make(chan struct{})
	h := newHarness(t, withAPI(endpoint))
	playLimitedScan(h, 3, 5)
	eventually(t, func() bool { return api.requests() == 1 }, "the backfill asks")
	h.logs.set(errors.New("pipeline full")) // retryable
	close(api.hold)
	eventually(t, func() bool { return h.logs.callCount() > 5 }, "the refused emission")
	stepUntil(t, h, time.Second, func() bool { return len(recordsFrom(h, "api")) == 2 }, "emitted by the next attempt")
	assert.Equal(t, 2, api.requests())
	h.flush()
	assert.Equal(t, 5.0, h.metrics.current(t)["detectify.findings{detectify.domain=api.example.com,detectify.finding.severity=high}"], "counted once")
	eventually(t, func() bool {
		return h.telemetrySum("otelcol_receiver_detectify_backfill_jobs", "outcome")["completed"] == 1
	}, "the job counted completed once it ends")
}

// A shutdown while the API answers releases the job as it was: the next
// start takes it at once, without an attempt spent.
func TestAShutdownMidBackfillReleasesTheJob(t *testing.T) {
	api, endpoint := newScriptedAPI(t)
	api.report["s1"] = apiListing(5)
	api.hold = make(chan struct{})
	store := newCrashableStorage()
	configure := func(cfg *Config) { withStorage(cfg); withAPI(endpoint)(cfg) }
	before := newHarnessOn(t, store.host(), configure)
	playLimitedScan(before, 3, 5)
	eventually(t, func() bool { return api.requests() == 1 }, "the backfill asks")
	before.shutdown() // the request is cancelled with the receiver's context
	close(api.hold)   // every answer from now on, at once

	after := newHarnessAt(t, store.host(), testNow, configure) // the same clock: no retry time has passed
	eventually(t, func() bool { return len(recordsFrom(after, "api")) == 2 }, "taken at once after the restart")
	assert.Empty(t, recordsFrom(before, "api"))
}
