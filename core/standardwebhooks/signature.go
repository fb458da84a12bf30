// Package standardwebhooks implements the Standard Webhooks signature scheme
// (spec v1): the headers, secrets, signing, and verification with a timestamp
// tolerance. Outbound delivery and inbound channels both use it; it imports
// only the standard library.
package standardwebhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far a timestamp may be from now, either way.
const DefaultTolerance = 5 * time.Minute

// secretPrefix starts every Standard Webhooks secret.
const secretPrefix = "whsec_"

// Verification errors.
var (
	// ErrHeaders: a header is missing or malformed.
	ErrHeaders = errors.New("webhook: missing or malformed signature headers")
	// ErrSignature: no signature matches.
	ErrSignature = errors.New("webhook: no matching signature")
	// ErrStale: the timestamp is too far from now.
	ErrStale = errors.New("webhook: timestamp outside the tolerance")
)

// ParseSecret returns the key of a Standard Webhooks secret: the base64
// after "whsec_" (the prefix may be left out).
func ParseSecret(secret string) ([]byte, error) {
	raw := strings.TrimPrefix(secret, secretPrefix)
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return nil, errors.New("webhook secret: not base64")
	}
	if len(key) == 0 {
		return nil, errors.New("webhook secret: empty")
	}
	return key, nil
}

// Sign returns the v1 signature of a message: "v1," and the base64 of
// HMAC-SHA256(key, "{id}.{timestamp}.{body}").
func Sign(key []byte, msgID string, timestamp int64, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, msgID, timestamp, body))
}

func mac(key []byte, msgID string, timestamp int64, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msgID))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(nil, timestamp, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// SignatureHeader signs with every key, space-separated: during a secret
// rotation a receiver holding either secret verifies the message.
func SignatureHeader(keys [][]byte, msgID string, timestamp int64, body []byte) string {
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(Sign(k, msgID, timestamp, body))
	}
	return b.String()
}

// Signature is one entry of a webhook-signature header.
type Signature struct {
	Version string
	Value   []byte
}

// maxSignatures bounds how many entries of a header are looked at.
const maxSignatures = 16

// ParseSignatureHeader reads "v1,<base64> v1,<base64> …". Entries that are
// not "version,base64" are skipped; at most 16 are read.
func ParseSignatureHeader(h string) []Signature {
	var out []Signature
	for _, part := range strings.Fields(h) {
		if len(out) == maxSignatures {
			break
		}
		version, value, ok := strings.Cut(part, ",")
		if !ok || version == "" {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(value)
		if err != nil || len(raw) == 0 {
			continue
		}
		out = append(out, Signature{Version: version, Value: raw})
	}
	return out
}

// Verify checks a message against keys: a v1 signature must match one of
// them, and the timestamp (unix seconds) must be within tolerance of now.
// It returns ErrHeaders, ErrSignature or ErrStale.
func Verify(keys [][]byte, msgID, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	if msgID == "" || timestamp == "" || signature == "" {
		return ErrHeaders
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrHeaders
	}
	sigs := ParseSignatureHeader(signature)
	if len(sigs) == 0 {
		return ErrHeaders
	}
	for _, k := range keys {
		want := mac(k, msgID, ts, body)
		for _, s := range sigs {
			if s.Version == "v1" && hmac.Equal(s.Value, want) {
				return checkTimestamp(ts, now, tolerance)
			}
		}
	}
	return ErrSignature
}

func checkTimestamp(ts int64, now time.Time, tolerance time.Duration) error {
	d := now.Sub(time.Unix(ts, 0))
	if d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}
