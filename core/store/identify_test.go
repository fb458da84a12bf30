package store_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"testing"

	"github.com/leadhub/leadhub/core"
	"github.com/leadhub/leadhub/core/store"
)

func identifyHash(secret, userID string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(userID))
	return hex.EncodeToString(mac.Sum(nil))
}

// identifyState is everything identify may change, to prove a refused call
// changed nothing.
func identifyState(t *testing.T, s *store.Store, pid string) string {
	t.Helper()
	ctx := context.Background()
	leads, err := s.Leads(ctx, pid, core.LeadFilter{Status: "all", Limit: core.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	var dups []core.Duplicate
	for _, st := range []string{core.DuplicateOpen, core.DuplicateDismissed, core.DuplicateMerged} {
		p, err := s.Duplicates(ctx, pid, st, core.MaxLimit, "")
		if err != nil {
			t.Fatal(err)
		}
		dups = append(dups, p.Items...)
	}
	var evs []core.Event
	for _, l := range leads.Items {
		evs = append(evs, mergeTestEvents(t, s, pid, l.ID)...)
	}
	return mergeTestJSON([]any{leads.Items, dups, evs})
}

func TestIdentify(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []string{core.AutoMergeOff, core.AutoMergeVerified} {
		t.Run(mode, func(t *testing.T) {
			mergeTestWithStore(t, func(t *testing.T, s *store.Store) {
				pid := newProject(t, s)
				if _, err := s.UpdateProject(ctx, pid, core.ProjectUpdate{AutoMerge: &mode}); err != nil {
					t.Fatal(err)
				}
				secret, err := s.IdentitySecret(ctx, pid)
				if err != nil {
					t.Fatal(err)
				}
				// The visitor chats anonymously first.
				anon := mergeTestIngest(t, s, pid, "anon-1", "fullname", "Andrea", "email", "andrea1@gmail.com").Lead
				// Someone else typed the same email in another browser.
				other := mergeTestIngest(t, s, pid, "anon-2", "email", "andrea1@gmail.com").Lead

				// A wrong hash, or a right hash for another user id, changes nothing.
				before := identifyState(t, s, pid)
				for _, hash := range []string{"00", "", "zz", identifyHash(secret, "user-9"), identifyHash("other secret", "user-1")} {
					_, err := s.Identify(ctx, pid, core.Identify{UserID: "user-1", UserHash: hash, AnonymousID: "anon-1",
						Lead: core.LeadFields{Company: ptr("Acme")}, Actor: "key:ingest"})
					if hash == "" {
						wantCode(t, err, core.EINVALID)
					} else {
						wantCode(t, err, core.EUNAUTHORIZED)
					}
				}
				if after := identifyState(t, s, pid); after != before {
					t.Fatalf("a refused identify changed something:\n%s\n%s", before, after)
				}

				l, err := s.Identify(ctx, pid, core.Identify{UserID: "user-1", UserHash: identifyHash(secret, "user-1"),
					AnonymousID: "anon-1", Lead: core.LeadFields{Company: ptr("Acme")}, Actor: "key:ingest"})
				if err != nil {
					t.Fatal(err)
				}
				if l.Company != "Acme" || l.Status != core.LeadActive || l.ID == anon.ID {
					t.Fatalf("user's lead %+v", l)
				}
				anonNow := mergeTestLead(t, s, pid, anon.ID)
				open, err := s.Duplicates(ctx, pid, core.DuplicateOpen, 0, "")
				if err != nil {
					t.Fatal(err)
				}
				switch mode {
				case core.AutoMergeVerified:
					if anonNow.Status != core.LeadMerged || *anonNow.MergedInto != l.ID {
						t.Fatalf("anonymous lead %+v", anonNow)
					}
					if !slices.Equal(l.UserIDs, []string{"user-1", "anon-1"}) || l.Fullname != "Andrea" || l.RequestsCount != 1 {
						t.Fatalf("user's lead after the merge %+v", l)
					}
					if len(open.Items) != 0 {
						t.Fatalf("suggestions %v", open.Items)
					}
					// A normal merge: the timeline names it, and it can be undone.
					ev := mergeTestEvents(t, s, pid, l.ID)[0]
					var data core.EventData
					if err := json.Unmarshal(ev.Data, &data); err != nil {
						t.Fatal(err)
					}
					if ev.Type != core.EventLeadMerged || ev.Actor != "key:ingest" || !slices.Equal(data.MergedIDs, []string{anon.ID}) {
						t.Fatalf("event %s %s %s", ev.Type, ev.Actor, ev.Data)
					}
					if _, err := s.UndoMerge(ctx, pid, data.Extra["merge_id"].(string), "key:agent"); err != nil {
						t.Fatal(err)
					}
					if r := mergeTestIngest(t, s, pid, "anon-1"); r.Lead.ID != anon.ID {
						t.Fatal("the undo did not give anon-1 back its lead")
					}
				default:
					if anonNow.Status != core.LeadActive || !slices.Equal(l.UserIDs, []string{"user-1"}) {
						t.Fatalf("merged without auto_merge: %+v %+v", anonNow, l)
					}
					if len(open.Items) != 1 {
						t.Fatalf("suggestions %v", open.Items)
					}
					d := open.Items[0]
					if d.Detector != "identify" || d.Score != 1 || d.Reason != "same browser as a verified user id" ||
						!slices.Contains(d.LeadIDs, anon.ID) || !slices.Contains(d.LeadIDs, l.ID) {
						t.Fatalf("suggestion %+v", d)
					}
				}
				// The email match alone merged nothing.
				if o := mergeTestLead(t, s, pid, other.ID); o.Status != core.LeadActive {
					t.Fatalf("a lead was merged on an email match: %+v", o)
				}
				// Identify again: the same lead, its fields updated.
				l2, err := s.Identify(ctx, pid, core.Identify{UserID: "user-1", UserHash: identifyHash(secret, "user-1"),
					Lead: core.LeadFields{Lastname: ptr("Sp")}, LeadAttributes: map[string]any{"plan": "pro"}, Actor: "key:ingest"})
				if err != nil || l2.ID != l.ID || l2.Lastname != "Sp" || l2.Attributes["plan"] != "pro" || l2.Company != "Acme" {
					t.Fatalf("second identify: %+v %v", l2, err)
				}
				// After a rotation the old hash no longer proves anything.
				if _, err := s.RotateIdentitySecret(ctx, pid); err != nil {
					t.Fatal(err)
				}
				_, err = s.Identify(ctx, pid, core.Identify{UserID: "user-1", UserHash: identifyHash(secret, "user-1"), Actor: "key:ingest"})
				wantCode(t, err, core.EUNAUTHORIZED)
			})
		})
	}
}

// A lead that carries a verified user id of its own is never merged into
// another identity automatically: it is suggested instead.
func TestIdentifyNeverMergesAnotherVerifiedIdentity(t *testing.T) {
	ctx := context.Background()
	mergeTestWithStore(t, func(t *testing.T, s *store.Store) {
		pid := newProject(t, s)
		verified := core.AutoMergeVerified
		if _, err := s.UpdateProject(ctx, pid, core.ProjectUpdate{AutoMerge: &verified}); err != nil {
			t.Fatal(err)
		}
		secret, _ := s.IdentitySecret(ctx, pid)
		// Alice identifies in a shared browser (anonymous id "shared"): her
		// lead takes the anonymous lead in.
		mergeTestIngest(t, s, pid, "shared", "fullname", "Visitor")
		alice, err := s.Identify(ctx, pid, core.Identify{UserID: "alice", UserHash: identifyHash(secret, "alice"), AnonymousID: "shared", Actor: "k"})
		if err != nil || !slices.Contains(alice.UserIDs, "shared") {
			t.Fatalf("alice: %+v %v", alice, err)
		}
		// Bob logs in on the same browser: the lead of "shared" is Alice's,
		// verified; it must not be merged into Bob's.
		bob, err := s.Identify(ctx, pid, core.Identify{UserID: "bob", UserHash: identifyHash(secret, "bob"), AnonymousID: "shared", Actor: "k"})
		if err != nil {
			t.Fatal(err)
		}
		if a := mergeTestLead(t, s, pid, alice.ID); a.Status != core.LeadActive || !slices.Equal(a.UserIDs, []string{"alice", "shared"}) {
			t.Fatalf("alice's lead %+v", a)
		}
		if !slices.Equal(bob.UserIDs, []string{"bob"}) {
			t.Fatalf("bob's lead %+v", bob)
		}
		open, err := s.Duplicates(ctx, pid, core.DuplicateOpen, 0, "")
		if err != nil || len(open.Items) != 1 || !slices.Contains(open.Items[0].LeadIDs, alice.ID) || !slices.Contains(open.Items[0].LeadIDs, bob.ID) {
			t.Fatalf("suggestions %v %v", open.Items, err)
		}
		// The same holds when the anonymous id was itself identified.
		if _, err := s.Identify(ctx, pid, core.Identify{UserID: "carol", UserHash: identifyHash(secret, "carol"), AnonymousID: "bob", Actor: "k"}); err != nil {
			t.Fatal(err)
		}
		if b := mergeTestLead(t, s, pid, bob.ID); b.Status != core.LeadActive {
			t.Fatalf("bob's lead was merged: %+v", b)
		}
	})
}
