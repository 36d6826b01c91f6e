package detectifyreceiver

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A known answer: HMAC-SHA256("detectify-test-secret", sigTestBody), chosen
// so its base64 holds both '+' and '/' (and so '-' and '_' in URL-safe
// base64) and its hex holds letters.
const (
	sigTestSecret = "detectify-test-secret"
	sigTestBody   = `{"type":"event_scan_started","n":9}`
	sigTestHex    = "8d9fa0c7efddba27e68299a305148f9b20ebb1ffc6336fdc7fbc383bfdec5c3f"
	sigTestStd    = "jZ+gx+/duifmgpmjBRSPmyDrsf/GM2/cf7w4O/3sXD8="
	sigTestRawStd = "jZ+gx+/duifmgpmjBRSPmyDrsf/GM2/cf7w4O/3sXD8"
	sigTestURL    = "jZ-gx-_duifmgpmjBRSPmyDrsf_GM2_cf7w4O_3sXD8="
	sigTestRawURL = "jZ-gx-_duifmgpmjBRSPmyDrsf_GM2_cf7w4O_3sXD8"
)

func sign(secret, body string) []byte { return rawMAC(secret, []byte(body)) }

func signHex(secret, body string) string { return signBody(secret, []byte(body)) }

// mixedCase upper-cases every other letter.
func mixedCase(s string) string {
	b := []byte(s)
	for i := range b {
		if i%2 == 0 {
			b[i] = strings.ToUpper(string(b[i]))[0]
		}
	}
	return string(b)
}

func TestSignatureKnownAnswer(t *testing.T) {
	// The constants the other tests rely on are what they claim to be.
	digest := sign(sigTestSecret, sigTestBody)
	require.Equal(t, sigTestHex, hex.EncodeToString(digest))
	require.Equal(t, sigTestStd, base64.StdEncoding.EncodeToString(digest))
	require.Equal(t, sigTestRawStd, base64.RawStdEncoding.EncodeToString(digest))
	require.Equal(t, sigTestURL, base64.URLEncoding.EncodeToString(digest))
	require.Equal(t, sigTestRawURL, base64.RawURLEncoding.EncodeToString(digest))
	require.Contains(t, sigTestStd, "+")
	require.Contains(t, sigTestStd, "/")
	require.Contains(t, sigTestURL, "-")
	require.Contains(t, sigTestURL, "_")
	require.NotEqual(t, sigTestHex, mixedCase(sigTestHex))
	require.NotEqual(t, strings.ToUpper(sigTestHex), mixedCase(sigTestHex))
}

func TestDecodeSignature(t *testing.T) {
	var want [sha256.Size]byte
	copy(want[:], sign(sigTestSecret, sigTestBody))

	valid := []struct {
		name string
		in   string
	}{
		{name: "hex lowercase", in: sigTestHex},
		{name: "hex uppercase", in: strings.ToUpper(sigTestHex)},
		{name: "hex mixed case", in: mixedCase(sigTestHex)},
		{name: "base64 std padded", in: sigTestStd},
		{name: "base64 std unpadded", in: sigTestRawStd},
		{name: "base64 url padded", in: sigTestURL},
		{name: "base64 url unpadded", in: sigTestRawURL},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := decodeSignature(tt.in)
			require.True(t, ok)
			assert.Equal(t, want, got)
		})
	}

	invalid := []struct {
		name string
		in   string
	}{
		{name: "empty", in: ""},
		{name: "hex 63", in: sigTestHex[:63]},
		{name: "hex 65", in: sigTestHex + "0"},
		{name: "length 42", in: sigTestRawStd[:42]},
		{name: "length 45", in: sigTestStd + "A"},
		{name: "length 1000", in: strings.Repeat("a", 1000)},
		{name: "hex 128 (double digest)", in: sigTestHex + sigTestHex},
		{name: "non-hex character", in: "g" + sigTestHex[1:]},
		{name: "non-hex character at end", in: sigTestHex[:63] + "z"},
		{name: "hex with space", in: sigTestHex[:32] + " " + sigTestHex[33:]},
		{name: "base64 std with invalid character", in: "!" + sigTestStd[1:]},
		{name: "base64 unpadded with invalid character", in: sigTestRawStd[:42] + "*"},
		{name: "base64 mixing std and url alphabets", in: strings.Replace(sigTestStd, "/", "_", 1)},
		{name: "base64 44 characters without padding (33 bytes)", in: sigTestRawStd + "A"},
		{name: "base64 43 characters ending in padding", in: sigTestStd[:42] + "="},
		{name: "base64 padding in the middle", in: sigTestStd[:20] + "=" + sigTestStd[21:]},
		{name: "sha256= prefix hex", in: "sha256=" + sigTestHex},
		{name: "sha256= prefix base64", in: "sha256=" + sigTestStd},
		{name: "sha256= prefix hex, 64 long", in: "sha256=" + sigTestHex[:57]},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := decodeSignature(tt.in)
			assert.False(t, ok)
			assert.Equal(t, [sha256.Size]byte{}, got, "a refused signature must not return a digest")
		})
	}
}

func TestSignatureVerify(t *testing.T) {
	const (
		current  = "current-secret"
		previous = "previous-secret"
		body     = `{"type":"event_finding_high","domain":"my.domain"}`
	)
	v := newSignatureVerifier([][]byte{[]byte(current), []byte(previous)})

	tests := []struct {
		name    string
		values  []string
		body    string
		wantErr error
	}{
		{name: "correct hex", values: []string{signHex(current, body)}, body: body},
		{name: "correct uppercase hex", values: []string{strings.ToUpper(signHex(current, body))}, body: body},
		{name: "correct base64", values: []string{base64.StdEncoding.EncodeToString(sign(current, body))}, body: body},
		{name: "previous secret accepted", values: []string{signHex(previous, body)}, body: body},
		{name: "signature of another body", values: []string{signHex(current, `{"type":"event_scan_started"}`)}, body: body, wantErr: errSignatureMismatch},
		{name: "body with trailing newline", values: []string{signHex(current, body)}, body: body + "\n", wantErr: errSignatureMismatch},
		{name: "signed with trailing newline", values: []string{signHex(current, body+"\n")}, body: body, wantErr: errSignatureMismatch},
		{name: "another secret", values: []string{signHex("another-secret", body)}, body: body, wantErr: errSignatureMismatch},
		{name: "empty secret", values: []string{signHex("", body)}, body: body, wantErr: errSignatureMismatch},
		{name: "empty body signed correctly", values: []string{signHex(current, "")}, body: ""},
		{name: "missing header (nil)", values: nil, body: body, wantErr: errSignatureMissing},
		{name: "missing header (empty)", values: []string{}, body: body, wantErr: errSignatureMissing},
		{name: "two values", values: []string{signHex(current, body), signHex(current, body)}, body: body, wantErr: errSignatureAmbiguous},
		{name: "two values, one wrong", values: []string{signHex(current, body), "x"}, body: body, wantErr: errSignatureAmbiguous},
		{name: "empty value", values: []string{""}, body: body, wantErr: errSignatureMissing},
		{name: "sha256= prefix", values: []string{"sha256=" + signHex(current, body)}, body: body, wantErr: errSignatureEncoding},
		{name: "truncated", values: []string{signHex(current, body)[:62]}, body: body, wantErr: errSignatureEncoding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.verify(tt.values, []byte(tt.body))
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
		})
	}
}

func TestSignatureVerifyNoSecrets(t *testing.T) {
	v := newSignatureVerifier(nil)
	err := v.verify([]string{signHex("", "x")}, []byte("x"))
	assert.ErrorIs(t, err, errSignatureMismatch)
	err = v.verify(nil, []byte("x"))
	assert.ErrorIs(t, err, errSignatureMissing)
}
