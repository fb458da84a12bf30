package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/leadhub/leadhub/core"
)

// ApplyLeadPatches writes what UpdateLead would, patch by patch, in one
// operation: per-patch errors leave the others applied, a patch that changes
// nothing writes nothing, patches of one lead apply in order, a lead of
// another project is not found, and within commits or rolls back with them.
func TestApplyLeadPatches(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	pid, other := newProject(t, s), newProject(t, s)
	newLead := func(project, email string) *core.Lead {
		l, err := s.CreateLead(ctx, project, core.NewLead{Fields: core.LeadFields{Email: ptr(email)},
			Attributes: map[string]any{"plan": "pro"}}, "test")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	a, b, c, foreign := newLead(pid, "a@x.io"), newLead(pid, "b@x.io"), newLead(pid, "c@x.io"), newLead(other, "d@x.io")
	merged, into := newLead(pid, "m@x.io"), newLead(pid, "n@x.io")
	if _, err := s.MergeLeads(ctx, pid, into.ID, []string{merged.ID}, "test"); err != nil {
		t.Fatal(err)
	}

	projects := []string{pid, pid, pid, pid, pid, pid, pid, pid}
	ids := []string{a.ID, b.ID, a.ID, c.ID, foreign.ID, merged.ID, "no-such-lead", c.ID}
	patches := []core.LeadPatch{
		{Attributes: map[string]any{"email_domain": "x.io"}},
		{Fields: core.LeadFields{Company: ptr("Bee")}, Tags: &[]string{"t1"}},
		{Attributes: map[string]any{"score": int64(2)}},       // the second patch of a
		{Attributes: map[string]any{"plan": "pro"}},           // changes nothing
		{Attributes: map[string]any{"email_domain": "x.io"}},  // another project's lead
		{Attributes: map[string]any{"email_domain": "x.io"}},  // merged
		{Attributes: map[string]any{"email_domain": "x.io"}},  // gone
		{Fields: core.LeadFields{Email: ptr("not an email")}}, // invalid
	}
	var inTx bool
	errs, err := s.ApplyLeadPatches(ctx, projects, ids, patches, "plugin:test", func(ctx context.Context, tx *sql.Tx) error {
		inTx = tx != nil
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !inTx {
		t.Fatal("within did not get the transaction")
	}
	wantCodes := []string{"", "", "", "", core.ENOTFOUND, core.ECONFLICT, core.ENOTFOUND, core.EINVALID}
	for i, want := range wantCodes {
		if got := core.ErrorCode(errs[i]); got != want {
			t.Errorf("patch %d: error %v, want code %q", i, errs[i], want)
		}
	}

	got, err := s.Lead(ctx, pid, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, fmt.Sprintln(got.Attributes["email_domain"], got.Attributes["score"], got.Attributes["plan"]), "x.io 2 pro\n")
	evs, err := s.LeadEvents(ctx, pid, a.ID, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, len(evs.Items), 3) // created, then one lead.updated per patch
	for _, ev := range evs.Items[:2] {
		eq(t, ev.Type, core.EventLeadUpdated)
		eq(t, ev.Actor, "plugin:test")
	}
	// Every event carries the lead as its patch left it.
	var last core.EventData
	if err := json.Unmarshal(evs.Items[0].Data, &last); err != nil {
		t.Fatal(err)
	}
	eq(t, fmt.Sprint(last.Lead.Attributes["score"]), "2")

	gb, err := s.Lead(ctx, pid, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, gb.Company, "Bee")
	eq(t, fmt.Sprint(gb.Tags), "[t1]")
	for _, l := range []*core.Lead{c, foreign} {
		evs, err := s.LeadEvents(ctx, l.ProjectID, l.ID, 10, "")
		if err != nil {
			t.Fatal(err)
		}
		eq(t, len(evs.Items), 1) // lead.created only: nothing written
	}
	gf, err := s.Lead(ctx, other, foreign.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := gf.Attributes["email_domain"]; ok {
		t.Fatal("a patch reached a lead of another project")
	}

	// within failing rolls the patches back.
	boom := errors.New("boom")
	_, err = s.ApplyLeadPatches(ctx, []string{pid}, []string{b.ID}, []core.LeadPatch{{Fields: core.LeadFields{Company: ptr("Wasp")}}},
		"plugin:test", func(context.Context, *sql.Tx) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
	gb, err = s.Lead(ctx, pid, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, gb.Company, "Bee")

	if _, err := s.ApplyLeadPatches(ctx, []string{pid}, nil, patches[:1], "plugin:test", nil); err == nil {
		t.Fatal("mismatched slices accepted")
	}
}
