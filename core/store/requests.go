package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/uptrace/bun"

	"github.com/leadhub/leadhub/core"
)

// Request field limits.
const (
	maxRequestIDLen = 256
	maxChannelLen   = 64
	maxFirstTextLen = 16 << 10
)

func validateIngest(in *core.Ingest) error {
	errs := map[string]string{}
	core.ValidateUserID(in.UserID, errs)
	core.ValidateFields(in.Lead, errs)
	if len(in.ID) > maxRequestIDLen || strings.ContainsFunc(in.ID, func(r rune) bool { return r < 0x20 }) {
		errs["id"] = "at most 256 printable characters"
	}
	if len(in.Channel) > maxChannelLen {
		errs["channel"] = "at most 64 characters"
	}
	if len(in.FirstText) > maxFirstTextLen {
		errs["first_text"] = "at most 16 KiB"
	}
	if len(errs) > 0 {
		return core.Invalid(errs)
	}
	return nil
}

// IngestRequest implements core.RequestService: the aggregation rule. The
// first request of an unknown user id creates its lead; later ones land on the
// lead that holds the user id (after a merge, the survivor), update its fields
// when they differ and merge its attributes key by key.
func (s *Store) IngestRequest(ctx context.Context, projectID string, in core.Ingest) (*core.IngestResult, error) {
	if err := validateIngest(&in); err != nil {
		return nil, err
	}
	var res core.IngestResult
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		res = core.IngestResult{}
		if in.ID != "" {
			existing, err := s.requestRow(ctx, tx, projectID, in.ID)
			if err != nil && core.ErrorCode(err) != core.ENOTFOUND {
				return err
			}
			if existing != nil {
				if existing.UserID != in.UserID {
					return core.Errorf(core.ECONFLICT, "request %s exists for another user id", in.ID)
				}
				lead, err := s.leadRow(ctx, tx, projectID, existing.LeadID)
				if err != nil {
					return err
				}
				res.Request, res.Lead = existing.domain(), lead.domain()
				return nil
			}
		}
		now := s.now()
		row, err := s.leadForWrite(ctx, tx, projectID, in.UserID)
		if err != nil {
			return err
		}
		var l core.Lead
		var evs []core.Event
		if row == nil {
			if err := s.projectExists(ctx, tx, projectID); err != nil {
				return err
			}
		}
		// Everything read: the writes below may travel together.
		s.holdWrites(tx)
		if row == nil {
			l = core.Lead{ID: s.newID(), ProjectID: projectID, UserIDs: []string{in.UserID}, Status: core.LeadActive,
				Tags: []string{}, CreatedAt: now, UpdatedAt: now, LastSeenAt: now, RequestsCount: 1}
			core.ApplyFields(&l, in.Lead, true, core.Changes{})
			l.Attributes = core.MergeAttributes(nil, in.LeadAttributes, nil)
			if err := s.insertLead(ctx, tx, &l); err != nil {
				return err
			}
			evs = append(evs, s.leadEvent(&l, core.EventLeadCreated, in.Actor, nil, nil))
		} else {
			l = row.domain()
			ch := core.Changes{}
			core.ApplyFields(&l, in.Lead, true, ch)
			if in.LeadAttributes != nil {
				l.Attributes = core.MergeAttributes(l.Attributes, in.LeadAttributes, ch)
			}
			if len(ch) > 0 {
				l.UpdatedAt = now
			}
			l.RequestsCount++
			l.LastSeenAt = now
			if err := s.saveLead(ctx, tx, row, &l, ch); err != nil {
				return err
			}
			if len(ch) > 0 {
				evs = append(evs, s.leadEvent(&l, core.EventLeadUpdated, in.Actor, ch, nil))
			}
		}
		id := in.ID
		if id == "" {
			id = s.newID()
		}
		req := &requestRow{ID: id, ProjectID: projectID, LeadID: l.ID, UserID: in.UserID, Channel: in.Channel,
			Status: core.RequestOpen, FirstText: in.FirstText, Attributes: core.MergeAttributes(nil, in.Attributes, nil),
			CreatedAt: tm(now), UpdatedAt: tm(now)}
		if ok, err := s.insertHot(ctx, tx, s.hot.request, req); !ok {
			if err := tx.execHeld(ctx, tx.NewInsert().Model(req)); err != nil {
				return fmt.Errorf("insert request: %w", err)
			}
		} else if err != nil {
			return fmt.Errorf("insert request: %w", err)
		}
		tx.onCommit(func() { s.metrics.RequestsCreated(1) })
		res.Request, res.Lead, res.Created = req.domain(), l, true
		evs = append(evs, s.leadEvent(&l, core.EventRequestCreated, in.Actor, nil, &res.Request))
		return s.emit(ctx, tx, evs...)
	})
	if err != nil {
		return nil, err
	}
	return &res, nil
}

func (s *Store) requestRow(ctx context.Context, db bun.IDB, projectID, id string) (*requestRow, error) {
	row := new(requestRow)
	var err error
	if ok, herr := s.scanOne(ctx, db, s.hot.requestByID, row, projectID, id); ok {
		err = herr
	} else {
		err = db.NewSelect().Model(row).Where("project_id = ? AND id = ?", projectID, id).Scan(ctx)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.NotFound("request")
	}
	if err != nil {
		return nil, fmt.Errorf("select request: %w", err)
	}
	return row, nil
}

// Request implements core.RequestService.
func (s *Store) Request(ctx context.Context, projectID, id string) (*core.Request, error) {
	row, err := s.requestRow(ctx, s.rdb, projectID, id)
	if err != nil {
		return nil, err
	}
	r := row.domain()
	return &r, nil
}

// UpdateRequest implements core.RequestService.
func (s *Store) UpdateRequest(ctx context.Context, projectID, id string, p core.RequestPatch, actor string) (*core.Request, error) {
	if p.Status != nil && *p.Status != core.RequestOpen && *p.Status != core.RequestClosed {
		return nil, core.Invalid(map[string]string{"status": "must be open or closed"})
	}
	var out core.Request
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		row, err := s.requestRow(ctx, tx, projectID, id)
		if err != nil {
			return err
		}
		now := s.now()
		ch := core.Changes{}
		typ := core.EventRequestUpdated
		cols := []string{"updated_at"}
		if p.Status != nil && *p.Status != row.Status {
			ch["status"] = core.Change{From: row.Status, To: *p.Status}
			row.Status = *p.Status
			if row.Status == core.RequestClosed {
				typ = core.EventRequestClosed
				t := tm(now)
				row.ClosedAt = &t
			} else {
				row.ClosedAt = nil
			}
			cols = append(cols, "status", "closed_at")
		}
		if p.Attributes != nil {
			before := len(ch)
			row.Attributes = core.MergeAttributes(row.Attributes, p.Attributes, ch)
			if len(ch) > before {
				cols = append(cols, "attributes")
			}
		}
		if len(ch) == 0 {
			out = row.domain()
			return nil
		}
		row.UpdatedAt = tm(now)
		if _, err := tx.NewUpdate().Model(row).Column(cols...).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("update request: %w", err)
		}
		lead, err := s.leadRow(ctx, tx, projectID, row.LeadID)
		if err != nil {
			return err
		}
		out = row.domain()
		l := lead.domain()
		return s.emit(ctx, tx, s.leadEvent(&l, typ, actor, ch, &out))
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// AddMessage implements core.RequestService. Messages are counted, not
// stored, and do not enter the timeline: a conversation's messages belong to
// the chat platform, and one event per message would drown the changes that
// matter.
func (s *Store) AddMessage(ctx context.Context, projectID, requestID string, m core.Message) (*core.Request, error) {
	var out core.Request
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		now := tm(s.now())
		row := new(requestRow)
		// Both statements prepared on SQLite: a busy conversation sends
		// one message after another.
		ok, err := s.scanOne(ctx, tx, s.hot.countMessage, row, now, projectID, requestID)
		if !ok {
			err = tx.NewUpdate().Model(row).Set("messages_count = messages_count + 1").Set("updated_at = ?", now).
				Where("project_id = ? AND id = ?", projectID, requestID).Returning("*").Scan(ctx)
		}
		if errors.Is(err, sql.ErrNoRows) {
			return core.NotFound("request")
		}
		if err != nil {
			return fmt.Errorf("count message: %w", err)
		}
		ok, err = s.execHot(ctx, tx, s.hot.seenLead, now, row.LeadID, projectID)
		if !ok {
			_, err = tx.NewUpdate().Model((*leadRow)(nil)).Set("last_seen_at = ?", now).
				Where("id = ? AND project_id = ?", row.LeadID, projectID).Exec(ctx)
		}
		if err != nil {
			return fmt.Errorf("touch lead: %w", err)
		}
		out = row.domain()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// LeadRequests implements core.LeadService: newest first.
func (s *Store) LeadRequests(ctx context.Context, projectID, leadID string, limit int, cursor string) (core.Page[core.Request], error) {
	return leadPage(ctx, s, projectID, leadID, limit, cursor, "requests", func(r *requestRow) int64 { return r.Seq }, (*requestRow).domain)
}
