package store_test

import (
	"context"
	"encoding/json"
	"os"
	"sort"
	"sync"
	"testing"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/store"
	"github.com/leadhub/leadhub/internal/testdb"
)

// TestMain runs the package's tests once on SQLite and, when
// LEADHUB_TEST_DATABASE_URL is set, once more on PostgreSQL.
func TestMain(m *testing.M) { os.Exit(testdb.Run(m)) }

// openStore opens a fresh, migrated store on the dialect of the pass in
// progress.
func openStore(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Options{URL: testdb.URL(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testURL is a fresh SQLite file per test, whatever the pass: for tests that
// choose their dialects themselves. openStore follows the pass.
func testURL(t testing.TB) string {
	t.Helper()
	return testdb.SQLiteURL(t)
}

func ptr[T any](v T) *T { return &v }

func newProject(t testing.TB, s *store.Store) string {
	t.Helper()
	p, _, err := s.CreateProject(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

func TestIngestAggregatesByUserID(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	pid := newProject(t, s)
	in := func(user, name, email string) core.Ingest {
		return core.Ingest{UserID: user, Channel: "chat", Actor: "test",
			Lead: core.LeadFields{Fullname: ptr(name), Email: ptr(email)}, LeadAttributes: map[string]any{"src": user}}
	}
	r1, err := s.IngestRequest(ctx, pid, in("A", "Andrea Sp", "andrea1@gmail.com"))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.IngestRequest(ctx, pid, in("A", "Andrea Sp", "andrea1@gmail.com"))
	if err != nil {
		t.Fatal(err)
	}
	r3, err := s.IngestRequest(ctx, pid, in("B", "Andrea Sp1", "andrea1@gmail.com"))
	if err != nil {
		t.Fatal(err)
	}
	if r1.Lead.ID != r2.Lead.ID || r1.Lead.ID == r3.Lead.ID {
		t.Fatalf("leads: %s %s %s", r1.Lead.ID, r2.Lead.ID, r3.Lead.ID)
	}
	if r2.Lead.RequestsCount != 2 {
		t.Fatalf("requests_count = %d, want 2", r2.Lead.RequestsCount)
	}
	page, err := s.Leads(ctx, pid, core.LeadFilter{Email: "ANDREA1@gmail.com"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 2 {
		t.Fatalf("by email: %d leads, want 2", len(page.Items))
	}
	page, err = s.Leads(ctx, pid, core.LeadFilter{Q: "andr"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 2 {
		t.Fatalf("by q: %d leads, want 2", len(page.Items))
	}
	evs, err := s.LeadEvents(ctx, pid, r1.Lead.ID, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range evs.Items {
		types = append(types, e.Type)
	}
	want := []string{"request.created", "request.created", "lead.created"}
	if len(types) != 3 || types[0] != want[0] || types[2] != want[2] {
		t.Fatalf("timeline %v, want %v", types, want)
	}
}

func TestGroupCommitIsolatesFailures(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	pid := newProject(t, s)
	var wg sync.WaitGroup
	errs := make([]error, 200)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			email := "ok@example.com"
			if i%10 == 0 {
				email = "not an email" // refused by validation before the store
			}
			in := core.Ingest{UserID: "u" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Lead: core.LeadFields{Email: &email}}
			if i%10 == 5 {
				in.ID = "dup"
				in.UserID = "x" + in.UserID // same request id, other user ids: all but one conflict
			}
			_, errs[i] = s.IngestRequest(ctx, pid, in)
		}()
	}
	wg.Wait()
	var ok, invalid, conflict int
	for _, err := range errs {
		switch core.ErrorCode(err) {
		case "":
			ok++
		case core.EINVALID:
			invalid++
		case core.ECONFLICT:
			conflict++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if invalid != 20 || conflict != 19 || ok != 161 {
		t.Fatalf("ok=%d invalid=%d conflict=%d", ok, invalid, conflict)
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func sortStrings(s []string) { sort.Strings(s) }
