package store_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/leadhub/leadhub/core"
)

// Text search answers the same on both databases when the matches lie beyond
// the leads a PostgreSQL search examines first (1000): rare words found only
// in old leads, common words paged through to the end, in every sort order,
// and words of another project never.
func TestSearchBeyondTheFirstWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 1200 leads")
	}
	ctx := context.Background()
	s := openStore(t)
	pid := newProject(t, s)
	other := newProject(t, s)
	const n = 1200
	ids := make([]string, n) // in creation order
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			company := "Common Ltd"
			if i < 3 {
				company = "Rarebird Srl" // among the oldest leads
			}
			name := fmt.Sprintf("Person %04d", i)
			l, err := s.CreateLead(ctx, pid, core.NewLead{UserID: fmt.Sprintf("u%04d", i), Fields: core.LeadFields{Fullname: &name, Company: &company}}, "test")
			if err != nil {
				errs <- err
				return
			}
			ids[i] = l.ID
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, company := range []string{"Rarebird Other", "Common Other"} {
		name := "Elsewhere"
		if _, err := s.CreateLead(ctx, other, core.NewLead{Fields: core.LeadFields{Fullname: &name, Company: &company}}, "test"); err != nil {
			t.Fatal(err)
		}
	}

	all := func(f core.LeadFilter) []string {
		t.Helper()
		var out []string
		seen := map[string]bool{}
		for pages := 0; ; pages++ {
			p, err := s.Leads(ctx, pid, f)
			if err != nil {
				t.Fatalf("%+v: %v", f, err)
			}
			for _, l := range p.Items {
				if seen[l.ID] {
					t.Fatalf("%+v: lead %s twice", f, l.ID)
				}
				seen[l.ID] = true
				out = append(out, l.ID)
			}
			if p.NextCursor == "" {
				return out
			}
			if pages > n {
				t.Fatalf("%+v: paging does not end", f)
			}
			f.Cursor = p.NextCursor
		}
	}

	// The expected orders come from the plain list: creation order is seq
	// order, which concurrent creation does not follow.
	var newest, rareNewest []string
	for _, id := range all(core.LeadFilter{Limit: 500}) {
		newest = append(newest, id)
		l, err := s.Lead(ctx, pid, id)
		if err != nil {
			t.Fatal(err)
		}
		if l.Company == "Rarebird Srl" {
			rareNewest = append(rareNewest, id)
		}
	}
	if len(newest) != n || len(rareNewest) != 3 {
		t.Fatalf("%d leads, %d rare; want %d and 3", len(newest), len(rareNewest), n)
	}
	rare := all(core.LeadFilter{Q: "rareb"})
	if fmt.Sprint(rare) != fmt.Sprint(rareNewest) {
		t.Errorf("rare word, newest first: %v, want %v", rare, rareNewest)
	}
	if got := all(core.LeadFilter{Q: "rareb", Sort: "created_at"}); len(got) != 3 || got[0] != rareNewest[2] {
		t.Errorf("rare word, oldest first: %v", got)
	}
	if got := all(core.LeadFilter{Q: "rareb", Sort: "-updated_at", Limit: 2}); len(got) != 3 {
		t.Errorf("rare word by updated_at: %d leads, want 3", len(got))
	}
	if got := all(core.LeadFilter{Q: "person 0007"}); len(got) != 1 || got[0] != ids[7] {
		t.Errorf("two words, one lead: %v, want %s", got, ids[7])
	}
	common := all(core.LeadFilter{Q: "comm", Limit: 500})
	var want []string
	for _, id := range newest {
		if !slices.Contains(rareNewest, id) {
			want = append(want, id)
		}
	}
	if fmt.Sprint(common) != fmt.Sprint(want) {
		t.Errorf("common word: %d leads, want %d in the list's order", len(common), len(want))
	}
	if got := all(core.LeadFilter{Q: "pers", Sort: "last_seen_at", Limit: 300}); len(got) != n {
		t.Errorf("common word by last_seen_at: %d leads, want %d", len(got), n)
	}
	if got := all(core.LeadFilter{Q: "elsewhere"}); len(got) != 0 {
		t.Errorf("another project's word: %d leads", len(got))
	}
}
