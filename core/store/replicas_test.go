package store_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/store"
	"github.com/leadhub/leadhub/internal/testdb"
)

// txCounter counts failed write transactions: on PostgreSQL, each is an
// attempt the store retried or gave up.
type txCounter struct {
	core.NopStoreMetrics
	failed atomic.Int64
}

func (c *txCounter) TxDone(_ int, _ time.Duration, err error) {
	if err != nil {
		c.failed.Add(1)
	}
}

// Two stores on one database stand for two replicas. The first requests of
// new user ids reach both at the same instant, several at a time: every call
// succeeds, and each user id ends with exactly one lead holding all its
// requests. On PostgreSQL the losers of each race hit lead_user_ids' primary
// key (or a serialization failure) and the store retries them, so they land
// on the winner's lead; on SQLite the file's write lock orders them.
func TestFirstRequestsRacingOnTwoReplicas(t *testing.T) {
	ctx := context.Background()
	url := testdb.URL(t)
	var metrics [2]txCounter
	var replicas [2]*store.Store
	for i := range replicas {
		s, err := store.Open(ctx, store.Options{URL: url, Metrics: &metrics[i]})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		replicas[i] = s
	}
	pid := newProject(t, replicas[0])

	const users, perUser = 40, 6
	type result struct {
		lead string
		err  error
	}
	results := make([][]result, users)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for u := 0; u < users; u++ {
		results[u] = make([]result, perUser)
		for k := 0; k < perUser; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := replicas[k%2]
				user := fmt.Sprintf("visitor-%02d", u)
				email := fmt.Sprintf("Visitor%02d@Example.com", u)
				<-start
				if k == perUser-1 {
					// A hand-made lead for the same user id races too: it
					// either wins or is refused as a conflict.
					l, err := s.CreateLead(ctx, pid, core.NewLead{UserID: user, Fields: core.LeadFields{Email: &email}}, "agent")
					if core.ErrorCode(err) == core.ECONFLICT {
						return
					}
					if err == nil {
						results[u][k].lead = l.ID
					}
					results[u][k].err = err
					return
				}
				r, err := s.IngestRequest(ctx, pid, core.Ingest{UserID: user, Channel: "chat", Actor: "test",
					Lead: core.LeadFields{Email: &email}, LeadAttributes: map[string]any{fmt.Sprintf("k%d", k): k}})
				if err == nil {
					results[u][k].lead = r.Lead.ID
				}
				results[u][k].err = err
			}()
		}
	}
	close(start)
	wg.Wait()

	ingests := 0
	for u, rs := range results {
		lead := ""
		for k, r := range rs {
			if r.err != nil {
				t.Fatalf("user %d, call %d: %v", u, k, r.err)
			}
			if r.lead == "" {
				continue // the hand-made lead was refused
			}
			if lead != "" && r.lead != lead {
				t.Fatalf("user %d: leads %s and %s", u, lead, r.lead)
			}
			lead = r.lead
		}
		user := fmt.Sprintf("visitor-%02d", u)
		page, err := replicas[1].Leads(ctx, pid, core.LeadFilter{UserID: user})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 1 || page.Items[0].ID != lead {
			t.Fatalf("user %d: %d leads by user id, want 1 (%s)", u, len(page.Items), lead)
		}
		l := page.Items[0]
		if l.RequestsCount != perUser-1 || len(l.Attributes) != perUser-1 {
			t.Errorf("user %d: requests_count %d, attributes %v; want %d of each", u, l.RequestsCount, l.Attributes, perUser-1)
		}
		reqs, err := replicas[0].LeadRequests(ctx, pid, lead, 50, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(reqs.Items) != perUser-1 {
			t.Errorf("user %d: %d requests on the lead, want %d", u, len(reqs.Items), perUser-1)
		}
		ingests += len(reqs.Items)
	}
	all, err := replicas[0].Leads(ctx, pid, core.LeadFilter{Status: "all", Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Items) != users {
		t.Errorf("%d leads, want %d", len(all.Items), users)
	}
	// Exact email matches ignore case on both databases.
	byEmail, err := replicas[1].Leads(ctx, pid, core.LeadFilter{Email: "visitor07@EXAMPLE.COM"})
	if err != nil || len(byEmail.Items) != 1 {
		t.Errorf("by email: %d leads, %v", len(byEmail.Items), err)
	}
	t.Logf("%s: %d requests on %d leads; %d + %d write attempts failed and were retried",
		testdb.Current(), ingests, users, metrics[0].failed.Load(), metrics[1].failed.Load())
}

// Replicas that start together on an empty database, with no admin key
// configured, generate one key between them: exactly one prints a key, and
// that key is the one every replica accepts.
func TestAdminKeyGeneratedOnceByRacingReplicas(t *testing.T) {
	ctx := context.Background()
	url := testdb.URL(t)
	const n = 4
	stores := make([]*store.Store, n)
	for i := range stores {
		s, err := store.Open(ctx, store.Options{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	keys := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			keys[i], errs[i] = s.EnsureAdminKey(ctx, "")
		}()
	}
	close(start)
	wg.Wait()
	var printed []string
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		if keys[i] != "" {
			printed = append(printed, keys[i])
		}
	}
	if len(printed) != 1 {
		t.Fatalf("%d replicas reported a generated key, want 1", len(printed))
	}
	for i, s := range stores {
		p, err := s.Authenticate(ctx, printed[0])
		if err != nil || !p.Admin {
			t.Fatalf("replica %d refuses the generated key: %+v, %v", i, p, err)
		}
	}
}
