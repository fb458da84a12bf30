package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/store"
	"github.com/leadhub/leadhub/internal/testdb"
)

// importSource yields items one by one, then io.EOF (or failAt's error).
func importSource(items []core.ImportItem, failAt int) func() (core.ImportItem, error) {
	i := 0
	return func() (core.ImportItem, error) {
		if i == failAt {
			return core.ImportItem{}, errors.New("disk on fire")
		}
		if i == len(items) {
			return core.ImportItem{}, io.EOF
		}
		i++
		return items[i-1], nil
	}
}

// importItems are n good leads (user ids imp-0…) after four that an import
// must refuse, one for each reason, on lines 1 to 4.
func importItems(n int) []core.ImportItem {
	items := []core.ImportItem{
		{Line: 1, Err: errors.New("unreadable")},
		{Line: 2, Lead: core.NewLead{UserID: "bad-email", Fields: core.LeadFields{Email: ptr("not an email")}}},
		{Line: 3, Lead: core.NewLead{UserID: "taken"}},
		{Line: 4, Lead: core.NewLead{UserID: "imp-7"}}, // a user id that line 12 repeats
	}
	for i := range n {
		items = append(items, core.ImportItem{Line: 5 + i, Lead: core.NewLead{
			UserID: fmt.Sprintf("imp-%d", i),
			Fields: core.LeadFields{Fullname: ptr(fmt.Sprintf("Zelda Quimby%d", i)), Email: ptr(fmt.Sprintf("Zelda.%d@Example.com", i)),
				Phone: ptr(fmt.Sprintf("+39 333 %07d", i)), Company: ptr("Hyrule")},
			Attributes: map[string]any{"n": float64(i)},
			Tags:       []string{fmt.Sprintf("t%d", i%3)},
		}})
	}
	return items
}

// schemaOf lists the indexes and triggers of the store's database.
func schemaOf(t *testing.T, s *store.Store) []string {
	t.Helper()
	return testdb.SQLiteSchema(t, s.ReadDB())
}

func TestImportLeads(t *testing.T) {
	for _, c := range []struct {
		keep    bool
		preload int // the project's user ids read first, or looked up per batch
	}{{false, 1000}, {true, 1000}, {false, 0}} {
		keep := c.keep
		t.Run(fmt.Sprintf("keep indexes %v, preload %d", keep, c.preload), func(t *testing.T) {
			defer store.SetImportPreloadMax(c.preload)()
			ctx := context.Background()
			s := openStore(t)
			pid := newProject(t, s)
			if _, err := s.IngestRequest(ctx, pid, core.Ingest{UserID: "taken"}); err != nil {
				t.Fatal(err)
			}
			var before []string
			if testdb.Current() == testdb.SQLite {
				before = schemaOf(t, s)
			}
			const n = 2500 // more than one chunk
			rep, err := s.ImportLeads(ctx, pid, importSource(importItems(n), -1), store.ImportOptions{KeepIndexes: keep})
			if err != nil {
				t.Fatal(err)
			}
			// imp-7 is on line 4 first: line 12 (imp-7 again) is the one refused.
			if rep.Imported != n || rep.Refused != 4 {
				t.Fatalf("imported %d, refused %d (%+v), want %d and 4", rep.Imported, rep.Refused, rep.Refusals, n)
			}
			var lines []int
			for _, r := range rep.Refusals {
				lines = append(lines, r.Line)
			}
			if !slices.Equal(lines, []int{1, 2, 3, 12}) {
				t.Errorf("refused lines %v, want [1 2 3 12]", lines)
			}
			if core.ErrorCode(rep.Refusals[1].Err) != core.EINVALID || core.ErrorCode(rep.Refusals[2].Err) != core.ECONFLICT ||
				core.ErrorCode(rep.Refusals[3].Err) != core.ECONFLICT {
				t.Errorf("refusals: %+v", rep.Refusals)
			}
			if want := !keep && testdb.Current() == testdb.SQLite; rep.Rebuilt != want {
				t.Errorf("rebuilt %v, want %v", rep.Rebuilt, want)
			}
			if testdb.Current() == testdb.SQLite {
				if after := schemaOf(t, s); !slices.Equal(before, after) {
					t.Errorf("schema after the import:\n%v\nbefore:\n%v", after, before)
				}
			}
			// Every way of finding a lead finds the imported ones.
			find := func(f core.LeadFilter, want string) {
				t.Helper()
				page, err := s.Leads(ctx, pid, f)
				if err != nil || len(page.Items) != 1 || page.Items[0].Fullname != want {
					t.Fatalf("%+v: %v %+v, want %q", f, err, page.Items, want)
				}
			}
			find(core.LeadFilter{Email: "zelda.2000@example.com"}, "Zelda Quimby2000")
			find(core.LeadFilter{UserID: "imp-1999"}, "Zelda Quimby1999")
			find(core.LeadFilter{Q: "quimby2499"}, "Zelda Quimby2499")
			find(core.LeadFilter{Q: "393330000042"}, "Zelda Quimby42")
			find(core.LeadFilter{UserID: "imp-7"}, "")
			page, err := s.Leads(ctx, pid, core.LeadFilter{Tag: "t1", Limit: 100})
			if err != nil || len(page.Items) != 100 {
				t.Fatalf("by tag: %v %d", err, len(page.Items))
			}
			lead := page.Items[0]
			evs, err := s.LeadEvents(ctx, pid, lead.ID, 0, "")
			if err != nil || len(evs.Items) != 1 || evs.Items[0].Type != core.EventLeadCreated || evs.Items[0].Actor != "import" {
				t.Fatalf("events: %v %+v", err, evs.Items)
			}
			// The triggers are back: an edit reaches the full-text index.
			if _, err := s.UpdateLead(ctx, pid, lead.ID, core.LeadPatch{Fields: core.LeadFields{Fullname: ptr("Epona Stable")}}, "test"); err != nil {
				t.Fatal(err)
			}
			find(core.LeadFilter{Q: "epona"}, "Epona Stable")
			// A second import after the first: the user ids are all taken.
			rep, err = s.ImportLeads(ctx, pid, importSource(importItems(10), -1), store.ImportOptions{KeepIndexes: keep})
			if err != nil || rep.Imported != 0 || rep.Refused != 14 {
				t.Fatalf("again: %v %+v", err, rep)
			}
		})
	}
}

func TestImportLeadsIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	pid := newProject(t, s)
	var before []string
	if testdb.Current() == testdb.SQLite {
		before = schemaOf(t, s)
	}
	// The source fails after two chunks went in: nothing stays.
	if _, err := s.ImportLeads(ctx, pid, importSource(importItems(2500), 2200), store.ImportOptions{}); err == nil {
		t.Fatal("import with a failing source succeeded")
	}
	page, err := s.Leads(ctx, pid, core.LeadFilter{})
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("leads after a failed import: %v %d", err, len(page.Items))
	}
	if testdb.Current() == testdb.SQLite {
		if after := schemaOf(t, s); !slices.Equal(before, after) {
			t.Errorf("schema after a failed import:\n%v\nbefore:\n%v", after, before)
		}
	}
	// Strict: the first refused lead (line 1) fails it all.
	rep, err := s.ImportLeads(ctx, pid, importSource(importItems(10), -1), store.ImportOptions{Strict: true})
	if !errors.Is(err, store.ErrImportRefused) || rep.Refused != 1 || rep.Refusals[0].Line != 1 {
		t.Fatalf("strict import: %v %+v", err, rep)
	}
	if page, err := s.Leads(ctx, pid, core.LeadFilter{}); err != nil || len(page.Items) != 0 {
		t.Fatalf("leads after a strict import refused one: %v %d", err, len(page.Items))
	}
	if _, err := s.ImportLeads(ctx, "nope", importSource(importItems(1), -1), store.ImportOptions{}); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("unknown project: %v", err)
	}
}

// An import opens a SQLite file for itself alone: not while another process
// (a server) has it open, and nobody else while it runs.
func TestExclusiveOpen(t *testing.T) {
	testdb.FirstPass(t)
	url := testURL(t)
	open := func(exclusive bool) (*store.Store, error) {
		return store.Open(context.Background(), store.Options{URL: url, Exclusive: exclusive, Logger: quietLog})
	}
	a, err := open(false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := open(false)
	if err != nil {
		t.Fatalf("two shared opens: %v", err)
	}
	if _, err := open(true); !errors.Is(err, store.ErrDatabaseBusy) {
		t.Fatalf("exclusive open beside shared ones: %v", err)
	}
	a.Close()
	b.Close()
	x, err := open(true)
	if err != nil {
		t.Fatalf("exclusive open alone: %v", err)
	}
	if _, err := open(false); !errors.Is(err, store.ErrDatabaseBusy) {
		t.Fatalf("shared open beside an exclusive one: %v", err)
	}
	x.Close()
	if c, err := open(false); err != nil {
		t.Fatalf("shared open after the exclusive one closed: %v", err)
	} else {
		c.Close()
	}
}
