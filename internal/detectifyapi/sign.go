package detectifyapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"time"
)

// Request headers of Detectify's API.
const (
	keyHeader       = "X-Detectify-Key"
	timestampHeader = "X-Detectify-Timestamp"
	signatureHeader = "X-Detectify-Signature"
)

// Signature is what Detectify's examples send for a key with a secret:
// base64(HMAC-SHA256(base64-decoded secret, METHOD;PATH;KEY;TIMESTAMP;BODY)).
// PATH is the request's path and query relative to the API's base path,
// as the examples sign it (they sign "/scans/…/" and request
// ENDPOINT+"/scans/…/").
func Signature(secret []byte, method, path, key string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(method + ";" + path + ";" + key + ";" + strconv.FormatInt(timestamp, 10) + ";"))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// authenticate sets the key and, with a secret, the timestamp and the
// signature of a request without a body.
func authenticate(req *http.Request, key string, secret []byte, path string, now time.Time) {
	req.Header.Set(keyHeader, key)
	if secret == nil {
		return
	}
	ts := now.Unix()
	req.Header.Set(timestampHeader, strconv.FormatInt(ts, 10))
	req.Header.Set(signatureHeader, Signature(secret, req.Method, path, key, ts, nil))
}
