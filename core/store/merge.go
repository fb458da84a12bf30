package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/leadhub/leadhub/core"
)

// maxMergeFrom bounds how many leads one merge takes in.
const maxMergeFrom = 100

type mergeRow struct {
	bun.BaseModel `bun:"table:merges,alias:m"`
	Seq           int64      `bun:"seq,pk,autoincrement"`
	ID            string     `bun:"id"`
	ProjectID     string     `bun:"project_id"`
	LeadID        string     `bun:"lead_id"` // the survivor
	MergedIDs     []string   `bun:"merged_ids,type:json"`
	State         mergeState `bun:"state,type:json"`
	Actor         string     `bun:"actor"`
	CreatedAt     dbTime     `bun:"created_at"`
	UndoneAt      *dbTime    `bun:"undone_at"`
	UndoneBy      string     `bun:"undone_by"`
}

type mergeLeadRow struct {
	bun.BaseModel `bun:"table:merge_leads,alias:ml"`
	ProjectID     string `bun:"project_id,pk"`
	LeadID        string `bun:"lead_id,pk"`
	MergeSeq      int64  `bun:"merge_seq,pk"`
}

// mergeState is what undoing a merge needs.
type mergeState struct {
	Merged []mergedLead `json:"merged"`
	// The survivor's last_seen_at before the merge.
	SurvivorLastSeen time.Time `json:"survivor_last_seen_at"`
	// Survivor fields that were empty and that the merge filled, with the
	// value it put there.
	Filled map[string]string `json:"filled,omitempty"`
	// Attribute values the merge added to the survivor, in the order added.
	AddedAttributes []attrPath `json:"added_attributes,omitempty"`
	AddedTags       []string   `json:"added_tags,omitempty"`
	// Open duplicate suggestions the merge closed.
	ClosedSuggestions []string `json:"closed_suggestions,omitempty"`
}

// mergedLead is a merged lead as it was before the merge.
type mergedLead struct {
	Lead       core.Lead `json:"lead"`
	UserIDs    []string  `json:"user_ids"`
	RequestIDs []string  `json:"request_ids"`
}

// attrPath is an attribute a merge added to the survivor.
type attrPath struct {
	Path  []string `json:"path"`
	Value any      `json:"value,omitempty"`
	// Object marks an object the merge created to hold added values; an undo
	// removes it when nothing else is left in it.
	Object bool `json:"object,omitempty"`
}

func eventData(d core.EventData) json.RawMessage {
	b, err := json.Marshal(d)
	if err != nil {
		panic(fmt.Sprintf("marshal event data: %v", err)) // only maps from JSON input: cannot fail
	}
	return b
}

// validateMerge checks a merge's input and returns from without repeats.
func validateMerge(intoID string, from []string) ([]string, error) {
	if intoID == "" {
		return nil, core.NotFound("lead")
	}
	if len(from) == 0 {
		return nil, core.Invalid(map[string]string{"from": "required: the ids of the leads to merge into this one"})
	}
	if len(from) > maxMergeFrom {
		return nil, core.Invalid(map[string]string{"from": fmt.Sprintf("at most %d leads per merge", maxMergeFrom)})
	}
	out := make([]string, 0, len(from))
	for _, id := range from {
		switch {
		case strings.TrimSpace(id) == "":
			return nil, core.Invalid(map[string]string{"from": "holds an empty id"})
		case id == intoID:
			return nil, core.Invalid(map[string]string{"from": "holds the lead merged into: a lead cannot be merged into itself"})
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// MergeLeads implements core.MergeService.
func (s *Store) MergeLeads(ctx context.Context, projectID, intoID string, from []string, actor string) (*core.MergeResult, error) {
	from, err := validateMerge(intoID, from)
	if err != nil {
		return nil, err
	}
	var out core.MergeResult
	err = s.write(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := s.mergeTx(ctx, tx, projectID, intoID, from, actor)
		if err != nil {
			return err
		}
		out = *res
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// lockLeads loads leads of the project by id. On PostgreSQL it locks their
// rows, in id order so that two operations on overlapping leads cannot
// deadlock; on SQLite the single writer already serializes operations.
// ENOTFOUND when one is missing.
func (s *Store) lockLeads(ctx context.Context, tx *wtx, projectID string, ids []string) (map[string]*leadRow, error) {
	var rows []leadRow
	q := tx.NewSelect().Model(&rows).Where("l.project_id = ? AND l.id IN (?)", projectID, bun.In(ids)).OrderExpr("l.id")
	if s.dialect == Postgres {
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("select leads: %w", err)
	}
	byID := make(map[string]*leadRow, len(rows))
	for i := range rows {
		byID[rows[i].ID] = &rows[i]
	}
	for _, id := range ids {
		if byID[id] == nil {
			return nil, core.Errorf(core.ENOTFOUND, "lead %s not found", id)
		}
	}
	return byID, nil
}

// mergeable refuses a lead that is not active.
func mergeable(r *leadRow) error {
	switch r.Status {
	case core.LeadMerged:
		return core.Errorf(core.ECONFLICT, "lead %s was merged into %s already", r.ID, deref(r.MergedInto))
	case core.LeadDeleted:
		return core.Errorf(core.ECONFLICT, "lead %s is deleted: restore it before merging", r.ID)
	}
	return nil
}

// mergeTx merges the from leads into intoID inside tx (rule 6 of the design):
// requests and user ids move to the survivor, the survivor's non-empty fields
// win and its empty ones are filled, attributes are deep-merged with the
// survivor winning, tags are unioned, counters are recomputed. The merged
// leads keep their fields, become merged and leave lists. Everything an undo
// needs is recorded in the merges table.
func (s *Store) mergeTx(ctx context.Context, tx *wtx, projectID, intoID string, from []string, actor string) (*core.MergeResult, error) {
	rows, err := s.lockLeads(ctx, tx, projectID, append([]string{intoID}, from...))
	if err != nil {
		return nil, err
	}
	intoRow := rows[intoID]
	if err := mergeable(intoRow); err != nil {
		return nil, err
	}
	for _, id := range from {
		if err := mergeable(rows[id]); err != nil {
			return nil, err
		}
	}
	now := s.now()
	a := intoRow.domain()
	a.Attributes = cloneJSON(a.Attributes).(map[string]any)
	a.UserIDs = slices.Clone(a.UserIDs)
	a.Tags = slices.Clone(a.Tags)
	before := intoRow.domain()
	st := mergeState{SurvivorLastSeen: a.LastSeenAt, Filled: map[string]string{}}
	var merged []core.Lead
	for _, id := range from {
		row := rows[id]
		rec := mergedLead{Lead: row.domain()}
		if err := tx.NewSelect().Model((*userIDRow)(nil)).Column("user_id").
			Where("project_id = ? AND lead_id = ?", projectID, id).OrderExpr("created_at, user_id").Scan(ctx, &rec.UserIDs); err != nil {
			return nil, fmt.Errorf("select user ids: %w", err)
		}
		if err := tx.NewSelect().Model((*requestRow)(nil)).Column("id").
			Where("project_id = ? AND lead_id = ?", projectID, id).OrderExpr("seq").Scan(ctx, &rec.RequestIDs); err != nil {
			return nil, fmt.Errorf("select request ids: %w", err)
		}
		// User ids first: on PostgreSQL this waits for ingests that hold a
		// lock on this lead, whose requests the next statement then sees.
		if _, err := tx.NewUpdate().Model((*userIDRow)(nil)).Set("lead_id = ?", intoID).
			Where("project_id = ? AND lead_id = ?", projectID, id).Exec(ctx); err != nil {
			return nil, fmt.Errorf("move user ids: %w", err)
		}
		if _, err := tx.NewUpdate().Model((*requestRow)(nil)).Set("lead_id = ?", intoID).
			Where("project_id = ? AND lead_id = ?", projectID, id).Exec(ctx); err != nil {
			return nil, fmt.Errorf("move requests: %w", err)
		}
		b := rec.Lead
		fillField(&a.Fullname, b.Fullname, "fullname", st.Filled)
		fillField(&a.Lastname, b.Lastname, "lastname", st.Filled)
		fillField(&a.Email, b.Email, "email", st.Filled)
		fillField(&a.Phone, b.Phone, "phone", st.Filled)
		fillField(&a.Company, b.Company, "company", st.Filled)
		fillAttributes(a.Attributes, b.Attributes, nil, &st.AddedAttributes)
		for _, t := range b.Tags {
			if !slices.Contains(a.Tags, t) {
				a.Tags = append(a.Tags, t)
				st.AddedTags = append(st.AddedTags, t)
			}
		}
		for _, u := range rec.UserIDs {
			if !slices.Contains(a.UserIDs, u) {
				a.UserIDs = append(a.UserIDs, u)
			}
		}
		if b.LastSeenAt.After(a.LastSeenAt) {
			a.LastSeenAt = b.LastSeenAt
		}
		gone := rec.Lead
		gone.Status, gone.MergedInto = core.LeadMerged, &a.ID
		gone.UserIDs, gone.RequestsCount, gone.UpdatedAt = []string{}, 0, now
		if err := s.saveLead(ctx, tx, row, &gone, nil); err != nil {
			return nil, err
		}
		merged = append(merged, gone)
		st.Merged = append(st.Merged, rec)
	}
	sort.Strings(a.Tags)
	n, _, err := s.requestStats(ctx, tx, projectID, a.ID)
	if err != nil {
		return nil, err
	}
	a.RequestsCount, a.UpdatedAt = n, now
	if err := s.saveLead(ctx, tx, intoRow, &a, nil); err != nil {
		return nil, err
	}
	st.ClosedSuggestions, err = s.closeSuggestions(ctx, tx, projectID, from, actor)
	if err != nil {
		return nil, err
	}
	m := &mergeRow{ID: s.newID(), ProjectID: projectID, LeadID: a.ID, MergedIDs: from, State: st, Actor: actor, CreatedAt: tm(now)}
	if _, err := tx.NewInsert().Model(m).Returning("seq").Exec(ctx); err != nil {
		return nil, fmt.Errorf("insert merge: %w", err)
	}
	touched := make([]mergeLeadRow, 0, len(from)+1)
	for _, id := range append([]string{a.ID}, from...) {
		touched = append(touched, mergeLeadRow{ProjectID: projectID, LeadID: id, MergeSeq: m.Seq})
	}
	if _, err := tx.NewInsert().Model(&touched).Exec(ctx); err != nil {
		return nil, fmt.Errorf("insert merge leads: %w", err)
	}

	extra := map[string]any{"merge_id": m.ID}
	ev := s.leadEvent(&a, core.EventLeadMerged, actor, leadChanges(&before, &a), nil)
	ev.Data = eventData(core.EventData{Lead: &a, MergedIDs: from, Extra: extra})
	evs := []core.Event{ev}
	for i := range merged {
		ev := s.leadEvent(&merged[i], core.EventLeadMerged, actor, core.Changes{
			"status":      {From: core.LeadActive, To: core.LeadMerged},
			"merged_into": {From: nil, To: a.ID},
		}, nil)
		ev.Data = eventData(core.EventData{Lead: &merged[i], MergedInto: a.ID, Extra: extra})
		evs = append(evs, ev)
	}
	if err := s.emit(ctx, tx, evs...); err != nil {
		return nil, err
	}
	return &core.MergeResult{Lead: a, MergeID: m.ID}, nil
}

// UndoMerge implements core.MergeService: the merged leads come back as they
// were, with their user ids and every request of those user ids (including
// requests that arrived after the merge); what the merge filled on the
// survivor is taken away again where nobody changed it since.
func (s *Store) UndoMerge(ctx context.Context, projectID, mergeID, actor string) (*core.UndoResult, error) {
	var out core.UndoResult
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := s.undoTx(ctx, tx, projectID, mergeID, actor)
		if err != nil {
			return err
		}
		out = *res
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

func (s *Store) undoTx(ctx context.Context, tx *wtx, projectID, mergeID, actor string) (*core.UndoResult, error) {
	m := new(mergeRow)
	q := tx.NewSelect().Model(m).Where("m.project_id = ? AND m.id = ?", projectID, mergeID)
	if s.dialect == Postgres {
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, core.NotFound("merge")
		}
		return nil, fmt.Errorf("select merge: %w", err)
	}
	if m.UndoneAt != nil {
		return nil, core.Errorf(core.ECONFLICT, "merge %s was undone already", m.ID)
	}
	ids := append([]string{m.LeadID}, m.MergedIDs...)
	rows, err := s.lockLeads(ctx, tx, projectID, ids)
	if err != nil {
		return nil, err
	}
	// Checked after the locks: a merge that committed while this waited is
	// seen here.
	var later []string
	if err := tx.NewSelect().TableExpr("merge_leads AS ml").ColumnExpr("m.id").
		Join("JOIN merges AS m ON m.seq = ml.merge_seq").
		Where("ml.project_id = ? AND ml.lead_id IN (?) AND ml.merge_seq > ? AND m.undone_at IS NULL", projectID, bun.In(ids), m.Seq).
		OrderExpr("ml.merge_seq").Limit(1).Scan(ctx, &later); err != nil {
		return nil, fmt.Errorf("select later merges: %w", err)
	}
	if len(later) > 0 {
		return nil, core.Errorf(core.ECONFLICT, "merge %s cannot be undone: a later merge (%s) touched the same leads; undo that one first", m.ID, later[0])
	}
	intoRow := rows[m.LeadID]
	for _, id := range m.MergedIDs {
		if r := rows[id]; r.Status != core.LeadMerged || deref(r.MergedInto) != m.LeadID {
			return nil, core.Errorf(core.ECONFLICT, "merge %s cannot be undone: lead %s is no longer merged into %s", m.ID, id, m.LeadID)
		}
	}
	now := s.now()
	st := m.State
	var restored []core.Lead
	var backUserIDs []string
	for _, rec := range st.Merged {
		id := rec.Lead.ID
		if len(rec.UserIDs) > 0 {
			if _, err := tx.NewUpdate().Model((*userIDRow)(nil)).Set("lead_id = ?", id).
				Where("project_id = ? AND lead_id = ? AND user_id IN (?)", projectID, m.LeadID, bun.In(rec.UserIDs)).Exec(ctx); err != nil {
				return nil, fmt.Errorf("return user ids: %w", err)
			}
			// Every request goes to the lead that now holds its user id,
			// also those that arrived after the merge.
			if _, err := tx.NewUpdate().Model((*requestRow)(nil)).Set("lead_id = ?", id).
				Where("project_id = ? AND lead_id = ? AND user_id IN (?)", projectID, m.LeadID, bun.In(rec.UserIDs)).Exec(ctx); err != nil {
				return nil, fmt.Errorf("return requests: %w", err)
			}
		}
		backUserIDs = append(backUserIDs, rec.UserIDs...)
		b := rec.Lead
		b.MergedInto = nil
		n, last, err := s.requestStats(ctx, tx, projectID, id)
		if err != nil {
			return nil, err
		}
		b.RequestsCount, b.UpdatedAt = n, now
		if last.After(m.CreatedAt.Time) && last.After(b.LastSeenAt) {
			b.LastSeenAt = last
		}
		if err := s.saveLead(ctx, tx, rows[id], &b, nil); err != nil {
			return nil, err
		}
		restored = append(restored, b)
	}

	a := intoRow.domain()
	before := intoRow.domain()
	a.Attributes = cloneJSON(a.Attributes).(map[string]any)
	a.UserIDs = slices.DeleteFunc(slices.Clone(a.UserIDs), func(u string) bool { return slices.Contains(backUserIDs, u) })
	unfill := func(name string, dst *string) {
		if v, ok := st.Filled[name]; ok && *dst == v {
			*dst = ""
		}
	}
	unfill("fullname", &a.Fullname)
	unfill("lastname", &a.Lastname)
	unfill("email", &a.Email)
	unfill("phone", &a.Phone)
	unfill("company", &a.Company)
	unfillAttributes(a.Attributes, st.AddedAttributes)
	a.Tags = slices.DeleteFunc(slices.Clone(a.Tags), func(t string) bool { return slices.Contains(st.AddedTags, t) })
	n, last, err := s.requestStats(ctx, tx, projectID, a.ID)
	if err != nil {
		return nil, err
	}
	a.RequestsCount, a.UpdatedAt, a.LastSeenAt = n, now, st.SurvivorLastSeen
	if last.After(m.CreatedAt.Time) && last.After(a.LastSeenAt) {
		a.LastSeenAt = last
	}
	if err := s.saveLead(ctx, tx, intoRow, &a, nil); err != nil {
		return nil, err
	}
	if err := s.reopenSuggestions(ctx, tx, projectID, st.ClosedSuggestions); err != nil {
		return nil, err
	}
	undone := tm(now)
	m.UndoneAt, m.UndoneBy = &undone, actor
	if _, err := tx.NewUpdate().Model(m).Column("undone_at", "undone_by").WherePK().Exec(ctx); err != nil {
		return nil, fmt.Errorf("mark merge undone: %w", err)
	}

	extra := map[string]any{"merge_id": m.ID}
	ev := s.leadEvent(&a, core.EventLeadUnmerged, actor, leadChanges(&before, &a), nil)
	ev.Data = eventData(core.EventData{Lead: &a, MergedIDs: m.MergedIDs, Extra: extra})
	evs := []core.Event{ev}
	for i := range restored {
		ev := s.leadEvent(&restored[i], core.EventLeadUnmerged, actor, core.Changes{
			"status":      {From: core.LeadMerged, To: restored[i].Status},
			"merged_into": {From: m.LeadID, To: nil},
		}, nil)
		ev.Data = eventData(core.EventData{Lead: &restored[i], Extra: map[string]any{"merge_id": m.ID, "unmerged_from": m.LeadID}})
		evs = append(evs, ev)
	}
	if err := s.emit(ctx, tx, evs...); err != nil {
		return nil, err
	}
	return &core.UndoResult{Lead: a, Restored: restored}, nil
}

// requestStats counts a lead's requests and finds the latest activity on
// them (zero when it has none).
func (s *Store) requestStats(ctx context.Context, tx *wtx, projectID, leadID string) (int64, time.Time, error) {
	var n int64
	var last dbTime
	if err := tx.NewSelect().Model((*requestRow)(nil)).ColumnExpr("count(*), max(updated_at)").
		Where("project_id = ? AND lead_id = ?", projectID, leadID).Scan(ctx, &n, &last); err != nil {
		return 0, time.Time{}, fmt.Errorf("count requests: %w", err)
	}
	return n, last.Time, nil
}

// leadForWrite finds the lead holding a user id for a write that will change
// it. On PostgreSQL it locks the lead's row and checks, once it holds the
// lock, that the user id still belongs to it: a merge or undo that moved the
// user id while this waited sends it to the new holder, so no request lands
// on a merged lead. On SQLite the single writer makes this leadByUserID.
func (s *Store) leadForWrite(ctx context.Context, tx *wtx, projectID, userID string) (*leadRow, error) {
	if s.dialect != Postgres {
		return s.leadByUserID(ctx, tx, projectID, userID)
	}
	for range 5 {
		// Find and lock the holder in one statement (each is a round trip):
		// the sub-select reads the statement's snapshot, so the check below
		// still runs once the lock is held.
		// Both statements run on every ingest: prepared (pgTxScan).
		row := new(leadRow)
		err := s.pgTxScan(ctx, tx, row, s.lockLeadSQL, projectID, userID, projectID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("lock lead: %w", err)
		}
		var owner string
		err = tx.Tx.Tx.QueryRowContext(ctx, pgSQL("SELECT lead_id FROM lead_user_ids WHERE project_id = ? AND user_id = ?"), projectID, userID).Scan(&owner)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("select user id: %w", err)
		}
		if owner == row.ID {
			return row, nil
		}
	}
	return nil, core.Errorf(core.ECONFLICT, "the lead of user id %q is being merged; retry", userID)
}

func fillField(dst *string, v, name string, filled map[string]string) {
	if *dst == "" && v != "" {
		*dst = v
		filled[name] = v
	}
}

// fillAttributes adds to dst what src has and dst lacks, recursing into
// objects: dst's values win. Each value added is recorded with its path, and
// so is each object created to hold added values.
func fillAttributes(dst, src map[string]any, path []string, added *[]attrPath) {
	keys := make([]string, 0, len(src))
	for k := range src {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := src[k]
		if v == nil {
			continue
		}
		p := append(slices.Clone(path), k)
		cur, had := dst[k]
		sm, srcObj := v.(map[string]any)
		switch {
		case !had && srcObj:
			m := map[string]any{}
			dst[k] = m
			*added = append(*added, attrPath{Path: p, Object: true})
			fillAttributes(m, sm, p, added)
		case !had:
			dst[k] = cloneJSON(v)
			*added = append(*added, attrPath{Path: p, Value: cloneJSON(v)})
		default:
			if cm, dstObj := cur.(map[string]any); dstObj && srcObj {
				fillAttributes(cm, sm, p, added)
			}
		}
	}
}

// unfillAttributes takes away the values a merge added that are still there
// unchanged, then the objects it created that are left empty.
func unfillAttributes(attrs map[string]any, added []attrPath) {
	for i := len(added) - 1; i >= 0; i-- {
		p := added[i]
		if len(p.Path) == 0 {
			continue
		}
		m := attrs
		for _, k := range p.Path[:len(p.Path)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				m = nil
				break
			}
			m = next
		}
		last := p.Path[len(p.Path)-1]
		cur, ok := m[last]
		if !ok {
			continue
		}
		if p.Object {
			if obj, isObj := cur.(map[string]any); isObj && len(obj) == 0 {
				delete(m, last)
			}
		} else if jsonEqual(cur, p.Value) {
			delete(m, last)
		}
	}
}

// leadChanges lists what differs between two states of a lead, in the shape
// of lead.updated events.
func leadChanges(from, to *core.Lead) core.Changes {
	ch := core.Changes{}
	str := func(name, a, b string) {
		if a != b {
			ch[name] = core.Change{From: a, To: b}
		}
	}
	str("fullname", from.Fullname, to.Fullname)
	str("lastname", from.Lastname, to.Lastname)
	str("email", from.Email, to.Email)
	str("phone", from.Phone, to.Phone)
	str("company", from.Company, to.Company)
	keys := map[string]bool{}
	for k := range from.Attributes {
		keys[k] = true
	}
	for k := range to.Attributes {
		keys[k] = true
	}
	for k := range keys {
		a, hadA := from.Attributes[k]
		b, hadB := to.Attributes[k]
		if hadA != hadB || !jsonEqual(a, b) {
			ch["attributes."+k] = core.Change{From: a, To: b}
		}
	}
	if !jsonEqual(from.Tags, to.Tags) {
		ch["tags"] = core.Change{From: from.Tags, To: to.Tags}
	}
	if !jsonEqual(from.UserIDs, to.UserIDs) {
		ch["user_ids"] = core.Change{From: from.UserIDs, To: to.UserIDs}
	}
	if len(ch) == 0 {
		return nil
	}
	return ch
}
