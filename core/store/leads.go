package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/leadhub/leadhub/core"
)

// CreateLead implements core.LeadService.
func (s *Store) CreateLead(ctx context.Context, projectID string, in core.NewLead, actor string) (*core.Lead, error) {
	it, err := validNewLead(0, in)
	if err != nil {
		return nil, err
	}
	in, tags := it.in, it.tags
	var out core.Lead
	err = s.write(ctx, func(ctx context.Context, tx *wtx) error {
		if err := s.projectExists(ctx, tx, projectID); err != nil {
			return err
		}
		if existing, err := s.leadByUserID(ctx, tx, projectID, in.UserID); err != nil {
			return err
		} else if existing != nil {
			return core.Errorf(core.ECONFLICT, "user id %q already belongs to lead %s", in.UserID, existing.ID)
		}
		now := s.now()
		l := core.Lead{ID: s.newID(), ProjectID: projectID, UserIDs: []string{in.UserID}, Status: core.LeadActive,
			Tags: tags, CreatedAt: now, UpdatedAt: now, LastSeenAt: now}
		core.ApplyFields(&l, in.Fields, false, core.Changes{})
		l.Attributes = core.MergeAttributes(nil, in.Attributes, nil)
		if err := s.insertLead(ctx, tx, &l); err != nil {
			return err
		}
		out = l
		return s.emit(ctx, tx, s.leadEvent(&l, core.EventLeadCreated, actor, nil, nil))
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Lead implements core.LeadService.
func (s *Store) Lead(ctx context.Context, projectID, id string) (*core.Lead, error) {
	row, err := s.leadRow(ctx, s.rdb, projectID, id)
	if err != nil {
		return nil, err
	}
	l := row.domain()
	return &l, nil
}

// UpdateLead implements core.LeadService.
func (s *Store) UpdateLead(ctx context.Context, projectID, id string, p core.LeadPatch, actor string) (*core.Lead, error) {
	if err := core.ValidateLeadPatch(&p); err != nil {
		return nil, err
	}
	var out core.Lead
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		l, evs, err := s.patchLeadTx(ctx, tx, projectID, id, &p, actor)
		if err != nil {
			return err
		}
		out = l
		return s.emit(ctx, tx, evs...)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// patchLeadTx applies a validated patch to a lead in tx: it saves the lead
// when the patch changes it and returns the lead as it is after the patch,
// with the events to emit (none when nothing changed).
func (s *Store) patchLeadTx(ctx context.Context, tx *wtx, projectID, id string, p *core.LeadPatch, actor string) (core.Lead, []core.Event, error) {
	row, err := s.leadRow(ctx, tx, projectID, id)
	if err != nil {
		return core.Lead{}, nil, err
	}
	if row.Status == core.LeadMerged {
		return core.Lead{}, nil, core.Errorf(core.ECONFLICT, "lead %s was merged into %s", id, deref(row.MergedInto))
	}
	l := row.domain()
	var evs []core.Event
	if p.Status != nil && *p.Status != l.Status {
		typ := core.EventLeadRestored
		if *p.Status == core.LeadDeleted {
			typ = core.EventLeadDeleted
		}
		l.Status = *p.Status
		evs = append(evs, s.leadEvent(&l, typ, actor, core.Changes{"status": {From: row.Status, To: l.Status}}, nil))
	}
	ch := core.Changes{}
	core.ApplyFields(&l, p.Fields, false, ch)
	if p.ClearAttributes {
		clear := map[string]any{}
		for k := range l.Attributes {
			clear[k] = nil
		}
		l.Attributes = core.MergeAttributes(l.Attributes, clear, ch)
	}
	if p.Attributes != nil {
		l.Attributes = core.MergeAttributes(l.Attributes, p.Attributes, ch)
	}
	if p.Tags != nil {
		core.SetTags(&l, *p.Tags, ch)
	}
	if len(ch) > 0 {
		evs = append(evs, s.leadEvent(&l, core.EventLeadUpdated, actor, ch, nil))
	}
	if len(evs) == 0 {
		return l, nil, nil
	}
	l.UpdatedAt = s.now()
	if err := s.saveLead(ctx, tx, row, &l, ch); err != nil {
		return core.Lead{}, nil, err
	}
	// Every event carries the lead as it is after the whole patch.
	for i := range evs {
		evs[i].Data = leadData(&l, nil)
	}
	return l, evs, nil
}

// DeleteLead implements core.LeadService: a soft delete. Deleting a deleted
// lead changes nothing.
func (s *Store) DeleteLead(ctx context.Context, projectID, id, actor string) error {
	return s.write(ctx, func(ctx context.Context, tx *wtx) error {
		row, err := s.leadRow(ctx, tx, projectID, id)
		if err != nil {
			return err
		}
		switch row.Status {
		case core.LeadMerged:
			return core.Errorf(core.ECONFLICT, "lead %s was merged into %s", id, deref(row.MergedInto))
		case core.LeadDeleted:
			return nil
		}
		l := row.domain()
		l.Status, l.UpdatedAt = core.LeadDeleted, s.now()
		if err := s.saveLead(ctx, tx, row, &l, nil); err != nil {
			return err
		}
		return s.emit(ctx, tx, s.leadEvent(&l, core.EventLeadDeleted, actor, core.Changes{"status": {From: core.LeadActive, To: core.LeadDeleted}}, nil))
	})
}

// leadRow loads a lead of the project. ENOTFOUND for a lead of any other.
func (s *Store) leadRow(ctx context.Context, db bun.IDB, projectID, id string) (*leadRow, error) {
	row := new(leadRow)
	var err error
	if ok, herr := s.scanOne(ctx, db, s.hot.leadByID, row, id, projectID); ok {
		err = herr
	} else {
		err = db.NewSelect().Model(row).Where("id = ? AND project_id = ?", id, projectID).Scan(ctx)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, core.NotFound("lead")
	}
	if err != nil {
		return nil, fmt.Errorf("select lead: %w", err)
	}
	return row, nil
}

// leadByUserID finds the lead holding a user id, or nil.
func (s *Store) leadByUserID(ctx context.Context, db bun.IDB, projectID, userID string) (*leadRow, error) {
	row := new(leadRow)
	var err error
	if ok, herr := s.scanOne(ctx, db, s.hot.leadByUserID, row, projectID, userID, projectID); ok {
		err = herr
	} else {
		err = db.NewSelect().Model(row).
			Where("id = (SELECT lead_id FROM lead_user_ids WHERE project_id = ? AND user_id = ?)", projectID, userID).
			Where("project_id = ?", projectID).Scan(ctx)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("select lead by user id: %w", err)
	}
	return row, nil
}

func (s *Store) projectExists(ctx context.Context, db bun.IDB, projectID string) error {
	var ok bool
	var err error
	if st, prepared, serr := s.stmt(ctx, db, sqlProjectExists); prepared {
		err = serr
		if err == nil {
			var one int
			err = st.QueryRowContext(ctx, projectID).Scan(&one)
			ok = err == nil
			if errors.Is(err, sql.ErrNoRows) {
				err = nil
			}
		}
	} else {
		ok, err = db.NewSelect().Model((*projectRow)(nil)).Where("id = ?", projectID).Exists(ctx)
	}
	if err != nil {
		return fmt.Errorf("select project: %w", err)
	}
	if !ok {
		return core.NotFound("project")
	}
	return nil
}

// insertLead writes a new lead with its user ids and tags.
func (s *Store) insertLead(ctx context.Context, tx *wtx, l *core.Lead) error {
	row := &leadRow{ID: l.ID, ProjectID: l.ProjectID, CreatedAt: tm(l.CreatedAt)}
	row.setFrom(l)
	if ok, err := s.insertHot(ctx, tx, s.hot.lead, row); !ok {
		if tx.holding && len(l.Tags) == 0 {
			err = tx.execHeld(ctx, tx.NewInsert().Model(row)) // seq only serves the tags
		} else {
			_, err = tx.NewInsert().Model(row).Returning("seq").Exec(ctx)
		}
		if err != nil {
			return fmt.Errorf("insert lead: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("insert lead: %w", err)
	}
	ids := make([]userIDRow, len(l.UserIDs))
	for i, u := range l.UserIDs {
		ids[i] = userIDRow{ProjectID: l.ProjectID, UserID: u, LeadID: l.ID, CreatedAt: tm(l.CreatedAt)}
	}
	if len(ids) == 1 {
		if ok, err := s.insertHot(ctx, tx, s.hot.uid, &ids[0]); ok {
			if err != nil {
				return fmt.Errorf("insert user ids: %w", err)
			}
			ids = nil
		}
	}
	if len(ids) > 0 {
		if err := tx.execHeld(ctx, tx.NewInsert().Model(&ids)); err != nil {
			return fmt.Errorf("insert user ids: %w", err)
		}
	}
	s.onLeadCreated(tx)
	return s.writeTags(ctx, tx, l.ProjectID, row.Seq, l.Tags, false)
}

func (s *Store) onLeadCreated(tx *wtx) { tx.onCommit(func() { s.metrics.LeadsCreated(1) }) }

func (s *Store) writeTags(ctx context.Context, tx *wtx, projectID string, seq int64, tags []string, replace bool) error {
	if replace {
		if _, err := tx.NewDelete().Model((*tagRow)(nil)).Where("lead_seq = ?", seq).Exec(ctx); err != nil {
			return fmt.Errorf("delete tags: %w", err)
		}
	}
	if len(tags) == 0 {
		return nil
	}
	rows := make([]tagRow, len(tags))
	for i, t := range tags {
		rows[i] = tagRow{ProjectID: projectID, Tag: t, LeadSeq: seq}
	}
	if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
		return fmt.Errorf("insert tags: %w", err)
	}
	return nil
}

// saveLead writes the columns of l that differ from row. Only changed columns
// are set, so the full-text trigger fires only when a searchable field moves.
func (s *Store) saveLead(ctx context.Context, tx *wtx, row *leadRow, l *core.Lead, ch core.Changes) error {
	old := *row
	row.setFrom(l)
	cols := []string{"updated_at"}
	add := func(changed bool, names ...string) {
		if changed {
			cols = append(cols, names...)
		}
	}
	add(old.Fullname != row.Fullname, "fullname")
	add(old.Lastname != row.Lastname, "lastname")
	add(old.Email != row.Email, "email", "email_lc", "email_canon")
	add(old.Phone != row.Phone, "phone", "phone_norm")
	add(old.Company != row.Company, "company")
	add(old.Status != row.Status, "status")
	add(deref(old.MergedInto) != deref(row.MergedInto), "merged_into")
	add(old.RequestsCount != row.RequestsCount, "requests_count")
	add(!old.LastSeenAt.Equal(row.LastSeenAt.Time), "last_seen_at")
	add(!jsonEqual(old.Attributes, row.Attributes), "attributes")
	add(!jsonEqual(old.UserIDs, row.UserIDs), "user_ids")
	tagsChanged := !jsonEqual(old.Tags, row.Tags)
	add(tagsChanged, "tags")
	// A request on a known lead that brings nothing new moves its counters
	// only: the most common write of all, prepared. updated_at is left
	// alone when it did not change, which spares its index an entry moved.
	touch := len(cols) <= 3
	for _, c := range cols {
		touch = touch && (c == "updated_at" || c == "requests_count" || c == "last_seen_at")
	}
	done := false
	if touch {
		q, args := s.hot.touchLead, []any{row.UpdatedAt, row.RequestsCount, row.LastSeenAt, row.Seq}
		if old.UpdatedAt.Equal(row.UpdatedAt.Time) {
			q, args = s.hot.countLead, args[1:]
		}
		ok, err := s.execHot(ctx, tx, q, args...)
		if ok && err != nil {
			return fmt.Errorf("update lead: %w", err)
		}
		done = ok
	}
	if !done && !tx.holding && s.hot.w != nil {
		// Any other change: the changed columns, prepared once seen.
		q, args, err := s.hot.lead.update(row, cols)
		if err != nil {
			return fmt.Errorf("update lead: %w", err)
		}
		ok, err := s.execHot(ctx, tx, q, args...)
		if ok && err != nil {
			return fmt.Errorf("update lead: %w", err)
		}
		done = ok
	}
	if !done {
		if err := tx.execHeld(ctx, tx.NewUpdate().Model(row).Column(cols...).WherePK()); err != nil {
			return fmt.Errorf("update lead: %w", err)
		}
	}
	if tagsChanged {
		return s.writeTags(ctx, tx, row.ProjectID, row.Seq, row.Tags, true)
	}
	return nil
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
