package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadhub/leadhub/config"
	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/standardwebhooks"
	"github.com/leadhub/leadhub/internal/testdb"
)

// allowLoopbackWebhooks lets webhooks reach the tests' loopback receivers.
func allowLoopbackWebhooks(c *config.Config) { c.Webhooks.AllowPrivateNetworks = true }

// fastRetries makes the retry schedule short enough for a test.
func fastRetries(steps ...time.Duration) func(*config.Config) {
	return func(c *config.Config) {
		c.Webhooks.AllowPrivateNetworks = true
		c.Webhooks.RetrySchedule = steps
	}
}

// webhookFixture adds a webhook, a delivery of it and a channel to a route
// fixture ({webhook}, {delivery}, {channel}). They are made through the
// store, so they exist whatever the server's network policy, and they start
// no background work: the webhook is disabled, the delivery is a logged
// attempt.
func (s *testServer) webhookFixture(f *fixture) {
	ctx := context.Background()
	st := s.srv.store
	w, err := st.CreateWebhook(ctx, f.p.ID, core.WebhookInput{URL: "http://127.0.0.1:9/fixture", Events: []string{core.EventLeadCreated}})
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := st.UpdateWebhook(ctx, f.p.ID, w.ID, core.WebhookPatch{Enabled: ptr(false)}); err != nil {
		s.t.Fatal(err)
	}
	evs, err := st.LeadEvents(ctx, f.p.ID, f.lead, 1, "")
	if err != nil || len(evs.Items) == 0 {
		s.t.Fatalf("fixture events: %v", err)
	}
	ev := evs.Items[0]
	if _, err := st.RecordDeliveries(ctx, []core.DeliveryResult{{Delivery: core.Delivery{WebhookID: w.ID, EventID: ev.ID, EventType: ev.Type,
		Attempt: 1, Status: core.DeliveryFailed, Error: "fixture", Trigger: core.TriggerScheduled}}}, 0); err != nil {
		s.t.Fatal(err)
	}
	page, err := st.Deliveries(ctx, f.p.ID, w.ID, 1, "")
	if err != nil || len(page.Items) != 1 {
		s.t.Fatalf("fixture delivery: %v", err)
	}
	ch, err := st.CreateChannel(ctx, f.p.ID, core.ChannelInput{Kind: core.ChannelGeneric, Name: "fixture"})
	if err != nil {
		s.t.Fatal(err)
	}
	f.extra["webhook"], f.extra["delivery"], f.extra["channel"] = w.ID, page.Items[0].ID, ch.ID
}

func ptr[T any](v T) *T { return &v }

// received is one request a receiver got.
type received struct {
	ID, Timestamp, Signature string
	Header                   http.Header
	Body                     []byte
	Status                   int // what the receiver answered
	At                       time.Time
}

// receiver is a webhook endpoint on loopback. answer decides the status of
// each request from the number of earlier requests with the same
// webhook-id (0 for the first); nil answers 204.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	answer func(r *received, earlier int) (status int, header map[string]string)
}

func newReceiver(t *testing.T, answer func(r *received, earlier int) (int, map[string]string)) *receiver {
	rc := &receiver{answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		d := received{ID: r.Header.Get("webhook-id"), Timestamp: r.Header.Get("webhook-timestamp"),
			Signature: r.Header.Get("webhook-signature"), Header: r.Header.Clone(), Body: body, At: time.Now()}
		rc.mu.Lock()
		earlier := 0
		for _, g := range rc.got {
			if g.ID == d.ID {
				earlier++
			}
		}
		d.Status = 204
		var hdr map[string]string
		if rc.answer != nil {
			d.Status, hdr = rc.answer(&d, earlier)
		}
		rc.got = append(rc.got, d)
		rc.mu.Unlock()
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.WriteHeader(d.Status)
		fmt.Fprintf(w, `{"status":%d}`, d.Status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) all() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// ofType is the requests carrying events of one type.
func (rc *receiver) ofType(typ string) []received {
	var out []received
	for _, d := range rc.all() {
		if eventType(d.Body) == typ {
			out = append(out, d)
		}
	}
	return out
}

func eventType(body []byte) string {
	var e struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Type
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// verify checks a delivery with Leadhub's own verifier (the spec vectors
// test it) against one secret.
func verify(t *testing.T, secret string, d received) error {
	t.Helper()
	key, err := standardwebhooks.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	return standardwebhooks.Verify([][]byte{key}, d.ID, d.Timestamp, d.Signature, d.Body, time.Now(), standardwebhooks.DefaultTolerance)
}

func (s *testServer) createWebhook(p testProject, url string, events ...string) map[string]any {
	s.t.Helper()
	return s.must(201, "POST", p.path("/webhooks"), p.Admin, map[string]any{"url": url, "events": events})
}

func (s *testServer) deliveries(p testProject, webhookID string) []map[string]any {
	s.t.Helper()
	return items(s.must(200, "GET", p.path("/webhooks/"+webhookID+"/deliveries"), p.Admin, nil))
}

// A receiver that fails twice, then succeeds: the event arrives three times
// with the same webhook-id, each signed, and the log shows each attempt,
// newest first, with when the next one was due.
func TestWebhookRetriesUntilSuccess(t *testing.T) {
	s := startServer(t, fastRetries(100*time.Millisecond, 200*time.Millisecond, time.Second))
	rc := newReceiver(t, func(_ *received, earlier int) (int, map[string]string) {
		if earlier < 2 {
			return 500, nil
		}
		return 200, nil
	})
	p := s.newProject("retries")
	w := s.createWebhook(p, rc.URL+"/hook", core.EventLeadCreated)
	if !strings.HasPrefix(w["secret"].(string), "whsec_") || w["enabled"] != true {
		t.Fatalf("created %v", w)
	}
	r := s.ingest(p, "visitor-1", map[string]any{"fullname": "Andrea Sp", "email": "andrea1@example.com"})
	waitFor(t, 10*time.Second, "three attempts", func() bool { return len(rc.all()) >= 3 })
	got := rc.all()
	if len(got) != 3 {
		t.Fatalf("%d requests", len(got))
	}
	for i, d := range got {
		if d.ID != got[0].ID {
			t.Errorf("attempt %d has webhook-id %s, the first %s", i+1, d.ID, got[0].ID)
		}
		if err := verify(t, w["secret"].(string), d); err != nil {
			t.Errorf("attempt %d: %v", i+1, err)
		}
		if d.Header.Get("Content-Type") != "application/json" {
			t.Errorf("content type %q", d.Header.Get("Content-Type"))
		}
	}
	if gap := got[2].At.Sub(got[1].At); gap < 150*time.Millisecond {
		t.Errorf("second retry after %s, schedule says 200ms ± 20%%", gap)
	}
	var body struct {
		ID, Type, ProjectID string
		CreatedAt           time.Time `json:"created_at"`
		Data                struct{ Lead map[string]any }
	}
	if err := json.Unmarshal(got[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	_ = json.Unmarshal(got[0].Body, &raw)
	if raw["id"] != got[0].ID || raw["type"] != core.EventLeadCreated || raw["project_id"] != p.ID || body.CreatedAt.IsZero() ||
		body.Data.Lead["id"] != field(r, "lead", "id") || body.Data.Lead["email"] != "andrea1@example.com" {
		t.Errorf("body %s", got[0].Body)
	}
	var ds []map[string]any
	waitFor(t, 5*time.Second, "the third attempt in the log", func() bool {
		ds = s.deliveries(p, w["id"].(string))
		return len(ds) == 3 && ds[0]["status"] == "succeeded"
	})
	for i, want := range []struct {
		status string
		code   float64
		next   bool
	}{{"succeeded", 200, false}, {"failed", 500, true}, {"failed", 500, true}} {
		d := ds[i]
		if d["status"] != want.status || d["response_status"] != want.code || d["attempt"] != float64(3-i) ||
			(d["next_attempt_at"] != nil) != want.next || d["event_id"] != got[0].ID || d["trigger"] != "scheduled" {
			t.Errorf("log row %d: %v", i, d)
		}
	}
	if ds[1]["error"] != "answered 500" || ds[1]["response_body"] != `{"status":500}` {
		t.Errorf("failed row %v", ds[1])
	}
	wh := s.must(200, "GET", p.path("/webhooks/"+w["id"].(string)), p.Admin, nil)
	if wh["last_success_at"] == nil || wh["secret"] != nil {
		t.Errorf("webhook after success %v", wh)
	}
}

// Every event type that has a payload reaches a "*" subscriber, and
// lead.updated carries the changes.
func TestWebhookEventCatalogue(t *testing.T) {
	s := startServer(t, allowLoopbackWebhooks)
	rc := newReceiver(t, nil)
	p := s.newProject("catalogue")
	s.createWebhook(p, rc.URL, "*")
	r := s.ingest(p, "visitor-1", map[string]any{"fullname": "Andrea Sp"})
	lead := field(r, "lead", "id").(string)
	req := field(r, "request", "id").(string)
	s.must(200, "PATCH", p.path("/leads/"+lead), p.Agent, map[string]any{"email": "andrea1@example.com", "attributes": map[string]any{"plan": "pro"}})
	s.must(200, "PATCH", p.path("/requests/"+req), p.Agent, map[string]any{"attributes": map[string]any{"topic": "tents"}})
	s.must(200, "PATCH", p.path("/requests/"+req), p.Agent, map[string]any{"status": "closed"})
	s.must(204, "DELETE", p.path("/leads/"+lead), p.Agent, nil)
	s.must(200, "PATCH", p.path("/leads/"+lead), p.Agent, map[string]any{"status": "active"})
	want := []string{"lead.created", "request.created", "lead.updated", "request.updated", "request.closed", "lead.deleted", "lead.restored"}
	waitFor(t, 10*time.Second, "every event", func() bool { return len(rc.all()) >= len(want) })
	for _, typ := range want {
		if len(rc.ofType(typ)) != 1 {
			t.Errorf("%s delivered %d times", typ, len(rc.ofType(typ)))
		}
	}
	var upd struct {
		Data struct {
			Lead    map[string]any         `json:"lead"`
			Changes map[string]core.Change `json:"changes"`
		} `json:"data"`
	}
	_ = json.Unmarshal(rc.ofType("lead.updated")[0].Body, &upd)
	if upd.Data.Changes["email"].To != "andrea1@example.com" || upd.Data.Changes["attributes.plan"].To != "pro" || upd.Data.Lead["email"] != "andrea1@example.com" {
		t.Errorf("lead.updated %s", rc.ofType("lead.updated")[0].Body)
	}
	var closed struct {
		Data struct {
			Request map[string]any `json:"request"`
			Lead    map[string]any `json:"lead"`
		} `json:"data"`
	}
	_ = json.Unmarshal(rc.ofType("request.closed")[0].Body, &closed)
	if closed.Data.Request["status"] != "closed" || closed.Data.Lead["id"] != lead {
		t.Errorf("request.closed %s", rc.ofType("request.closed")[0].Body)
	}
}

// After a rotation, deliveries carry two signatures for 24 hours: a
// receiver holding either secret verifies them.
func TestWebhookRotationSignsWithBoth(t *testing.T) {
	s := startServer(t, allowLoopbackWebhooks)
	rc := newReceiver(t, nil)
	p := s.newProject("rotation")
	w := s.createWebhook(p, rc.URL, core.EventRequestCreated)
	old := w["secret"].(string)
	rot := s.must(200, "POST", p.path("/webhooks/"+w["id"].(string)+"/rotate-secret"), p.Admin, nil)
	cur := rot["secret"].(string)
	if cur == old || !strings.HasPrefix(cur, "whsec_") {
		t.Fatalf("rotated %v", rot)
	}
	s.ingest(p, "visitor-1", nil)
	waitFor(t, 5*time.Second, "a delivery", func() bool { return len(rc.all()) == 1 })
	d := rc.all()[0]
	if n := len(strings.Fields(d.Signature)); n != 2 {
		t.Fatalf("%d signatures: %q", n, d.Signature)
	}
	for _, sec := range []string{old, cur} {
		if err := verify(t, sec, d); err != nil {
			t.Errorf("verify: %v", err)
		}
	}
	if err := verify(t, core.NewWebhookSecret(), d); err == nil {
		t.Error("a third secret verifies")
	}
}

// A test sends webhook.test to that endpoint alone; a delivery retried by
// hand is sent again, once, with the same webhook-id.
func TestWebhookTestAndManualRetry(t *testing.T) {
	s := startServer(t, fastRetries())
	var fail atomic.Bool
	fail.Store(true)
	rc := newReceiver(t, func(*received, int) (int, map[string]string) {
		if fail.Load() {
			return 503, nil
		}
		return 204, nil
	})
	other := newReceiver(t, nil)
	p := s.newProject("manual")
	w := s.createWebhook(p, rc.URL, core.EventRequestCreated)
	s.createWebhook(p, other.URL, "*")
	id := w["id"].(string)
	s.ingest(p, "visitor-1", nil)
	waitFor(t, 5*time.Second, "the failed attempt in the log", func() bool {
		ds := s.deliveries(p, id)
		return len(ds) == 1 && ds[0]["status"] == "failed"
	})
	first := s.deliveries(p, id)[0]
	if first["next_attempt_at"] != nil {
		t.Errorf("no schedule, yet a next attempt: %v", first)
	}
	fail.Store(false)
	retry := s.must(202, "POST", p.path("/webhooks/"+id+"/deliveries/"+first["id"].(string)+"/retry"), p.Admin, nil)
	if retry["status"] != "pending" || retry["trigger"] != "manual" || retry["event_id"] != first["event_id"] || retry["attempt"] != float64(2) {
		t.Fatalf("retry %v", retry)
	}
	waitFor(t, 5*time.Second, "the manual attempt", func() bool {
		ds := s.deliveries(p, id)
		return len(ds) == 2 && ds[0]["status"] == "succeeded"
	})
	if got := rc.all(); len(got) != 2 || got[0].ID != got[1].ID {
		t.Fatalf("requests %v", got)
	}
	test := s.must(202, "POST", p.path("/webhooks/"+id+"/test"), p.Admin, nil)
	if test["event_type"] != core.EventWebhookTest || test["trigger"] != "test" || test["status"] != "pending" {
		t.Fatalf("test %v", test)
	}
	waitFor(t, 5*time.Second, "the test event", func() bool { return len(rc.ofType(core.EventWebhookTest)) == 1 })
	var ev struct {
		Data struct {
			Webhook map[string]any `json:"webhook"`
		} `json:"data"`
	}
	_ = json.Unmarshal(rc.ofType(core.EventWebhookTest)[0].Body, &ev)
	if ev.Data.Webhook["id"] != id || ev.Data.Webhook["secret"] != nil {
		t.Errorf("test event %s", rc.ofType(core.EventWebhookTest)[0].Body)
	}
	waitFor(t, 5*time.Second, "the test in the log", func() bool {
		ds := s.deliveries(p, id)
		return len(ds) == 3 && ds[0]["id"] == test["id"] && ds[0]["status"] == "succeeded"
	})
	time.Sleep(100 * time.Millisecond)
	if n := len(other.ofType(core.EventWebhookTest)); n != 0 {
		t.Errorf("the other endpoint got %d test events", n)
	}
	if r := s.do("POST", p.path("/webhooks/"+id+"/deliveries/nope/retry"), p.Admin, nil); r.Status != 404 {
		t.Errorf("unknown delivery: %d", r.Status)
	}
}

// 410 Gone disables the endpoint at once; an endpoint failing without a
// success for disable_after is disabled too. Each time, the project's other
// endpoints subscribed to webhook.disabled hear of it; disabled endpoints
// get nothing more until enabled again.
func TestWebhookDisabling(t *testing.T) {
	s := startServer(t, fastRetries(50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond,
		50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond), func(c *config.Config) {
		c.Webhooks.DisableAfter = 150 * time.Millisecond
	})
	gone := newReceiver(t, func(*received, int) (int, map[string]string) { return 410, nil })
	failing := newReceiver(t, func(*received, int) (int, map[string]string) { return 500, nil })
	watcher := newReceiver(t, nil)
	p := s.newProject("disabling")
	g := s.createWebhook(p, gone.URL, core.EventRequestCreated)
	f := s.createWebhook(p, failing.URL, core.EventRequestCreated)
	s.createWebhook(p, watcher.URL, core.EventWebhookDisabled)
	s.ingest(p, "visitor-1", nil)
	waitFor(t, 10*time.Second, "two webhook.disabled events", func() bool { return len(watcher.ofType(core.EventWebhookDisabled)) == 2 })
	if n := len(gone.all()); n != 1 {
		t.Errorf("the 410 endpoint got %d requests", n)
	}
	reasons := map[string]string{}
	for _, d := range watcher.ofType(core.EventWebhookDisabled) {
		var ev struct {
			Data struct {
				Webhook map[string]any `json:"webhook"`
				Reason  string         `json:"reason"`
			} `json:"data"`
		}
		_ = json.Unmarshal(d.Body, &ev)
		reasons[ev.Data.Webhook["id"].(string)] = ev.Data.Reason
	}
	if !strings.Contains(reasons[g["id"].(string)], "410") || !strings.Contains(reasons[f["id"].(string)], "no successful delivery") {
		t.Errorf("reasons %v", reasons)
	}
	for _, id := range []string{g["id"].(string), f["id"].(string)} {
		wh := s.must(200, "GET", p.path("/webhooks/"+id), p.Admin, nil)
		if wh["enabled"] != false || wh["disabled_reason"] == "" {
			t.Errorf("webhook %v", wh)
		}
	}
	before := len(failing.all())
	s.ingest(p, "visitor-2", nil)
	time.Sleep(300 * time.Millisecond)
	if n := len(failing.all()); n != before {
		t.Errorf("a disabled endpoint got %d more requests", n-before)
	}
	// Enabled again, it gets the next events.
	s.must(200, "PATCH", p.path("/webhooks/"+g["id"].(string)), p.Admin, map[string]any{"enabled": true})
	s.ingest(p, "visitor-3", nil)
	waitFor(t, 5*time.Second, "a delivery to the enabled endpoint", func() bool { return len(gone.all()) == 2 })
	metrics := s.do("GET", "/metrics", "", nil)
	for _, want := range []string{`leadhub_webhook_endpoints_disabled_total{reason="gone"}`, `leadhub_webhook_endpoints_disabled_total{reason="failing"}`,
		`leadhub_webhook_deliveries_total{outcome="gone",status_class="4xx"}`, `leadhub_webhook_deliveries_total{outcome="failed",status_class="5xx"}`} {
		if !strings.Contains(string(metrics.Raw), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// Retry-After asking for longer than the schedule's step is honoured (up to
// the schedule's longest step).
func TestWebhookRetryAfter(t *testing.T) {
	s := startServer(t, fastRetries(20*time.Millisecond, 3*time.Second))
	rc := newReceiver(t, func(_ *received, earlier int) (int, map[string]string) {
		if earlier == 0 {
			return 429, map[string]string{"Retry-After": "1"}
		}
		return 204, nil
	})
	p := s.newProject("retry-after")
	w := s.createWebhook(p, rc.URL, core.EventRequestCreated)
	s.ingest(p, "visitor-1", nil)
	waitFor(t, 10*time.Second, "the retry", func() bool { return len(rc.all()) == 2 })
	got := rc.all()
	if gap := got[1].At.Sub(got[0].At); gap < 900*time.Millisecond || gap > 2500*time.Millisecond {
		t.Errorf("retried after %s; Retry-After said 1s", gap)
	}
	waitFor(t, 5*time.Second, "the log", func() bool { return len(s.deliveries(p, w["id"].(string))) == 2 })
	ds := s.deliveries(p, w["id"].(string))
	created, _ := time.Parse(time.RFC3339Nano, ds[1]["created_at"].(string))
	next, _ := time.Parse(time.RFC3339Nano, ds[1]["next_attempt_at"].(string))
	if d := next.Sub(created); d < 900*time.Millisecond || d > 1500*time.Millisecond {
		t.Errorf("next attempt logged %s after the first", d)
	}
}

// One address of each blocked range, and names resolving to loopback, are
// refused when a webhook is created or changed.
func TestWebhookRefusesPrivateTargets(t *testing.T) {
	s := startServer(t)
	p := s.newProject("ssrf")
	for _, host := range []string{"127.0.0.1", "10.1.2.3", "172.16.5.4", "192.168.0.10", "169.254.169.254", "100.64.0.1", "0.0.0.0",
		"224.0.0.251", "[::1]", "[fd00::1]", "[fe80::1]", "[::ffff:127.0.0.1]", "[64:ff9b::a00:1]", "localhost", "api.localhost"} {
		u := "http://" + host + ":8080/hook"
		r := s.do("POST", p.path("/webhooks"), p.Admin, map[string]any{"url": u, "events": []string{"*"}})
		if r.Status != 400 || field(r.Body, "error", "fields", "url") == nil {
			t.Errorf("%s: %d %s", u, r.Status, r.Raw)
		}
	}
	w, err := s.srv.store.CreateWebhook(context.Background(), p.ID, core.WebhookInput{URL: "https://8.8.8.8/hook", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := s.do("PATCH", p.path("/webhooks/"+w.ID), p.Admin, map[string]any{"url": "http://127.0.0.1/x"}); r.Status != 400 {
		t.Errorf("patch to loopback: %d", r.Status)
	}
	if list := items(s.must(200, "GET", p.path("/webhooks"), p.Admin, nil)); len(list) != 1 {
		t.Errorf("%d webhooks", len(list))
	}
}

// At connect time the address dialled is checked again (DNS can change
// after creation): an endpoint that reaches a loopback address is refused
// and nothing arrives; a redirect toward a private address is not followed.
func TestWebhookBlockedAtConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no second loopback address here: %v", err)
	}
	private := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Errorf("private receiver reached: %s", r.URL) }))
	private.Listener.Close()
	private.Listener = ln
	private.Start()
	defer private.Close()
	redirector := newReceiver(t, func(*received, int) (int, map[string]string) {
		return 307, map[string]string{"Location": private.URL + "/meta-data"}
	})
	// Only the redirector's address is allowed.
	s := startServer(t, func(c *config.Config) { c.Webhooks.AllowList = []string{"127.0.0.1/32"} })
	p := s.newProject("connect")
	red := s.createWebhook(p, redirector.URL, core.EventRequestCreated)
	// The creation check sees a public address (DNS answered so then); the
	// store is written directly to stand for that.
	direct, err := s.srv.store.CreateWebhook(context.Background(), p.ID, core.WebhookInput{URL: private.URL + "/hook", Events: []string{core.EventRequestCreated}})
	if err != nil {
		t.Fatal(err)
	}
	s.ingest(p, "visitor-1", nil)
	waitFor(t, 5*time.Second, "both attempts logged", func() bool {
		return len(s.deliveries(p, red["id"].(string))) == 1 && len(s.deliveries(p, direct.ID)) == 1
	})
	d := s.deliveries(p, direct.ID)[0]
	if d["status"] != "failed" || !strings.Contains(d["error"].(string), "not a public address") || d["response_status"] != float64(0) {
		t.Errorf("blocked attempt %v", d)
	}
	r := s.deliveries(p, red["id"].(string))[0]
	if r["status"] != "failed" || r["response_status"] != float64(307) || !strings.Contains(r["error"].(string), "redirects are not followed") {
		t.Errorf("redirected attempt %v", r)
	}
	if !strings.Contains(string(s.do("GET", "/metrics", "", nil).Raw), `leadhub_webhook_deliveries_total{outcome="blocked",status_class="none"}`) {
		t.Error("blocked attempt not counted")
	}
}

// Deliveries verified by an independent implementation: the npm
// standardwebhooks package, installed into a temporary folder, checks real
// deliveries (several event types, and a rotation's double signature with
// either secret).
func TestWebhookVerifiedByStandardWebhooksNPM(t *testing.T) {
	node, errNode := exec.LookPath("node")
	npm, errNPM := exec.LookPath("npm")
	if errNode != nil || errNPM != nil {
		t.Skip("node or npm not installed: the npm standardwebhooks check needs both")
	}
	dir := t.TempDir()
	install := exec.Command(npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "standardwebhooks@1.1.1")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm install standardwebhooks: %v\n%s", err, out)
	}
	s := startServer(t, allowLoopbackWebhooks)
	rc := newReceiver(t, nil)
	p := s.newProject("npm")
	w := s.createWebhook(p, rc.URL, "*")
	r := s.ingest(p, "visitor-1", map[string]any{"fullname": "Zoë Ünïcode", "email": "zoe@example.com"})
	s.must(200, "PATCH", p.path("/leads/"+field(r, "lead", "id").(string)), p.Agent, map[string]any{"company": "Ā & B <ok>"})
	waitFor(t, 5*time.Second, "three deliveries", func() bool { return len(rc.all()) == 3 })
	old := w["secret"].(string)
	cur := s.must(200, "POST", p.path("/webhooks/"+w["id"].(string)+"/rotate-secret"), p.Admin, nil)["secret"].(string)
	s.ingest(p, "visitor-2", nil)
	waitFor(t, 5*time.Second, "five deliveries", func() bool { return len(rc.all()) == 5 })

	type check struct {
		Secret  string            `json:"secret"`
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
		Expect  bool              `json:"expect"`
	}
	var checks []check
	for i, d := range rc.all() {
		h := map[string]string{"webhook-id": d.ID, "webhook-timestamp": d.Timestamp, "webhook-signature": d.Signature}
		secrets := []string{old}
		if i >= 3 {
			secrets = []string{old, cur}
		}
		for _, sec := range secrets {
			checks = append(checks, check{Secret: sec, Headers: h, Body: string(d.Body), Expect: true})
		}
		tampered := strings.Replace(string(d.Body), `"id"`, `"Id"`, 1)
		checks = append(checks, check{Secret: secrets[0], Headers: h, Body: tampered, Expect: false})
	}
	in, _ := json.Marshal(checks)
	if err := os.WriteFile(filepath.Join(dir, "checks.json"), in, 0o600); err != nil {
		t.Fatal(err)
	}
	script := `
const { Webhook } = require("standardwebhooks");
const checks = require("./checks.json");
let ok = 0, bad = [];
checks.forEach((c, i) => {
  let verified = false;
  try { new Webhook(c.secret).verify(c.body, c.headers); verified = true; } catch (e) { verified = false; }
  if (verified === c.expect) ok++; else bad.push(i);
});
console.log(JSON.stringify({ ok, bad }));
`
	if err := os.WriteFile(filepath.Join(dir, "verify.js"), []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "verify.js")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var res struct {
		OK  int   `json:"ok"`
		Bad []int `json:"bad"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &res); err != nil {
		t.Fatalf("node said %s", out)
	}
	if res.OK != len(checks) || len(res.Bad) > 0 {
		t.Fatalf("standardwebhooks: %d of %d checks as expected; wrong: %v", res.OK, len(checks), res.Bad)
	}
	t.Logf("npm standardwebhooks verified %d deliveries (%d checks)", len(rc.all()), len(checks))
}

// kill -9 of the real binary with deliveries queued: after a restart on the
// same database every event is still delivered.
func TestWebhookDeliveriesSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	testdb.FirstPass(t)
	var up atomic.Bool
	rc := newReceiver(t, func(*received, int) (int, map[string]string) {
		if up.Load() {
			return 204, nil
		}
		return 503, nil
	})
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "leadhub.yaml")
	yaml := "webhooks:\n  allow_private_networks: true\n  retry_schedule: [2s, 2s, 2s, 2s]\n"
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"LEADHUB_DATABASE_URL=sqlite:" + filepath.Join(dir, "leadhub.db"), "LEADHUB_ADMIN_KEY=" + testAdminKey, "LEADHUB_CONFIG=" + cfgPath}
	proc := startProcess(t, env...)
	c := proc.client()
	p := c.newProject("kill")
	w := c.createWebhook(p, rc.URL, core.EventRequestCreated)
	const n = 150
	var wg sync.WaitGroup
	for g := 0; g < 10; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 10 {
				c.must(201, "POST", p.requestPath, p.Ingest, map[string]any{"id": fmt.Sprintf("req-%03d", i), "user_id": fmt.Sprintf("u-%d", i)})
			}
		}()
	}
	wg.Wait()
	// Every event tried once and refused: all n deliveries wait for their
	// retry in the queue. Kill the server while they wait.
	waitFor(t, 20*time.Second, "every first attempt logged", func() bool {
		ds := items(c.must(200, "GET", p.path("/webhooks/"+w["id"].(string)+"/deliveries?limit=500"), p.Admin, nil))
		return len(ds) == n
	})
	time.Sleep(200 * time.Millisecond)
	proc.kill()
	up.Store(true)
	again := startProcess(t, env...).client()
	delivered := func() map[string]bool {
		ids := map[string]bool{}
		for _, d := range rc.all() {
			if d.Status == 204 {
				var ev struct {
					Data struct {
						Request map[string]any `json:"request"`
					} `json:"data"`
				}
				_ = json.Unmarshal(d.Body, &ev)
				ids[fmt.Sprint(ev.Data.Request["id"])] = true
			}
		}
		return ids
	}
	waitFor(t, 30*time.Second, "every event delivered after the restart", func() bool { return len(delivered()) == n })
	got := delivered()
	for i := 0; i < n; i++ {
		if !got[fmt.Sprintf("req-%03d", i)] {
			t.Errorf("req-%03d never delivered", i)
		}
	}
	ds := items(again.must(200, "GET", p.path("/webhooks/"+w["id"].(string)+"/deliveries?limit=500"), p.Admin, nil))
	ok := 0
	for _, d := range ds {
		if d["status"] == "succeeded" {
			ok++
		}
	}
	if ok < n {
		t.Errorf("%d successes logged, want %d", ok, n)
	}
}

// chatwootSign signs a body as Chatwoot does.
func chatwootSign(secret string, body []byte, at time.Time) (string, string) {
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return ts, "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func postInbound(t *testing.T, s *testServer, channelID string, h map[string]string, body []byte) resp {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL+"/v1/inbound/"+channelID, bytes.NewReader(body))
	for k, v := range h {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{Status: res.StatusCode, Raw: raw}
	_ = json.Unmarshal(raw, &out.Body)
	return out
}

// The inbound URL end to end: channels made through the API, every shared
// fixture posted with its platform's headers, replays, refusals and sizes,
// and the counts in /metrics.
func TestInboundChannelsOverHTTP(t *testing.T) {
	s := startServer(t)
	p := s.newProject("inbound")
	fixtures := func(name string) (secret string, headers map[string]map[string]string, bodies map[string][]byte) {
		dir := filepath.Join("..", "..", "..", "shared", "fixtures", name)
		raw, err := os.ReadFile(filepath.Join(dir, "_headers.json"))
		if err != nil {
			t.Skipf("shared fixtures not found at %s (CI lays shared/ beside the clone): %v", dir, err)
		}
		var all map[string]json.RawMessage
		_ = json.Unmarshal(raw, &all)
		_ = json.Unmarshal(all["_test_secret"], &secret)
		headers, bodies = map[string]map[string]string{}, map[string][]byte{}
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, f := range files {
			base := filepath.Base(f)
			if base == "_headers.json" {
				continue
			}
			bodies[base], _ = os.ReadFile(f)
			h := map[string]string{}
			_ = json.Unmarshal(all[base], &h)
			headers[base] = h
		}
		return
	}
	cwSecret, cwHeaders, cwBodies := fixtures("chatwoot")
	tdSecret, tdHeaders, tdBodies := fixtures("tiledesk")
	cw := s.must(201, "POST", p.path("/channels"), p.Admin, map[string]any{"kind": "chatwoot", "name": "Chatwoot", "secret": cwSecret})
	td := s.must(201, "POST", p.path("/channels"), p.Admin, map[string]any{"kind": "tiledesk", "name": "Tiledesk", "secret": tdSecret})
	gen := s.must(201, "POST", p.path("/channels"), p.Admin, map[string]any{"kind": "generic", "name": "Website"})
	if !strings.HasSuffix(cw["inbound_url"].(string), "/v1/inbound/"+cw["id"].(string)) || !strings.HasPrefix(gen["secret"].(string), "whsec_") {
		t.Fatalf("channels %v %v", cw, gen)
	}
	if got := s.must(200, "GET", p.path("/channels/"+cw["id"].(string)), p.Admin, nil); got["secret"] != nil {
		t.Fatalf("read shows the secret: %v", got)
	}
	for _, f := range chatwootOrder {
		h := cwHeaders[f]
		h["X-Chatwoot-Timestamp"], h["X-Chatwoot-Signature"] = chatwootSign(cwSecret, cwBodies[f], time.Now())
		if r := postInbound(t, s, cw["id"].(string), h, cwBodies[f]); r.Status != 200 || r.Body["accepted"] != true {
			t.Fatalf("chatwoot %s: %d %s", f, r.Status, r.Raw)
		}
	}
	for _, f := range tiledeskOrder {
		if r := postInbound(t, s, td["id"].(string), tdHeaders[f], tdBodies[f]); r.Status != 200 || r.Body["accepted"] != true {
			t.Fatalf("tiledesk %s: %d %s", f, r.Status, r.Raw)
		}
	}
	// A replay is a duplicate.
	if r := postInbound(t, s, td["id"].(string), tdHeaders["request.create.1.json"], tdBodies["request.create.1.json"]); r.Status != 200 || r.Body["duplicate"] != true {
		t.Fatalf("replay: %d %s", r.Status, r.Raw)
	}
	leads := items(s.must(200, "GET", p.path("/leads?email=andrea1@example.com"), p.Agent, nil))
	if len(leads) != 2 {
		t.Fatalf("%d leads for the email, want one per platform", len(leads))
	}
	for _, l := range leads {
		if l["requests_count"] != float64(2) || l["fullname"] != "Andrea Sp" {
			t.Errorf("lead %v", l)
		}
	}
	// Generic, signed as Standard Webhooks.
	body := []byte(`{"type":"request.created","data":{"id":"web-1","user_id":"visitor-9","first_text":"Hi","lead":{"email":"nine@example.com"}}}`)
	key, _ := standardwebhooks.ParseSecret(gen["secret"].(string))
	now := time.Now().Unix()
	gh := map[string]string{"webhook-id": "msg_1", "webhook-timestamp": strconv.FormatInt(now, 10), "webhook-signature": standardwebhooks.Sign(key, "msg_1", now, body)}
	if r := postInbound(t, s, gen["id"].(string), gh, body); r.Status != 200 || r.Body["accepted"] != true {
		t.Fatalf("generic: %d %s", r.Status, r.Raw)
	}
	if r := postInbound(t, s, gen["id"].(string), gh, body); r.Body["duplicate"] != true {
		t.Fatalf("generic replay: %s", r.Raw)
	}
	// Refusals.
	stale := map[string]string{"webhook-id": "msg_2", "webhook-timestamp": strconv.FormatInt(now-3600, 10), "webhook-signature": standardwebhooks.Sign(key, "msg_2", now-3600, body)}
	bad := map[string]string{"webhook-id": "msg_3", "webhook-timestamp": strconv.FormatInt(now, 10), "webhook-signature": standardwebhooks.Sign(key, "msg_2", now, body)}
	unreadable := []byte(`{"type":"request.created","data":"nope"}`)
	ur := map[string]string{"webhook-id": "msg_4", "webhook-timestamp": strconv.FormatInt(now, 10), "webhook-signature": standardwebhooks.Sign(key, "msg_4", now, unreadable)}
	large := bytes.Repeat([]byte("x"), 2<<20)
	before := snapshotIfSQLite(t, s)
	for _, c := range []struct {
		name    string
		channel string
		h       map[string]string
		body    []byte
		status  int
		code    string
	}{
		{"stale", gen["id"].(string), stale, body, 401, "unauthorized"},
		{"bad signature", gen["id"].(string), bad, body, 401, "unauthorized"},
		{"tiledesk wrong secret", td["id"].(string), map[string]string{"x-hook-secret": "guess"}, tdBodies["lead.create.1.json"], 401, "unauthorized"},
		{"chatwoot unsigned", cw["id"].(string), map[string]string{}, cwBodies["contact_updated.1.json"], 401, "unauthorized"},
		{"unreadable", gen["id"].(string), ur, unreadable, 400, "invalid"},
		{"too large", gen["id"].(string), gh, large, 413, "too_large"},
		{"unknown channel", "no-such-channel", gh, body, 404, "not_found"},
	} {
		r := postInbound(t, s, c.channel, c.h, c.body)
		if r.Status != c.status || field(r.Body, "error", "code") != c.code {
			t.Errorf("%s: %d %s", c.name, r.Status, r.Raw)
		}
	}
	if after := snapshotIfSQLite(t, s); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("refused deliveries changed the database:\n%v\n%v", before, after)
	}
	metrics := string(s.do("GET", "/metrics", "", nil).Raw)
	for _, want := range []string{
		`leadhub_inbound_deliveries_total{kind="chatwoot",result="ok"} 6`,
		`leadhub_inbound_deliveries_total{kind="chatwoot",result="ignored"} 1`,
		`leadhub_inbound_deliveries_total{kind="tiledesk",result="ok"} 6`,
		`leadhub_inbound_deliveries_total{kind="tiledesk",result="duplicate"} 1`,
		`leadhub_inbound_deliveries_total{kind="generic",result="stale"} 1`,
		`leadhub_inbound_deliveries_total{kind="generic",result="bad_signature"} 1`,
		`leadhub_inbound_deliveries_total{kind="generic",result="unreadable"} 1`,
		`leadhub_inbound_deliveries_total{kind="generic",result="too_large"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, id := range []string{cw["id"].(string), td["id"].(string), gen["id"].(string), p.ID} {
		if strings.Contains(metrics, id) {
			t.Errorf("an id in /metrics: %s", id)
		}
	}
	// A deleted channel's URL is gone.
	s.must(204, "DELETE", p.path("/channels/"+gen["id"].(string)), p.Admin, nil)
	if r := postInbound(t, s, gen["id"].(string), gh, body); r.Status != 404 {
		t.Errorf("deleted channel: %d", r.Status)
	}
}

var (
	chatwootOrder = []string{"contact_created.1.json", "contact_updated.1.json", "conversation_created.1.json", "message_created.1.json",
		"conversation_status_changed.1.json", "conversation_created.2.json", "message_created.2.json"}
	tiledeskOrder = []string{"lead.create.1.json", "request.create.1.json", "message.create.1.json", "request.close.1.json",
		"request.create.2.json", "message.create.2.json"}
)

func snapshotIfSQLite(t *testing.T, s *testServer) map[string]string {
	if s.DB == "" {
		return nil
	}
	return snapshot(t, s.DB)
}
