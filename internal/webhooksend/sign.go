package webhooksend

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// SignatureHeader carries the message signature.
const SignatureHeader = "X-Detectify-Signature"

// Signature encodings. Detectify documents only the HMAC, not its text form,
// so receivers may expect any of these.
const (
	EncodingHex       = "hex"       // lowercase hex, the default
	EncodingHexUpper  = "HEX"       // uppercase hex
	EncodingBase64    = "base64"    // standard, padded
	EncodingBase64URL = "base64url" // URL alphabet, unpadded
)

// Encodings lists the accepted signature encodings.
func Encodings() []string {
	return []string{EncodingHex, EncodingHexUpper, EncodingBase64, EncodingBase64URL}
}

// CheckEncoding reports whether enc is an accepted encoding; the empty
// string means EncodingHex.
func CheckEncoding(enc string) error {
	if enc == "" {
		return nil
	}
	for _, e := range Encodings() {
		if enc == e {
			return nil
		}
	}
	return fmt.Errorf("unknown signature encoding %q (want %s)", enc, strings.Join(Encodings(), ", "))
}

// Sign returns HMAC_SHA256(secret, body) in the given encoding. Encodings
// that CheckEncoding rejects fall back to lowercase hex.
func Sign(secret, body []byte, encoding string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	sum := mac.Sum(nil)
	switch encoding {
	case EncodingHexUpper:
		return strings.ToUpper(hex.EncodeToString(sum))
	case EncodingBase64:
		return base64.StdEncoding.EncodeToString(sum)
	case EncodingBase64URL:
		return base64.RawURLEncoding.EncodeToString(sum)
	default:
		return hex.EncodeToString(sum)
	}
}
