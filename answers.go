package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
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
	// json is a 2xx answer's body, made once from reason: the
	// ResponseWriter the collector's middleware wraps takes no string, so
	// writing reason would copy it for every webhook.
	json []byte
}

// textAnswer is a refusal: its reason is a sentence, sent as plain text.
func textAnswer(status int, o outcome, reason string) answer {
	return answer{status: status, outcome: o, reason: reason}
}

// jsonAnswer is a 2xx answer, whose reason is its JSON body.
func jsonAnswer(status int, o outcome, body string) answer {
	return answer{status: status, outcome: o, reason: body, json: []byte(body)}
}

var (
	answerAccepted  = jsonAnswer(http.StatusOK, outcomeAccepted, `{"status":"accepted"}`)
	answerDuplicate = jsonAnswer(http.StatusOK, outcomeDuplicate, `{"status":"duplicate"}`)

	answerTooLarge     = textAnswer(http.StatusRequestEntityTooLarge, outcomeTooLarge, "body exceeds max_request_body_size")
	answerUnreadable   = textAnswer(http.StatusBadRequest, outcomeMalformed, "could not read the body")
	answerContentType  = textAnswer(http.StatusUnsupportedMediaType, outcomeMalformed, "Content-Type must be application/json")
	answerNotUTF8      = textAnswer(http.StatusBadRequest, outcomeMalformed, "body is not valid UTF-8")
	answerNotObject    = textAnswer(http.StatusBadRequest, outcomeMalformed, message.ErrNotObject.Error())
	answerInvalidJSON  = textAnswer(http.StatusBadRequest, outcomeMalformed, message.ErrInvalidJSON.Error())
	answerDuplicateKey = textAnswer(http.StatusBadRequest, outcomeMalformed, message.ErrDuplicateKey.Error())
	answerInFlight     = textAnswer(http.StatusServiceUnavailable, outcomeRefused, "an identical delivery is being processed; retry later")
	answerRetry        = textAnswer(http.StatusServiceUnavailable, outcomeRefused, "the pipeline is temporarily unable to accept data; retry later")
	answerRefused      = textAnswer(http.StatusBadRequest, outcomeRefused, "the pipeline refused the data for good; see the collector's log")
	answerStateDown    = textAnswer(http.StatusServiceUnavailable, outcomeRefused, "the receiver's state is temporarily unavailable; retry later")
	answerSigMissing   = textAnswer(http.StatusUnauthorized, outcomeUnauthorized, errSignatureMissing.Error())
	answerSigAmbiguous = textAnswer(http.StatusUnauthorized, outcomeUnauthorized, errSignatureAmbiguous.Error())
	answerSigEncoding  = textAnswer(http.StatusUnauthorized, outcomeUnauthorized, errSignatureEncoding.Error())
	answerSigMismatch  = textAnswer(http.StatusUnauthorized, outcomeUnauthorized, errSignatureMismatch.Error())
	// freshness.go: max_message_age.
	answerTooOld           = textAnswer(http.StatusBadRequest, outcomeStale, "the message's timestamp is older than max_message_age")
	answerFromFuture       = textAnswer(http.StatusBadRequest, outcomeStale, "the message's timestamp is more than 5 minutes ahead of the receiver's clock")
	answerTimestampInvalid = textAnswer(http.StatusBadRequest, outcomeStale, "the message's timestamp is not an RFC 3339 time; max_message_age needs one")
	answerTimestampMissing = textAnswer(http.StatusBadRequest, outcomeStale, "the message has no timestamp; max_message_age needs one")

	answerHealthy   = jsonAnswer(http.StatusOK, -1, `{"status":"ok"}`)
	answerUnhealthy = textAnswer(http.StatusServiceUnavailable, -1, "the receiver's state is unavailable")
)

// write sends the answer: JSON for 2xx, a plain-text reason otherwise, and
// Retry-After with every 503.
func (a answer) write(w http.ResponseWriter) {
	if a.status == http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = w.Write(a.json)
		return
	}
	if a.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	http.Error(w, a.reason, a.status)
}
