package webhooksend

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of Detectify's API authentication. The signature header has
// the webhook's name, SignatureHeader.
const (
	APIKeyHeader       = "X-Detectify-Key"
	APITimestampHeader = "X-Detectify-Timestamp"
)

// MaxAPIClockSkew is how far a request's timestamp may be from the API's
// clock. ASSUMPTION: public material names no window; five minutes is
// what signed APIs commonly allow.
const MaxAPIClockSkew = 5 * time.Minute

// APISignature is Detectify's API request signature as its public clients
// compute it: base64 of HMAC-SHA256, keyed with the decoded secret, of
// METHOD;PATH;KEY;TIMESTAMP;BODY, PATH being the request URI relative to
// the API's base path, query included.
func APISignature(secret []byte, method, path, key string, timestamp int64, body []byte) string {
	return base64.StdEncoding.EncodeToString(apiMAC(secret, method, path, key, timestamp, body))
}

func apiMAC(secret []byte, method, path, key string, timestamp int64, body []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(method + ";" + path + ";" + key + ";" + strconv.FormatInt(timestamp, 10) + ";"))
	mac.Write(body)
	return mac.Sum(nil)
}

// authenticate returns why r is refused, or "" when it is not, and whether
// the refusal is for the timestamp or signature rather than the key.
func (a *FakeAPI) authenticate(r *http.Request, body []byte) (reason string, signature bool) {
	if got := r.Header.Get(APIKeyHeader); !hmac.Equal([]byte(got), []byte(a.key)) {
		return "missing or invalid API key", false
	}
	if a.secret == nil {
		return "", false
	}
	ts, err := strconv.ParseInt(r.Header.Get(APITimestampHeader), 10, 64)
	if err != nil {
		return "missing or invalid timestamp", true
	}
	if skew := a.opts.Now().Sub(time.Unix(ts, 0)).Abs(); skew > MaxAPIClockSkew {
		return "timestamp too far from the server's clock", true
	}
	got, err := base64.StdEncoding.DecodeString(r.Header.Get(SignatureHeader))
	if err != nil || len(got) == 0 {
		return "missing or invalid signature", true
	}
	if !hmac.Equal(got, apiMAC(a.secret, r.Method, a.signedPath(r), a.key, ts, body)) {
		return "missing or invalid signature", true
	}
	return "", false
}

// signedPath is what a client signs as PATH: the request URI as sent,
// less the base path.
func (a *FakeAPI) signedPath(r *http.Request) string {
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	return strings.TrimPrefix(uri, a.opts.BasePath)
}
