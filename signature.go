package detectifyreceiver // import "github.com/detectify-otel/detectifyreceiver"

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"strings"
	"sync"
)

const signatureHeader = "X-Detectify-Signature"

var (
	errSignatureMissing   = errors.New("missing " + signatureHeader + " header")
	errSignatureAmbiguous = errors.New("more than one " + signatureHeader + " header")
	errSignatureEncoding  = errors.New(signatureHeader + " is not a hex or base64 HMAC-SHA256")
	errSignatureMismatch  = errors.New(signatureHeader + " does not match the body")
)

// signatureVerifier checks X-Detectify-Signature = HMAC-SHA256(secret, body)
// against the current and previous secrets.
type signatureVerifier struct {
	// keyed holds, per secret, HMACs already keyed with it: keying costs
	// two SHA-256 blocks and three allocations per request otherwise (the
	// macro benchmark's profile of a signed webhook).
	keyed []*sync.Pool
}

func newSignatureVerifier(secrets [][]byte) *signatureVerifier {
	v := &signatureVerifier{}
	for _, key := range secrets {
		v.keyed = append(v.keyed, &sync.Pool{New: func() any { return &keyedMAC{mac: hmac.New(sha256.New, key)} }})
	}
	return v
}

// verify returns nil when one of the secrets signed body. values are all
// the header's values: several are refused, as they could disagree.
func (v *signatureVerifier) verify(values []string, body []byte) error {
	switch {
	case len(values) == 0 || len(values) == 1 && values[0] == "":
		return errSignatureMissing
	case len(values) > 1:
		return errSignatureAmbiguous
	}
	got, ok := decodeSignature(values[0])
	if !ok {
		return errSignatureEncoding
	}
	for _, pool := range v.keyed {
		if v.signs(pool, got, body) {
			return nil
		}
	}
	return errSignatureMismatch
}

// keyedMAC is a keyed HMAC with room for its sum: a sum on the stack would
// escape through the hash.Hash interface, one allocation per request.
type keyedMAC struct {
	mac hash.Hash
	sum [sha256.Size]byte
}

// signs reports whether the secret of pool's HMACs signed body as got.
func (v *signatureVerifier) signs(pool *sync.Pool, got [sha256.Size]byte, body []byte) bool {
	k := pool.Get().(*keyedMAC)
	defer pool.Put(k)
	k.mac.Reset()            // back to the keyed state
	_, _ = k.mac.Write(body) // a hash's Write never fails
	return hmac.Equal(got[:], k.mac.Sum(k.sum[:0]))
}

// decodeSignature decodes a 32-byte digest written as hex (either case) or
// base64 (standard or URL-safe, padded or not). The encoding is told apart
// by length: 64 hex digits, 44 padded or 43 unpadded base64 characters.
// Fixed-size arrays keep the hot path free of allocations.
func decodeSignature(s string) (digest [sha256.Size]byte, ok bool) {
	var src [2 * sha256.Size]byte
	var dst [48]byte // room for the 33 bytes base64 may decode 44 characters into
	in := src[:copy(src[:], s)]
	var n int
	var err error
	switch len(s) {
	case hex.EncodedLen(sha256.Size):
		n, err = hex.Decode(dst[:], in)
	case base64.StdEncoding.EncodedLen(sha256.Size):
		n, err = base64Encoding(s, true).Decode(dst[:], in)
	case base64.RawStdEncoding.EncodedLen(sha256.Size):
		n, err = base64Encoding(s, false).Decode(dst[:], in)
	default:
		return digest, false
	}
	if err != nil || n != sha256.Size {
		return digest, false
	}
	copy(digest[:], dst[:n])
	return digest, true
}

func base64Encoding(s string, padded bool) *base64.Encoding {
	urlSafe := strings.ContainsAny(s, "-_")
	switch {
	case urlSafe && padded:
		return base64.URLEncoding
	case urlSafe:
		return base64.RawURLEncoding
	case padded:
		return base64.StdEncoding
	default:
		return base64.RawStdEncoding
	}
}
