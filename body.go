package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/detectify-otel/detectifyreceiver/internal/message"
	"github.com/detectify-otel/detectifyreceiver/internal/state"
)

// scratches keep what one webhook's processing needs between requests.
var scratches = sync.Pool{New: func() any { return new(scratch) }}

// scratch is a webhook's working space:
//   - the body's buffer, needed only while the body is processed (the
//     record keeps a string copy of the text): reading into a fresh buffer
//     cost the handler 0.5 µs and the body's size in garbage (trick 3 in
//     docs/PERFORMANCE.md);
//   - the Event and the Delivery (with the state's step), 1,088 bytes
//     that would otherwise sit in the handler's frame, copied there from
//     the values Parse and Claim returned, under every call it makes, and
//     the step in a heap allocation of its own (docs/PERFORMANCE.md, sixth
//     and seventh sessions).
type scratch struct {
	buf      []byte
	body     []byte // as read: in buf, or not when it came chunked
	text     string // the body as signed, for the record
	received time.Time
	event    message.Event
	delivery state.Delivery
}

// maxPooledBody bounds the buffers the pool keeps: a large body (the limit
// is max_request_body_size) does not stay pinned after it is processed.
const maxPooledBody = 64 << 10

// release gives sc back once nothing refers to it, without the strings and
// claims of the webhook it held.
func (sc *scratch) release() {
	sc.body, sc.text, sc.event, sc.delivery = nil, "", message.Event{}, state.Delivery{}
	if cap(sc.buf) <= maxPooledBody {
		scratches.Put(sc)
	}
}

// readBody reads the whole body into buf, grown to the announced length
// when it is shorter; confighttp has already bounded it by
// max_request_body_size, after decompression too.
func readBody(req *http.Request, buf *[]byte) ([]byte, error) {
	n := req.ContentLength // at most max_request_body_size
	if n <= 0 {
		return io.ReadAll(req.Body) // chunked: the length is not known
	}
	if int64(cap(*buf)) < n {
		*buf = make([]byte, n)
	}
	body := (*buf)[:n] // net/http ends the body at its announced length
	if _, err := io.ReadFull(req.Body, body); err != nil {
		return nil, err
	}
	return body, nil
}
