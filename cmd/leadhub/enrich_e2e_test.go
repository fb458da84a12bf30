package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/leadhub/leadhub/config"
	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/jobs"
	"github.com/leadhub/leadhub/core/metrics"
	"github.com/leadhub/leadhub/core/pluginhost"
	"github.com/leadhub/leadhub/internal/testdb"
)

// countingObserver counts the queue's results per kind.
type countingObserver struct {
	mu      sync.Mutex
	results map[jobs.Result]int
}

func (o *countingObserver) JobsWorked(_ string, res jobs.Result, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.results[res] += n
}
func (o *countingObserver) BatchWorked(string, int, time.Duration) {}
func (o *countingObserver) QueueStats(string, jobs.KindStats)      {}

func (o *countingObserver) count(res jobs.Result) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.results[res]
}

// A backlog of enricher jobs (two for some leads) is worked through the
// real store, queue and emailnorm process: every lead gets its patch exactly
// once as lead.updated by plugin:emailnorm, each job is completed in the
// transaction of its patch (none is left, none lost), and a second job of a
// lead already enriched writes nothing.
func TestEnrichBacklogCompletesWithPatches(t *testing.T) {
	if testing.Short() {
		t.Skip("builds plugin binaries")
	}
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := config.Default()
	cfg.DatabaseURL = testdb.SQLiteURL(t)
	cfg.Plugins = []config.Plugin{{Name: "emailnorm", Path: pluginBin(t, "emailnorm")}}
	disp := &dispatcher{dialect: jobs.SQLite}
	m := metrics.New(prometheus.NewRegistry())
	s, err := openStoreWithHook(ctx, cfg, m, disp, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	obs := &countingObserver{results: map[jobs.Result]int{}}
	queue := jobs.New(s.DB(), jobs.SQLite, jobs.Options{ReadDB: s.ReadDB(), Logger: log, Observer: obs, PollInterval: 20 * time.Millisecond})
	disp.queue = queue
	host, err := startPlugins(ctx, cfg, s, disp, queue, m, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopPlugins(host, log) })
	proj, _, err := s.CreateProject(ctx, "enrich")
	if err != nil {
		t.Fatal(err)
	}
	const n = 400
	ids := make([]string, n)
	for i := range ids {
		email := fmt.Sprintf("person%d@company%d.io", i, i%7)
		l, err := s.CreateLead(ctx, proj.ID, core.NewLead{Fields: core.LeadFields{Email: &email}}, "key:test")
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = l.ID
	}
	// A second job for every tenth lead, queued behind its first.
	for i := 0; i < n; i += 10 {
		name := fmt.Sprint("Person ", i)
		if _, err := s.UpdateLead(ctx, proj.ID, ids[i], core.LeadPatch{Fields: core.LeadFields{Fullname: &name}}, "key:test"); err != nil {
			t.Fatal(err)
		}
	}
	kind := pluginhost.JobKind("enricher", "emailnorm")
	var queued int
	if err := s.ReadDB().QueryRowContext(ctx, "SELECT count(*) FROM jobs WHERE kind = ?", kind).Scan(&queued); err != nil {
		t.Fatal(err)
	}
	if queued != n+n/10 {
		t.Fatalf("%d jobs queued, want %d", queued, n+n/10)
	}

	if err := queue.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = queue.Stop(stop)
	})
	deadline := time.Now().Add(60 * time.Second)
	for obs.count(jobs.ResultCompleted) < queued {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs completed", obs.count(jobs.ResultCompleted), queued)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var left int
	if err := s.ReadDB().QueryRowContext(ctx, "SELECT count(*) FROM jobs WHERE kind = ?", kind).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 || obs.count(jobs.ResultLost) != 0 || obs.count(jobs.ResultRetried) != 0 || obs.count(jobs.ResultDiscarded) != 0 {
		t.Fatalf("%d jobs left; %d lost, %d retried, %d discarded", left,
			obs.count(jobs.ResultLost), obs.count(jobs.ResultRetried), obs.count(jobs.ResultDiscarded))
	}
	for i, id := range ids {
		l, err := s.Lead(ctx, proj.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		if l.Attributes["email_domain"] != fmt.Sprintf("company%d.io", i%7) || l.Company != fmt.Sprintf("Company%d", i%7) {
			t.Fatalf("lead %d not enriched: company %q, attributes %v", i, l.Company, l.Attributes)
		}
		evs, err := s.LeadEvents(ctx, proj.ID, id, 10, "")
		if err != nil {
			t.Fatal(err)
		}
		byPlugin := 0
		for _, ev := range evs.Items {
			if ev.Actor == core.PluginActor("emailnorm") {
				byPlugin++
				if ev.Type != core.EventLeadUpdated {
					t.Fatalf("lead %d: event %s by the plugin", i, ev.Type)
				}
			}
		}
		if byPlugin != 1 {
			t.Fatalf("lead %d: %d events by the plugin, want 1", i, byPlugin)
		}
	}
}
