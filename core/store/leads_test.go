package store_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/leadhub/leadhub/core"
)

func TestUpdateLeadMergePatch(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	pid := newProject(t, s)
	base := func(t *testing.T) *core.Lead {
		l, err := s.CreateLead(ctx, pid, core.NewLead{
			Fields:     core.LeadFields{Fullname: ptr("Ada L"), Email: ptr("ada@example.com"), Company: ptr("Engines")},
			Attributes: map[string]any{"plan": "pro", "seats": int64(3), "address": map[string]any{"city": "London", "zip": "N1"}},
			Tags:       []string{"vip", "beta"},
		}, "test")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	cases := []struct {
		name    string
		patch   core.LeadPatch
		check   func(t *testing.T, l *core.Lead)
		changes []string // fields named in the lead.updated event; nil: no event
	}{
		{"set a field", core.LeadPatch{Fields: core.LeadFields{Company: ptr("Analytical")}},
			func(t *testing.T, l *core.Lead) { eq(t, l.Company, "Analytical") }, []string{"company"}},
		{"clear a field", core.LeadPatch{Fields: core.LeadFields{Company: ptr("")}},
			func(t *testing.T, l *core.Lead) { eq(t, l.Company, "") }, []string{"company"}},
		{"attribute added and one removed", core.LeadPatch{Attributes: map[string]any{"score": int64(9), "plan": nil}},
			func(t *testing.T, l *core.Lead) {
				eq(t, fmt.Sprint(l.Attributes["score"]), "9")
				if _, ok := l.Attributes["plan"]; ok {
					t.Fatal("plan not removed")
				}
				eq(t, fmt.Sprint(l.Attributes["seats"]), "3")
			}, []string{"attributes.plan", "attributes.score"}},
		{"nested attribute merged", core.LeadPatch{Attributes: map[string]any{"address": map[string]any{"zip": nil, "street": "Baker"}}},
			func(t *testing.T, l *core.Lead) {
				addr := l.Attributes["address"].(map[string]any)
				eq(t, fmt.Sprint(addr["city"]), "London")
				eq(t, fmt.Sprint(addr["street"]), "Baker")
				if _, ok := addr["zip"]; ok {
					t.Fatal("zip not removed")
				}
			}, []string{"attributes.address"}},
		{"all attributes cleared", core.LeadPatch{ClearAttributes: true},
			func(t *testing.T, l *core.Lead) { eq(t, len(l.Attributes), 0) }, []string{"attributes.address", "attributes.plan", "attributes.seats"}},
		{"tags replaced and normalised", core.LeadPatch{Tags: &[]string{" new ", "vip", "new"}},
			func(t *testing.T, l *core.Lead) { eq(t, fmt.Sprint(l.Tags), "[new vip]") }, []string{"tags"}},
		{"same values change nothing", core.LeadPatch{Fields: core.LeadFields{Company: ptr("Engines")}, Attributes: map[string]any{"plan": "pro"}},
			func(t *testing.T, l *core.Lead) { eq(t, l.Company, "Engines") }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := base(t)
			got, err := s.UpdateLead(ctx, pid, l.ID, tc.patch, "test")
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, got)
			stored, err := s.Lead(ctx, pid, l.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(jsonOf(stored), jsonOf(got)) {
				t.Fatalf("stored lead differs from the answer:\n%s\n%s", jsonOf(stored), jsonOf(got))
			}
			evs, err := s.LeadEvents(ctx, pid, l.ID, 10, "")
			if err != nil {
				t.Fatal(err)
			}
			if tc.changes == nil {
				eq(t, len(evs.Items), 1) // lead.created only
				return
			}
			eq(t, evs.Items[0].Type, core.EventLeadUpdated)
			var names []string
			for k := range evs.Items[0].Changes {
				names = append(names, k)
			}
			sortStrings(names)
			eq(t, fmt.Sprint(names), fmt.Sprint(tc.changes))
		})
	}
}

func TestDeleteRestoreAndSearchVisibility(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	pid := newProject(t, s)
	l, err := s.CreateLead(ctx, pid, core.NewLead{Fields: core.LeadFields{Fullname: ptr("Grace Hopper"), Email: ptr("grace@navy.mil")}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	count := func(f core.LeadFilter) int {
		p, err := s.Leads(ctx, pid, f)
		if err != nil {
			t.Fatal(err)
		}
		return len(p.Items)
	}
	eq(t, count(core.LeadFilter{Q: "gra"}), 1)
	if err := s.DeleteLead(ctx, pid, l.ID, "test"); err != nil {
		t.Fatal(err)
	}
	eq(t, count(core.LeadFilter{Q: "gra"}), 0)
	eq(t, count(core.LeadFilter{Email: "grace@navy.mil"}), 0)
	eq(t, count(core.LeadFilter{Status: "deleted"}), 1)
	got, err := s.Lead(ctx, pid, l.ID)
	if err != nil || got.Status != core.LeadDeleted {
		t.Fatalf("deleted lead not readable: %v %v", got, err)
	}
	if _, err := s.UpdateLead(ctx, pid, l.ID, core.LeadPatch{Status: ptr("active")}, "test"); err != nil {
		t.Fatal(err)
	}
	eq(t, count(core.LeadFilter{Q: "hop"}), 1)
	evs, _ := s.LeadEvents(ctx, pid, l.ID, 10, "")
	eq(t, evs.Items[0].Type, core.EventLeadRestored)
	eq(t, evs.Items[1].Type, core.EventLeadDeleted)
}

func TestSearch(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	pid := newProject(t, s)
	other := newProject(t, s)
	mk := func(project, name, last, email, phone, company string, tags ...string) {
		if _, err := s.CreateLead(ctx, project, core.NewLead{Fields: core.LeadFields{Fullname: &name, Lastname: &last, Email: &email, Phone: &phone, Company: &company}, Tags: tags}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	mk(pid, "Andrea Sp", "Spinelli", "andrea1@gmail.com", "+39 06 1234 567", "Acme Srl", "vip")
	mk(pid, "Andrew Smith", "", "drew@example.org", "", "Globex")
	mk(pid, "Zoë Müller", "", "zoe@example.de", "", "", "vip")
	mk(other, "Andrea Other", "", "andrea1@gmail.com", "", "")
	cases := []struct {
		f    core.LeadFilter
		want int
	}{
		{core.LeadFilter{Q: "and"}, 2},
		{core.LeadFilter{Q: "andrea"}, 1},
		{core.LeadFilter{Q: "AND SMI"}, 1},
		{core.LeadFilter{Q: "spin"}, 1},
		{core.LeadFilter{Q: "andrea1@gm"}, 1},
		{core.LeadFilter{Q: "example"}, 2},
		{core.LeadFilter{Q: "3906"}, 1},
		{core.LeadFilter{Q: "glob"}, 1},
		{core.LeadFilter{Q: "zoe"}, 1},
		{core.LeadFilter{Q: "mull"}, 1},
		{core.LeadFilter{Q: "nobody"}, 0},
		{core.LeadFilter{Q: `"and" OR *`}, 1}, // query syntax is neutralised: "and" and "or" prefixes (drew@example.org)
		{core.LeadFilter{Email: "ANDREA1@GMAIL.COM"}, 1},
		{core.LeadFilter{Tag: "vip"}, 2},
		{core.LeadFilter{Tag: "vip", Q: "zo"}, 1},
		{core.LeadFilter{Q: "and", Sort: "updated_at"}, 2},
	}
	for _, tc := range cases {
		p, err := s.Leads(ctx, pid, tc.f)
		if err != nil {
			t.Fatalf("%+v: %v", tc.f, err)
		}
		if len(p.Items) != tc.want {
			t.Errorf("%+v: %d leads, want %d", tc.f, len(p.Items), tc.want)
		}
		for _, l := range p.Items {
			if l.ProjectID != pid {
				t.Errorf("%+v: lead of another project", tc.f)
			}
		}
	}
}

// Paging with a cursor neither skips nor repeats leads while new ones arrive,
// for every sort order.
func TestCursorPagingIsStable(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	pid := newProject(t, s)
	for i := 0; i < 25; i++ {
		if _, err := s.IngestRequest(ctx, pid, core.Ingest{UserID: fmt.Sprintf("u%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, sort := range core.LeadSorts {
		t.Run(sort, func(t *testing.T) {
			seen := map[string]bool{}
			cursor := ""
			for page := 0; ; page++ {
				p, err := s.Leads(ctx, pid, core.LeadFilter{Sort: sort, Limit: 4, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range p.Items {
					if seen[l.ID] {
						t.Fatalf("lead %s repeated", l.ID)
					}
					seen[l.ID] = true
				}
				// New leads arrive between pages.
				if _, err := s.IngestRequest(ctx, pid, core.Ingest{UserID: fmt.Sprintf("new-%s-%d", sort, page)}); err != nil {
					t.Fatal(err)
				}
				if p.NextCursor == "" {
					break
				}
				cursor = p.NextCursor
			}
			if len(seen) < 25 {
				t.Fatalf("saw %d leads, want at least the 25 that existed", len(seen))
			}
		})
	}
}

func TestIngestIdempotentAndConflicting(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	pid := newProject(t, s)
	first, err := s.IngestRequest(ctx, pid, core.Ingest{ID: "r1", UserID: "u1", Lead: core.LeadFields{Email: ptr("a@example.com")}})
	if err != nil || !first.Created {
		t.Fatal(err)
	}
	again, err := s.IngestRequest(ctx, pid, core.Ingest{ID: "r1", UserID: "u1", Lead: core.LeadFields{Email: ptr("changed@example.com")}})
	if err != nil {
		t.Fatal(err)
	}
	if again.Created || again.Request.ID != "r1" || again.Lead.Email != "a@example.com" || again.Lead.RequestsCount != 1 {
		t.Fatalf("retry changed something: %+v", again)
	}
	if _, err := s.IngestRequest(ctx, pid, core.Ingest{ID: "r1", UserID: "u2"}); core.ErrorCode(err) != core.ECONFLICT {
		t.Fatalf("same id, other user: %v", err)
	}
	// The same request id in another project is another request.
	other := newProject(t, s)
	if r, err := s.IngestRequest(ctx, other, core.Ingest{ID: "r1", UserID: "u2"}); err != nil || !r.Created {
		t.Fatalf("other project: %v", err)
	}
}

func eq[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("got %v, want %v", got, want)
	}
}
