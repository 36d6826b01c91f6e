package webhooksend

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"time"
)

// Defaults applied by Run to zero Config fields.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultMaxBackoff  = 30 * time.Second
	DefaultBackoffBase = 500 * time.Millisecond
)

// ErrNoSecret is returned when a signed run has no secret. An empty secret
// would still produce a valid-looking signature that no receiver accepts.
var ErrNoSecret = errors.New("no signing secret: provide one or send unsigned")

// Config describes one delivery run.
type Config struct {
	// URL is the receiver endpoint; http or https.
	URL string
	// Messages are the bodies to send.
	Messages [][]byte

	// Secret signs each body into the X-Detectify-Signature header.
	Secret []byte
	// Encoding is the signature's text form; see Encodings. Empty means hex.
	Encoding string
	// Unsigned omits the signature header, as Detectify does when a
	// subscription has no secret.
	Unsigned bool

	// Count is the total number of messages to send, cycling through
	// Messages; zero sends each message once. Cycling repeats identical
	// bodies, which receivers treat as redeliveries.
	Count int
	// Rate caps requests per second, retries included; zero is unlimited.
	Rate float64
	// Concurrency is the number of parallel senders; zero means one, which
	// keeps messages in order.
	Concurrency int

	// Retries is how many times a message answered with 429 or 503 is
	// retried before it counts as failed.
	Retries int
	// Timeout bounds each request; zero means DefaultTimeout.
	Timeout time.Duration
	// MaxBackoff caps the wait before a retry, including waits asked for by
	// Retry-After; zero means DefaultMaxBackoff.
	MaxBackoff time.Duration
	// BackoffBase is the first retry wait when the response has no usable
	// Retry-After; it doubles per retry. Zero means DefaultBackoffBase.
	BackoffBase time.Duration

	// Gzip compresses bodies with Content-Encoding: gzip. The signature
	// still covers the uncompressed JSON.
	Gzip bool
	// Insecure skips TLS certificate verification, for receivers with
	// self-signed certificates.
	Insecure bool
}

// Validate reports the first problem that would stop Run from starting.
func (c Config) Validate() error {
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		return errors.New("no URL")
	case err != nil:
		return fmt.Errorf("bad URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("bad URL %q: scheme must be http or https", u.Redacted())
	case u.Host == "":
		return fmt.Errorf("bad URL %q: no host", u.Redacted())
	case len(c.Messages) == 0:
		return errors.New("no messages to send")
	case !c.Unsigned && len(c.Secret) == 0:
		return ErrNoSecret
	case c.Count < 0:
		return errors.New("count must not be negative")
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return errors.New("rate must be a non-negative number")
	case c.Concurrency < 0:
		return errors.New("concurrency must not be negative")
	case c.Retries < 0:
		return errors.New("retries must not be negative")
	case c.Timeout < 0 || c.MaxBackoff < 0 || c.BackoffBase < 0:
		return errors.New("durations must not be negative")
	}
	if !c.Unsigned {
		return CheckEncoding(c.Encoding)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Concurrency == 0 {
		c.Concurrency = 1
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.BackoffBase == 0 {
		c.BackoffBase = DefaultBackoffBase
	}
	return c
}

// total is the number of messages the run sends.
func (c Config) total() int {
	if c.Count > 0 {
		return c.Count
	}
	return len(c.Messages)
}
