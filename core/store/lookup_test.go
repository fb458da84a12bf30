package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/store"
)

func TestLookups(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	pid := newProject(t, s)
	other := newProject(t, s)

	mk := func(project, user, email, phone string) *core.Lead {
		t.Helper()
		l, err := s.CreateLead(ctx, project, core.NewLead{UserID: user,
			Fields: core.LeadFields{Email: ptr(email), Phone: ptr(phone)}}, "test")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	a := mk(pid, "ua", "Andrea.1@gmail.com", "+39 06 1234-567")
	b := mk(pid, "ub", "andrea1+chat@googlemail.com", "")
	c := mk(pid, "uc", "ANDREA.1@GMAIL.COM", "+390612 34567")
	mk(other, "ua", "andrea.1@gmail.com", "+39 06 1234 567") // another project: never seen
	mk(pid, "ud", "", "")

	// A deleted lead is still found, after the active ones.
	if err := s.DeleteLead(ctx, pid, a.ID, "test"); err != nil {
		t.Fatal(err)
	}

	ids := func(ls []core.Lead, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		out := ""
		for _, l := range ls {
			if l.ProjectID != pid {
				t.Fatalf("lead %s of project %s leaked into %s", l.ID, l.ProjectID, pid)
			}
			out += l.ID + ","
		}
		return out
	}
	cases := []struct {
		name string
		got  string
		want string
	}{
		{"email, any case", ids(s.LeadsByEmail(ctx, pid, " andrea.1@GMAIL.com ")), c.ID + "," + a.ID + ","},
		{"email, other spelling", ids(s.LeadsByEmail(ctx, pid, "andrea1@gmail.com")), ""},
		{"email, empty", ids(s.LeadsByEmail(ctx, pid, "")), ""},
		{"canonical, given raw", ids(s.LeadsByCanonicalEmail(ctx, pid, "andrea1+x@googlemail.com")), b.ID + "," + c.ID + "," + a.ID + ","},
		{"canonical, given canonical", ids(s.LeadsByCanonicalEmail(ctx, pid, "andrea1@gmail.com")), b.ID + "," + c.ID + "," + a.ID + ","},
		{"canonical, empty", ids(s.LeadsByCanonicalEmail(ctx, pid, "")), ""},
		{"phone", ids(s.LeadsByPhone(ctx, pid, "+39 (06) 1234567")), c.ID + "," + a.ID + ","},
		{"phone, no digits", ids(s.LeadsByPhone(ctx, pid, "+ -")), ""},
		{"ids", ids(s.LeadsByID(ctx, pid, []string{a.ID, b.ID, "nope"})), b.ID + "," + a.ID + ","},
		{"ids, none", ids(s.LeadsByID(ctx, pid, nil)), ""},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}

	l, err := s.LeadByUserID(ctx, pid, "ub")
	if err != nil || l.ID != b.ID {
		t.Fatalf("by user id: %v, %v", l, err)
	}
	for _, u := range []string{"", "nobody"} {
		if _, err := s.LeadByUserID(ctx, pid, u); core.ErrorCode(err) != core.ENOTFOUND {
			t.Fatalf("by user id %q: %v, want not found", u, err)
		}
	}
	if l, err := s.LeadByUserID(ctx, other, "ub"); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("user id of another project: %v, %v", l, err)
	}

	many := make([]string, store.LookupLimit+1)
	for i := range many {
		many[i] = fmt.Sprint(i)
	}
	if _, err := s.LeadsByID(ctx, pid, many); core.ErrorCode(err) != core.EINVALID {
		t.Fatalf("too many ids: %v", err)
	}
}

func TestLookupLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("creates many leads")
	}
	ctx := context.Background()
	s := openStore(t)
	pid := newProject(t, s)
	for i := 0; i < store.LookupLimit+5; i++ {
		if _, err := s.CreateLead(ctx, pid, core.NewLead{UserID: fmt.Sprint("u", i),
			Fields: core.LeadFields{Email: ptr("same@example.com")}}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := s.LeadsByEmail(ctx, pid, "same@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != store.LookupLimit {
		t.Fatalf("%d leads, want the limit %d", len(ls), store.LookupLimit)
	}
}
