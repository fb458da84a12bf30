package webhooks_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/store"
	"github.com/leadhub/leadhub/core/webhooks"
)

// A batch larger than an endpoint's places sends at most PerEndpoint
// requests to it at once, and every one arrives and is logged.
func TestWorkerBoundsRequestsPerEndpoint(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{URL: "sqlite:" + filepath.Join(t.TempDir(), "w.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var inFlight, peak, got atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(20 * time.Millisecond)
		inFlight.Add(-1)
		got.Add(1)
		w.WriteHeader(204)
	}))
	defer recv.Close()
	p, _, err := s.CreateProject(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	hook, err := s.CreateWebhook(ctx, p.ID, core.WebhookInput{URL: recv.URL, Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	var batch []core.Job
	for i := 0; i < 40; i++ {
		res, err := s.IngestRequest(ctx, p.ID, core.Ingest{UserID: fmt.Sprintf("u-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		evs, _ := s.LeadEvents(ctx, p.ID, res.Lead.ID, 10, "")
		for _, ev := range evs.Items {
			batch = append(batch, core.Job{ID: int64(len(batch) + 1), Kind: core.JobWebhookDeliver, ProjectID: p.ID, Target: hook.ID, EventID: ev.ID, Attempt: 1})
		}
	}
	g, _ := webhooks.NewGuard(true, nil)
	w := webhooks.NewWorker(s, webhooks.WorkerOptions{Client: webhooks.NewClient(g), Concurrency: 100, PerEndpoint: 5,
		Schedule: []time.Duration{time.Minute}})
	out := w.Deliver(ctx, batch)
	for i, r := range out {
		if r.Err != nil {
			t.Fatalf("job %d: %v", i, r.Err)
		}
	}
	if peak.Load() != 5 || got.Load() != int64(len(batch)) {
		t.Fatalf("peak %d in flight (bound 5), %d of %d received", peak.Load(), got.Load(), len(batch))
	}
	page, _ := s.Deliveries(ctx, p.ID, hook.ID, 500, "")
	if len(page.Items) != len(batch) {
		t.Fatalf("%d attempts logged, want %d", len(page.Items), len(batch))
	}
}

// The schedule decides retries: a failure before the schedule's end is
// retried at its step (±20%), the last one is given up; a longer Retry-After
// is honoured up to the longest step; 410 disables and gives up.
func TestWorkerOutcomes(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{URL: "sqlite:" + filepath.Join(t.TempDir(), "w.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var status atomic.Int64
	var retryAfter atomic.Value
	retryAfter.Store("")
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ra := retryAfter.Load().(string); ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer recv.Close()
	p, _, _ := s.CreateProject(ctx, "w")
	hook, _ := s.CreateWebhook(ctx, p.ID, core.WebhookInput{URL: recv.URL, Events: []string{"*"}})
	res, _ := s.IngestRequest(ctx, p.ID, core.Ingest{UserID: "u"})
	evs, _ := s.LeadEvents(ctx, p.ID, res.Lead.ID, 1, "")
	job := func(attempt int) []core.Job {
		return []core.Job{{ID: 1, Kind: core.JobWebhookDeliver, ProjectID: p.ID, Target: hook.ID, EventID: evs.Items[0].ID, Attempt: attempt}}
	}
	g, _ := webhooks.NewGuard(true, nil)
	w := webhooks.NewWorker(s, webhooks.WorkerOptions{Client: webhooks.NewClient(g), Schedule: []time.Duration{10 * time.Second, time.Hour}})
	if w.MaxAttempts() != 3 {
		t.Fatalf("max attempts %d", w.MaxAttempts())
	}
	within := func(at, from time.Time, d time.Duration) bool {
		return at.Sub(from) >= d*8/10-time.Second && at.Sub(from) <= d*12/10+time.Second
	}
	status.Store(500)
	now := time.Now()
	r := w.Deliver(ctx, job(1))[0]
	if r.Err == nil || r.Discard || !within(r.RetryAt, now, 10*time.Second) {
		t.Fatalf("first failure: %+v", r)
	}
	retryAfter.Store("120")
	r = w.Deliver(ctx, job(1))[0]
	if !within(r.RetryAt, now, 2*time.Minute) {
		t.Fatalf("Retry-After 120: retry at %v", r.RetryAt.Sub(now))
	}
	retryAfter.Store(fmt.Sprint(3 * 3600))
	r = w.Deliver(ctx, job(2))[0]
	if !within(r.RetryAt, now, time.Hour) {
		t.Fatalf("Retry-After beyond the schedule: retry at %v", r.RetryAt.Sub(now))
	}
	retryAfter.Store("")
	if r = w.Deliver(ctx, job(3))[0]; r.Err == nil || !r.Discard {
		t.Fatalf("last attempt: %+v", r)
	}
	status.Store(302)
	if r = w.Deliver(ctx, job(1))[0]; r.Err == nil || r.Discard {
		t.Fatalf("redirect: %+v", r)
	}
	status.Store(410)
	if r = w.Deliver(ctx, job(1))[0]; r.Err == nil || !r.Discard {
		t.Fatalf("410: %+v", r)
	}
	if h, _ := s.Webhook(ctx, p.ID, hook.ID); h.Enabled {
		t.Fatal("410 did not disable the endpoint")
	}
	// Disabled: a scheduled delivery is logged as not sent and dropped.
	status.Store(204)
	if r = w.Deliver(ctx, job(1))[0]; r.Err == nil || !r.Discard {
		t.Fatalf("disabled endpoint: %+v", r)
	}
	page, _ := s.Deliveries(ctx, p.ID, hook.ID, 1, "")
	if page.Items[0].Error != "not sent: the endpoint is disabled" {
		t.Fatalf("log %+v", page.Items[0])
	}
	// Deleted: dropped, nothing logged.
	if err := s.DeleteWebhook(ctx, p.ID, hook.ID); err != nil {
		t.Fatal(err)
	}
	if r = w.Deliver(ctx, job(1))[0]; r.Err == nil || !r.Discard {
		t.Fatalf("deleted endpoint: %+v", r)
	}
}
