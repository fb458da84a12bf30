package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/uptrace/bun"

	"github.com/leadhub/leadhub/core"
)

// Suggestion limits.
const (
	maxDetectorLen = 64
	maxReasonLen   = 512
)

type duplicateRow struct {
	bun.BaseModel `bun:"table:duplicates,alias:d"`
	Seq           int64   `bun:"seq,pk,autoincrement"`
	ID            string  `bun:"id"`
	ProjectID     string  `bun:"project_id"`
	LeadA         string  `bun:"lead_a"`
	LeadB         string  `bun:"lead_b"`
	ExaminedID    string  `bun:"examined_id"`
	Reason        string  `bun:"reason"`
	Score         float64 `bun:"score"`
	Detector      string  `bun:"detector"`
	Status        string  `bun:"status"`
	ClosedBy      string  `bun:"closed_by"`
	CreatedAt     dbTime  `bun:"created_at"`
	UpdatedAt     dbTime  `bun:"updated_at"`
}

func (r *duplicateRow) domain() core.Duplicate {
	return core.Duplicate{ID: r.ID, ProjectID: r.ProjectID, LeadIDs: []string{r.LeadA, r.LeadB}, Reason: r.Reason,
		Score: r.Score, Detector: r.Detector, Status: r.Status, CreatedAt: r.CreatedAt.Time}
}

var duplicateStatuses = []string{core.DuplicateOpen, core.DuplicateDismissed, core.DuplicateMerged}

// orderedPair is how a pair is stored: the smaller id first, in byte order,
// so that (a, b) and (b, a) are one row.
func orderedPair(x, y string) (string, string) {
	if y < x {
		return y, x
	}
	return x, y
}

func validateSuggestion(sg *core.Suggestion) error {
	errs := map[string]string{}
	sg.Detector = strings.TrimSpace(sg.Detector)
	switch {
	case sg.LeadID == "":
		errs["lead_id"] = "required"
	case sg.CandidateID == "":
		errs["candidate_id"] = "required"
	case sg.LeadID == sg.CandidateID:
		errs["candidate_id"] = "must differ from lead_id"
	}
	if math.IsNaN(sg.Score) || sg.Score < 0 || sg.Score > 1 {
		errs["score"] = "must be from 0 to 1"
	}
	if sg.Detector == "" || len(sg.Detector) > maxDetectorLen {
		errs["detector"] = "required, at most 64 characters"
	}
	if len(sg.Reason) > maxReasonLen {
		errs["reason"] = "at most 512 characters"
	}
	if len(errs) > 0 {
		return core.Invalid(errs)
	}
	return nil
}

// SuggestDuplicate implements core.DuplicateService. The event goes on the
// examined lead's timeline, with the detector (a plugin) as its actor.
func (s *Store) SuggestDuplicate(ctx context.Context, projectID string, sg core.Suggestion) (*core.Duplicate, bool, error) {
	if err := validateSuggestion(&sg); err != nil {
		return nil, false, err
	}
	var out *core.Duplicate
	var created bool
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		var err error
		out, created, err = s.suggestTx(ctx, tx, projectID, sg, core.PluginActor(sg.Detector))
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return out, created, nil
}

// suggestTx records a validated suggestion inside tx. A known pair comes back
// as it is with created=false; so does nil for a pair that is not two active
// leads. ENOTFOUND when a lead is not in the project.
func (s *Store) suggestTx(ctx context.Context, tx *wtx, projectID string, sg core.Suggestion, actor string) (*core.Duplicate, bool, error) {
	a, b := orderedPair(sg.LeadID, sg.CandidateID)
	existing := new(duplicateRow)
	err := tx.NewSelect().Model(existing).Where("d.project_id = ? AND d.lead_a = ? AND d.lead_b = ?", projectID, a, b).Scan(ctx)
	if err == nil {
		d := existing.domain()
		return &d, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, false, fmt.Errorf("select duplicate: %w", err)
	}
	examined, err := s.leadRow(ctx, tx, projectID, sg.LeadID)
	if err != nil {
		return nil, false, err
	}
	candidate, err := s.leadRow(ctx, tx, projectID, sg.CandidateID)
	if err != nil {
		return nil, false, err
	}
	if examined.Status != core.LeadActive || candidate.Status != core.LeadActive {
		return nil, false, nil
	}
	now := tm(s.now())
	row := &duplicateRow{ID: s.newID(), ProjectID: projectID, LeadA: a, LeadB: b, ExaminedID: sg.LeadID,
		Reason: sg.Reason, Score: sg.Score, Detector: sg.Detector, Status: core.DuplicateOpen, CreatedAt: now, UpdatedAt: now}
	if _, err := tx.NewInsert().Model(row).Returning("seq").Exec(ctx); err != nil {
		return nil, false, fmt.Errorf("insert duplicate: %w", err)
	}
	l := examined.domain()
	ev := s.leadEvent(&l, core.EventDuplicateDetected, actor, nil, nil)
	ev.Data = eventData(core.EventData{Lead: &l, Extra: map[string]any{
		"duplicate_id": row.ID,
		"lead_ids":     []string{a, b},
		"candidate_id": sg.CandidateID,
		"score":        sg.Score,
		"reason":       sg.Reason,
		"detector":     sg.Detector,
	}})
	if err := s.emit(ctx, tx, ev); err != nil {
		return nil, false, err
	}
	d := row.domain()
	d.Leads = []core.LeadSummary{summary(examined), summary(candidate)}
	if d.Leads[0].ID != a {
		d.Leads[0], d.Leads[1] = d.Leads[1], d.Leads[0]
	}
	return &d, true, nil
}

func summary(r *leadRow) core.LeadSummary {
	return core.LeadSummary{ID: r.ID, Fullname: r.Fullname, Email: r.Email, RequestsCount: r.RequestsCount, Status: r.Status}
}

// Duplicates implements core.DuplicateService: newest first, each with both
// leads summarized.
func (s *Store) Duplicates(ctx context.Context, projectID, status string, limit int, cursor string) (core.Page[core.Duplicate], error) {
	var page core.Page[core.Duplicate]
	if status == "" {
		status = core.DuplicateOpen
	}
	if !slices.Contains(duplicateStatuses, status) {
		return page, core.Invalid(map[string]string{"status": "must be one of " + strings.Join(duplicateStatuses, ", ")})
	}
	limit = clampLimit(limit)
	before, err := decodeSeqCursor(cursor)
	if err != nil {
		return page, err
	}
	var rows []duplicateRow
	q := s.rdb.NewSelect().Model(&rows).Where("d.project_id = ? AND d.status = ?", projectID, status).
		OrderExpr("d.seq DESC").Limit(int64(limit + 1))
	if before > 0 {
		q = q.Where("d.seq < ?", before)
	}
	if err := q.Scan(ctx); err != nil {
		return page, fmt.Errorf("select duplicates: %w", err)
	}
	if len(rows) > limit {
		rows = rows[:limit]
		page.NextCursor = encodeSeqCursor(rows[limit-1].Seq)
	}
	page.Items = make([]core.Duplicate, len(rows))
	for i := range rows {
		page.Items[i] = rows[i].domain()
	}
	if err := s.summarize(ctx, s.rdb, projectID, page.Items); err != nil {
		return page, err
	}
	return page, nil
}

// summarize fills in the lead summaries of suggestions with one query.
func (s *Store) summarize(ctx context.Context, db bun.IDB, projectID string, ds []core.Duplicate) error {
	if len(ds) == 0 {
		return nil
	}
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.LeadIDs...)
	}
	var leads []leadRow
	if err := db.NewSelect().Model(&leads).Column("id", "fullname", "email", "requests_count", "status").
		Where("l.project_id = ? AND l.id IN (?)", projectID, bun.In(ids)).Scan(ctx); err != nil {
		return fmt.Errorf("select duplicate leads: %w", err)
	}
	byID := make(map[string]*leadRow, len(leads))
	for i := range leads {
		byID[leads[i].ID] = &leads[i]
	}
	for i := range ds {
		ds[i].Leads = make([]core.LeadSummary, 0, 2)
		for _, id := range ds[i].LeadIDs {
			if r := byID[id]; r != nil {
				ds[i].Leads = append(ds[i].Leads, summary(r))
			}
		}
	}
	return nil
}

// DismissDuplicate implements core.DuplicateService. The row stays, so the
// pair is not suggested again.
func (s *Store) DismissDuplicate(ctx context.Context, projectID, id, actor string) (*core.Duplicate, error) {
	var out core.Duplicate
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		row := new(duplicateRow)
		err := tx.NewSelect().Model(row).Where("d.project_id = ? AND d.id = ?", projectID, id).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return core.NotFound("duplicate suggestion")
		}
		if err != nil {
			return fmt.Errorf("select duplicate: %w", err)
		}
		if row.Status != core.DuplicateOpen {
			return core.Errorf(core.ECONFLICT, "duplicate suggestion %s is %s, not open", id, row.Status)
		}
		row.Status, row.ClosedBy, row.UpdatedAt = core.DuplicateDismissed, actor, tm(s.now())
		if _, err := tx.NewUpdate().Model(row).Column("status", "closed_by", "updated_at").WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("dismiss duplicate: %w", err)
		}
		out = row.domain()
		ds := []core.Duplicate{out}
		if err := s.summarize(ctx, tx, projectID, ds); err != nil {
			return err
		}
		out = ds[0]
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// closeSuggestions marks the open suggestions that involve any of leadIDs as
// merged and returns their ids, so that an undo can reopen them.
func (s *Store) closeSuggestions(ctx context.Context, tx *wtx, projectID string, leadIDs []string, actor string) ([]string, error) {
	var ids []string
	err := tx.NewSelect().Model((*duplicateRow)(nil)).Column("id").
		Where("d.project_id = ? AND d.status = ?", projectID, core.DuplicateOpen).
		WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("d.lead_a IN (?)", bun.In(leadIDs)).WhereOr("d.lead_b IN (?)", bun.In(leadIDs))
		}).OrderExpr("d.seq").Scan(ctx, &ids)
	if err != nil {
		return nil, fmt.Errorf("select suggestions to close: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	if _, err := tx.NewUpdate().Model((*duplicateRow)(nil)).Set("status = ?", core.DuplicateMerged).
		Set("closed_by = ?", actor).Set("updated_at = ?", tm(s.now())).
		Where("project_id = ? AND id IN (?)", projectID, bun.In(ids)).Exec(ctx); err != nil {
		return nil, fmt.Errorf("close suggestions: %w", err)
	}
	return ids, nil
}

// reopenSuggestions reopens suggestions a merge closed, where nothing closed
// them otherwise since and both leads are active again.
func (s *Store) reopenSuggestions(ctx context.Context, tx *wtx, projectID string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := tx.NewUpdate().Model((*duplicateRow)(nil)).Set("status = ?", core.DuplicateOpen).
		Set("closed_by = ''").Set("updated_at = ?", tm(s.now())).
		Where("project_id = ? AND status = ? AND id IN (?)", projectID, core.DuplicateMerged, bun.In(ids)).
		Where("NOT EXISTS (SELECT 1 FROM leads WHERE leads.project_id = ? AND leads.id IN (lead_a, lead_b) AND leads.status <> ?)", projectID, core.LeadActive).
		Exec(ctx); err != nil {
		return fmt.Errorf("reopen suggestions: %w", err)
	}
	return nil
}
