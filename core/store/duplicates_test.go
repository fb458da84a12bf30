package store_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/store"
)

func TestSuggestDuplicate(t *testing.T) {
	ctx := context.Background()
	mergeTestWithStore(t, func(t *testing.T, s *store.Store) {
		pid := newProject(t, s)
		other := newProject(t, s)
		a := mergeTestIngest(t, s, pid, "A", "fullname", "Andrea Sp", "email", "andrea1@gmail.com").Lead
		b := mergeTestIngest(t, s, pid, "B", "fullname", "Andrea Sp1", "email", "andrea1@gmail.com").Lead
		c := mergeTestIngest(t, s, pid, "C").Lead
		foreign := mergeTestIngest(t, s, other, "F").Lead

		sg := core.Suggestion{LeadID: b.ID, CandidateID: a.ID, Score: 0.9, Reason: "same email", Detector: "email"}
		d, created, err := s.SuggestDuplicate(ctx, pid, sg)
		if err != nil || !created {
			t.Fatalf("first suggestion: %v %v", created, err)
		}
		want := []string{a.ID, b.ID}
		slices.Sort(want)
		if !slices.Equal(d.LeadIDs, want) || d.Status != core.DuplicateOpen || d.Score != 0.9 || d.Detector != "email" || d.Reason != "same email" {
			t.Fatalf("suggestion %+v", d)
		}
		// The event is on the examined lead's timeline, in the same write.
		ev := mergeTestEvents(t, s, pid, b.ID)[0]
		var data core.EventData
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			t.Fatal(err)
		}
		if ev.Type != core.EventDuplicateDetected || ev.Actor != "plugin:email" || data.Lead.ID != b.ID ||
			data.Extra["duplicate_id"] != d.ID || data.Extra["score"] != 0.9 || data.Extra["detector"] != "email" ||
			data.Extra["reason"] != "same email" || mergeTestJSON(data.Extra["lead_ids"]) != mergeTestJSON(want) {
			t.Fatalf("event %s %s", ev.Type, ev.Data)
		}
		if evs := mergeTestEvents(t, s, pid, a.ID); evs[0].Type == core.EventDuplicateDetected {
			t.Fatal("the candidate's timeline got the event too")
		}

		// Known pairs, either way round, are not recorded again.
		for _, again := range []core.Suggestion{sg, {LeadID: a.ID, CandidateID: b.ID, Score: 0.5, Detector: "name"}} {
			d2, created, err := s.SuggestDuplicate(ctx, pid, again)
			if err != nil || created || d2.ID != d.ID {
				t.Fatalf("known pair: %+v %v %v", d2, created, err)
			}
		}
		// A pair that is not two active leads is not suggested.
		if err := s.DeleteLead(ctx, pid, c.ID, "test"); err != nil {
			t.Fatal(err)
		}
		if d3, created, err := s.SuggestDuplicate(ctx, pid, core.Suggestion{LeadID: a.ID, CandidateID: c.ID, Score: 1, Detector: "x"}); err != nil || created || d3 != nil {
			t.Fatalf("deleted lead: %+v %v %v", d3, created, err)
		}
		// Another project's lead does not exist here.
		_, _, err = s.SuggestDuplicate(ctx, pid, core.Suggestion{LeadID: a.ID, CandidateID: foreign.ID, Score: 1, Detector: "x"})
		wantCode(t, err, core.ENOTFOUND)
		_, _, err = s.SuggestDuplicate(ctx, other, core.Suggestion{LeadID: foreign.ID, CandidateID: a.ID, Score: 1, Detector: "x"})
		wantCode(t, err, core.ENOTFOUND)
		for _, bad := range []core.Suggestion{
			{LeadID: a.ID, CandidateID: a.ID, Score: 1, Detector: "x"},
			{LeadID: a.ID, CandidateID: b.ID, Score: 2, Detector: "x"},
			{LeadID: a.ID, CandidateID: b.ID, Score: 1},
			{CandidateID: b.ID, Score: 1, Detector: "x"},
		} {
			_, _, err := s.SuggestDuplicate(ctx, pid, bad)
			wantCode(t, err, core.EINVALID)
		}
		page, err := s.Duplicates(ctx, other, "", 0, "")
		if err != nil || len(page.Items) != 0 {
			t.Fatalf("the other project sees %v %v", page.Items, err)
		}
	})
}

func TestDuplicatesReview(t *testing.T) {
	ctx := context.Background()
	mergeTestWithStore(t, func(t *testing.T, s *store.Store) {
		pid := newProject(t, s)
		other := newProject(t, s)
		var leads []core.Lead
		for _, u := range []string{"A", "B", "C", "D", "E"} {
			leads = append(leads, mergeTestIngest(t, s, pid, u, "fullname", "Name "+u, "email", u+"@example.com").Lead)
		}
		// Four suggestions: A-B, A-C, A-D, A-E, in that order.
		var ids []string
		for _, l := range leads[1:] {
			d, created, err := s.SuggestDuplicate(ctx, pid, core.Suggestion{LeadID: l.ID, CandidateID: leads[0].ID, Score: 0.8, Reason: "r", Detector: "d"})
			if err != nil || !created {
				t.Fatal(created, err)
			}
			ids = append(ids, d.ID)
		}
		// Newest first, in pages, both leads summarized.
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			p, err := s.Duplicates(ctx, pid, "", 3, cursor)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range p.Items {
				got = append(got, d.ID)
				if len(d.Leads) != 2 {
					t.Fatalf("summaries %+v", d.Leads)
				}
				for i, ls := range d.Leads {
					if ls.ID != d.LeadIDs[i] || ls.Fullname == "" || ls.Email == "" || ls.RequestsCount != 1 || ls.Status != core.LeadActive {
						t.Fatalf("summary %+v of %v", ls, d.LeadIDs)
					}
				}
			}
			if cursor = p.NextCursor; cursor == "" {
				if pages != 1 {
					t.Fatalf("%d pages, want 2", pages+1)
				}
				break
			}
		}
		want := slices.Clone(ids)
		slices.Reverse(want)
		if !slices.Equal(got, want) {
			t.Fatalf("order %v, want %v", got, want)
		}

		// Dismiss: 200 with the suggestion, then it is listed as dismissed and
		// the pair is not suggested again.
		d, err := s.DismissDuplicate(ctx, pid, ids[0], "key:agent")
		if err != nil || d.Status != core.DuplicateDismissed || d.ID != ids[0] || len(d.Leads) != 2 {
			t.Fatalf("dismiss: %+v %v", d, err)
		}
		_, err = s.DismissDuplicate(ctx, pid, ids[0], "key:agent")
		wantCode(t, err, core.ECONFLICT)
		_, err = s.DismissDuplicate(ctx, other, ids[1], "key:agent")
		wantCode(t, err, core.ENOTFOUND)
		_, err = s.DismissDuplicate(ctx, pid, "nope", "key:agent")
		wantCode(t, err, core.ENOTFOUND)
		dismissed, err := s.Duplicates(ctx, pid, core.DuplicateDismissed, 0, "")
		if err != nil || len(dismissed.Items) != 1 || dismissed.Items[0].ID != ids[0] {
			t.Fatalf("dismissed: %v %v", dismissed.Items, err)
		}
		if _, created, err := s.SuggestDuplicate(ctx, pid, core.Suggestion{LeadID: leads[0].ID, CandidateID: leads[1].ID, Score: 1, Detector: "other"}); err != nil || created {
			t.Fatalf("a dismissed pair was suggested again: %v %v", created, err)
		}
		open, err := s.Duplicates(ctx, pid, core.DuplicateOpen, 0, "")
		if err != nil || len(open.Items) != 3 {
			t.Fatalf("open: %v %v", open.Items, err)
		}
		_, err = s.Duplicates(ctx, pid, "closed", 0, "")
		wantCode(t, err, core.EINVALID)
		_, err = s.Duplicates(ctx, pid, "", 0, "garbage")
		wantCode(t, err, core.EINVALID)
	})
}
