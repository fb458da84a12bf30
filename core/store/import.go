package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/leadhub/leadhub/core"
)

// ImportOptions tunes ImportLeads.
type ImportOptions struct {
	// Actor names the import in the leads' lead.created events.
	Actor string
	// KeepIndexes keeps every index and trigger in place while loading
	// (SQLite). By default those of importDropped are dropped and built
	// again at the end, which is faster for a large import and slower for
	// a few leads added to a large database.
	KeepIndexes bool
	// Strict makes the first refused lead fail the whole import, which
	// then changes nothing (ErrImportRefused).
	Strict bool
}

// ErrImportRefused is the error of a strict import that refused a lead.
var ErrImportRefused = errors.New("a lead was refused")

// importChunk is the leads inserted together: one user-id check and a few
// multi-row statements each.
const importChunk = 1000

// ImportLeads creates the leads next yields (until io.EOF) in project
// projectID, all in one transaction: a failed or killed import leaves the
// database as it was. A lead that is invalid, unreadable or whose user id is
// taken is refused and counted, and the import goes on; any other error
// (from next, or the database) rolls everything back. Each lead gets a
// lead.created event like a lead created through the API, and the store's
// event hook sees those events.
//
// On SQLite the import holds the database's one writer for its whole length:
// run it with no server writing to the same file.
func (s *Store) ImportLeads(ctx context.Context, projectID string, next func() (core.ImportItem, error), opts ImportOptions) (core.ImportReport, error) {
	if opts.Actor == "" {
		opts.Actor = "import"
	}
	var rep core.ImportReport
	refuse := func(line int, err error) error {
		rep.Refused++
		if len(rep.Refusals) < core.MaxImportRefusals {
			rep.Refusals = append(rep.Refusals, core.ImportRefusal{Line: line, Err: err})
		}
		if opts.Strict {
			return fmt.Errorf("%w: line %d: %v", ErrImportRefused, line, err)
		}
		return nil
	}
	if err := s.prepareBulkInserts(ctx); err != nil {
		return core.ImportReport{}, err
	}
	t0 := time.Now()
	// Once: next cannot be read twice, so the writer must never run this
	// again (after a failure of a transaction it shared, or a retry).
	err := s.writeOnce(ctx, func(ctx context.Context, tx *wtx) error {
		if err := s.projectExists(ctx, tx, projectID); err != nil {
			return err
		}
		var rebuild *indexRebuild
		if s.dialect == SQLite && !opts.KeepIndexes {
			var err error
			if rebuild, err = dropIndexes(ctx, tx); err != nil {
				return err
			}
			rep.Rebuilt = true
		}
		existing, err := projectUserIDs(ctx, tx, projectID, importPreloadMax)
		if err != nil {
			return err
		}
		deferred := &deferredUserIDs{seen: map[string]struct{}{}, existing: existing}
		items := make([]newLeadItem, 0, importChunk)
		lines := make([]int, 0, importChunk)
		res := make([]core.BatchResult, importChunk)
		flush := func() error {
			if len(items) == 0 {
				return nil
			}
			clear(res)
			if err := s.insertNewLeads(ctx, tx, projectID, items, opts.Actor, res, deferred); err != nil {
				return err
			}
			for k := range items {
				if res[k].Err != nil {
					if err := refuse(lines[k], res[k].Err); err != nil {
						return err
					}
				} else {
					rep.Imported++
					if rep.Imported%importProgressEvery == 0 {
						s.log.Info("import: leads written", "leads", rep.Imported, "refused", rep.Refused, "elapsed", time.Since(t0).Round(time.Millisecond))
					}
				}
			}
			items, lines = items[:0], lines[:0]
			return ctx.Err()
		}
		for {
			it, err := next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if it.Err != nil {
				if err := refuse(it.Line, it.Err); err != nil {
					return err
				}
				continue
			}
			v, err := validNewLead(len(items), it.Lead)
			if err != nil {
				if err := refuse(it.Line, err); err != nil {
					return err
				}
				continue
			}
			items, lines = append(items, v), append(lines, it.Line)
			if len(items) == importChunk {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := flush(); err != nil {
			return err
		}
		s.log.Info("import: leads written, now their user ids", "leads", rep.Imported, "refused", rep.Refused, "elapsed", time.Since(t0).Round(time.Millisecond))
		slices.SortFunc(deferred.rows, func(a, b userIDRow) int { return strings.Compare(a.UserID, b.UserID) })
		if err := insertAll(ctx, s, tx, s.hot.uid, deferred.rows); err != nil {
			return fmt.Errorf("insert user ids: %w", err)
		}
		if rebuild != nil {
			s.log.Info("import: building indexes", "elapsed", time.Since(t0).Round(time.Millisecond))
		}
		if err := rebuild.restore(ctx, tx); err != nil {
			return err
		}
		s.log.Info("import: committing", "elapsed", time.Since(t0).Round(time.Millisecond))
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrImportRefused) {
			return rep, err // what was refused, for the report
		}
		return core.ImportReport{}, err
	}
	if s.dialect == Postgres && rep.Imported > 0 {
		// Fresh statistics for the planner: with the counts from before a
		// large import it chose plans that took seconds for a text search.
		if _, err := s.wdb.ExecContext(ctx, "ANALYZE leads, lead_user_ids, lead_tags, lead_search"); err != nil {
			s.log.Warn("analyze after import", "error", err)
		}
	}
	return rep, nil
}

// importProgressEvery is how often an import logs its progress, in leads.
const importProgressEvery = 100_000

// importPreloadMax bounds the user ids of a project that an import reads
// into memory first, to check its leads' user ids against them without a
// query per batch. That query, 250 user ids at a time, was a quarter of the
// import's writer time at a million leads: SQLite parses it each time, and
// each page it reads is looked up in the import's own, growing WAL first.
// Past the bound (about 150 MB of memory) the import queries per batch.
var importPreloadMax = 1_000_000

// projectUserIDs reads the user ids of a project and their leads, or nil
// when it has more than limit.
func projectUserIDs(ctx context.Context, tx *wtx, projectID string, limit int) (map[string]string, error) {
	rows, err := tx.QueryContext(ctx, "SELECT user_id, lead_id FROM lead_user_ids WHERE project_id = ? LIMIT ?", projectID, limit+1)
	if err != nil {
		return nil, fmt.Errorf("import: user ids: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var u, l string
		if err := rows.Scan(&u, &l); err != nil {
			return nil, err
		}
		out[u] = l
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) > limit {
		return nil, nil
	}
	return out, nil
}

// importDropped are what an import drops and builds again at the end: the
// indexes whose keys (emails, phones) arrive in no particular order, so
// that each new lead would land on a random page of each, and the trigger
// that adds each new lead to the full-text index, which is then filled in
// one statement. The other indexes of the tables an import writes are kept:
// their keys grow with the insertion order (seq, timestamps, time-ordered
// ids), so a new entry lands on the last page, and building them again
// would cost a full scan of the table each; measured at 1,000,000 leads,
// keeping them made the import 17% faster than dropping every index.
var importDropped = []string{"leads_project_email", "leads_project_canon", "leads_project_phone", "lead_user_ids_lead", "leads_fts_insert"}

// indexRebuild is what dropIndexes dropped: each index's and trigger's own
// CREATE statement, from the schema, so that whatever a migration made is
// made again as it was.
type indexRebuild struct {
	indexes, triggers []string
	// fromSeq is the last lead before the import: the leads after it go
	// into the full-text index, whose insert trigger was dropped.
	fromSeq int64
}

// dropIndexes drops importDropped inside tx, keeping their CREATE
// statements.
func dropIndexes(ctx context.Context, tx *wtx) (*indexRebuild, error) {
	r := &indexRebuild{}
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM leads").Scan(&r.fromSeq); err != nil {
		return nil, fmt.Errorf("import: last lead: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT type, name, sql FROM sqlite_master
		WHERE type IN ('index', 'trigger') AND name IN (?) ORDER BY type, name`, bun.In(importDropped))
	if err != nil {
		return nil, fmt.Errorf("import: list indexes: %w", err)
	}
	var names []string
	for rows.Next() {
		var typ, name, sql string
		if err := rows.Scan(&typ, &name, &sql); err != nil {
			rows.Close()
			return nil, err
		}
		if typ == "index" {
			r.indexes = append(r.indexes, sql)
		} else {
			r.triggers = append(r.triggers, sql)
		}
		names = append(names, fmt.Sprintf("DROP %s %q", map[string]string{"index": "INDEX", "trigger": "TRIGGER"}[typ], name))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(names) != len(importDropped) {
		return nil, fmt.Errorf("import: found %d of the indexes and triggers %v", len(names), importDropped)
	}
	for _, q := range names {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("import: %s: %w", q, err)
		}
	}
	return r, nil
}

// restore builds the dropped indexes again (each sorted in one pass), adds
// the imported leads to the full-text index in one statement, and puts the
// triggers back. A nil r restores nothing.
func (r *indexRebuild) restore(ctx context.Context, tx *wtx) error {
	if r == nil {
		return nil
	}
	for _, q := range r.indexes {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("import: rebuild index: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO leads_fts (rowid, fullname, lastname, email, phone, phone_norm, company)
		SELECT seq, fullname, lastname, email, phone, phone_norm, company FROM leads WHERE seq > ? ORDER BY seq`, r.fromSeq); err != nil {
		return fmt.Errorf("import: full-text index: %w", err)
	}
	for _, q := range r.triggers {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("import: restore trigger: %w", err)
		}
	}
	return nil
}
