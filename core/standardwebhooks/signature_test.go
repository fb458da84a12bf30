package standardwebhooks_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/standardwebhooks"
)

// The Standard Webhooks specification's test vector, as its reference
// libraries check it.
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specMsgID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specPayload   = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignSpecVector(t *testing.T) {
	key, err := standardwebhooks.ParseSecret(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := standardwebhooks.Sign(key, specMsgID, specTimestamp, []byte(specPayload)); got != specSignature {
		t.Fatalf("signature %s, want %s", got, specSignature)
	}
	// The prefix is optional, as in the reference libraries.
	bare, err := standardwebhooks.ParseSecret(strings.TrimPrefix(specSecret, "whsec_"))
	if err != nil || string(bare) != string(key) {
		t.Fatalf("secret without prefix: %v", err)
	}
}

// The verification cases of the reference libraries' tests.
func TestVerifySpecCases(t *testing.T) {
	key, _ := standardwebhooks.ParseSecret(specSecret)
	keys := [][]byte{key}
	now := time.Now()
	body := []byte(specPayload)
	sign := func(at time.Time) (string, string) {
		ts := at.Unix()
		return strconv.FormatInt(ts, 10), standardwebhooks.Sign(key, specMsgID, ts, body)
	}
	ts, sig := sign(now)
	const wrong = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
	oldTS, oldSig := sign(now.Add(-standardwebhooks.DefaultTolerance - time.Second))
	newTS, newSig := sign(now.Add(standardwebhooks.DefaultTolerance + time.Second))
	cases := []struct {
		name          string
		id, ts, sig   string
		want          error
		wantSomeError bool
	}{
		{name: "valid", id: specMsgID, ts: ts, sig: sig},
		{name: "missing id", ts: ts, sig: sig, want: standardwebhooks.ErrHeaders},
		{name: "missing timestamp", id: specMsgID, sig: sig, want: standardwebhooks.ErrHeaders},
		{name: "missing signature", id: specMsgID, ts: ts, want: standardwebhooks.ErrHeaders},
		{name: "invalid signature", id: specMsgID, ts: ts, sig: wrong, want: standardwebhooks.ErrSignature},
		{name: "old timestamp", id: specMsgID, ts: oldTS, sig: oldSig, want: standardwebhooks.ErrStale},
		{name: "new timestamp", id: specMsgID, ts: newTS, sig: newSig, want: standardwebhooks.ErrStale},
		{name: "timestamp not a number", id: specMsgID, ts: "yesterday", sig: sig, want: standardwebhooks.ErrHeaders},
		{name: "multiple signatures, one valid", id: specMsgID, ts: ts, sig: strings.Join([]string{wrong, "v2," + strings.TrimPrefix(wrong, "v1,"), sig, wrong}, " ")},
		{name: "valid signature of another version", id: specMsgID, ts: ts, sig: "v2," + strings.TrimPrefix(sig, "v1,"), want: standardwebhooks.ErrSignature},
		{name: "signature of another id", id: "msg_other", ts: ts, sig: sig, want: standardwebhooks.ErrSignature},
	}
	for _, c := range cases {
		err := standardwebhooks.Verify(keys, c.id, c.ts, c.sig, body, now, standardwebhooks.DefaultTolerance)
		if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// During a rotation both secrets sign: a receiver with either verifies.
func TestSignatureHeaderRotation(t *testing.T) {
	old, _ := standardwebhooks.ParseSecret(core.NewWebhookSecret())
	cur, _ := standardwebhooks.ParseSecret(core.NewWebhookSecret())
	body := []byte(`{"id":"x"}`)
	h := standardwebhooks.SignatureHeader([][]byte{cur, old}, "evt_1", 1700000000, body)
	if n := len(strings.Fields(h)); n != 2 {
		t.Fatalf("%d signatures in %q", n, h)
	}
	at := time.Unix(1700000000, 0)
	for _, k := range [][]byte{cur, old} {
		if err := standardwebhooks.Verify([][]byte{k}, "evt_1", "1700000000", h, body, at, time.Minute); err != nil {
			t.Errorf("verify with one of the secrets: %v", err)
		}
	}
}

func TestNewWebhookSecret(t *testing.T) {
	s := core.NewWebhookSecret()
	key, err := standardwebhooks.ParseSecret(s)
	if !strings.HasPrefix(s, "whsec_") || err != nil || len(key) < 24 {
		t.Fatalf("secret %q: %d bytes, %v", s, len(key), err)
	}
	if core.NewWebhookSecret() == s {
		t.Fatal("two secrets alike")
	}
}

// FuzzParseSignatureHeader: any header parses without panicking, and what it
// yields is well-formed.
func FuzzParseSignatureHeader(f *testing.F) {
	f.Add(specSignature)
	f.Add(specSignature + " v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,abc")
	f.Add("")
	f.Add("v1,")
	f.Add(",,, v1,==== \t v1")
	f.Fuzz(func(t *testing.T, h string) {
		sigs := standardwebhooks.ParseSignatureHeader(h)
		if len(sigs) > 16 {
			t.Fatalf("%d signatures", len(sigs))
		}
		for _, s := range sigs {
			if s.Version == "" || len(s.Value) == 0 {
				t.Fatalf("malformed entry %+v from %q", s, h)
			}
		}
		key, _ := standardwebhooks.ParseSecret(specSecret)
		if err := standardwebhooks.Verify([][]byte{key}, specMsgID, strconv.Itoa(specTimestamp), h, []byte(specPayload),
			time.Unix(specTimestamp, 0), time.Minute); err == nil && !strings.Contains(h, strings.TrimPrefix(specSignature, "v1,")) {
			t.Fatalf("header %q verified without the signature", h)
		}
	})
}
