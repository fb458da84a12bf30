package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/uptrace/bun"

	"github.com/leadhub/leadhub/core"
)

// cursor marks where a page ended: the sort it belongs to, the sort value of
// the last row and its seq, which breaks ties. Keyset paging neither skips nor
// repeats rows while new ones arrive.
type cursor struct {
	Sort string    `json:"s"`
	At   time.Time `json:"t,omitempty"`
	Seq  int64     `json:"q"`
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s, sort string) (cursor, error) {
	var c cursor
	if s == "" {
		return c, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.Seq <= 0 {
		return c, core.Invalid(map[string]string{"cursor": "not a cursor this server issued"})
	}
	if c.Sort != sort {
		return c, core.Invalid(map[string]string{"cursor": "belongs to another sort order"})
	}
	return c, nil
}

func encodeSeqCursor(seq int64) string { return encodeCursor(cursor{Sort: "seq", Seq: seq}) }

func decodeSeqCursor(s string) (int64, error) {
	c, err := decodeCursor(s, "seq")
	return c.Seq, err
}

func clampLimit(n int) int {
	if n <= 0 {
		return core.DefaultLimit
	}
	return min(n, core.MaxLimit)
}

// searchTerms splits free text into the words the index holds: runs of letters
// and digits, lower-cased. Each becomes a prefix term; all must match.
func searchTerms(q string) []string {
	words := strings.FieldsFunc(strings.ToLower(q), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(words) > 8 {
		words = words[:8]
	}
	return words
}

// ftsWhere is SQLite's prefix query for the terms: a join with the FTS5 index.
// Terms hold only letters and digits, so quoting them is enough to keep query
// syntax out. PostgreSQL searches in pgSearch.
func (s *Store) ftsWhere(q *bun.SelectQuery, terms []string) *bun.SelectQuery {
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = `"` + t + `"*`
	}
	return q.Join("JOIN leads_fts AS f ON f.rowid = l.seq").Where("leads_fts MATCH ?", strings.Join(parts, " "))
}

// pgSearchWindow is how many leads of the filtered, ordered list the first
// step of a PostgreSQL search examines.
const pgSearchWindow = 1000

// pgTSQuery is the prefix query for the terms (bound as the project id and the
// terms joined by spaces): lead_search's words, folded the same way by the
// same function, each a prefix, all required. quote_literal keeps query
// syntax out.
const pgTSQuery = `(SELECT string_agg(quote_literal(w) || ':*', ' & ') FROM unnest(leadhub_search_words(?, ?)) AS w)::tsquery`

// pgSearch scans a text search on PostgreSQL into rows, in two steps.
// lead_search's GIN index finds the leads holding the words, but not in the
// page's order, and the planner cannot know how matches are spread: it either
// walks the ordered index and filters, which reads the whole project when the
// words are rare, or collects and sorts every match, which is slow when they
// are common (measured at a million leads: p99 over a second either way). So
// the first step checks only the first pgSearchWindow leads of the ordered
// list (q, with its filters and cursor), which is enough when the words are
// common; only when that window holds less than a page does the second step
// take every match from the index, which is cheap precisely then.
func (s *Store) pgSearch(ctx context.Context, q *bun.SelectQuery, rows *[]leadRow, projectID string, terms []string, order string, n int) error {
	text := strings.Join(terms, " ")
	window := s.rdb.NewSelect().Model(rows).ModelTableExpr("(?) AS l", q.Limit(pgSearchWindow)).
		Where("EXISTS (SELECT 1 FROM lead_search AS ls WHERE ls.lead_seq = l.seq AND ls.words @@ "+pgTSQuery+")", projectID, text).
		OrderExpr(order).Limit(int64(n))
	if err := window.Scan(ctx); err != nil || len(*rows) >= n {
		return err
	}
	*rows = (*rows)[:0]
	// OFFSET 0 keeps the planner from folding the index lookup into the walk.
	return q.Where("l.seq IN (SELECT lead_seq FROM lead_search WHERE words @@ "+pgTSQuery+" OFFSET 0)", projectID, text).
		Limit(int64(n)).Scan(ctx)
}

var leadStatuses = []string{core.LeadActive, core.LeadDeleted, core.LeadMerged, "all"}

// Leads implements core.LeadService.
func (s *Store) Leads(ctx context.Context, projectID string, f core.LeadFilter) (core.Page[core.Lead], error) {
	var page core.Page[core.Lead]
	if f.Sort == "" {
		f.Sort = "-created_at"
	}
	if f.Status == "" {
		f.Status = core.LeadActive
	}
	errs := map[string]string{}
	if !slices.Contains(core.LeadSorts, f.Sort) {
		errs["sort"] = "must be one of " + strings.Join(core.LeadSorts, ", ")
	}
	if !slices.Contains(leadStatuses, f.Status) {
		errs["status"] = "must be one of " + strings.Join(leadStatuses, ", ")
	}
	var terms []string
	if f.Q != "" {
		if terms = searchTerms(f.Q); len(terms) == 0 {
			errs["q"] = "needs at least one letter or digit"
		}
	}
	if len(errs) > 0 {
		return page, core.Invalid(errs)
	}
	cur, err := decodeCursor(f.Cursor, f.Sort)
	if err != nil {
		return page, err
	}
	limit := clampLimit(f.Limit)
	desc := strings.HasPrefix(f.Sort, "-")
	field := strings.TrimPrefix(f.Sort, "-")

	var rows []leadRow
	q := s.rdb.NewSelect().Model(&rows).Where("l.project_id = ?", projectID).Limit(int64(limit + 1))
	if f.Status != "all" {
		q = q.Where("l.status = ?", f.Status)
	}
	if f.Email != "" {
		// The email index is partial (non-empty emails only): the second term
		// tells the planner so, or it walks the project's leads instead.
		q = q.Where("l.email_lc = ? AND l.email_lc <> ''", core.NormalizeEmail(f.Email))
	}
	if f.UserID != "" {
		q = q.Where("l.id = (SELECT lead_id FROM lead_user_ids WHERE project_id = ? AND user_id = ?)", projectID, f.UserID)
	}
	if f.Tag != "" {
		q = q.Where("l.seq IN (SELECT lead_seq FROM lead_tags WHERE project_id = ? AND tag = ?)", projectID, f.Tag)
	}
	if len(terms) > 0 && s.dialect == SQLite {
		q = s.ftsWhere(q, terms)
	}
	op, dir, order := ">", "ASC", ""
	if desc {
		op, dir = "<", "DESC"
	}
	if field == "created_at" {
		// Creation order is seq order; with full-text search on SQLite the
		// index hands rows out in rowid (= seq) order, so this stays cheap.
		seqCol := "l.seq"
		if len(terms) > 0 && s.dialect == SQLite {
			seqCol = "f.rowid"
		}
		if cur.Seq > 0 {
			q = q.Where(seqCol+" "+op+" ?", cur.Seq)
		}
		order = seqCol + " " + dir
	} else {
		col := "l." + field
		if cur.Seq > 0 {
			at := tm(cur.At)
			q = q.Where("("+col+" "+op+" ? OR ("+col+" = ? AND l.seq "+op+" ?))", at, at, cur.Seq)
		}
		order = col + " " + dir + ", l.seq " + dir
	}
	q = q.OrderExpr(order)
	if len(terms) > 0 && s.dialect == Postgres {
		err = s.pgSearch(ctx, q, &rows, projectID, terms, order, limit+1)
	} else if hq, args := s.exactLookup(projectID, f, cur, field, dir, limit+1); hq != "" {
		err = s.readRows(ctx, hq, &rows, args...)
	} else {
		err = q.Scan(ctx)
	}
	if err != nil {
		return page, fmt.Errorf("select leads: %w", err)
	}
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		c := cursor{Sort: f.Sort, Seq: last.Seq}
		switch field {
		case "updated_at":
			c.At = last.UpdatedAt.Time
		case "last_seen_at":
			c.At = last.LastSeenAt.Time
		}
		page.NextCursor = encodeCursor(c)
	}
	page.Items = make([]core.Lead, len(rows))
	for i := range rows {
		page.Items[i] = rows[i].domain()
	}
	return page, nil
}

// leadPage lists one lead's rows of a table keyed by lead (its requests, its
// events), newest first, with a seq cursor. ENOTFOUND for a lead of another
// project.
func leadPage[R, T any](ctx context.Context, s *Store, projectID, leadID string, limit int, cursor, what string,
	seqOf func(*R) int64, toDomain func(*R) T) (core.Page[T], error) {
	var page core.Page[T]
	if _, err := s.leadRow(ctx, s.rdb, projectID, leadID); err != nil {
		return page, err
	}
	limit = clampLimit(limit)
	before, err := decodeSeqCursor(cursor)
	if err != nil {
		return page, err
	}
	var rows []R
	q := s.rdb.NewSelect().Model(&rows).Where("lead_id = ? AND project_id = ?", leadID, projectID).OrderExpr("seq DESC").Limit(int64(limit + 1))
	if before > 0 {
		q = q.Where("seq < ?", before)
	}
	if err := q.Scan(ctx); err != nil {
		return page, fmt.Errorf("select %s: %w", what, err)
	}
	if len(rows) > limit {
		rows = rows[:limit]
		page.NextCursor = encodeSeqCursor(seqOf(&rows[limit-1]))
	}
	page.Items = make([]T, len(rows))
	for i := range rows {
		page.Items[i] = toDomain(&rows[i])
	}
	return page, nil
}
