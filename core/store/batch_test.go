package store_test

import (
	"context"
	"testing"

	"github.com/leadhub/leadhub/core"
)

func TestCreateLeadsReportsPerLead(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	pid := newProject(t, s)
	if _, err := s.IngestRequest(ctx, pid, core.Ingest{UserID: "taken"}); err != nil {
		t.Fatal(err)
	}
	in := []core.NewLead{
		{UserID: "u1", Fields: core.LeadFields{Fullname: ptr("Ada Lovelace"), Email: ptr("ada@example.com")}, Tags: []string{"vip", "import"}},
		{UserID: "u2", Fields: core.LeadFields{Email: ptr("not an email")}},
		{UserID: "taken", Fields: core.LeadFields{Fullname: ptr("Taken")}},
		{UserID: "u1", Fields: core.LeadFields{Fullname: ptr("Again")}},
		{Fields: core.LeadFields{Fullname: ptr("Grace Hopper"), Company: ptr("Navy")}, Attributes: map[string]any{"rank": "admiral"}},
	}
	res, err := s.CreateLeads(ctx, pid, in, "test")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"", core.EINVALID, core.ECONFLICT, core.ECONFLICT, ""}
	for i, r := range res {
		if got := core.ErrorCode(r.Err); r.Err != nil && got != want[i] || r.Err == nil && want[i] != "" {
			t.Errorf("item %d: error %v, want code %q", i, r.Err, want[i])
		}
		if (r.Lead != nil) != (want[i] == "") {
			t.Errorf("item %d: lead %v", i, r.Lead)
		}
	}
	page, err := s.Leads(ctx, pid, core.LeadFilter{Tag: "vip"})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != res[0].Lead.ID {
		t.Fatalf("by tag: %v %+v", err, page.Items)
	}
	page, err = s.Leads(ctx, pid, core.LeadFilter{Q: "gra hop"})
	if err != nil || len(page.Items) != 1 || page.Items[0].Attributes["rank"] != "admiral" {
		t.Fatalf("by q: %v %+v", err, page.Items)
	}
	page, err = s.Leads(ctx, pid, core.LeadFilter{UserID: "u1"})
	if err != nil || len(page.Items) != 1 || page.Items[0].Fullname != "Ada Lovelace" {
		t.Fatalf("by user id: %v %+v", err, page.Items)
	}
	evs, err := s.LeadEvents(ctx, pid, res[4].Lead.ID, 0, "")
	if err != nil || len(evs.Items) != 1 || evs.Items[0].Type != core.EventLeadCreated {
		t.Fatalf("events: %v %+v", err, evs.Items)
	}
	if _, err := s.CreateLeads(ctx, pid, nil, "test"); core.ErrorCode(err) != core.EINVALID {
		t.Fatalf("empty batch: %v", err)
	}
	if _, err := s.CreateLeads(ctx, "nope", in[:1], "test"); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("unknown project: %v", err)
	}
}
