package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/leadhub/leadhub/core"
)

// Inside one transaction (InTx), what an ingest wrote is there for the next
// call, though on PostgreSQL the ingest holds its writes back to send them
// together; a call that fails inside it leaves nothing behind, and an error
// from the whole function rolls everything back.
func TestComposedWritesSeeHeldWrites(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	pid := newProject(t, s)
	var leadID string
	err := s.InTx(ctx, func(ctx context.Context) error {
		r, err := s.IngestRequest(ctx, pid, core.Ingest{UserID: "composed", Lead: core.LeadFields{Fullname: ptr("First Name")}})
		if err != nil {
			return err
		}
		leadID = r.Lead.ID
		// A second request on the same lead reads the first one's writes.
		r2, err := s.IngestRequest(ctx, pid, core.Ingest{UserID: "composed", Lead: core.LeadFields{Company: ptr("Acme")}})
		if err != nil {
			return err
		}
		if r2.Lead.ID != leadID || r2.Lead.RequestsCount != 2 {
			t.Errorf("second ingest: lead %s with %d requests, want %s with 2", r2.Lead.ID, r2.Lead.RequestsCount, leadID)
		}
		// A call that fails is undone alone.
		if _, err := s.IngestRequest(ctx, pid, core.Ingest{ID: r.Request.ID, UserID: "someone-else"}); core.ErrorCode(err) != core.ECONFLICT {
			t.Errorf("conflicting request id: %v", err)
		}
		_, err = s.UpdateLead(ctx, pid, leadID, core.LeadPatch{Fields: core.LeadFields{Lastname: ptr("Last")}}, "test")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Lead(ctx, pid, leadID)
	if err != nil {
		t.Fatal(err)
	}
	if l.Fullname != "First Name" || l.Company != "Acme" || l.Lastname != "Last" || l.RequestsCount != 2 {
		t.Fatalf("lead after the transaction: %+v", l)
	}
	if p, err := s.Leads(ctx, pid, core.LeadFilter{Q: "acme last"}); err != nil || len(p.Items) != 1 {
		t.Fatalf("search after the transaction: %d leads, %v", len(p.Items), err)
	}

	boom := errors.New("boom")
	err = s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.IngestRequest(ctx, pid, core.Ingest{UserID: "rolled-back"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx: %v", err)
	}
	if p, err := s.Leads(ctx, pid, core.LeadFilter{UserID: "rolled-back", Status: "all"}); err != nil || len(p.Items) != 0 {
		t.Fatalf("a rolled-back ingest left %d leads (%v)", len(p.Items), err)
	}
}
