package detectifyreceiver

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// allAnswers lists every answer, the fixed set the tests hold answers to.
var allAnswers = []answer{
	answerAccepted, answerDuplicate, answerTooLarge, answerUnreadable, answerContentType, answerNotUTF8,
	answerNotObject, answerInvalidJSON, answerDuplicateKey, answerInFlight, answerRetry, answerRefused,
	answerStateDown, answerSigMissing, answerSigAmbiguous, answerSigEncoding, answerSigMismatch,
	answerTooOld, answerFromFuture, answerTimestampInvalid, answerTimestampMissing,
	answerHealthy, answerUnhealthy,
}

// Every answer the request table expects from the receiver is one of the
// fixed set: a client never reads an error's own text.
func TestEveryAnswerIsOneOfTheFixedSet(t *testing.T) {
	for _, tc := range requestCases(t) {
		if tc.answer != nil {
			assert.Contains(t, allAnswers, *tc.answer, tc.name)
		}
	}
	for _, a := range allAnswers {
		assert.NotContains(t, a.reason, "%", "a reason is a sentence, not a template")
	}
}

// A body whose read fails (here: read_timeout) was answered with the read
// error, which names the collector's own address behind a load balancer.
func TestABodyReadFailureIsAnsweredWithoutItsError(t *testing.T) {
	h := newHarness(t, func(cfg *Config) { cfg.ReadTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", h.rcv.endpoint)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	_, err = fmt.Fprintf(conn, "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s: %s\r\n\r\n%s",
		len(seedFinding), signatureHeader, signBody(testSecret, seedFinding), seedFinding[:10])
	require.NoError(t, err)
	raw, _ := io.ReadAll(conn) // the server answers, then closes
	answer := string(raw)
	assert.Contains(t, answer, "HTTP/1.1 400")
	assert.True(t, strings.HasSuffix(answer, "\r\n\r\n"+answerText(answerUnreadable)), "got %q", answer)
	assert.NotContains(t, answer, "127.0.0.1")
	assert.NotContains(t, answer, "timeout")
}
