package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"io"
	"net/http"
	"sync"
)

// bodyBuffers keep webhook bodies' bytes between requests. The bytes are
// needed only while a webhook is processed: the record keeps a string copy
// of the text and the JSON parser a copy of its own. Reading into a fresh
// buffer cost the handler 0.5 µs and the body's size in garbage (trick 3
// in docs/PERFORMANCE.md).
var bodyBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBody bounds the buffers the pool keeps: a large body (the limit
// is max_request_body_size) does not stay pinned after it is processed.
const maxPooledBody = 64 << 10

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

// releaseBody gives buf back once nothing refers to its bytes.
func releaseBody(buf *[]byte) {
	if cap(*buf) <= maxPooledBody {
		bodyBuffers.Put(buf)
	}
}
