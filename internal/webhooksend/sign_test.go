package webhooksend

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// decodeSignature turns a signature back into MAC bytes, insisting on the
// exact alphabet of its encoding.
func decodeSignature(sig, encoding string) ([]byte, error) {
	switch encoding {
	case "", EncodingHex:
		if sig != strings.ToLower(sig) {
			return nil, fmt.Errorf("%q is not lowercase", sig)
		}
		return hex.DecodeString(sig)
	case EncodingHexUpper:
		if sig != strings.ToUpper(sig) {
			return nil, fmt.Errorf("%q is not uppercase", sig)
		}
		return hex.DecodeString(sig)
	case EncodingBase64:
		return base64.StdEncoding.Strict().DecodeString(sig)
	case EncodingBase64URL:
		return base64.RawURLEncoding.Strict().DecodeString(sig)
	}
	return nil, fmt.Errorf("unknown encoding %q", encoding)
}

// verifySignature checks sig the way a receiver would.
func verifySignature(secret, body []byte, sig, encoding string) error {
	got, err := decodeSignature(sig, encoding)
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("signature %q does not match the body", sig)
	}
	return nil
}

func TestSignVerifies(t *testing.T) {
	secret := []byte("s3cr3t")
	body := SeedMessages()[1]
	for _, enc := range append(Encodings(), "") {
		t.Run("encoding="+enc, func(t *testing.T) {
			if err := verifySignature(secret, body, Sign(secret, body, enc), enc); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSignKnownVector(t *testing.T) {
	// The widely published HMAC-SHA256 example, computed independently.
	const want = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
	tests := []struct {
		encoding string
		want     string
	}{
		{EncodingHex, want},
		{"", want},
		{"unknown", want},
		{EncodingHexUpper, strings.ToUpper(want)},
		{EncodingBase64, "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg="},
		{EncodingBase64URL, "97yD9DBThCSxMpjmqm-xQ-9NWaFJRhdZl0edvC0aPNg"},
	}
	for _, tt := range tests {
		t.Run("encoding="+tt.encoding, func(t *testing.T) {
			got := Sign([]byte("key"), []byte("The quick brown fox jumps over the lazy dog"), tt.encoding)
			if got != tt.want {
				t.Errorf("Sign = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCheckEncoding(t *testing.T) {
	tests := []struct {
		encoding string
		ok       bool
	}{
		{"", true},
		{"hex", true},
		{"HEX", true},
		{"base64", true},
		{"base64url", true},
		{"Hex", false},
		{"base32", false},
	}
	for _, tt := range tests {
		if err := CheckEncoding(tt.encoding); (err == nil) != tt.ok {
			t.Errorf("CheckEncoding(%q) = %v, want ok=%v", tt.encoding, err, tt.ok)
		}
	}
}
