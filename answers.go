package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"io"
	"net/http"

	"github.com/detectify-otel/detectifyreceiver/internal/message"
)

// retryAfterSeconds is the Retry-After sent with 503: long enough for a
// memory_limiter to recover, short enough not to delay findings.
const retryAfterSeconds = "1"

// answer is one of the fixed answers to a webhook request. A client reads
// only these sentences: the error of a read, a parser or a consumer (which
// can name the collector's own address or an internal host) goes to the
// debug log, never into an answer.
type answer struct {
	status  int
	outcome outcome
	reason  string
}

var (
	answerAccepted  = answer{http.StatusOK, outcomeAccepted, `{"status":"accepted"}`}
	answerDuplicate = answer{http.StatusOK, outcomeDuplicate, `{"status":"duplicate"}`}

	answerTooLarge     = answer{http.StatusRequestEntityTooLarge, outcomeTooLarge, "body exceeds max_request_body_size"}
	answerUnreadable   = answer{http.StatusBadRequest, outcomeMalformed, "could not read the body"}
	answerContentType  = answer{http.StatusUnsupportedMediaType, outcomeMalformed, "Content-Type must be application/json"}
	answerNotUTF8      = answer{http.StatusBadRequest, outcomeMalformed, "body is not valid UTF-8"}
	answerNotObject    = answer{http.StatusBadRequest, outcomeMalformed, message.ErrNotObject.Error()}
	answerInvalidJSON  = answer{http.StatusBadRequest, outcomeMalformed, message.ErrInvalidJSON.Error()}
	answerDuplicateKey = answer{http.StatusBadRequest, outcomeMalformed, message.ErrDuplicateKey.Error()}
	answerInFlight     = answer{http.StatusServiceUnavailable, outcomeRefused, "an identical delivery is being processed; retry later"}
	answerRetry        = answer{http.StatusServiceUnavailable, outcomeRefused, "the pipeline is temporarily unable to accept data; retry later"}
	answerRefused      = answer{http.StatusBadRequest, outcomeRefused, "the pipeline refused the data for good; see the collector's log"}
	answerStateDown    = answer{http.StatusServiceUnavailable, outcomeRefused, "the receiver's state is temporarily unavailable; retry later"}
	answerSigMissing   = answer{http.StatusUnauthorized, outcomeUnauthorized, errSignatureMissing.Error()}
	answerSigAmbiguous = answer{http.StatusUnauthorized, outcomeUnauthorized, errSignatureAmbiguous.Error()}
	answerSigEncoding  = answer{http.StatusUnauthorized, outcomeUnauthorized, errSignatureEncoding.Error()}
	answerSigMismatch  = answer{http.StatusUnauthorized, outcomeUnauthorized, errSignatureMismatch.Error()}
	// freshness.go: max_message_age.
	answerTooOld           = answer{http.StatusBadRequest, outcomeStale, "the message's timestamp is older than max_message_age"}
	answerFromFuture       = answer{http.StatusBadRequest, outcomeStale, "the message's timestamp is more than 5 minutes ahead of the receiver's clock"}
	answerTimestampInvalid = answer{http.StatusBadRequest, outcomeStale, "the message's timestamp is not an RFC 3339 time; max_message_age needs one"}
	answerTimestampMissing = answer{http.StatusBadRequest, outcomeStale, "the message has no timestamp; max_message_age needs one"}

	answerHealthy   = answer{http.StatusOK, -1, `{"status":"ok"}`}
	answerUnhealthy = answer{http.StatusServiceUnavailable, -1, "the receiver's state is unavailable"}
)

// write sends the answer: JSON for 2xx, a plain-text reason otherwise, and
// Retry-After with every 503.
func (a answer) write(w http.ResponseWriter) {
	if a.status == http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.reason)
		return
	}
	if a.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	http.Error(w, a.reason, a.status)
}
