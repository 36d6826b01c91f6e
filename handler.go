package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"

	"go.uber.org/zap"
)

// routes answers POST on path, GET on health_path, 405 with an Allow header
// for other methods on those paths (ServeMux does that) and 404 elsewhere.
func (r *detectifyReceiver) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+exactPattern(r.cfg.Path), r.handleWebhook)
	if r.cfg.HealthPath != "" {
		mux.HandleFunc("GET "+exactPattern(r.cfg.HealthPath), handleHealth)
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

func handleHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, `{"status":"ok"}`)
}

// handleWebhook checks a request in order of cost: size, signature (before
// any parsing, so forged bodies cost one HMAC), content type, then JSON.
func (r *detectifyReceiver) handleWebhook(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()

	if req.ContentLength > r.cfg.MaxRequestBodySize {
		r.reject(w, req, http.StatusRequestEntityTooLarge, outcomeTooLarge, r.tooLargeReason())
		return
	}
	buf, err := readBody(req)
	defer releaseBody(buf)
	body := buf.Bytes()
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			r.reject(w, req, http.StatusRequestEntityTooLarge, outcomeTooLarge, r.tooLargeReason())
		} else {
			r.reject(w, req, http.StatusBadRequest, outcomeMalformed, "could not read the body: "+err.Error())
		}
		return
	}
	if r.verifier != nil {
		if err = r.verifier.verify(req.Header.Values(signatureHeader), body); err != nil {
			r.reject(w, req, http.StatusUnauthorized, outcomeUnauthorized, err.Error())
			return
		}
	}
	// Received once the body is in and verified: a forged request does not
	// pay for the clock.
	received := r.now()
	if !isJSONContentType(req.Header.Get("Content-Type")) {
		r.reject(w, req, http.StatusUnsupportedMediaType, outcomeMalformed, "Content-Type must be application/json")
		return
	}
	if !utf8.Valid(body) {
		r.reject(w, req, http.StatusBadRequest, outcomeMalformed, "body is not valid UTF-8")
		return
	}
	// One copy of the body, kept as the log record's body; the parsed
	// strings are slices of it. The buffer goes back to the pool.
	text := string(body)
	// Hashed before parseWebhook, which may rewrite the body's white space;
	// and only with dedup on: hashing is the dedup's cost, not every request's.
	var key deliveryKey
	if r.deliveries.enabled() {
		key = keyOf(body)
	}
	wh, err := parseWebhook(body, text)
	if err != nil {
		r.reject(w, req, http.StatusBadRequest, outcomeMalformed, err.Error())
		return
	}
	if len(wh.invalidFields) > 0 {
		r.settings.Logger.Debug("Detectify webhook has fields of an unexpected type; they are kept in the body only",
			zap.Strings("fields", wh.invalidFields))
	}

	result := r.deliver(ctx, classify(&wh), text, key, received)
	r.outcomes.add(ctx, result.outcome)
	switch result.status {
	case http.StatusOK:
		writeJSON(w, http.StatusOK, okBodies[result.outcome])
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", retryAfterSeconds)
		http.Error(w, result.reason, result.status)
	default:
		http.Error(w, result.reason, result.status)
	}
}

func (r *detectifyReceiver) tooLargeReason() string {
	return fmt.Sprintf("body exceeds max_request_body_size (%d bytes)", r.cfg.MaxRequestBodySize)
}

// reject answers an unusable request with a short plain-text reason and
// counts it. Reasons never contain the secret or the body.
func (r *detectifyReceiver) reject(w http.ResponseWriter, req *http.Request, status int, o outcome, reason string) {
	r.outcomes.add(req.Context(), o)
	// Check first: a flood of forgeries must not pay for fields nobody logs.
	if ce := r.settings.Logger.Check(zap.DebugLevel, "Rejected Detectify webhook"); ce != nil {
		ce.Write(zap.Int("status", status), zap.String("reason", reason), zap.String("remote", req.RemoteAddr))
	}
	http.Error(w, reason, status)
}

// bodyBuffers holds the buffers bodies are read into: nothing keeps a body
// past its request (the log record gets a copy), so the buffers are reused.
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBody bounds the buffers kept for reuse, so one large body does
// not stay in memory.
const maxPooledBody = 64 << 10

// readBody reads the whole body; confighttp has already bounded it by
// max_request_body_size, after decompression too. The buffer must be given
// to releaseBody once the body is no longer used.
func readBody(req *http.Request) (*bytes.Buffer, error) {
	buf := bodyBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	if n := req.ContentLength; n > 0 { // at most max_request_body_size
		// ReadFrom wants MinRead bytes free before each read, the one that
		// sees the end of the body too.
		buf.Grow(int(n) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(req.Body)
	return buf, err
}

func releaseBody(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledBody {
		bodyBuffers.Put(buf)
	}
}

// isJSONContentType accepts JSON media types, text/plain (some senders label
// JSON so) and no Content-Type at all.
func isJSONContentType(contentType string) bool {
	if contentType == "" || contentType == "application/json" {
		return true
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mediaType == "application/json" || strings.HasSuffix(mediaType, "+json") || mediaType == "text/plain"
}

// okBodies are the 200 answers, built once.
var okBodies = map[outcome]string{
	outcomeAccepted:  `{"status":"accepted"}`,
	outcomeDuplicate: `{"status":"duplicate"}`,
}

// jsonContentType is shared by every answer: assigning it costs no
// allocation, where Header.Set builds a new slice.
var jsonContentType = []string{"application/json"}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}
