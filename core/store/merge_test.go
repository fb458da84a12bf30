package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/store"
	"github.com/leadhub/leadhub/internal/testdb"
)

// mergeTestWithStore runs fn on a fresh store of the dialect of the pass in
// progress (see internal/testdb).
func mergeTestWithStore(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	fn(t, mergeTestOpen(t, testdb.URL(t)))
}

// mergeTestOpen opens a store whose clock moves one millisecond per reading,
// so that times are distinct and ordered like the operations.
func mergeTestOpen(t testing.TB, dbURL string) *store.Store {
	t.Helper()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var ticks atomic.Int64
	s, err := store.Open(context.Background(), store.Options{URL: dbURL,
		Clock: func() time.Time { return base.Add(time.Duration(ticks.Add(1)) * time.Millisecond) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// mergeTestIngest posts a request for a user id, with lead fields given as
// name/value pairs ("fullname", "Andrea Sp", "email", "…").
func mergeTestIngest(t testing.TB, s *store.Store, pid, userID string, fields ...string) *core.IngestResult {
	t.Helper()
	in := core.Ingest{UserID: userID, Channel: "chat", FirstText: "hello", Actor: "test"}
	for i := 0; i+1 < len(fields); i += 2 {
		v := fields[i+1]
		switch fields[i] {
		case "fullname":
			in.Lead.Fullname = &v
		case "lastname":
			in.Lead.Lastname = &v
		case "email":
			in.Lead.Email = &v
		case "phone":
			in.Lead.Phone = &v
		case "company":
			in.Lead.Company = &v
		default:
			t.Fatalf("unknown field %s", fields[i])
		}
	}
	r, err := s.IngestRequest(context.Background(), pid, in)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mergeTestLead(t testing.TB, s *store.Store, pid, id string) *core.Lead {
	t.Helper()
	l, err := s.Lead(context.Background(), pid, id)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func mergeTestCreate(t testing.TB, s *store.Store, pid string, in core.NewLead) *core.Lead {
	t.Helper()
	l, err := s.CreateLead(context.Background(), pid, in, "test")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func mergeTestRequests(t testing.TB, s *store.Store, pid, leadID string) []core.Request {
	t.Helper()
	p, err := s.LeadRequests(context.Background(), pid, leadID, core.MaxLimit, "")
	if err != nil {
		t.Fatal(err)
	}
	return p.Items
}

func mergeTestEvents(t testing.TB, s *store.Store, pid, leadID string) []core.Event {
	t.Helper()
	p, err := s.LeadEvents(context.Background(), pid, leadID, core.MaxLimit, "")
	if err != nil {
		t.Fatal(err)
	}
	return p.Items
}

func mergeTestIDs(ls []core.Lead) []string {
	var ids []string
	for _, l := range ls {
		ids = append(ids, l.ID)
	}
	return ids
}

func mergeTestJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := core.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

// mergeCase is one merge rule: set up leads, merge from into into, check.
type mergeCase struct {
	name  string
	setup func(t *testing.T, s *store.Store, pid string) (into string, from []string)
	check func(t *testing.T, s *store.Store, pid string, res *core.MergeResult, from []string)
}

func TestMergeRules(t *testing.T) {
	ctx := context.Background()
	cases := []mergeCase{
		{
			name: "empty survivor fields are filled",
			setup: func(t *testing.T, s *store.Store, pid string) (string, []string) {
				a := mergeTestIngest(t, s, pid, "A", "fullname", "Andrea Sp")
				b := mergeTestIngest(t, s, pid, "B", "fullname", "Andrea Sp1", "email", "andrea1@gmail.com", "phone", "+39 06 123", "company", "Acme")
				return a.Lead.ID, []string{b.Lead.ID}
			},
			check: func(t *testing.T, s *store.Store, pid string, res *core.MergeResult, _ []string) {
				l := mergeTestLead(t, s, pid, res.Lead.ID)
				if l.Fullname != "Andrea Sp" || l.Email != "andrea1@gmail.com" || l.Phone != "+39 06 123" || l.Company != "Acme" {
					t.Fatalf("survivor %+v", l)
				}
				// The filled email and phone are searchable on the survivor.
				p, err := s.Leads(ctx, pid, core.LeadFilter{Email: "ANDREA1@gmail.com"})
				if err != nil || len(p.Items) != 1 || p.Items[0].ID != l.ID {
					t.Fatalf("by email: %v %v", p.Items, err)
				}
				p, err = s.Leads(ctx, pid, core.LeadFilter{Q: "acm"})
				if err != nil || len(p.Items) != 1 || p.Items[0].ID != l.ID {
					t.Fatalf("by text: %v %v", p.Items, err)
				}
			},
		},
		{
			name: "survivor's non-empty fields win",
			setup: func(t *testing.T, s *store.Store, pid string) (string, []string) {
				a := mergeTestIngest(t, s, pid, "A", "fullname", "Andrea Sp", "email", "a@example.com", "company", "Mine")
				b := mergeTestIngest(t, s, pid, "B", "fullname", "Andrea Sp1", "email", "b@example.com", "company", "Theirs")
				return a.Lead.ID, []string{b.Lead.ID}
			},
			check: func(t *testing.T, s *store.Store, pid string, res *core.MergeResult, _ []string) {
				l := mergeTestLead(t, s, pid, res.Lead.ID)
				if l.Fullname != "Andrea Sp" || l.Email != "a@example.com" || l.Company != "Mine" {
					t.Fatalf("survivor %+v", l)
				}
			},
		},
		{
			name: "attributes are deep-merged, the survivor winning",
			setup: func(t *testing.T, s *store.Store, pid string) (string, []string) {
				a := mergeTestCreate(t, s, pid, core.NewLead{Attributes: map[string]any{
					"plan": "pro", "address": map[string]any{"city": "Rome"}}})
				b := mergeTestCreate(t, s, pid, core.NewLead{Attributes: map[string]any{
					"plan": "free", "source": "ads", "address": map[string]any{"city": "Milan", "zip": "20100"}}})
				return a.ID, []string{b.ID}
			},
			check: func(t *testing.T, s *store.Store, pid string, res *core.MergeResult, _ []string) {
				want := map[string]any{"plan": "pro", "source": "ads", "address": map[string]any{"city": "Rome", "zip": "20100"}}
				if l := mergeTestLead(t, s, pid, res.Lead.ID); !reflect.DeepEqual(l.Attributes, want) {
					t.Fatalf("attributes %v, want %v", l.Attributes, want)
				}
			},
		},
		{
			name: "tags are unioned",
			setup: func(t *testing.T, s *store.Store, pid string) (string, []string) {
				a := mergeTestCreate(t, s, pid, core.NewLead{Tags: []string{"vip"}})
				b := mergeTestCreate(t, s, pid, core.NewLead{Tags: []string{"vip", "lead"}})
				return a.ID, []string{b.ID}
			},
			check: func(t *testing.T, s *store.Store, pid string, res *core.MergeResult, _ []string) {
				if l := mergeTestLead(t, s, pid, res.Lead.ID); !slices.Equal(l.Tags, []string{"lead", "vip"}) {
					t.Fatalf("tags %v", l.Tags)
				}
				p, err := s.Leads(ctx, pid, core.LeadFilter{Tag: "lead"})
				if err != nil || len(p.Items) != 1 || p.Items[0].ID != res.Lead.ID {
					t.Fatalf("by tag: %v %v", p.Items, err)
				}
			},
		},
		{
			name: "counts and last_seen_at are recomputed",
			setup: func(t *testing.T, s *store.Store, pid string) (string, []string) {
				a := mergeTestIngest(t, s, pid, "A")
				mergeTestIngest(t, s, pid, "A")
				b := mergeTestIngest(t, s, pid, "B")
				mergeTestIngest(t, s, pid, "B")
				c := mergeTestIngest(t, s, pid, "C")
				return a.Lead.ID, []string{b.Lead.ID, c.Lead.ID}
			},
			check: func(t *testing.T, s *store.Store, pid string, res *core.MergeResult, from []string) {
				l := mergeTestLead(t, s, pid, res.Lead.ID)
				c, _ := s.Lead(ctx, pid, from[1])
				if l.RequestsCount != 5 || res.Lead.RequestsCount != 5 {
					t.Fatalf("requests_count %d / %d, want 5", l.RequestsCount, res.Lead.RequestsCount)
				}
				if !l.LastSeenAt.Equal(c.LastSeenAt) || c.LastSeenAt.IsZero() {
					t.Fatalf("last_seen_at %v, want C's %v", l.LastSeenAt, c.LastSeenAt)
				}
				if c.RequestsCount != 0 {
					t.Fatalf("merged lead keeps requests_count %d", c.RequestsCount)
				}
			},
		},
		{
			name: "requests and user ids move to the survivor",
			setup: func(t *testing.T, s *store.Store, pid string) (string, []string) {
				a := mergeTestIngest(t, s, pid, "A")
				b := mergeTestIngest(t, s, pid, "B")
				mergeTestIngest(t, s, pid, "B")
				return a.Lead.ID, []string{b.Lead.ID}
			},
			check: func(t *testing.T, s *store.Store, pid string, res *core.MergeResult, from []string) {
				l := mergeTestLead(t, s, pid, res.Lead.ID)
				if !slices.Equal(l.UserIDs, []string{"A", "B"}) {
					t.Fatalf("user_ids %v", l.UserIDs)
				}
				reqs := mergeTestRequests(t, s, pid, l.ID)
				if len(reqs) != 3 {
					t.Fatalf("%d requests on the survivor, want 3", len(reqs))
				}
				if n := len(mergeTestRequests(t, s, pid, from[0])); n != 0 {
					t.Fatalf("%d requests left on the merged lead", n)
				}
				p, err := s.Leads(ctx, pid, core.LeadFilter{UserID: "B"})
				if err != nil || len(p.Items) != 1 || p.Items[0].ID != l.ID {
					t.Fatalf("by user id B: %v %v", p.Items, err)
				}
				// Later requests from a moved user id land on the survivor.
				r := mergeTestIngest(t, s, pid, "B", "fullname", "New Name")
				if r.Lead.ID != l.ID || r.Request.LeadID != l.ID {
					t.Fatalf("new request of B landed on %s", r.Lead.ID)
				}
			},
		},
		{
			name: "open suggestions of the merged leads close as merged",
			setup: func(t *testing.T, s *store.Store, pid string) (string, []string) {
				a := mergeTestIngest(t, s, pid, "A")
				b := mergeTestIngest(t, s, pid, "B")
				c := mergeTestIngest(t, s, pid, "C")
				for _, sg := range []core.Suggestion{
					{LeadID: b.Lead.ID, CandidateID: a.Lead.ID, Score: 0.9, Reason: "same email", Detector: "email"},
					{LeadID: b.Lead.ID, CandidateID: c.Lead.ID, Score: 0.5, Reason: "same name", Detector: "name"},
					{LeadID: a.Lead.ID, CandidateID: c.Lead.ID, Score: 0.5, Reason: "same name", Detector: "name"},
				} {
					if _, created, err := s.SuggestDuplicate(ctx, pid, sg); err != nil || !created {
						t.Fatalf("suggest: %v %v", created, err)
					}
				}
				return a.Lead.ID, []string{b.Lead.ID}
			},
			check: func(t *testing.T, s *store.Store, pid string, res *core.MergeResult, from []string) {
				merged, err := s.Duplicates(ctx, pid, core.DuplicateMerged, 0, "")
				if err != nil || len(merged.Items) != 2 {
					t.Fatalf("merged suggestions: %v %v", merged.Items, err)
				}
				for _, d := range merged.Items {
					if !slices.Contains(d.LeadIDs, from[0]) {
						t.Fatalf("closed a suggestion without the merged lead: %v", d.LeadIDs)
					}
				}
				open, err := s.Duplicates(ctx, pid, core.DuplicateOpen, 0, "")
				if err != nil || len(open.Items) != 1 || slices.Contains(open.Items[0].LeadIDs, from[0]) {
					t.Fatalf("open suggestions: %v %v", open.Items, err)
				}
			},
		},
		{
			name: "the merged lead stays readable and leaves lists and searches",
			setup: func(t *testing.T, s *store.Store, pid string) (string, []string) {
				a := mergeTestIngest(t, s, pid, "A", "fullname", "Andrea Sp", "email", "andrea1@gmail.com")
				b := mergeTestIngest(t, s, pid, "B", "fullname", "Andrea Sp1", "email", "andrea1@gmail.com")
				return a.Lead.ID, []string{b.Lead.ID}
			},
			check: func(t *testing.T, s *store.Store, pid string, res *core.MergeResult, from []string) {
				b := mergeTestLead(t, s, pid, from[0])
				if b.Status != core.LeadMerged || b.MergedInto == nil || *b.MergedInto != res.Lead.ID || b.Fullname != "Andrea Sp1" {
					t.Fatalf("merged lead %+v", b)
				}
				for _, f := range []core.LeadFilter{{}, {Email: "andrea1@gmail.com"}, {Q: "andrea"}, {Q: "sp1"}} {
					p, err := s.Leads(ctx, pid, f)
					if err != nil {
						t.Fatal(err)
					}
					if slices.Contains(mergeTestIDs(p.Items), b.ID) {
						t.Fatalf("filter %+v lists the merged lead", f)
					}
				}
				p, err := s.Leads(ctx, pid, core.LeadFilter{Status: core.LeadMerged})
				if err != nil || len(p.Items) != 1 || p.Items[0].ID != b.ID {
					t.Fatalf("status=merged: %v %v", p.Items, err)
				}
				// Merged leads cannot be edited, deleted or merged again.
				_, err = s.UpdateLead(ctx, pid, b.ID, core.LeadPatch{Fields: core.LeadFields{Fullname: ptr("x")}}, "test")
				wantCode(t, err, core.ECONFLICT)
			},
		},
		{
			name: "events tell both sides where the leads went",
			setup: func(t *testing.T, s *store.Store, pid string) (string, []string) {
				a := mergeTestIngest(t, s, pid, "A")
				b := mergeTestIngest(t, s, pid, "B", "email", "b@example.com")
				return a.Lead.ID, []string{b.Lead.ID}
			},
			check: func(t *testing.T, s *store.Store, pid string, res *core.MergeResult, from []string) {
				ev := mergeTestEvents(t, s, pid, res.Lead.ID)[0]
				var data core.EventData
				if err := json.Unmarshal(ev.Data, &data); err != nil {
					t.Fatal(err)
				}
				if ev.Type != core.EventLeadMerged || ev.Actor != "agent" || !slices.Equal(data.MergedIDs, from) ||
					data.Lead == nil || data.Lead.ID != res.Lead.ID || data.Extra["merge_id"] != res.MergeID {
					t.Fatalf("survivor event %s %s", ev.Type, ev.Data)
				}
				if ev.Changes["email"].To != "b@example.com" {
					t.Fatalf("survivor event changes %v", ev.Changes)
				}
				ev = mergeTestEvents(t, s, pid, from[0])[0]
				data = core.EventData{}
				if err := json.Unmarshal(ev.Data, &data); err != nil {
					t.Fatal(err)
				}
				if ev.Type != core.EventLeadMerged || data.MergedInto != res.Lead.ID || data.Lead.Status != core.LeadMerged {
					t.Fatalf("merged lead event %s %s", ev.Type, ev.Data)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mergeTestWithStore(t, func(t *testing.T, s *store.Store) {
				pid := newProject(t, s)
				into, from := tc.setup(t, s, pid)
				res, err := s.MergeLeads(ctx, pid, into, from, "agent")
				if err != nil {
					t.Fatal(err)
				}
				if res.Lead.ID != into || res.MergeID == "" {
					t.Fatalf("result %+v", res)
				}
				tc.check(t, s, pid, res, from)
			})
		})
	}
}

func TestMergeRefusals(t *testing.T) {
	ctx := context.Background()
	mergeTestWithStore(t, func(t *testing.T, s *store.Store) {
		pid := newProject(t, s)
		other := newProject(t, s)
		a := mergeTestIngest(t, s, pid, "A", "fullname", "A").Lead
		b := mergeTestIngest(t, s, pid, "B", "email", "b@example.com").Lead
		c := mergeTestIngest(t, s, pid, "C").Lead
		d := mergeTestIngest(t, s, pid, "D").Lead
		foreign := mergeTestIngest(t, s, other, "A").Lead
		if err := s.DeleteLead(ctx, pid, d.ID, "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.MergeLeads(ctx, pid, c.ID, []string{b.ID}, "test"); err != nil {
			t.Fatal(err)
		}
		before := map[string]string{}
		for _, id := range []string{a.ID, b.ID, c.ID, d.ID} {
			before[id] = mergeTestJSON(mergeTestLead(t, s, pid, id))
		}
		cases := []struct {
			name, project, into string
			from                []string
			code                string
		}{
			{"into itself", pid, a.ID, []string{a.ID}, core.EINVALID},
			{"into itself among others", pid, a.ID, []string{c.ID, a.ID}, core.EINVALID},
			{"nothing to merge", pid, a.ID, nil, core.EINVALID},
			{"a merged lead", pid, a.ID, []string{b.ID}, core.ECONFLICT},
			{"into a merged lead", pid, b.ID, []string{a.ID}, core.ECONFLICT},
			{"a deleted lead", pid, a.ID, []string{d.ID}, core.ECONFLICT},
			{"into a deleted lead", pid, d.ID, []string{a.ID}, core.ECONFLICT},
			{"another project's lead", pid, a.ID, []string{foreign.ID}, core.ENOTFOUND},
			{"into another project's lead", pid, foreign.ID, []string{a.ID}, core.ENOTFOUND},
			{"from another project", other, a.ID, []string{c.ID}, core.ENOTFOUND},
			{"an unknown lead", pid, a.ID, []string{"nope"}, core.ENOTFOUND},
		}
		for _, tc := range cases {
			_, err := s.MergeLeads(ctx, tc.project, tc.into, tc.from, "test")
			if got := core.ErrorCode(err); got != tc.code {
				t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
			}
		}
		for id, want := range before {
			if got := mergeTestJSON(mergeTestLead(t, s, pid, id)); got != want {
				t.Errorf("lead %s changed by a refused merge:\n%s\n%s", id, want, got)
			}
		}
		if got := mergeTestJSON(mergeTestLead(t, s, other, foreign.ID)); got != mergeTestJSON(foreign) {
			t.Errorf("the other project's lead changed: %s", got)
		}
	})
}

// undoCase sets up a merge, may act after it, undoes it and checks.
type undoCase struct {
	name  string
	setup func(t *testing.T, s *store.Store, pid string) (into string, from []string)
	after func(t *testing.T, s *store.Store, pid string, res *core.MergeResult, from []string)
	check func(t *testing.T, s *store.Store, pid string, res *core.UndoResult, into string, from []string)
}

func TestUndoMerge(t *testing.T) {
	ctx := context.Background()
	cases := []undoCase{
		{
			name: "restores the merged lead's fields, user ids and requests",
			setup: func(t *testing.T, s *store.Store, pid string) (string, []string) {
				a := mergeTestIngest(t, s, pid, "A", "fullname", "Andrea Sp", "email", "andrea1@gmail.com")
				mergeTestIngest(t, s, pid, "A")
				b := mergeTestCreate(t, s, pid, core.NewLead{UserID: "B", Fields: core.LeadFields{Fullname: ptr("Andrea Sp1"),
					Email: ptr("andrea1@gmail.com"), Phone: ptr("555")}, Attributes: map[string]any{"x": 1.0}, Tags: []string{"t"}})
				mergeTestIngest(t, s, pid, "B")
				return a.Lead.ID, []string{b.ID}
			},
			check: func(t *testing.T, s *store.Store, pid string, res *core.UndoResult, into string, from []string) {
				b := mergeTestLead(t, s, pid, from[0])
				if b.Status != core.LeadActive || b.MergedInto != nil || b.Fullname != "Andrea Sp1" || b.Phone != "555" ||
					!slices.Equal(b.UserIDs, []string{"B"}) || b.RequestsCount != 1 || !slices.Equal(b.Tags, []string{"t"}) ||
					b.Attributes["x"] != 1.0 {
					t.Fatalf("restored lead %+v", b)
				}
				if len(res.Restored) != 1 || res.Restored[0].ID != b.ID || res.Lead.ID != into {
					t.Fatalf("undo result %+v", res)
				}
				a := mergeTestLead(t, s, pid, into)
				if !slices.Equal(a.UserIDs, []string{"A"}) || a.RequestsCount != 2 || a.Phone != "" || len(a.Tags) != 0 || len(a.Attributes) != 0 {
					t.Fatalf("survivor after undo %+v", a)
				}
				if n := len(mergeTestRequests(t, s, pid, b.ID)); n != 1 {
					t.Fatalf("%d requests back on B", n)
				}
				p, err := s.Leads(ctx, pid, core.LeadFilter{Email: "andrea1@gmail.com"})
				if err != nil || len(p.Items) != 2 {
					t.Fatalf("by email after undo: %v %v", p.Items, err)
				}
				p, err = s.Leads(ctx, pid, core.LeadFilter{UserID: "B"})
				if err != nil || len(p.Items) != 1 || p.Items[0].ID != b.ID {
					t.Fatalf("by user id B: %v %v", p.Items, err)
				}
				if r := mergeTestIngest(t, s, pid, "B"); r.Lead.ID != b.ID {
					t.Fatalf("a request of B after the undo landed on %s", r.Lead.ID)
				}
			},
		},
		{
			name: "requests that arrived after the merge go back too",
			setup: func(t *testing.T, s *store.Store, pid string) (string, []string) {
				a := mergeTestIngest(t, s, pid, "A")
				b := mergeTestIngest(t, s, pid, "B")
				c := mergeTestIngest(t, s, pid, "C")
				return a.Lead.ID, []string{b.Lead.ID, c.Lead.ID}
			},
			after: func(t *testing.T, s *store.Store, pid string, res *core.MergeResult, from []string) {
				for _, u := range []string{"B", "B", "C", "A"} {
					if r := mergeTestIngest(t, s, pid, u); r.Lead.ID != res.Lead.ID {
						t.Fatalf("request of %s after the merge landed on %s", u, r.Lead.ID)
					}
				}
			},
			check: func(t *testing.T, s *store.Store, pid string, res *core.UndoResult, into string, from []string) {
				want := map[string]int{into: 2, from[0]: 3, from[1]: 2}
				users := map[string]string{into: "A", from[0]: "B", from[1]: "C"}
				for id, n := range want {
					reqs := mergeTestRequests(t, s, pid, id)
					if len(reqs) != n || mergeTestLead(t, s, pid, id).RequestsCount != int64(n) {
						t.Fatalf("lead %s: %d requests, want %d", users[id], len(reqs), n)
					}
					for _, r := range reqs {
						if r.UserID != users[id] {
							t.Fatalf("request of %s on the lead of %s", r.UserID, users[id])
						}
					}
					l := mergeTestLead(t, s, pid, id)
					if !l.LastSeenAt.Equal(reqs[0].CreatedAt) {
						t.Fatalf("lead %s: last_seen_at %v, want its latest request's %v", users[id], l.LastSeenAt, reqs[0].CreatedAt)
					}
				}
			},
		},
		{
			name: "survivor fields, attributes and tags the merge filled are emptied again",
			setup: func(t *testing.T, s *store.Store, pid string) (string, []string) {
				a := mergeTestCreate(t, s, pid, core.NewLead{Fields: core.LeadFields{Fullname: ptr("Andrea")},
					Attributes: map[string]any{"plan": "pro", "address": map[string]any{"city": "Rome"}}, Tags: []string{"vip"}})
				b := mergeTestCreate(t, s, pid, core.NewLead{Fields: core.LeadFields{Fullname: ptr("Other"), Email: ptr("b@example.com"), Company: ptr("Acme")},
					Attributes: map[string]any{"plan": "free", "source": "ads", "address": map[string]any{"zip": "20100"},
						"extra": map[string]any{"deep": map[string]any{"n": 1.0}, "list": []any{"x"}}}, Tags: []string{"lead", "vip"}})
				return a.ID, []string{b.ID}
			},
			check: func(t *testing.T, s *store.Store, pid string, res *core.UndoResult, into string, _ []string) {
				a := mergeTestLead(t, s, pid, into)
				wantAttrs := map[string]any{"plan": "pro", "address": map[string]any{"city": "Rome"}}
				if a.Fullname != "Andrea" || a.Email != "" || a.Company != "" || !reflect.DeepEqual(a.Attributes, wantAttrs) ||
					!slices.Equal(a.Tags, []string{"vip"}) {
					t.Fatalf("survivor after undo %+v", a)
				}
				p, err := s.Leads(ctx, pid, core.LeadFilter{Email: "b@example.com"})
				if err != nil || len(p.Items) != 1 || p.Items[0].ID == into {
					t.Fatalf("by email after undo: %v %v", p.Items, err)
				}
			},
		},
		{
			name: "survivor values changed since the merge stay",
			setup: func(t *testing.T, s *store.Store, pid string) (string, []string) {
				a := mergeTestCreate(t, s, pid, core.NewLead{Fields: core.LeadFields{Fullname: ptr("Andrea")}})
				b := mergeTestCreate(t, s, pid, core.NewLead{Fields: core.LeadFields{Email: ptr("b@example.com"), Company: ptr("Acme"), Phone: ptr("555")},
					Attributes: map[string]any{"source": "ads", "address": map[string]any{"zip": "20100", "city": "Milan"}, "extra": map[string]any{"n": 1.0}}})
				return a.ID, []string{b.ID}
			},
			after: func(t *testing.T, s *store.Store, pid string, res *core.MergeResult, _ []string) {
				_, err := s.UpdateLead(ctx, pid, res.Lead.ID, core.LeadPatch{
					Fields:     core.LeadFields{Email: ptr("new@example.com"), Company: ptr("Acme")},
					Attributes: map[string]any{"source": "manual", "address": map[string]any{"city": "Turin"}, "extra": map[string]any{"keep": true}},
				}, "agent")
				if err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, s *store.Store, pid string, res *core.UndoResult, into string, _ []string) {
				a := mergeTestLead(t, s, pid, into)
				// company was set again to the same value: nothing tells it
				// from the merge's, so it goes.
				wantAttrs := map[string]any{"source": "manual", "address": map[string]any{"city": "Turin"}, "extra": map[string]any{"keep": true}}
				if a.Email != "new@example.com" || a.Company != "" || a.Phone != "" || !reflect.DeepEqual(a.Attributes, wantAttrs) {
					t.Fatalf("survivor after undo %+v", a)
				}
			},
		},
		{
			name: "suggestions the merge closed open again",
			setup: func(t *testing.T, s *store.Store, pid string) (string, []string) {
				a := mergeTestIngest(t, s, pid, "A")
				b := mergeTestIngest(t, s, pid, "B")
				if _, _, err := s.SuggestDuplicate(ctx, pid, core.Suggestion{LeadID: b.Lead.ID, CandidateID: a.Lead.ID, Score: 1, Detector: "email"}); err != nil {
					t.Fatal(err)
				}
				return a.Lead.ID, []string{b.Lead.ID}
			},
			check: func(t *testing.T, s *store.Store, pid string, res *core.UndoResult, into string, _ []string) {
				open, err := s.Duplicates(ctx, pid, core.DuplicateOpen, 0, "")
				if err != nil || len(open.Items) != 1 {
					t.Fatalf("open suggestions after undo: %v %v", open.Items, err)
				}
			},
		},
		{
			name: "each lead's timeline says it was unmerged",
			setup: func(t *testing.T, s *store.Store, pid string) (string, []string) {
				return mergeTestIngest(t, s, pid, "A").Lead.ID, []string{mergeTestIngest(t, s, pid, "B").Lead.ID}
			},
			check: func(t *testing.T, s *store.Store, pid string, res *core.UndoResult, into string, from []string) {
				for _, id := range []string{into, from[0]} {
					evs := mergeTestEvents(t, s, pid, id)
					if evs[0].Type != core.EventLeadUnmerged || evs[1].Type != core.EventLeadMerged || evs[0].Actor != "undoer" {
						t.Fatalf("timeline of %s: %s, %s", id, evs[0].Type, evs[1].Type)
					}
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mergeTestWithStore(t, func(t *testing.T, s *store.Store) {
				pid := newProject(t, s)
				into, from := tc.setup(t, s, pid)
				res, err := s.MergeLeads(ctx, pid, into, from, "agent")
				if err != nil {
					t.Fatal(err)
				}
				if tc.after != nil {
					tc.after(t, s, pid, res, from)
				}
				undo, err := s.UndoMerge(ctx, pid, res.MergeID, "undoer")
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, s, pid, undo, into, from)
			})
		})
	}
}

func TestUndoMergeRefusals(t *testing.T) {
	ctx := context.Background()
	mergeTestWithStore(t, func(t *testing.T, s *store.Store) {
		pid := newProject(t, s)
		other := newProject(t, s)
		a := mergeTestIngest(t, s, pid, "A").Lead
		b := mergeTestIngest(t, s, pid, "B").Lead
		c := mergeTestIngest(t, s, pid, "C").Lead
		m1, err := s.MergeLeads(ctx, pid, a.ID, []string{b.ID}, "agent")
		if err != nil {
			t.Fatal(err)
		}
		m2, err := s.MergeLeads(ctx, pid, c.ID, []string{a.ID}, "agent")
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.UndoMerge(ctx, pid, m1.MergeID, "agent")
		wantCode(t, err, core.ECONFLICT)
		if msg := core.ErrorMessage(err); !strings.Contains(msg, m2.MergeID) || !strings.Contains(msg, "later merge") {
			t.Fatalf("message %q does not name the later merge", msg)
		}
		_, err = s.UndoMerge(ctx, other, m2.MergeID, "agent")
		wantCode(t, err, core.ENOTFOUND)
		_, err = s.UndoMerge(ctx, pid, "nope", "agent")
		wantCode(t, err, core.ENOTFOUND)
		if _, err := s.UndoMerge(ctx, pid, m2.MergeID, "agent"); err != nil {
			t.Fatal(err)
		}
		_, err = s.UndoMerge(ctx, pid, m2.MergeID, "agent")
		wantCode(t, err, core.ECONFLICT)
		// With the later merge undone, the first one can be undone too.
		if _, err := s.UndoMerge(ctx, pid, m1.MergeID, "agent"); err != nil {
			t.Fatal(err)
		}
		_, err = s.UndoMerge(ctx, pid, m1.MergeID, "agent")
		wantCode(t, err, core.ECONFLICT)
		for _, u := range []string{"A", "B", "C"} {
			p, err := s.Leads(ctx, pid, core.LeadFilter{UserID: u})
			if err != nil || len(p.Items) != 1 || p.Items[0].RequestsCount != 1 || !slices.Equal(p.Items[0].UserIDs, []string{u}) {
				t.Fatalf("user %s after both undos: %+v %v", u, p.Items, err)
			}
		}
		// A later merge into the survivor of another lead blocks the undo too.
		m3, err := s.MergeLeads(ctx, pid, a.ID, []string{b.ID}, "agent")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.MergeLeads(ctx, pid, a.ID, []string{c.ID}, "agent"); err != nil {
			t.Fatal(err)
		}
		_, err = s.UndoMerge(ctx, pid, m3.MergeID, "agent")
		wantCode(t, err, core.ECONFLICT)
	})
}

// A merge while requests keep arriving for the merged user ids loses none
// and leaves none on the merged lead; two merges racing on the same leads
// give one winner and one conflict.
func TestMergeConcurrency(t *testing.T) {
	ctx := context.Background()
	mergeTestWithStore(t, func(t *testing.T, s *store.Store) {
		pid := newProject(t, s)
		a := mergeTestIngest(t, s, pid, "A").Lead
		b := mergeTestIngest(t, s, pid, "B").Lead
		c := mergeTestIngest(t, s, pid, "C").Lead

		var wg sync.WaitGroup
		stop := make(chan struct{})
		var mu sync.Mutex
		acked := map[string]bool{}
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					user := []string{"B", "C"}[i%2]
					r, err := s.IngestRequest(ctx, pid, core.Ingest{ID: fmt.Sprintf("w%d-%d", w, i), UserID: user, Actor: "test"})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					acked[r.Request.ID] = true
					mu.Unlock()
				}
			}()
		}
		time.Sleep(50 * time.Millisecond)
		if _, err := s.MergeLeads(ctx, pid, a.ID, []string{b.ID, c.ID}, "agent"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		close(stop)
		wg.Wait()
		reqs := map[string]bool{}
		for cur := ""; ; {
			p, err := s.LeadRequests(ctx, pid, a.ID, core.MaxLimit, cur)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range p.Items {
				reqs[r.ID] = true
			}
			if cur = p.NextCursor; cur == "" {
				break
			}
		}
		for id := range acked {
			if !reqs[id] {
				t.Fatalf("acknowledged request %s is not on the survivor", id)
			}
		}
		for _, id := range []string{b.ID, c.ID} {
			if n := len(mergeTestRequests(t, s, pid, id)); n != 0 {
				t.Fatalf("%d requests sit on a merged lead", n)
			}
		}
		if l := mergeTestLead(t, s, pid, a.ID); l.RequestsCount != int64(len(acked)+3) {
			t.Fatalf("requests_count %d, want %d", l.RequestsCount, len(acked)+3)
		}

		// Racing merges over the same leads.
		x := mergeTestIngest(t, s, pid, "X").Lead
		y := mergeTestIngest(t, s, pid, "Y").Lead
		errs := make([]error, 2)
		start := make(chan struct{})
		for i, pair := range [][2]string{{x.ID, y.ID}, {y.ID, x.ID}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = s.MergeLeads(ctx, pid, pair[0], []string{pair[1]}, "agent")
			}()
		}
		close(start)
		wg.Wait()
		codes := []string{core.ErrorCode(errs[0]), core.ErrorCode(errs[1])}
		slices.Sort(codes)
		if !slices.Equal(codes, []string{"", core.ECONFLICT}) {
			t.Fatalf("racing merges: %v", errs)
		}
	})
}

// BenchmarkMergeLead10kRequests merges a lead holding 10,000 requests into
// another. Each iteration's undo (not timed) puts the requests back.
func BenchmarkMergeLead10kRequests(b *testing.B) {
	ctx := context.Background()
	s := mergeTestOpen(b, testURL(b))
	pid := newProject(b, s)
	a := mergeTestIngest(b, s, pid, "A").Lead
	const n = 10_000
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				if _, err := s.IngestRequest(ctx, pid, core.Ingest{UserID: "B", Channel: "chat", FirstText: "hello"}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	bl, err := s.Leads(ctx, pid, core.LeadFilter{UserID: "B"})
	if err != nil || len(bl.Items) != 1 || bl.Items[0].RequestsCount != n {
		b.Fatalf("setup: %+v %v", bl.Items, err)
	}
	from := []string{bl.Items[0].ID}
	var undo time.Duration
	b.ResetTimer()
	for range b.N {
		res, err := s.MergeLeads(ctx, pid, a.ID, from, "bench")
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if res.Lead.RequestsCount != n+1 {
			b.Fatalf("requests_count %d", res.Lead.RequestsCount)
		}
		t0 := time.Now()
		if _, err := s.UndoMerge(ctx, pid, res.MergeID, "bench"); err != nil {
			b.Fatal(err)
		}
		undo += time.Since(t0)
		b.StartTimer()
	}
	b.ReportMetric(float64(undo.Milliseconds())/float64(b.N), "undo-ms/op")
}

// Attribute changes to an existing lead reach the database, by ingest and by
// patch: an undo tells the survivor's edits from the merge's by them.
func TestLeadAttributeUpdatesPersist(t *testing.T) {
	ctx := context.Background()
	mergeTestWithStore(t, func(t *testing.T, s *store.Store) {
		pid := newProject(t, s)
		r, err := s.IngestRequest(ctx, pid, core.Ingest{UserID: "A", LeadAttributes: map[string]any{"a": 1.0}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.IngestRequest(ctx, pid, core.Ingest{UserID: "A", LeadAttributes: map[string]any{"b": 2.0}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateLead(ctx, pid, r.Lead.ID, core.LeadPatch{Attributes: map[string]any{"c": 3.0, "a": nil}}, "test"); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"b": 2.0, "c": 3.0}
		if l := mergeTestLead(t, s, pid, r.Lead.ID); !reflect.DeepEqual(l.Attributes, want) {
			t.Fatalf("attributes %v, want %v", l.Attributes, want)
		}
	})
}
