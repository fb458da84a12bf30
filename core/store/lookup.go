package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/uptrace/bun"

	"github.com/leadhub/leadhub/core"
)

// LookupLimit caps the leads one lookup returns. The lookups serve plugins
// (through the plugin host API), which ask "who else has this email": a
// handful of leads is the useful answer, a million is an accident.
const LookupLimit = 100

// The lookups below read from the read pool, are scoped by project, and list
// active leads first (then deleted and merged ones), oldest first within a
// status. An empty value matches nothing.

// lookup selects the leads of the project matching where, in lookup order.
// where must name the index to use: with no statistics SQLite otherwise
// picks leads_project_seq and reads the whole project. The match columns'
// indexes are partial (on non-empty values), so the queries repeat that
// condition.
func (s *Store) lookup(ctx context.Context, what, projectID string, where func(*bun.SelectQuery) *bun.SelectQuery) ([]core.Lead, error) {
	var rows []leadRow
	q := where(s.rdb.NewSelect().Model(&rows)).
		OrderExpr("CASE WHEN l.status = ? THEN 0 ELSE 1 END", core.LeadActive).
		OrderExpr("l.seq").
		Limit(LookupLimit)
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("select leads by %s: %w", what, err)
	}
	out := make([]core.Lead, len(rows))
	for i := range rows {
		out[i] = rows[i].domain()
	}
	return out, nil
}

// LeadsByEmail returns the leads of the project whose email equals email,
// compared case-insensitively (leads.email_lc), in any status.
func (s *Store) LeadsByEmail(ctx context.Context, projectID, email string) ([]core.Lead, error) {
	lc := core.NormalizeEmail(email)
	if lc == "" {
		return []core.Lead{}, nil
	}
	return s.lookup(ctx, "email", projectID, func(q *bun.SelectQuery) *bun.SelectQuery {
		return q.Where("l.project_id = ? AND l.email_lc = ? AND l.email_lc <> ''", projectID, lc)
	})
}

// LeadsByCanonicalEmail returns the leads of the project whose canonical
// email (core.CanonicalEmail, stored in leads.email_canon) equals the
// canonical form of email, in any status. email may be given canonical or not.
func (s *Store) LeadsByCanonicalEmail(ctx context.Context, projectID, email string) ([]core.Lead, error) {
	canon := core.CanonicalEmail(email)
	if canon == "" {
		return []core.Lead{}, nil
	}
	return s.lookup(ctx, "canonical email", projectID, func(q *bun.SelectQuery) *bun.SelectQuery {
		return q.Where("l.project_id = ? AND l.email_canon = ? AND l.email_canon <> ''", projectID, canon)
	})
}

// LeadsByPhone returns the leads of the project whose normalized phone
// (core.NormalizePhone, stored in leads.phone_norm) equals the normalized form
// of phone, in any status.
func (s *Store) LeadsByPhone(ctx context.Context, projectID, phone string) ([]core.Lead, error) {
	norm := core.NormalizePhone(phone)
	if norm == "" || norm == "+" {
		return []core.Lead{}, nil
	}
	return s.lookup(ctx, "phone", projectID, func(q *bun.SelectQuery) *bun.SelectQuery {
		return q.Where("l.project_id = ? AND l.phone_norm = ? AND l.phone_norm <> ''", projectID, norm)
	})
}

// LeadsByID returns the leads of the project among ids, in any status; ids of
// other projects and unknown ids are left out. At most LookupLimit ids are
// looked up per call: callers batch above that.
func (s *Store) LeadsByID(ctx context.Context, projectID string, ids []string) ([]core.Lead, error) {
	if len(ids) == 0 {
		return []core.Lead{}, nil
	}
	if len(ids) > LookupLimit {
		return nil, core.Errorf(core.EINVALID, "at most %d ids per lookup", LookupLimit)
	}
	return s.lookup(ctx, "id", projectID, func(q *bun.SelectQuery) *bun.SelectQuery {
		// By the unique id index; the project is checked on each row (the
		// expression keeps the planner off the project's index).
		return q.Where("l.id IN (?) AND l.project_id || '' = ?", bun.In(ids), projectID)
	})
}

// LeadByUserID returns the lead of the project that holds userID (user ids
// moved by a merge included), in any status. ENOTFOUND when none does.
func (s *Store) LeadByUserID(ctx context.Context, projectID, userID string) (*core.Lead, error) {
	if strings.TrimSpace(userID) == "" {
		return nil, core.NotFound("lead")
	}
	row, err := s.leadByUserID(ctx, s.rdb, projectID, userID)
	if err != nil {
		return nil, err
	}
	if row == nil {
		return nil, core.NotFound("lead")
	}
	l := row.domain()
	return &l, nil
}
