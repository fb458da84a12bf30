package store_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadhub/leadhub/core"
)

func TestChannels(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	a, b := newProject(t, s), newProject(t, s)
	for _, in := range []core.ChannelInput{
		{Kind: "slack", Name: "x"},
		{Kind: core.ChannelChatwoot},
		{Kind: core.ChannelTiledesk, Name: "t", AllowUnsigned: true},
		{Kind: core.ChannelGeneric, Name: "g", Secret: "not-a-whsec-secret"},
		{Kind: core.ChannelChatwoot, Name: "c", Secret: "short"},
	} {
		if _, err := s.CreateChannel(ctx, a, in); core.ErrorCode(err) != core.EINVALID {
			t.Errorf("%+v: %v", in, err)
		}
	}
	g, err := s.CreateChannel(ctx, a, core.ChannelInput{Kind: core.ChannelGeneric, Name: "Website"})
	if err != nil || !strings.HasPrefix(g.Secret, "whsec_") {
		t.Fatalf("%+v %v", g, err)
	}
	cw, err := s.CreateChannel(ctx, a, core.ChannelInput{Kind: core.ChannelChatwoot, Name: "Chatwoot", Secret: "cW7nQ2rTk9VbX4mLp8ZsDf3H", AllowUnsigned: true})
	if err != nil || cw.Secret != "cW7nQ2rTk9VbX4mLp8ZsDf3H" || len(cw.Warnings) != 1 {
		t.Fatalf("%+v %v", cw, err)
	}
	got, err := s.Channel(ctx, a, cw.ID)
	if err != nil || got.Secret != "" || !got.AllowUnsigned || len(got.Warnings) != 1 {
		t.Fatalf("read: %+v %v", got, err)
	}
	if _, err := s.Channel(ctx, b, cw.ID); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("other project: %v", err)
	}
	if err := s.DeleteChannel(ctx, b, cw.ID); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("delete from other project: %v", err)
	}
	in, err := s.InboundChannel(ctx, cw.ID)
	if err != nil || in.Secret != cw.Secret || in.ProjectID != a {
		t.Fatalf("inbound: %+v %v", in, err)
	}
	list, _ := s.Channels(ctx, a)
	if len(list) != 2 || list[0].ID != g.ID {
		t.Fatalf("list %+v", list)
	}
	if err := s.DeleteChannel(ctx, a, cw.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InboundChannel(ctx, cw.ID); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("deleted channel: %v", err)
	}
}

// A delivery id is recorded with its effects: a replay is a duplicate that
// runs nothing; a failure records nothing, so the sender's retry applies.
func TestApplyInbound(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	pid := newProject(t, s)
	ch, _ := s.CreateChannel(ctx, pid, core.ChannelInput{Kind: core.ChannelGeneric, Name: "g"})
	runs := 0
	apply := func(id string, fail bool) (bool, error) {
		return s.ApplyInbound(ctx, ch.ID, id, func(ctx context.Context) error {
			runs++
			if _, err := s.IngestRequest(ctx, pid, core.Ingest{ID: "req-" + id, UserID: "u-" + id}); err != nil {
				return err
			}
			if fail {
				return errors.New("boom")
			}
			return nil
		})
	}
	if dup, err := apply("d1", false); dup || err != nil {
		t.Fatalf("first: %v %v", dup, err)
	}
	if dup, err := apply("d1", false); !dup || err != nil || runs != 1 {
		t.Fatalf("replay: %v %v runs=%d", dup, err, runs)
	}
	if _, err := apply("d2", true); err == nil {
		t.Fatal("failure not reported")
	}
	if _, err := s.Request(ctx, pid, "req-d2"); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("failed delivery left a request: %v", err)
	}
	if dup, err := apply("d2", false); dup || err != nil {
		t.Fatalf("retry after a failure: %v %v", dup, err)
	}
	if _, err := s.ApplyInbound(ctx, ch.ID, "", func(context.Context) error { return nil }); core.ErrorCode(err) != core.EINVALID {
		t.Fatalf("empty delivery id: %v", err)
	}
}

func TestAddUserID(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	pid := newProject(t, s)
	r1, _ := s.IngestRequest(ctx, pid, core.Ingest{UserID: "chatwoot:1"})
	r2, _ := s.IngestRequest(ctx, pid, core.Ingest{UserID: "other"})
	ok, err := s.AddUserID(ctx, pid, r1.Lead.ID, "customer-42", "t")
	if !ok || err != nil {
		t.Fatalf("%v %v", ok, err)
	}
	l, _ := s.Lead(ctx, pid, r1.Lead.ID)
	if !slices.Equal(l.UserIDs, []string{"chatwoot:1", "customer-42"}) {
		t.Fatalf("user ids %v", l.UserIDs)
	}
	res, _ := s.IngestRequest(ctx, pid, core.Ingest{UserID: "customer-42"})
	if res.Lead.ID != r1.Lead.ID {
		t.Fatal("a request from the added user id went elsewhere")
	}
	if ok, err := s.AddUserID(ctx, pid, r1.Lead.ID, "other", "t"); ok || err != nil {
		t.Fatalf("user id of another lead: %v %v", ok, err)
	}
	if l, _ := s.Lead(ctx, pid, r2.Lead.ID); !slices.Equal(l.UserIDs, []string{"other"}) {
		t.Fatalf("other lead changed: %v", l.UserIDs)
	}
	evs, _ := s.LeadEvents(ctx, pid, r1.Lead.ID, 10, "")
	if evs.Items[len(evs.Items)-2].Type != core.EventLeadUpdated && evs.Items[0].Type != core.EventRequestCreated {
		t.Fatalf("events %+v", evs.Items)
	}
}

// Old delivery ids and delivery log rows are pruned, oldest first; newer
// ones stay.
func TestPrune(t *testing.T) {
	ctx := context.Background()
	s, _, clock := openHooked(t)
	pid := newProject(t, s)
	ch, _ := s.CreateChannel(ctx, pid, core.ChannelInput{Kind: core.ChannelGeneric, Name: "g"})
	w := mustWebhook(t, s, pid, "*")
	record := func(id string) {
		if _, err := s.ApplyInbound(ctx, ch.ID, id, func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordDeliveries(ctx, []core.DeliveryResult{{Delivery: core.Delivery{WebhookID: w.ID, EventID: id,
			EventType: "lead.created", Attempt: 1, Status: core.DeliverySucceeded, ResponseStatus: 204}}}, 0); err != nil {
			t.Fatal(err)
		}
	}
	record("old-1")
	record("old-2")
	clock.add(10 * 24 * time.Hour)
	record("new-1")
	cut := clock.now().Add(-time.Hour)
	if n, err := s.PruneInbound(ctx, cut); err != nil || n != 2 {
		t.Fatalf("pruned %d inbound ids: %v", n, err)
	}
	if n, err := s.PruneDeliveries(ctx, cut); err != nil || n != 2 {
		t.Fatalf("pruned %d deliveries: %v", n, err)
	}
	if dup, _ := s.ApplyInbound(ctx, ch.ID, "new-1", func(context.Context) error { return nil }); !dup {
		t.Error("a recent delivery id was forgotten")
	}
	if dup, _ := s.ApplyInbound(ctx, ch.ID, "old-1", func(context.Context) error { return nil }); dup {
		t.Error("an old delivery id was kept")
	}
	page, _ := s.Deliveries(ctx, pid, w.ID, 10, "")
	if len(page.Items) != 1 || page.Items[0].EventID != "new-1" {
		t.Fatalf("log %+v", page.Items)
	}
}
