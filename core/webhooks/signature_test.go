package webhooks_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/webhooks"
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
	key, err := webhooks.ParseSecret(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := webhooks.Sign(key, specMsgID, specTimestamp, []byte(specPayload)); got != specSignature {
		t.Fatalf("signature %s, want %s", got, specSignature)
	}
	// The prefix is optional, as in the reference libraries.
	bare, err := webhooks.ParseSecret(strings.TrimPrefix(specSecret, "whsec_"))
	if err != nil || string(bare) != string(key) {
		t.Fatalf("secret without prefix: %v", err)
	}
}

// The verification cases of the reference libraries' tests.
func TestVerifySpecCases(t *testing.T) {
	key, _ := webhooks.ParseSecret(specSecret)
	keys := [][]byte{key}
	now := time.Now()
	body := []byte(specPayload)
	sign := func(at time.Time) (string, string) {
		ts := at.Unix()
		return strconv.FormatInt(ts, 10), webhooks.Sign(key, specMsgID, ts, body)
	}
	ts, sig := sign(now)
	const wrong = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
	oldTS, oldSig := sign(now.Add(-webhooks.DefaultTolerance - time.Second))
	newTS, newSig := sign(now.Add(webhooks.DefaultTolerance + time.Second))
	cases := []struct {
		name          string
		id, ts, sig   string
		want          error
		wantSomeError bool
	}{
		{name: "valid", id: specMsgID, ts: ts, sig: sig},
		{name: "missing id", ts: ts, sig: sig, want: webhooks.ErrHeaders},
		{name: "missing timestamp", id: specMsgID, sig: sig, want: webhooks.ErrHeaders},
		{name: "missing signature", id: specMsgID, ts: ts, want: webhooks.ErrHeaders},
		{name: "invalid signature", id: specMsgID, ts: ts, sig: wrong, want: webhooks.ErrSignature},
		{name: "old timestamp", id: specMsgID, ts: oldTS, sig: oldSig, want: webhooks.ErrStale},
		{name: "new timestamp", id: specMsgID, ts: newTS, sig: newSig, want: webhooks.ErrStale},
		{name: "timestamp not a number", id: specMsgID, ts: "yesterday", sig: sig, want: webhooks.ErrHeaders},
		{name: "multiple signatures, one valid", id: specMsgID, ts: ts, sig: strings.Join([]string{wrong, "v2," + strings.TrimPrefix(wrong, "v1,"), sig, wrong}, " ")},
		{name: "valid signature of another version", id: specMsgID, ts: ts, sig: "v2," + strings.TrimPrefix(sig, "v1,"), want: webhooks.ErrSignature},
		{name: "signature of another id", id: "msg_other", ts: ts, sig: sig, want: webhooks.ErrSignature},
	}
	for _, c := range cases {
		err := webhooks.Verify(keys, c.id, c.ts, c.sig, body, now, webhooks.DefaultTolerance)
		if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// During a rotation both secrets sign: a receiver with either verifies.
func TestSignatureHeaderRotation(t *testing.T) {
	old, _ := webhooks.ParseSecret(core.NewWebhookSecret())
	cur, _ := webhooks.ParseSecret(core.NewWebhookSecret())
	body := []byte(`{"id":"x"}`)
	h := webhooks.SignatureHeader([][]byte{cur, old}, "evt_1", 1700000000, body)
	if n := len(strings.Fields(h)); n != 2 {
		t.Fatalf("%d signatures in %q", n, h)
	}
	at := time.Unix(1700000000, 0)
	for _, k := range [][]byte{cur, old} {
		if err := webhooks.Verify([][]byte{k}, "evt_1", "1700000000", h, body, at, time.Minute); err != nil {
			t.Errorf("verify with one of the secrets: %v", err)
		}
	}
}

func TestNewWebhookSecret(t *testing.T) {
	s := core.NewWebhookSecret()
	key, err := webhooks.ParseSecret(s)
	if !strings.HasPrefix(s, "whsec_") || err != nil || len(key) < 24 {
		t.Fatalf("secret %q: %d bytes, %v", s, len(key), err)
	}
	if core.NewWebhookSecret() == s {
		t.Fatal("two secrets alike")
	}
}

func TestEnvelope(t *testing.T) {
	ev := core.Event{ID: "e1", ProjectID: "p1", Type: core.EventLeadUpdated, CreatedAt: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC),
		Changes: core.Changes{"email": {From: "", To: "a@example.com"}}, Data: json.RawMessage(`{"lead":{"id":"l1","email":"a@example.com"}}`)}
	b, err := webhooks.Envelope(ev)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		ProjectID string `json:"project_id"`
		CreatedAt string `json:"created_at"`
		Data      struct {
			Lead    map[string]any         `json:"lead"`
			Changes map[string]core.Change `json:"changes"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	var top map[string]any
	_ = json.Unmarshal(b, &top)
	if top["id"] != "e1" || top["type"] != "lead.updated" || got.ProjectID != "p1" || got.CreatedAt != "2026-05-01T10:00:00Z" {
		t.Errorf("envelope %s", b)
	}
	if got.Data.Lead["id"] != "l1" || got.Data.Changes["email"].To != "a@example.com" {
		t.Errorf("data %s", b)
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
		sigs := webhooks.ParseSignatureHeader(h)
		if len(sigs) > 16 {
			t.Fatalf("%d signatures", len(sigs))
		}
		for _, s := range sigs {
			if s.Version == "" || len(s.Value) == 0 {
				t.Fatalf("malformed entry %+v from %q", s, h)
			}
		}
		key, _ := webhooks.ParseSecret(specSecret)
		if err := webhooks.Verify([][]byte{key}, specMsgID, strconv.Itoa(specTimestamp), h, []byte(specPayload),
			time.Unix(specTimestamp, 0), time.Minute); err == nil && !strings.Contains(h, strings.TrimPrefix(specSignature, "v1,")) {
			t.Fatalf("header %q verified without the signature", h)
		}
	})
}
