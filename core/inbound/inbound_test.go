package inbound_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/inbound"
	"github.com/leadhub/leadhub/core/standardwebhooks"
	"github.com/leadhub/leadhub/core/store"
	"github.com/leadhub/leadhub/internal/testdb"
)

// TestMain runs the tests on SQLite and, when LEADHUB_TEST_DATABASE_URL is
// set, again on PostgreSQL.
func TestMain(m *testing.M) { os.Exit(testdb.Run(m)) }

// counter is an Observer that counts results.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) InboundReceived(kind, result string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[kind+"/"+result]++
}

func (c *counter) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

type env struct {
	t     *testing.T
	ctx   context.Context
	s     *store.Store
	svc   *inbound.Service
	obs   *counter
	pid   string
	ch    *core.Channel
	clock time.Time // zero: time.Now
}

func newEnv(t *testing.T, in core.ChannelInput) *env {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{URL: testdb.URL(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	p, _, err := s.CreateProject(ctx, "inbound")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := s.CreateChannel(ctx, p.ID, in)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, s: s, obs: &counter{}, pid: p.ID, ch: ch}
	e.svc = inbound.New(s, inbound.Options{Observer: e.obs, Clock: func() time.Time {
		if e.clock.IsZero() {
			return time.Now()
		}
		return e.clock
	}})
	return e
}

// receive posts a delivery and returns (duplicate, error code).
func (e *env) receive(h http.Header, body []byte) (bool, string) {
	e.t.Helper()
	dup, err := e.svc.Receive(e.ctx, core.InboundDelivery{ChannelID: e.ch.ID, Header: h, Body: body})
	return dup, core.ErrorCode(err)
}

func (e *env) mustAccept(name string, h http.Header, body []byte) {
	e.t.Helper()
	if dup, code := e.receive(h, body); dup || code != "" {
		e.t.Fatalf("%s: duplicate=%v error=%q", name, dup, code)
	}
}

func (e *env) lead(userID string) *core.Lead {
	e.t.Helper()
	page, err := e.s.Leads(e.ctx, e.pid, core.LeadFilter{UserID: userID, Status: "all"})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(page.Items) == 0 {
		return nil
	}
	return &page.Items[0]
}

func (e *env) request(id string) *core.Request {
	e.t.Helper()
	r, err := e.s.Request(e.ctx, e.pid, id)
	if core.ErrorCode(err) == core.ENOTFOUND {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// state sums up everything a delivery could change.
func (e *env) state() string {
	e.t.Helper()
	page, err := e.s.Leads(e.ctx, e.pid, core.LeadFilter{Status: "all", Limit: 500})
	if err != nil {
		e.t.Fatal(err)
	}
	var b strings.Builder
	for _, l := range page.Items {
		fmt.Fprintf(&b, "%s %v %s %s %d %v\n", l.ID, l.UserIDs, l.Fullname, l.Email, l.RequestsCount, l.UpdatedAt)
		reqs, _ := e.s.LeadRequests(e.ctx, e.pid, l.ID, 500, "")
		for _, r := range reqs.Items {
			fmt.Fprintf(&b, "  %s %s %d %v\n", r.ID, r.Status, r.MessagesCount, r.UpdatedAt)
		}
		evs, _ := e.s.LeadEvents(e.ctx, e.pid, l.ID, 500, "")
		fmt.Fprintf(&b, "  %d events\n", len(evs.Items))
	}
	return b.String()
}

func headerOf(m map[string]string) http.Header {
	h := http.Header{}
	for k, v := range m {
		h.Set(k, v)
	}
	return h
}

// chatwootHeaders signs body as Chatwoot does, at time at.
func chatwootHeaders(secret string, body []byte, at time.Time, delivery string) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Chatwoot-Timestamp", ts)
	h.Set("X-Chatwoot-Signature", "sha256="+hex.EncodeToString(m.Sum(nil)))
	if delivery != "" {
		h.Set("X-Chatwoot-Delivery", delivery)
	}
	return h
}

var chatwootStory = []string{
	"contact_created.1.json", "contact_updated.1.json", "conversation_created.1.json", "message_created.1.json",
	"conversation_status_changed.1.json", "conversation_created.2.json", "message_created.2.json",
}

func checkChatwootStory(t *testing.T, e *env) {
	t.Helper()
	l := e.lead("chatwoot:48213")
	if l == nil {
		t.Fatal("no lead for contact 48213")
	}
	if l.Fullname != "Andrea Sp" || l.Email != "andrea1@example.com" || l.RequestsCount != 2 || !slices.Equal(l.UserIDs, []string{"chatwoot:48213"}) {
		t.Errorf("lead %+v", l)
	}
	r1, r2 := e.request("chatwoot:1186"), e.request("chatwoot:1191")
	if r1 == nil || r2 == nil {
		t.Fatalf("requests %v %v", r1, r2)
	}
	if r1.Status != core.RequestClosed || r1.ClosedAt == nil || r1.MessagesCount != 1 || r1.LeadID != l.ID ||
		!strings.HasPrefix(r1.FirstText, "Hi! Is the Trekker 2") || r1.Channel != "chatwoot" || r1.Attributes["chatwoot_inbox_id"] != "12" {
		t.Errorf("first conversation %+v", r1)
	}
	if r2.Status != core.RequestOpen || r2.MessagesCount != 1 || r2.LeadID != l.ID {
		t.Errorf("second conversation %+v", r2)
	}
	if page, _ := e.s.Leads(e.ctx, e.pid, core.LeadFilter{Status: "all"}); len(page.Items) != 1 {
		t.Errorf("%d leads, want 1", len(page.Items))
	}
}

// Every Chatwoot fixture, with the headers Chatwoot sent (the clock set to
// their timestamps, so their real signatures are checked), in story order;
// then each again: a duplicate.
func TestChatwootFixtures(t *testing.T) {
	p := mustPlatform(t, "chatwoot")
	e := newEnv(t, core.ChannelInput{Kind: core.ChannelChatwoot, Name: "Chatwoot", Secret: p.secret})
	defer func() {
		// Fixtures added after this story was written: each must at least
		// go through the adapter.
		e.clock = time.Time{}
		for f, body := range p.bodies {
			if !slices.Contains(chatwootStory, f) {
				if _, code := e.receive(chatwootHeaders(p.secret, body, time.Now(), ""), body); code != "" {
					t.Errorf("fixture %s: %s", f, code)
				}
			}
		}
	}()
	for _, f := range chatwootStory {
		ts, _ := strconv.ParseInt(p.headers[f]["X-Chatwoot-Timestamp"], 10, 64)
		e.clock = time.Unix(ts, 0).Add(3 * time.Second)
		e.mustAccept(f, headerOf(p.headers[f]), p.bodies[f])
		if f == "contact_created.1.json" {
			if page, _ := e.s.Leads(e.ctx, e.pid, core.LeadFilter{Status: "all"}); len(page.Items) != 0 {
				t.Fatal("an anonymous widget load created a lead")
			}
		}
	}
	checkChatwootStory(t, e)
	before := e.state()
	for _, f := range chatwootStory[1:] {
		ts, _ := strconv.ParseInt(p.headers[f]["X-Chatwoot-Timestamp"], 10, 64)
		e.clock = time.Unix(ts, 0).Add(time.Minute)
		if dup, code := e.receive(headerOf(p.headers[f]), p.bodies[f]); !dup || code != "" {
			t.Errorf("replayed %s: duplicate=%v error=%q", f, dup, code)
		}
	}
	if after := e.state(); after != before {
		t.Errorf("replays changed something:\n%s\n%s", before, after)
	}
	if n := e.obs.get("chatwoot/duplicate"); n != len(chatwootStory)-1 {
		t.Errorf("%d duplicates counted", n)
	}
	if n := e.obs.get("chatwoot/ok"); n != len(chatwootStory)-1 {
		t.Errorf("%d ok counted", n)
	}
}

// The same story re-signed now, events out of order: messages before their
// conversations, the status change before everything. Nothing is lost and
// nothing is doubled.
func TestChatwootOutOfOrder(t *testing.T) {
	p := mustPlatform(t, "chatwoot")
	e := newEnv(t, core.ChannelInput{Kind: core.ChannelChatwoot, Name: "Chatwoot", Secret: p.secret})
	order := []string{"message_created.2.json", "message_created.1.json", "conversation_status_changed.1.json", "contact_updated.1.json",
		"conversation_created.1.json", "conversation_created.2.json", "contact_created.1.json"}
	for _, f := range order {
		e.mustAccept(f, chatwootHeaders(p.secret, p.bodies[f], time.Now(), p.headers[f]["X-Chatwoot-Delivery"]), p.bodies[f])
	}
	checkChatwootStory(t, e)
}

// Chatwoot's own merges: the contact writing from a second browser (another
// source id) is still one lead; an identifier becomes another user id of
// that lead, so the customer's own requests land there too.
func TestChatwootIdentity(t *testing.T) {
	p := mustPlatform(t, "chatwoot")
	e := newEnv(t, core.ChannelInput{Kind: core.ChannelChatwoot, Name: "Chatwoot", Secret: p.secret})
	send := func(name string, body []byte) {
		t.Helper()
		e.mustAccept(name, chatwootHeaders(p.secret, body, time.Now(), ""), body)
	}
	send("conversation_created.1", p.bodies["conversation_created.1.json"])
	var conv map[string]any
	_ = json.Unmarshal(p.bodies["conversation_created.2.json"], &conv)
	conv["contact_inbox"].(map[string]any)["source_id"] = "9e1d0c4b-browser-B"
	b, _ := json.Marshal(conv)
	send("conversation_created.2 from browser B", b)
	var contact map[string]any
	_ = json.Unmarshal(p.bodies["contact_updated.1.json"], &contact)
	contact["identifier"] = "customer-42"
	contact["phone_number"] = "+39 06 1234 567"
	b, _ = json.Marshal(contact)
	send("contact_updated with an identifier", b)
	l := e.lead("chatwoot:48213")
	if l == nil || l.RequestsCount != 2 || !slices.Equal(l.UserIDs, []string{"chatwoot:48213", "customer-42"}) || l.Phone != "+39 06 1234 567" {
		t.Fatalf("lead %+v", l)
	}
	if other := e.lead("customer-42"); other == nil || other.ID != l.ID {
		t.Fatalf("identifier's lead %+v", other)
	}
	// contact_updated clearing the phone clears it.
	contact["phone_number"] = nil
	contact["changed_attributes"] = []any{map[string]any{"phone_number": map[string]any{"previous_value": "+39 06 1234 567", "current_value": nil}}}
	b, _ = json.Marshal(contact)
	send("contact_updated clearing the phone", b)
	if l := e.lead("chatwoot:48213"); l.Phone != "" {
		t.Fatalf("phone %q", l.Phone)
	}
	// A contact that only has an identifier becomes a lead; one without
	// email, phone or identifier does not.
	contact = map[string]any{"event": "contact_created", "id": 777, "name": "calm-sea-1", "email": nil, "identifier": nil}
	b, _ = json.Marshal(contact)
	send("anonymous contact", b)
	if e.lead("chatwoot:777") != nil {
		t.Fatal("anonymous contact became a lead")
	}
	contact["identifier"] = "customer-77"
	b, _ = json.Marshal(contact)
	send("identified contact", b)
	if l := e.lead("chatwoot:777"); l == nil || !slices.Equal(l.UserIDs, []string{"chatwoot:777", "customer-77"}) {
		t.Fatalf("identified contact: %+v", l)
	}
}

// Chatwoot's signature: refused when wrong, missing (unless allow_unsigned),
// or stale; a signed body that is not readable is 400 and changes nothing.
func TestChatwootRefusals(t *testing.T) {
	p := mustPlatform(t, "chatwoot")
	e := newEnv(t, core.ChannelInput{Kind: core.ChannelChatwoot, Name: "Chatwoot", Secret: p.secret})
	body := p.bodies["conversation_created.1.json"]
	before := e.state()
	h := chatwootHeaders(p.secret, body, time.Now(), "d-1")
	h.Set("X-Chatwoot-Signature", "sha256="+strings.Repeat("ab", 32))
	if _, code := e.receive(h, body); code != core.EUNAUTHORIZED {
		t.Errorf("wrong signature: %q", code)
	}
	h = chatwootHeaders("another secret", body, time.Now(), "d-1")
	if _, code := e.receive(h, body); code != core.EUNAUTHORIZED {
		t.Errorf("other secret: %q", code)
	}
	h = chatwootHeaders(p.secret, body, time.Now(), "d-1")
	if _, code := e.receive(h, append([]byte(" "), body...)); code != core.EUNAUTHORIZED {
		t.Errorf("body changed after signing: %q", code)
	}
	h.Del("X-Chatwoot-Signature")
	if _, code := e.receive(h, body); code != core.EUNAUTHORIZED {
		t.Errorf("unsigned: %q", code)
	}
	for _, at := range []time.Time{time.Now().Add(-6 * time.Minute), time.Now().Add(6 * time.Minute)} {
		if _, code := e.receive(chatwootHeaders(p.secret, body, at, "d-1"), body); code != core.EUNAUTHORIZED {
			t.Errorf("timestamp %v: %q", at, code)
		}
	}
	for _, bad := range [][]byte{[]byte("not json"), []byte(`["an array"]`), []byte(`{"event": "conversation_created", "id": {"x": 1}}`),
		[]byte(`{"event": "conversation_created"}`), []byte(`{"event": "message_created", "message_type": 0}`), {}} {
		if _, code := e.receive(chatwootHeaders(p.secret, bad, time.Now(), ""), bad); code != core.EINVALID {
			t.Errorf("unreadable %q: %q", bad, code)
		}
	}
	if after := e.state(); after != before {
		t.Fatalf("refused deliveries changed something:\n%s", after)
	}
	for _, k := range []string{"chatwoot/bad_signature", "chatwoot/stale", "chatwoot/unreadable"} {
		if e.obs.get(k) == 0 {
			t.Errorf("no %s counted", k)
		}
	}
	// The same delivery, signed now, goes through.
	e.mustAccept("signed", chatwootHeaders(p.secret, body, time.Now(), "d-1"), body)
}

// A channel set allow_unsigned (old Chatwoot versions) takes unsigned
// deliveries and says so; a wrong signature is still refused.
func TestChatwootAllowUnsigned(t *testing.T) {
	p := mustPlatform(t, "chatwoot")
	e := newEnv(t, core.ChannelInput{Kind: core.ChannelChatwoot, Name: "Old Chatwoot", Secret: p.secret, AllowUnsigned: true})
	if ch, _ := e.s.Channel(e.ctx, e.pid, e.ch.ID); !ch.AllowUnsigned || len(ch.Warnings) == 0 {
		t.Fatalf("channel state %+v", ch)
	}
	body := p.bodies["conversation_created.1.json"]
	e.mustAccept("unsigned", http.Header{"Content-Type": {"application/json"}}, body)
	if dup, _ := e.receive(http.Header{}, body); !dup {
		t.Error("an unsigned replay without a delivery id is not a duplicate (the body hash is its id)")
	}
	h := chatwootHeaders("wrong", body, time.Now(), "")
	if _, code := e.receive(h, body); code != core.EUNAUTHORIZED {
		t.Errorf("wrong signature on an unsigned channel: %q", code)
	}
}

func tiledeskHeaders(secret string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("x-hook-secret", secret)
	return h
}

var tiledeskStory = []string{"lead.create.1.json", "request.create.1.json", "message.create.1.json", "request.close.1.json",
	"request.create.2.json", "message.create.2.json"}

const (
	tdUser = "5d2e8f71-3c9a-4b06-9e1f-a7c4b2d8e053"
	tdReq1 = "support-group-690881cd5d2b7a9c315b21db-0b7d4e2a9c1f4e6b8a3d5c7e9f1a2b3c"
	tdReq2 = "support-group-690881cd5d2b7a9c315b21db-7e2c9a4b1d3f4a8e9b6c0d2e4f6a8b1c"
)

func checkTiledeskStory(t *testing.T, e *env) {
	t.Helper()
	l := e.lead(tdUser)
	if l == nil || l.Fullname != "Andrea Sp" || l.Email != "andrea1@example.com" || l.RequestsCount != 2 || !slices.Equal(l.UserIDs, []string{tdUser}) {
		t.Fatalf("lead %+v", l)
	}
	r1, r2 := e.request(tdReq1), e.request(tdReq2)
	if r1 == nil || r1.Status != core.RequestClosed || r1.MessagesCount != 1 || r1.LeadID != l.ID || !strings.HasPrefix(r1.FirstText, "Ciao! La tenda") ||
		r1.Attributes["department"] != "Default Department" || r1.Attributes["tiledesk_channel"] != "chat21" {
		t.Errorf("first request %+v", r1)
	}
	if r2 == nil || r2.Status != core.RequestOpen || r2.MessagesCount != 1 || r2.LeadID != l.ID {
		t.Errorf("second request %+v", r2)
	}
}

// Every Tiledesk fixture with the headers it came with, in story order; then
// each again: a duplicate (the body's hash is its delivery id).
func TestTiledeskFixtures(t *testing.T) {
	p := mustPlatform(t, "tiledesk")
	e := newEnv(t, core.ChannelInput{Kind: core.ChannelTiledesk, Name: "Tiledesk", Secret: p.secret})
	defer func() {
		for f, body := range p.bodies {
			if !slices.Contains(tiledeskStory, f) {
				if _, code := e.receive(tiledeskHeaders(p.secret), body); code != "" {
					t.Errorf("fixture %s: %s", f, code)
				}
			}
		}
	}()
	for _, f := range tiledeskStory {
		e.mustAccept(f, headerOf(p.headers[f]), p.bodies[f])
	}
	checkTiledeskStory(t, e)
	before := e.state()
	for _, f := range tiledeskStory {
		if dup, code := e.receive(headerOf(p.headers[f]), p.bodies[f]); !dup || code != "" {
			t.Errorf("replayed %s: duplicate=%v error=%q", f, dup, code)
		}
	}
	// request.close arriving twice (a second delivery, not a retry).
	var body map[string]any
	_ = json.Unmarshal(p.bodies["request.close.1.json"], &body)
	body["timestamp"] = body["timestamp"].(float64) + 1500
	again, _ := json.Marshal(body)
	e.mustAccept("second request.close", tiledeskHeaders(p.secret), again)
	if after := e.state(); after != before {
		t.Errorf("replays changed something:\n%s\n%s", before, after)
	}
}

// Out of order: messages and the close before the request and the lead.
func TestTiledeskOutOfOrder(t *testing.T) {
	p := mustPlatform(t, "tiledesk")
	e := newEnv(t, core.ChannelInput{Kind: core.ChannelTiledesk, Name: "Tiledesk", Secret: p.secret})
	for _, f := range []string{"message.create.2.json", "request.close.1.json", "message.create.1.json", "request.create.2.json",
		"request.create.1.json", "lead.create.1.json"} {
		e.mustAccept(f, tiledeskHeaders(p.secret), p.bodies[f])
	}
	checkTiledeskStory(t, e)
}

// Linked records that Tiledesk failed to load arrive as bare id strings: the
// visitor is still found (snapshot, requester, widget attributes), and a
// message whose request is a bare id counts only if its sender is the
// request's visitor.
func TestTiledeskBareIDs(t *testing.T) {
	p := mustPlatform(t, "tiledesk")
	e := newEnv(t, core.ChannelInput{Kind: core.ChannelTiledesk, Name: "Tiledesk", Secret: p.secret})
	mutate := func(file string, f func(payload map[string]any)) []byte {
		var body map[string]any
		_ = json.Unmarshal(p.bodies[file], &body)
		f(body["payload"].(map[string]any))
		b, _ := json.Marshal(body)
		return b
	}
	bare := func(pl map[string]any) {
		for _, k := range []string{"lead", "requester", "department"} {
			if m, ok := pl[k].(map[string]any); ok {
				pl[k] = m["_id"]
			}
		}
	}
	// Only the snapshot knows the visitor.
	e.mustAccept("request.create, bare lead", tiledeskHeaders(p.secret), mutate("request.create.1.json", bare))
	// Neither lead nor snapshot: the widget's requester_id attribute.
	e.mustAccept("request.create, no snapshot", tiledeskHeaders(p.secret), mutate("request.create.2.json", func(pl map[string]any) {
		bare(pl)
		delete(pl, "snapshot")
	}))
	l := e.lead(tdUser)
	if l == nil || l.RequestsCount != 2 {
		t.Fatalf("lead %+v", l)
	}
	if l.Email != "andrea1@example.com" {
		t.Errorf("the snapshot's lead fields were not applied: %+v", l)
	}
	// A message whose request is a bare id: the visitor's counts, an
	// agent's does not.
	msg := func(sender string) []byte {
		return mutate("message.create.1.json", func(pl map[string]any) {
			pl["request"] = tdReq1
			pl["sender"] = sender
		})
	}
	e.mustAccept("visitor message, bare request", tiledeskHeaders(p.secret), msg(tdUser))
	e.mustAccept("agent message, bare request", tiledeskHeaders(p.secret), msg("690881825d2b7a9c315b2216"))
	if r := e.request(tdReq1); r.MessagesCount != 1 {
		t.Fatalf("messages %d, want 1", r.MessagesCount)
	}
	// An agent's message with the full request counts nothing either.
	e.mustAccept("agent message", tiledeskHeaders(p.secret), mutate("message.create.2.json", func(pl map[string]any) { pl["sender"] = "system" }))
	if r := e.request(tdReq2); r.MessagesCount != 0 {
		t.Fatalf("agent message counted: %d", r.MessagesCount)
	}
}

func TestTiledeskRefusals(t *testing.T) {
	p := mustPlatform(t, "tiledesk")
	e := newEnv(t, core.ChannelInput{Kind: core.ChannelTiledesk, Name: "Tiledesk", Secret: p.secret})
	body := p.bodies["request.create.1.json"]
	before := e.state()
	for _, h := range []http.Header{{}, tiledeskHeaders("wrong"), tiledeskHeaders(p.secret + "x"), tiledeskHeaders(strings.ToUpper(p.secret))} {
		if _, code := e.receive(h, body); code != core.EUNAUTHORIZED {
			t.Errorf("secret %q: %q", h.Get("x-hook-secret"), code)
		}
	}
	for _, bad := range []string{"{", `{"payload": {}}`, `{"hook": {"event": "request.create"}, "payload": {"request_id": 7, "lead": []}}`,
		`{"hook": {"event": "message.create"}, "payload": {"text": "hi"}}`, `{"hook": {"event": "lead.create"}, "payload": {"fullname": "x"}}`} {
		if _, code := e.receive(tiledeskHeaders(p.secret), []byte(bad)); code != core.EINVALID {
			t.Errorf("unreadable %s: %q", bad, code)
		}
	}
	if after := e.state(); after != before {
		t.Fatalf("refused deliveries changed something:\n%s", after)
	}
	if e.obs.get("tiledesk/bad_signature") != 4 || e.obs.get("tiledesk/unreadable") != 5 {
		t.Errorf("counts %v", e.obs.n)
	}
}

// genericHeaders signs as Standard Webhooks.
func genericHeaders(secret, id string, at time.Time, body []byte) http.Header {
	key, _ := standardwebhooks.ParseSecret(secret)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(standardwebhooks.HeaderID, id)
	h.Set(standardwebhooks.HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	h.Set(standardwebhooks.HeaderSignature, standardwebhooks.Sign(key, id, at.Unix(), body))
	return h
}

func TestGeneric(t *testing.T) {
	e := newEnv(t, core.ChannelInput{Kind: core.ChannelGeneric, Name: "Website"})
	secret := e.ch.Secret
	n := 0
	send := func(body string) (bool, string) {
		n++
		return e.receive(genericHeaders(secret, fmt.Sprintf("msg_%d", n), time.Now(), []byte(body)), []byte(body))
	}
	ok := func(body string) {
		t.Helper()
		if dup, code := send(body); dup || code != "" {
			t.Fatalf("%s: %v %q", body, dup, code)
		}
	}
	ok(`{"type": "request.created", "data": {"id": "g-1", "user_id": "visitor-1", "channel": "web", "first_text": "Hello",
		"attributes": {"page": "/pricing"}, "lead": {"fullname": "Ada L", "email": "ada@example.com", "attributes": {"plan": "pro"}}}}`)
	ok(`{"id": "evt_2", "type": "message.created", "created_at": "2026-05-12T09:00:00Z", "data": {"request_id": "g-1", "sender": "visitor-1", "text": "More"}}`)
	ok(`{"type": "request.updated", "data": {"id": "g-1", "status": "closed", "attributes": {"resolution": "sold"}}}`)
	ok(`{"type": "lead.updated", "data": {"user_id": "visitor-1", "lead": {"company": "Analytical Engines", "tags": ["vip"], "attributes": {"plan": null}}}}`)
	ok(`{"type": "lead.updated", "data": {"user_id": "visitor-2", "lead": {"fullname": "New Person"}}}`)
	l := e.lead("visitor-1")
	if l == nil || l.Fullname != "Ada L" || l.Company != "Analytical Engines" || !slices.Equal(l.Tags, []string{"vip"}) || l.Attributes["plan"] != nil {
		t.Fatalf("lead %+v", l)
	}
	r := e.request("g-1")
	if r == nil || r.Status != core.RequestClosed || r.MessagesCount != 1 || r.Attributes["resolution"] != "sold" || r.Channel != "web" {
		t.Fatalf("request %+v", r)
	}
	if l := e.lead("visitor-2"); l == nil || l.Fullname != "New Person" {
		t.Fatalf("created by lead.updated: %+v", l)
	}
	ok(`{"type": "request.created", "data": {"user_id": "visitor-3", "first_text": "no id: one is made"}}`)
	if l := e.lead("visitor-3"); l == nil || l.RequestsCount != 1 {
		t.Fatalf("request without an id: %+v", l)
	}
	before := e.state()
	// A replay (same webhook-id) is a duplicate.
	body := []byte(`{"type": "message.created", "data": {"request_id": "g-1", "text": "again"}}`)
	h := genericHeaders(secret, "msg_replayed", time.Now(), body)
	e.mustAccept("first", h, body)
	before = e.state()
	if dup, code := e.receive(h, body); !dup || code != "" {
		t.Fatalf("replay: %v %q", dup, code)
	}
	// Stale, wrong, missing signatures; unreadable bodies.
	for name, hh := range map[string]http.Header{
		"stale":     genericHeaders(secret, "msg_x", time.Now().Add(-10*time.Minute), body),
		"future":    genericHeaders(secret, "msg_x", time.Now().Add(10*time.Minute), body),
		"other key": genericHeaders(core.NewWebhookSecret(), "msg_x", time.Now(), body),
		"unsigned":  {standardwebhooks.HeaderID: {"msg_x"}},
	} {
		if _, code := e.receive(hh, body); code != core.EUNAUTHORIZED {
			t.Errorf("%s: %q", name, code)
		}
	}
	for _, bad := range []string{`{"type": "request.created"}`, `{"type": "lead.exploded", "data": {}}`,
		`{"type": "request.created", "data": {"user_id": "x", "surprise": 1}}`, `{"type": "request.created", "data": {"channel": "x"}}`,
		`{"type": "message.created", "data": {"request_id": "no-such-request"}}`,
		`{"type": "request.created", "data": {"user_id": "x", "lead": {"email": "not an email"}}}`, `[]`, `{"type": 7}`} {
		if dup, code := send(bad); code != core.EINVALID || dup {
			t.Errorf("%s: %v %q", bad, dup, code)
		}
	}
	if after := e.state(); after != before {
		t.Fatalf("refused deliveries changed something:\n%s\n%s", before, after)
	}
	if e.obs.get("generic/stale") != 2 || e.obs.get("generic/bad_signature") != 2 {
		t.Errorf("counts %v", e.obs.n)
	}
}

// Deliveries of one contact arriving at once are applied one after another:
// one lead, one request, every message counted.
func TestConcurrentDeliveries(t *testing.T) {
	p := mustPlatform(t, "chatwoot")
	e := newEnv(t, core.ChannelInput{Kind: core.ChannelChatwoot, Name: "Chatwoot", Secret: p.secret})
	var msg map[string]any
	_ = json.Unmarshal(p.bodies["message_created.1.json"], &msg)
	var wg sync.WaitGroup
	errs := make(chan string, 20)
	for i := 0; i < 20; i++ {
		msg["id"] = 1000 + i
		b, _ := json.Marshal(msg)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, code := e.receive(chatwootHeaders(p.secret, b, time.Now(), fmt.Sprintf("del-%d", i)), b); code != "" {
				errs <- code
			}
		}()
	}
	wg.Wait()
	close(errs)
	for c := range errs {
		t.Errorf("delivery failed: %s", c)
	}
	if r := e.request("chatwoot:1186"); r == nil || r.MessagesCount != 20 {
		t.Fatalf("request %+v", r)
	}
	if page, _ := e.s.Leads(e.ctx, e.pid, core.LeadFilter{Status: "all"}); len(page.Items) != 1 {
		t.Fatalf("%d leads", len(page.Items))
	}
}

func TestUnknownChannel(t *testing.T) {
	e := newEnv(t, core.ChannelInput{Kind: core.ChannelGeneric, Name: "g"})
	_, err := e.svc.Receive(e.ctx, core.InboundDelivery{ChannelID: "nope", Body: []byte("{}")})
	if core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatal(err)
	}
}
