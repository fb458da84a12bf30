package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/store"
	"github.com/leadhub/leadhub/internal/testdb"
)

// jobRecorder is an event hook that runs the store's webhook fan-out inside
// the event's transaction, as the server's dispatcher does, and keeps the
// jobs it would enqueue.
type jobRecorder struct {
	mu     sync.Mutex
	fanout core.Fanout
	jobs   []core.Job
	events []core.Event
	// batch has the fan-out decide for all the events of a write at once
	// (core.EventsFanout), as the dispatcher does.
	batch bool
}

func (r *jobRecorder) OnEvents(ctx context.Context, tx *sql.Tx, evs []core.Event) error {
	if ef, ok := r.fanout.(core.EventsFanout); ok && r.batch {
		js, err := ef.JobsForEvents(ctx, tx, evs)
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.events = append(r.events, evs...)
		r.jobs = append(r.jobs, js...)
		r.mu.Unlock()
		return nil
	}
	for _, ev := range evs {
		js, err := r.fanout.JobsFor(ctx, tx, ev)
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.events = append(r.events, ev)
		r.jobs = append(r.jobs, js...)
		r.mu.Unlock()
	}
	return nil
}

func (r *jobRecorder) EnqueueJobs(ctx context.Context, tx *sql.Tx, js []core.Job) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.jobs = append(r.jobs, js...)
	return nil
}

// take returns the recorded jobs as "kind event-type target" lines, and
// forgets them.
func (r *jobRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	types := map[string]string{}
	for _, ev := range r.events {
		types[ev.ID] = ev.Type
	}
	var out []string
	for _, j := range r.jobs {
		out = append(out, j.Kind+" "+types[j.EventID]+" "+j.Target)
	}
	sort.Strings(out)
	r.jobs, r.events = nil, nil
	return out
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openHooked(t *testing.T) (*store.Store, *jobRecorder, *testClock) {
	t.Helper()
	rec := &jobRecorder{}
	clock := &testClock{t: time.Date(2026, 5, 12, 9, 0, 0, 0, time.UTC)}
	s, err := store.Open(context.Background(), store.Options{URL: testdb.URL(t), Hook: rec, Clock: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	rec.fanout = s.WebhookFanout()
	return s, rec, clock
}

func mustWebhook(t *testing.T, s *store.Store, pid string, events ...string) *core.Webhook {
	t.Helper()
	w, err := s.CreateWebhook(context.Background(), pid, core.WebhookInput{URL: "https://hooks.example.com/" + pid, Events: events})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// Every event becomes one job per enabled endpoint of its project that
// subscribes to its type or to "*", in the event's transaction.
func TestWebhookFanout(t *testing.T) {
	ctx := context.Background()
	s, rec, _ := openHooked(t)
	a, b := newProject(t, s), newProject(t, s)
	all := mustWebhook(t, s, a, "*")
	leads := mustWebhook(t, s, a, core.EventLeadCreated, core.EventLeadUpdated)
	off := mustWebhook(t, s, a, core.EventRequestCreated)
	if _, err := s.UpdateWebhook(ctx, a, off.ID, core.WebhookPatch{Enabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	mustWebhook(t, s, b, "*")
	if _, err := s.IngestRequest(ctx, a, core.Ingest{UserID: "u1", Lead: core.LeadFields{Email: ptr("a@example.com")}}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"webhook.deliver lead.created " + all.ID,
		"webhook.deliver lead.created " + leads.ID,
		"webhook.deliver request.created " + all.ID,
	}
	sort.Strings(want)
	if got := rec.take(); !slices.Equal(got, want) {
		t.Fatalf("jobs\n%v\nwant\n%v", got, want)
	}
	// A subscription change applies to the next event.
	if _, err := s.UpdateWebhook(ctx, a, leads.ID, core.WebhookPatch{Events: &[]string{core.EventRequestCreated}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.IngestRequest(ctx, a, core.Ingest{UserID: "u2"}); err != nil {
		t.Fatal(err)
	}
	want = []string{"webhook.deliver lead.created " + all.ID, "webhook.deliver request.created " + all.ID, "webhook.deliver request.created " + leads.ID}
	sort.Strings(want)
	if got := rec.take(); !slices.Equal(got, want) {
		t.Fatalf("after resubscribing: %v", got)
	}
	// Deleted: no more jobs.
	if err := s.DeleteWebhook(ctx, a, all.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.IngestRequest(ctx, a, core.Ingest{UserID: "u3"}); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); !slices.Equal(got, []string{"webhook.deliver request.created " + leads.ID}) {
		t.Fatalf("after delete: %v", got)
	}
}

// The fan-out of a write's events at once (a bulk load: a thousand
// lead.created) gives every event the jobs it gets alone.
func TestWebhookFanoutOfManyEvents(t *testing.T) {
	ctx := context.Background()
	s, rec, _ := openHooked(t)
	rec.batch = true
	a, b := newProject(t, s), newProject(t, s)
	all := mustWebhook(t, s, a, "*")
	leads := mustWebhook(t, s, a, core.EventLeadCreated)
	mustWebhook(t, s, b, "*")
	res, err := s.CreateLeads(ctx, a, []core.NewLead{{UserID: "u1"}, {UserID: "u2"}, {UserID: "u3"}}, "key:test")
	if err != nil {
		t.Fatal(err)
	}
	got := rec.take()
	var want []string
	for range res {
		want = append(want, "webhook.deliver lead.created "+all.ID, "webhook.deliver lead.created "+leads.ID)
	}
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("jobs\n%v\nwant\n%v", got, want)
	}
	// One job per event and endpoint: each event id appears once per endpoint.
	if _, err := s.CreateLeads(ctx, a, []core.NewLead{{UserID: "u4"}, {UserID: "u5"}}, "key:test"); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	rec.mu.Lock()
	for _, j := range rec.jobs {
		seen[j.EventID+" "+j.Target]++
		if j.ProjectID != a {
			t.Errorf("job of project %s, want %s", j.ProjectID, a)
		}
	}
	events := len(rec.events)
	rec.mu.Unlock()
	if len(seen) != 2*events || events != 2 {
		t.Fatalf("%d distinct event and endpoint pairs for %d events: %v", len(seen), events, seen)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s: %d jobs", k, n)
		}
	}
	rec.take()
	// Two types in one write (an ingest of a new visitor): each decided apart.
	if _, err := s.IngestRequest(ctx, a, core.Ingest{UserID: "u6"}); err != nil {
		t.Fatal(err)
	}
	want = []string{"webhook.deliver lead.created " + all.ID, "webhook.deliver lead.created " + leads.ID, "webhook.deliver request.created " + all.ID}
	sort.Strings(want)
	if got := rec.take(); !slices.Equal(got, want) {
		t.Fatalf("ingest: %v, want %v", got, want)
	}
}

func TestWebhookValidationAndTenancy(t *testing.T) {
	ctx := context.Background()
	s, _, _ := openHooked(t)
	a, b := newProject(t, s), newProject(t, s)
	for _, in := range []core.WebhookInput{
		{URL: "ftp://x.example.com", Events: []string{"*"}},
		{URL: "https://x.example.com"},
		{URL: "https://x.example.com", Events: []string{"lead.exploded"}},
		{URL: "https://x.example.com", Events: []string{core.EventWebhookTest}},
		{URL: "https://" + strings.Repeat("x", 2050), Events: []string{"*"}},
	} {
		if _, err := s.CreateWebhook(ctx, a, in); core.ErrorCode(err) != core.EINVALID {
			t.Errorf("%+v: %v", in.Events, err)
		}
	}
	w, err := s.CreateWebhook(ctx, a, core.WebhookInput{URL: "https://x.example.com/h", Events: []string{"lead.created", "*", "lead.created"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(w.Events, []string{"*"}) || !strings.HasPrefix(w.Secret, "whsec_") || !w.Enabled {
		t.Fatalf("%+v", w)
	}
	got, err := s.Webhook(ctx, a, w.ID)
	if err != nil || got.Secret != "" {
		t.Fatalf("read shows the secret or fails: %+v %v", got, err)
	}
	for name, err := range map[string]error{
		"get": func() error { _, err := s.Webhook(ctx, b, w.ID); return err }(),
		"update": func() error {
			_, err := s.UpdateWebhook(ctx, b, w.ID, core.WebhookPatch{Enabled: ptr(false)})
			return err
		}(),
		"delete":     s.DeleteWebhook(ctx, b, w.ID),
		"rotate":     func() error { _, err := s.RotateWebhookSecret(ctx, b, w.ID); return err }(),
		"test":       func() error { _, err := s.TestWebhook(ctx, b, w.ID); return err }(),
		"deliveries": func() error { _, err := s.Deliveries(ctx, b, w.ID, 10, ""); return err }(),
	} {
		if core.ErrorCode(err) != core.ENOTFOUND {
			t.Errorf("%s from another project: %v", name, err)
		}
	}
	if list, _ := s.Webhooks(ctx, b); len(list) != 0 {
		t.Errorf("project b lists %d webhooks", len(list))
	}
}

// A rotated secret keeps signing beside the new one for 24 hours.
func TestWebhookRotation(t *testing.T) {
	ctx := context.Background()
	s, _, clock := openHooked(t)
	pid := newProject(t, s)
	w := mustWebhook(t, s, pid, "*")
	r, err := s.RotateWebhookSecret(ctx, pid, w.ID)
	if err != nil || r.Secret == w.Secret || !strings.HasPrefix(r.Secret, "whsec_") {
		t.Fatalf("rotate: %+v %v", r, err)
	}
	ts, _ := s.WebhookTargets(ctx, []string{w.ID})
	if len(ts) != 1 || !slices.Equal(ts[0].Secrets, []string{r.Secret, w.Secret}) {
		t.Fatalf("during the grace period: %+v", ts)
	}
	clock.add(24*time.Hour + time.Second)
	ts, _ = s.WebhookTargets(ctx, []string{w.ID})
	if !slices.Equal(ts[0].Secrets, []string{r.Secret}) {
		t.Fatalf("after the grace period: %v", ts[0].Secrets)
	}
}

// Attempts are logged; 410 disables at once, continuous failure after
// disableAfter; each disabled endpoint gets a webhook.disabled event for the
// project's other endpoints; a success resets the clock.
func TestRecordDeliveries(t *testing.T) {
	ctx := context.Background()
	s, rec, clock := openHooked(t)
	pid := newProject(t, s)
	watcher := mustWebhook(t, s, pid, core.EventWebhookDisabled)
	gone := mustWebhook(t, s, pid, "*")
	flaky := mustWebhook(t, s, pid, "*")
	res := func(w *core.Webhook, status string, code int) core.DeliveryResult {
		return core.DeliveryResult{Delivery: core.Delivery{WebhookID: w.ID, EventID: "ev-" + w.ID, EventType: "lead.created",
			Attempt: 1, Status: status, ResponseStatus: code, ResponseBody: strings.Repeat("é", 5000), Trigger: core.TriggerScheduled}}
	}
	g := res(gone, core.DeliveryFailed, 410)
	g.Disable = "the endpoint answered 410 Gone"
	disabled, err := s.RecordDeliveries(ctx, []core.DeliveryResult{g, res(flaky, core.DeliveryFailed, 500)}, 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(disabled) != 1 {
		t.Fatalf("disabled %v", disabled)
	}
	if w, _ := s.Webhook(ctx, pid, gone.ID); w.Enabled || !strings.Contains(w.DisabledReason, "410") {
		t.Fatalf("gone endpoint: %+v", w)
	}
	if got := rec.take(); !slices.Equal(got, []string{"webhook.deliver webhook.disabled " + watcher.ID, "webhook.deliver webhook.disabled " + flaky.ID}) {
		t.Fatalf("webhook.disabled jobs: %v", got)
	}
	page, _ := s.Deliveries(ctx, pid, gone.ID, 10, "")
	if len(page.Items) != 1 || page.Items[0].ResponseStatus != 410 || len(page.Items[0].ResponseBody) > 4096 {
		t.Fatalf("log: %+v", page.Items)
	}
	// Failing for 47 hours: still enabled. A success resets the clock.
	clock.add(47 * time.Hour)
	if d, _ := s.RecordDeliveries(ctx, []core.DeliveryResult{res(flaky, core.DeliveryFailed, 500)}, 48*time.Hour); len(d) != 0 {
		t.Fatalf("disabled early: %v", d)
	}
	if _, err := s.RecordDeliveries(ctx, []core.DeliveryResult{res(flaky, core.DeliveryFailed, 500), res(flaky, core.DeliverySucceeded, 200)}, 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	clock.add(47 * time.Hour)
	if d, _ := s.RecordDeliveries(ctx, []core.DeliveryResult{res(flaky, core.DeliveryFailed, 500)}, 48*time.Hour); len(d) != 0 {
		t.Fatalf("disabled though it succeeded 47 hours ago: %v", d)
	}
	clock.add(48 * time.Hour)
	d, err := s.RecordDeliveries(ctx, []core.DeliveryResult{res(flaky, core.DeliveryFailed, 500)}, 48*time.Hour)
	if err != nil || len(d) != 1 || !strings.Contains(d[0], "no successful delivery") {
		t.Fatalf("not disabled after 48 hours of failures: %v %v", d, err)
	}
	w, _ := s.Webhook(ctx, pid, flaky.ID)
	if w.Enabled || w.LastSuccessAt == nil {
		t.Fatalf("%+v", w)
	}
	var ev struct {
		Webhook map[string]any `json:"webhook"`
		Reason  string         `json:"reason"`
	}
	rec.mu.Lock()
	last := rec.events[len(rec.events)-1]
	rec.mu.Unlock()
	if err := json.Unmarshal(last.Data, &ev); err != nil || ev.Webhook["id"] != flaky.ID || ev.Reason == "" || ev.Webhook["secret"] != nil {
		t.Fatalf("event data %s", last.Data)
	}
	// Enabling again clears the reason.
	w, _ = s.UpdateWebhook(ctx, pid, flaky.ID, core.WebhookPatch{Enabled: ptr(true)})
	if !w.Enabled || w.DisabledReason != "" {
		t.Fatalf("%+v", w)
	}
}

// A test queues a webhook.test event for this endpoint alone, logged as
// pending; the attempt completes that row. A manual retry does the same for
// any delivery's event.
func TestTestAndRetryDelivery(t *testing.T) {
	ctx := context.Background()
	s, rec, _ := openHooked(t)
	pid := newProject(t, s)
	w := mustWebhook(t, s, pid, "*")
	mustWebhook(t, s, pid, "*")
	d, err := s.TestWebhook(ctx, pid, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != core.DeliveryPending || d.EventType != core.EventWebhookTest || d.Trigger != core.TriggerTest {
		t.Fatalf("%+v", d)
	}
	if got := rec.take(); len(got) != 1 || got[0] != "webhook.resend  "+w.ID {
		t.Fatalf("jobs %v", got)
	}
	evs, _ := s.EventsByID(ctx, []string{d.EventID})
	if len(evs) != 1 || evs[0].Type != core.EventWebhookTest || evs[0].LeadID != "" {
		t.Fatalf("test event %+v", evs)
	}
	_, err = s.RecordDeliveries(ctx, []core.DeliveryResult{{Delivery: core.Delivery{WebhookID: w.ID, EventID: d.EventID,
		EventType: d.EventType, Attempt: 1, Status: core.DeliveryFailed, ResponseStatus: 500, Trigger: core.TriggerTest}}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := s.Deliveries(ctx, pid, w.ID, 10, "")
	if len(page.Items) != 1 || page.Items[0].ID != d.ID || page.Items[0].Status != core.DeliveryFailed || page.Items[0].ResponseStatus != 500 {
		t.Fatalf("log after the attempt: %+v", page.Items)
	}
	r, err := s.RetryDelivery(ctx, pid, w.ID, d.ID)
	if err != nil || r.Status != core.DeliveryPending || r.Attempt != 2 || r.Trigger != core.TriggerManual || r.EventID != d.EventID {
		t.Fatalf("retry: %+v %v", r, err)
	}
	if got := rec.take(); len(got) != 1 || !strings.HasPrefix(got[0], "webhook.resend") {
		t.Fatalf("jobs %v", got)
	}
	if _, err := s.RetryDelivery(ctx, pid, w.ID, "nope"); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("unknown delivery: %v", err)
	}
	page, _ = s.Deliveries(ctx, pid, w.ID, 1, "")
	if len(page.Items) != 1 || page.NextCursor == "" || page.Items[0].ID != r.ID {
		t.Fatalf("first page %+v", page)
	}
	page, _ = s.Deliveries(ctx, pid, w.ID, 1, page.NextCursor)
	if len(page.Items) != 1 || page.Items[0].ID != d.ID || page.NextCursor != "" {
		t.Fatalf("second page %+v", page)
	}
}

// Store methods called inside InTx join its transaction: a failing one
// undoes only itself, an error of the whole rolls everything back.
func TestInTx(t *testing.T) {
	ctx := context.Background()
	s, _, _ := openHooked(t)
	pid := newProject(t, s)
	err := s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.IngestRequest(ctx, pid, core.Ingest{ID: "r1", UserID: "u1"}); err != nil {
			return err
		}
		// Conflicts with what this transaction wrote: fails alone.
		if _, err := s.CreateLead(ctx, pid, core.NewLead{UserID: "u1"}, "t"); core.ErrorCode(err) != core.ECONFLICT {
			return errors.New("want a conflict")
		}
		if l, err := s.InboundLead(ctx, pid, "u1"); err != nil || l == nil {
			return errors.New("the transaction's lead is not visible")
		}
		_, err := s.AddMessage(ctx, pid, "r1", core.Message{Text: "hi"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Request(ctx, pid, "r1")
	if err != nil || r.MessagesCount != 1 {
		t.Fatalf("%+v %v", r, err)
	}
	boom := errors.New("boom")
	err = s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.IngestRequest(ctx, pid, core.Ingest{ID: "r2", UserID: "u2"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := s.Request(ctx, pid, "r2"); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("rolled-back request: %v", err)
	}
}

// The fan-out follows every change of the endpoints at once, even right
// after events of the same types went out (the store may keep the
// subscriptions in memory): a new endpoint, one disabled by an admin or by
// its deliveries, one enabled again, one deleted.
func TestWebhookFanoutFollowsChanges(t *testing.T) {
	ctx := context.Background()
	s, rec, _ := openHooked(t)
	pid := newProject(t, s)
	ingest := func() []string {
		t.Helper()
		if _, err := s.IngestRequest(ctx, pid, core.Ingest{UserID: "u1"}); err != nil {
			t.Fatal(err)
		}
		return rec.take()
	}
	if got := ingest(); len(got) != 0 {
		t.Fatalf("jobs without webhooks: %v", got)
	}
	w := mustWebhook(t, s, pid, core.EventRequestCreated)
	setEnabled := func(on bool) {
		t.Helper()
		if _, err := s.UpdateWebhook(ctx, pid, w.ID, core.WebhookPatch{Enabled: ptr(on)}); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"webhook.deliver request.created " + w.ID}
	if got := ingest(); !slices.Equal(got, want) {
		t.Fatalf("after create: %v", got)
	}
	setEnabled(false)
	if got := ingest(); len(got) != 0 {
		t.Fatalf("disabled by an admin: %v", got)
	}
	setEnabled(true)
	if got := ingest(); !slices.Equal(got, want) {
		t.Fatalf("enabled again: %v", got)
	}
	gone := core.DeliveryResult{Disable: "the endpoint answered 410 Gone", Delivery: core.Delivery{WebhookID: w.ID, EventID: "ev1",
		EventType: core.EventRequestCreated, Attempt: 1, Status: core.DeliveryFailed, ResponseStatus: 410, Trigger: core.TriggerScheduled}}
	if d, err := s.RecordDeliveries(ctx, []core.DeliveryResult{gone}, 0); err != nil || len(d) != 1 {
		t.Fatalf("410: %v %v", d, err)
	}
	rec.take() // webhook.disabled
	if got := ingest(); len(got) != 0 {
		t.Fatalf("disabled by a 410: %v", got)
	}
	setEnabled(true)
	if got := ingest(); !slices.Equal(got, want) {
		t.Fatalf("enabled after the 410: %v", got)
	}
	if err := s.DeleteWebhook(ctx, pid, w.ID); err != nil {
		t.Fatal(err)
	}
	if got := ingest(); len(got) != 0 {
		t.Fatalf("deleted: %v", got)
	}
}
