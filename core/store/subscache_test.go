package store

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/leadhub/leadhub/core"
)

// fanoutRecorder runs the webhook fan-out in the event's transaction, as the
// server's dispatcher does, and counts the delivery jobs it returns.
type fanoutRecorder struct {
	mu     sync.Mutex
	fanout core.Fanout
	jobs   []core.Job
}

func (r *fanoutRecorder) OnEvents(ctx context.Context, tx *sql.Tx, evs []core.Event) error {
	for _, ev := range evs {
		js, err := r.fanout.JobsFor(ctx, tx, ev)
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.jobs = append(r.jobs, js...)
		r.mu.Unlock()
	}
	return nil
}

func (r *fanoutRecorder) take() []core.Job {
	r.mu.Lock()
	defer r.mu.Unlock()
	js := r.jobs
	r.jobs = nil
	return js
}

// A transaction that changes the subscriptions sees its change in its own
// fan-out, but what it read is not kept: when it rolls back, the next
// events go to the webhooks that are committed, not to the one that was
// not.
func TestFanoutCacheKeepsNothingOfARolledBackChange(t *testing.T) {
	ctx := context.Background()
	rec := &fanoutRecorder{}
	s, err := Open(ctx, Options{URL: "sqlite:" + filepath.Join(t.TempDir(), "l.db"), Hook: rec,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	rec.fanout = s.WebhookFanout()
	if s.subs == nil {
		t.Fatal("no subscription cache on SQLite")
	}
	p, _, err := s.CreateProject(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.IngestRequest(ctx, p.ID, core.Ingest{UserID: "u1"}); err != nil {
		t.Fatal(err)
	}
	if js := rec.take(); len(js) != 0 {
		t.Fatalf("jobs without webhooks: %v", js)
	}
	// The cache now knows: no webhook for request.created in this project.
	if ids, _, ok := s.subs.get(p.ID, core.EventRequestCreated); !ok || len(ids) != 0 {
		t.Fatalf("the fan-out did not keep what it read: %v %v", ids, ok)
	}

	errRollback := errors.New("roll back")
	err = s.write(ctx, func(ctx context.Context, tx *wtx) error {
		s.subs.changed()
		now := tm(s.now())
		w := &webhookRow{ID: s.newID(), ProjectID: p.ID, URL: "https://hooks.example.com/x", Events: []string{"*"},
			Enabled: true, Secret: core.NewWebhookSecret(), CreatedAt: now, UpdatedAt: now}
		if _, err := tx.NewInsert().Model(w).Returning("seq").Exec(ctx); err != nil {
			return err
		}
		if err := s.writeSubscriptions(ctx, tx, w, false); err != nil {
			return err
		}
		ev := core.Event{ID: s.newID(), ProjectID: p.ID, Type: core.EventRequestCreated, Actor: core.ActorSystem, CreatedAt: s.now()}
		if err := s.emit(ctx, tx, ev); err != nil {
			return err
		}
		if js := rec.take(); len(js) != 1 || js[0].Target != w.ID {
			t.Errorf("in its own transaction the change is not seen: %v", js)
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("write: %v", err)
	}
	if _, err := s.IngestRequest(ctx, p.ID, core.Ingest{UserID: "u1"}); err != nil {
		t.Fatal(err)
	}
	if js := rec.take(); len(js) != 0 {
		t.Fatalf("jobs for a webhook that was rolled back: %v", js)
	}
}

func TestSubsCacheGenerationsAndExpiry(t *testing.T) {
	now := time.Date(2026, 5, 12, 9, 0, 0, 0, time.UTC)
	c := newSubsCache()
	c.now = func() time.Time { return now }

	_, gen, ok := c.get("p", "lead.created")
	if ok {
		t.Fatal("hit in an empty cache")
	}
	// A change between the read and the put: what was read is not kept.
	c.changed()
	c.put("p", "lead.created", []string{"w1"}, gen)
	if _, _, ok := c.get("p", "lead.created"); ok {
		t.Fatal("kept a read from before a change")
	}
	// Until the changing transaction has ended nothing is served or kept.
	_, gen, _ = c.get("p", "lead.created")
	c.put("p", "lead.created", []string{"w1"}, gen)
	if _, _, ok := c.get("p", "lead.created"); ok {
		t.Fatal("kept a read made during a change's transaction")
	}
	c.txBegan()
	_, gen, _ = c.get("p", "lead.created")
	c.put("p", "lead.created", []string{"w1"}, gen)
	if ids, _, ok := c.get("p", "lead.created"); !ok || len(ids) != 1 || ids[0] != "w1" {
		t.Fatalf("after the transaction ended: %v %v", ids, ok)
	}
	if _, _, ok := c.get("p", "request.created"); ok {
		t.Fatal("an event type that was never read")
	}
	if _, _, ok := c.get("q", "lead.created"); ok {
		t.Fatal("another project's entry")
	}
	// A change drops what was kept.
	c.changed()
	c.txBegan()
	if _, _, ok := c.get("p", "lead.created"); ok {
		t.Fatal("an entry survived a change")
	}
	// Entries expire, so that another process's change is seen in time.
	_, gen, _ = c.get("p", "lead.created")
	c.put("p", "lead.created", nil, gen)
	if _, _, ok := c.get("p", "lead.created"); !ok {
		t.Fatal("an empty answer is an answer too")
	}
	now = now.Add(subsCacheTTL)
	if _, _, ok := c.get("p", "lead.created"); ok {
		t.Fatal("served after its TTL")
	}
}
