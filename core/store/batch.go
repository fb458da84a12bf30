package store

import (
	"context"
	"fmt"
	"math/bits"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"github.com/leadhub/leadhub/core"
)

// batchChunk bounds the rows of one multi-row INSERT: big enough to amortise
// the statement, small enough to stay far from the databases' limits.
const batchChunk = 250

// CreateLeads implements core.LeadBatchService. The whole batch is one write
// operation: one existence check for all its user ids, then multi-row inserts
// of the leads, their user ids, tags and lead.created events.
func (s *Store) CreateLeads(ctx context.Context, projectID string, in []core.NewLead, actor string) ([]core.BatchResult, error) {
	if len(in) == 0 || len(in) > core.MaxBatchLeads {
		return nil, core.Invalid(map[string]string{"leads": fmt.Sprintf("between 1 and %d leads", core.MaxBatchLeads)})
	}
	res := make([]core.BatchResult, len(in))
	valid := make([]newLeadItem, 0, len(in))
	for i, nl := range in {
		if it, err := validNewLead(i, nl); err != nil {
			res[i].Err = err
		} else {
			valid = append(valid, it)
		}
	}
	if len(valid) == 0 {
		return res, nil
	}
	err := s.writeAlone(ctx, func(ctx context.Context, tx *wtx) error {
		for _, it := range valid {
			res[it.i] = core.BatchResult{}
		}
		if err := s.projectExists(ctx, tx, projectID); err != nil {
			return err
		}
		return s.insertNewLeads(ctx, tx, projectID, valid, actor, res, nil)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// newLeadItem is a valid lead of a batch or an import, at index i of the
// caller's results.
type newLeadItem struct {
	i    int
	in   core.NewLead
	tags []string
}

// validNewLead checks a lead to create (by hand, in a batch or an import),
// giving it a user id if it has none.
func validNewLead(i int, nl core.NewLead) (newLeadItem, error) {
	errs := map[string]string{}
	if nl.UserID == "" {
		nl.UserID = uuid.NewString()
	}
	core.ValidateUserID(nl.UserID, errs)
	core.ValidateFields(nl.Fields, errs)
	tags := core.NormalizeTags(nl.Tags, errs)
	if len(errs) > 0 {
		return newLeadItem{}, core.Invalid(errs)
	}
	return newLeadItem{i: i, in: nl, tags: tags}, nil
}

// deferredUserIDs are the user ids of an import's leads, written all at
// once at its end in user-id order: written as they come, each landed on a
// random page of the user-id table, which at a million leads took a quarter
// of the import's time, much of it writing pages out of the cache and back.
type deferredUserIDs struct {
	rows []userIDRow
	seen map[string]struct{}
	// existing holds the project's user ids from before the import, with
	// their leads, when it has few enough (nil: look them up per batch).
	existing map[string]string
}

func (d *deferredUserIDs) has(id string) bool {
	if d == nil {
		return false
	}
	_, ok := d.seen[id]
	return ok
}

// insertNewLeads creates valid leads in tx: one existence check for all
// their user ids, then multi-row inserts of the leads, their user ids, tags
// and lead.created events. A lead whose user id is taken (by an existing
// lead or one earlier in valid, or in deferred) gets a conflict in res
// instead. With deferred, user ids are kept there instead of written.
func (s *Store) insertNewLeads(ctx context.Context, tx *wtx, projectID string, valid []newLeadItem, actor string, res []core.BatchResult, deferred *deferredUserIDs) error {
	uids := make([]string, len(valid))
	for k, it := range valid {
		uids[k] = it.in.UserID
	}
	taken := make(map[string]string, len(valid))
	if deferred != nil && deferred.existing != nil {
		for _, u := range uids {
			if l, ok := deferred.existing[u]; ok {
				taken[u] = l
			}
		}
		uids = nil
	}
	for start := 0; start < len(uids); start += batchChunk {
		var found []userIDRow
		if err := tx.NewSelect().Model(&found).Column("user_id", "lead_id").
			Where("project_id = ? AND user_id IN (?)", projectID, bun.In(uids[start:min(start+batchChunk, len(uids))])).
			Scan(ctx); err != nil {
			return fmt.Errorf("select user ids: %w", err)
		}
		for _, f := range found {
			taken[f.UserID] = f.LeadID
		}
	}
	now := s.now()
	rows := make([]leadRow, 0, len(valid))
	ids := make([]userIDRow, 0, len(valid))
	evs := make([]core.Event, 0, len(valid))
	withTags := map[string][]string{}
	for _, it := range valid {
		if deferred.has(it.in.UserID) {
			res[it.i].Err = core.Errorf(core.ECONFLICT, "user id %q repeats one earlier in the import", it.in.UserID)
			continue
		}
		if holder, ok := taken[it.in.UserID]; ok {
			if holder == "" {
				res[it.i].Err = core.Errorf(core.ECONFLICT, "user id %q repeats one earlier in the batch", it.in.UserID)
			} else {
				res[it.i].Err = core.Errorf(core.ECONFLICT, "user id %q already belongs to lead %s", it.in.UserID, holder)
			}
			continue
		}
		taken[it.in.UserID] = ""
		l := &core.Lead{ID: s.newID(), ProjectID: projectID, UserIDs: []string{it.in.UserID}, Status: core.LeadActive,
			Tags: it.tags, CreatedAt: now, UpdatedAt: now, LastSeenAt: now}
		core.ApplyFields(l, it.in.Fields, false, core.Changes{})
		l.Attributes = core.MergeAttributes(nil, it.in.Attributes, nil)
		row := leadRow{ID: l.ID, ProjectID: projectID, CreatedAt: tm(now)}
		row.setFrom(l)
		rows = append(rows, row)
		ids = append(ids, userIDRow{ProjectID: projectID, UserID: it.in.UserID, LeadID: l.ID, CreatedAt: tm(now)})
		if len(l.Tags) > 0 {
			withTags[l.ID] = l.Tags
		}
		res[it.i].Lead = l
		evs = append(evs, s.leadEvent(l, core.EventLeadCreated, actor, nil, nil))
	}
	if len(rows) == 0 {
		return nil
	}
	if err := insertAll(ctx, s, tx, s.hot.lead, rows); err != nil {
		return fmt.Errorf("insert leads: %w", err)
	}
	if deferred != nil {
		deferred.rows = append(deferred.rows, ids...)
		for _, r := range ids {
			deferred.seen[r.UserID] = struct{}{}
		}
	} else if err := insertAll(ctx, s, tx, s.hot.uid, ids); err != nil {
		return fmt.Errorf("insert user ids: %w", err)
	}
	if len(withTags) > 0 {
		if err := s.writeBatchTags(ctx, tx, projectID, withTags); err != nil {
			return err
		}
	}
	n := len(rows)
	tx.onCommit(func() { s.metrics.LeadsCreated(n) })
	return s.emit(ctx, tx, evs...)
}

// writeBatchTags writes the tags of new leads, found by id for their seq.
func (s *Store) writeBatchTags(ctx context.Context, tx *wtx, projectID string, tags map[string][]string) error {
	leadIDs := make([]string, 0, len(tags))
	for id := range tags {
		leadIDs = append(leadIDs, id)
	}
	var seqs []leadRow
	if err := tx.NewSelect().Model(&seqs).Column("seq", "id").
		Where("l.project_id = ? AND l.id IN (?)", projectID, bun.In(leadIDs)).Scan(ctx); err != nil {
		return fmt.Errorf("select new leads: %w", err)
	}
	var rows []tagRow
	for _, r := range seqs {
		for _, t := range tags[r.ID] {
			rows = append(rows, tagRow{ProjectID: projectID, Tag: t, LeadSeq: r.Seq})
		}
	}
	for start := 0; start < len(rows); start += batchChunk {
		chunk := rows[start:min(start+batchChunk, len(rows))]
		if _, err := tx.NewInsert().Model(&chunk).Exec(ctx); err != nil {
			return fmt.Errorf("insert tags: %w", err)
		}
	}
	return nil
}

// multiRow is the most rows one prepared INSERT carries: few enough to stay
// far below SQLite's limit on variables, many enough that the full-text
// index, which flushes its pending terms at every statement, writes them in
// sizeable segments.
const multiRow = 64

// insertAll inserts rows with prepared statements on SQLite: one row alone
// (its autoincrement key is set), more in statements of multiRow rows and
// then of the powers of two that make up the rest (their keys are left
// unset), so that a table needs at most seven statements prepared. Elsewhere
// Bun's multi-row statements.
func insertAll[T any](ctx context.Context, s *Store, tx *wtx, m *model, rows []T) error {
	for start := 0; start < len(rows); {
		n := min(len(rows)-start, multiRow)
		n = 1 << (bits.Len(uint(n)) - 1) // the largest power of two ≤ n
		chunk := rows[start : start+n]
		start += n
		if m != nil && n == 1 {
			if ok, err := s.insertHot(ctx, tx, m, &chunk[0]); ok {
				if err != nil {
					return err
				}
				continue
			}
		}
		if m != nil && n > 1 {
			st, ok, err := s.stmt(ctx, tx, m.insertN(n))
			if err != nil {
				return err
			}
			if ok {
				args := make([]any, 0, n*len(m.fields))
				for i := range chunk {
					a, err := m.args(&chunk[i])
					if err != nil {
						return err
					}
					args = append(args, a...)
				}
				if _, err := st.ExecContext(ctx, args...); err != nil {
					return err
				}
				continue
			}
		}
		if _, err := tx.NewInsert().Model(&chunk).Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}
