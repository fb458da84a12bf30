package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/leadhub/leadhub/core"
)

// leadEvent builds an event about l; data defaults to the lead itself.
func (s *Store) leadEvent(l *core.Lead, typ, actor string, ch core.Changes, req *core.Request) core.Event {
	ev := core.Event{ID: s.newID(), ProjectID: l.ProjectID, LeadID: l.ID, Type: typ, Actor: actor, Changes: ch,
		CreatedAt: s.now(), Data: leadData(l, req)}
	if req != nil {
		ev.RequestID = req.ID
	}
	return ev
}

func leadData(l *core.Lead, req *core.Request) json.RawMessage {
	b, err := json.Marshal(core.EventData{Lead: l, Request: req})
	if err != nil {
		panic(fmt.Sprintf("marshal event data: %v", err)) // only maps from JSON input: cannot fail
	}
	return b
}

// emit writes events in the caller's transaction and hands them to the hook,
// which enqueues the work that follows them in that same transaction.
func (s *Store) emit(ctx context.Context, tx *wtx, evs ...core.Event) error {
	if len(evs) == 0 {
		return nil
	}
	rows := make([]eventRow, len(evs))
	for i, e := range evs {
		rows[i] = eventRow{ID: e.ID, ProjectID: e.ProjectID, LeadID: e.LeadID, RequestID: e.RequestID, Type: e.Type,
			Actor: e.Actor, Changes: e.Changes, Data: string(e.Data), CreatedAt: tm(e.CreatedAt)}
	}
	if tx.holding {
		if err := tx.execHeld(ctx, tx.NewInsert().Model(&rows)); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
	} else if err := s.insertEvents(ctx, tx, rows); err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	if s.hook == nil {
		return nil
	}
	// The hook and its fan-outs may read this transaction's writes.
	if err := tx.flushHeld(ctx); err != nil {
		return err
	}
	if h, ok := s.hook.(kindsHook); ok {
		kinds, err := h.OnEventsKinds(ctx, tx.Tx.Tx, evs)
		if err != nil {
			return fmt.Errorf("event hook: %w", err)
		}
		if len(kinds) > 0 {
			tx.onCommit(func() { h.KindsCommitted(kinds) })
		}
		return nil
	}
	if err := s.hook.OnEvents(ctx, tx.Tx.Tx, evs); err != nil {
		return fmt.Errorf("event hook: %w", err)
	}
	if n, ok := s.hook.(core.CommitNotifier); ok {
		tx.onCommit(n.EventsCommitted)
	}
	return nil
}

// kindsHook is an event hook that reports which job kinds it enqueued, so
// that only their workers are woken after the commit, and none when nothing
// was enqueued: on PostgreSQL every wake-up is a claim statement on the
// shared database, from every replica.
type kindsHook interface {
	OnEventsKinds(ctx context.Context, tx *sql.Tx, evs []core.Event) (kinds []string, err error)
	KindsCommitted(kinds []string)
}

// EventsByID loads events by id, in any project: workers hold ids that came
// from the events themselves. Missing ids are left out.
func (s *Store) EventsByID(ctx context.Context, ids []string) ([]core.Event, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var rows []eventRow
	if err := s.rdb.NewSelect().Model(&rows).Where("id IN (?)", bun.In(ids)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("select events: %w", err)
	}
	out := make([]core.Event, len(rows))
	for i := range rows {
		out[i] = rows[i].domain()
	}
	return out, nil
}

// LeadEvents implements core.LeadService: the timeline, newest first.
func (s *Store) LeadEvents(ctx context.Context, projectID, leadID string, limit int, cursor string) (core.Page[core.Event], error) {
	return leadPage(ctx, s, projectID, leadID, limit, cursor, "events", func(r *eventRow) int64 { return r.Seq }, (*eventRow).domain)
}
