package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/schema"

	"github.com/leadhub/leadhub/core"
)

// Prepared statements for the hot paths on SQLite. Bun inlines values into
// the SQL text, so SQLite parses every statement it runs anew: on the ingest
// path the parser cost as much as the work. The statements here keep "?"
// placeholders and are prepared once; their column lists come from the Bun
// models, so a column added to a model is written and read here too.

// stmtCache prepares each query once on a database handle. On the writer,
// whose one connection a transaction holds while it runs, a query met inside
// a transaction is only noted (want) and runs unprepared that time; the
// batcher prepares the wanted ones between transactions (prepareWanted).
type stmtCache struct {
	db   *sql.DB
	mu   sync.RWMutex
	m    map[string]*sql.Stmt
	want map[string]bool
	// failed counts the wanted queries that did not prepare.
	failed int
}

// maxStmts bounds a cache: the store's queries come in a few shapes, but a
// caller building SQL around its values must not grow it without end.
const maxStmts = 256

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}, want: map[string]bool{}}
}

// lookup returns the prepared statement for q, or nil after noting that q
// is wanted.
func (c *stmtCache) lookup(q string) *sql.Stmt {
	c.mu.RLock()
	st, wanted := c.m[q], c.want[q]
	c.mu.RUnlock()
	if st == nil && !wanted {
		c.mu.Lock()
		if len(c.m)+len(c.want) < maxStmts {
			c.want[q] = true
		}
		c.mu.Unlock()
	}
	return st
}

// prepareWanted prepares the queries noted since the last call. The caller
// holds no transaction on c.db.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	c.mu.RLock()
	n := len(c.want) - c.failed
	c.mu.RUnlock()
	if n <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failed = 0
	for q := range c.want {
		// A query that does not prepare stays wanted, and so is never
		// noted again: it keeps running unprepared, and failing as it will.
		if st, err := c.db.PrepareContext(ctx, q); err == nil {
			c.m[q] = st
			delete(c.want, q)
		} else {
			c.failed++
		}
	}
}

func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.RLock()
	st := c.m[q]
	c.mu.RUnlock()
	if st != nil {
		return st, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.m[q]; st != nil {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.m[q] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = map[string]*sql.Stmt{}
}

// model is the table of a Bun model, for statements written by hand.
type model struct {
	table  *schema.Table
	fields []*schema.Field // every column, in model order
	cols   string          // "a, b, c"
	insert string          // INSERT of every column but an autoincrement key, RETURNING it
	seq    *schema.Field   // the autoincrement key, if any

	prefix, group string // "INSERT INTO t (…) VALUES ", "(?, …)"
	mu            sync.Mutex
	multi         map[int]string // insertN's texts
}

func newModel(t *schema.Table) *model {
	m := &model{table: t, fields: t.Fields}
	var cols, ins, marks []string
	for _, f := range t.Fields {
		cols = append(cols, f.Name)
		if f.AutoIncrement {
			m.seq = f
			continue
		}
		ins = append(ins, f.Name)
		marks = append(marks, "?")
	}
	m.cols = strings.Join(cols, ", ")
	m.prefix = "INSERT INTO " + t.Name + " (" + strings.Join(ins, ", ") + ") VALUES "
	m.group = "(" + strings.Join(marks, ", ") + ")"
	m.insert = m.prefix + m.group
	if m.seq != nil {
		m.insert += " RETURNING " + m.seq.Name
	}
	m.multi = map[int]string{}
	return m
}

// insertN is the INSERT of n rows, without RETURNING.
func (m *model) insertN(n int) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, ok := m.multi[n]
	if !ok {
		q = m.prefix + strings.TrimSuffix(strings.Repeat(m.group+", ", n), ", ")
		m.multi[n] = q
	}
	return q
}

// args are the values of a row for m.insert: JSON columns as JSON text,
// the rest as database/sql takes them.
func (m *model) args(row any) ([]any, error) {
	v := reflect.ValueOf(row).Elem()
	out := make([]any, 0, len(m.fields))
	for _, f := range m.fields {
		if f == m.seq {
			continue
		}
		x, err := m.arg(v, f)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

// arg is the value of column f of the row v for a hand-written statement.
func (m *model) arg(v reflect.Value, f *schema.Field) (any, error) {
	fv := f.Value(v)
	if f.UserSQLType == "json" {
		b, err := json.Marshal(fv.Interface())
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", m.table.Name, f.Name, err)
		}
		return string(b), nil
	}
	if fv.Kind() == reflect.Pointer {
		if fv.IsNil() {
			return nil, nil
		}
		fv = fv.Elem()
	}
	x := fv.Interface()
	switch x.(type) {
	case driver.Valuer, string, int64, int, bool, float64, []byte:
		return x, nil
	}
	return nil, fmt.Errorf("%s.%s: no plain value for %T", m.table.Name, f.Name, x)
}

// update is the UPDATE of cols of one row, keyed by the autoincrement key,
// and its values taken from row: a partial update (a lead edit, an
// enricher's patch) as a statement that can be prepared, where Bun would
// write the values into the SQL text.
func (m *model) update(row any, cols []string) (string, []any, error) {
	if m.seq == nil {
		return "", nil, fmt.Errorf("%s: no key to update by", m.table.Name)
	}
	v := reflect.ValueOf(row).Elem()
	var b strings.Builder
	b.WriteString("UPDATE " + m.table.Name + " SET ")
	args := make([]any, 0, len(cols)+1)
	for i, c := range cols {
		f := m.table.FieldMap[c]
		if f == nil || f == m.seq {
			return "", nil, fmt.Errorf("%s: no column %q to update", m.table.Name, c)
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c + " = ?")
		x, err := m.arg(v, f)
		if err != nil {
			return "", nil, err
		}
		args = append(args, x)
	}
	b.WriteString(" WHERE " + m.seq.Name + " = ?")
	return b.String(), append(args, m.seq.Value(v).Interface()), nil
}

// hot is the store's prepared statements: SQLite only, empty on PostgreSQL
// (pgx prepares and caches statements by itself).
type hot struct {
	w, r                      *stmtCache // the writer and the read pool
	lead, request, event, uid *model
	project                   *model
	leadByUserID, leadByID    string
	requestByID               string
	touchLead, countLead      string
	countMessage, seenLead    string
}

// prepareHot prepares the writer's statements once the schema is migrated:
// the writer has one connection, which a transaction holds while it runs,
// so they cannot be prepared later.
func (s *Store) prepareHot(ctx context.Context) error {
	table := func(v any) *model { return newModel(s.wdb.Table(reflect.TypeOf(v).Elem())) }
	h := &hot{w: newStmtCache(s.wdb.DB), r: newStmtCache(s.rdb.DB),
		lead: table((*leadRow)(nil)), request: table((*requestRow)(nil)), event: table((*eventRow)(nil)),
		uid: table((*userIDRow)(nil)), project: table((*projectRow)(nil)),
		touchLead: "UPDATE leads SET updated_at = ?, requests_count = ?, last_seen_at = ? WHERE seq = ?",
		countLead: "UPDATE leads SET requests_count = ?, last_seen_at = ? WHERE seq = ?",
	}
	h.leadByUserID = "SELECT " + h.lead.cols + " FROM leads AS l WHERE l.id = (SELECT lead_id FROM lead_user_ids WHERE project_id = ? AND user_id = ?) AND l.project_id = ?"
	h.leadByID = "SELECT " + h.lead.cols + " FROM leads AS l WHERE l.id = ? AND l.project_id = ?"
	h.requestByID = "SELECT " + h.request.cols + " FROM requests WHERE project_id = ? AND id = ?"
	h.countMessage = "UPDATE requests SET messages_count = messages_count + 1, updated_at = ? WHERE project_id = ? AND id = ? RETURNING " + h.request.cols
	h.seenLead = "UPDATE leads SET last_seen_at = ? WHERE id = ? AND project_id = ?"
	for _, q := range []string{sqlSavepoint, sqlRelease, sqlRollbackTo, h.touchLead, h.countLead, h.leadByUserID, h.leadByID, h.requestByID,
		h.countMessage, h.seenLead, h.lead.insert, h.request.insert, h.event.insert, h.uid.insert, sqlProjectExists} {
		if _, err := h.w.get(ctx, q); err != nil {
			h.w.close()
			return fmt.Errorf("prepare %q: %w", q, err)
		}
	}
	s.hot = h
	return nil
}

const sqlProjectExists = "SELECT 1 FROM projects WHERE id = ?"

// prepareBulkInserts prepares the multi-row inserts of new leads (leads,
// user ids, events) on the writer, for an operation that runs them all in one
// long transaction (an import): statements first met inside a transaction
// are prepared only after it ends. The writer must hold no transaction.
func (s *Store) prepareBulkInserts(ctx context.Context) error {
	if s.hot.w == nil {
		return nil
	}
	for _, m := range []*model{s.hot.lead, s.hot.uid, s.hot.event} {
		for n := 2; n <= multiRow; n *= 2 {
			if _, err := s.hot.w.get(ctx, m.insertN(n)); err != nil {
				return fmt.Errorf("prepare insert of %d rows: %w", n, err)
			}
		}
	}
	return nil
}

// stmt is a prepared statement for db: the writer's inside a write
// transaction, the read pool's otherwise. ok is false when the statement is
// not prepared (PostgreSQL, or a query the writer did not prepare).
func (s *Store) stmt(ctx context.Context, db any, q string) (*sql.Stmt, bool, error) {
	if s.hot == nil || s.hot.w == nil || q == "" {
		return nil, false, nil
	}
	switch x := db.(type) {
	case *wtx:
		st := s.hot.w.lookup(q)
		if st == nil {
			return nil, false, nil
		}
		return x.Tx.Tx.StmtContext(ctx, st), true, nil
	case *bun.DB:
		if x != s.rdb {
			return nil, false, nil
		}
		st, err := s.hot.r.get(ctx, q)
		return st, true, err
	}
	return nil, false, nil
}

// scanOne runs a prepared query and scans its one row into dst (a model
// pointer). ok is false when the statement is not prepared for db.
func (s *Store) scanOne(ctx context.Context, db any, q string, dst any, args ...any) (bool, error) {
	st, ok, err := s.stmt(ctx, db, q)
	if !ok || err != nil {
		return ok, err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return true, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return true, err
		}
		return true, sql.ErrNoRows
	}
	if err := s.rdb.ScanRow(ctx, rows, dst); err != nil {
		return true, err
	}
	for rows.Next() {
	}
	return true, rows.Err()
}

// execHot runs a prepared statement in tx. ok is false when it is not
// prepared (PostgreSQL).
func (s *Store) execHot(ctx context.Context, tx *wtx, q string, args ...any) (bool, error) {
	st, ok, err := s.stmt(ctx, tx, q)
	if !ok || err != nil {
		return ok, err
	}
	_, err = st.ExecContext(ctx, args...)
	return true, err
}

// insertHot inserts row (of model m) with its prepared statement and stores
// the new autoincrement key in it. ok is false when not prepared.
func (s *Store) insertHot(ctx context.Context, tx *wtx, m *model, row any) (bool, error) {
	if m == nil {
		return false, nil
	}
	st, ok, err := s.stmt(ctx, tx, m.insert)
	if !ok || err != nil {
		return ok, err
	}
	args, err := m.args(row)
	if err != nil {
		return true, err
	}
	if m.seq == nil {
		_, err = st.ExecContext(ctx, args...)
		return true, err
	}
	var seq int64
	if err := st.QueryRowContext(ctx, args...).Scan(&seq); err != nil {
		return true, err
	}
	m.seq.Value(reflect.ValueOf(row).Elem()).SetInt(seq)
	return true, nil
}

// insertEvents writes events, prepared on SQLite.
func (s *Store) insertEvents(ctx context.Context, tx *wtx, rows []eventRow) error {
	return insertAll(ctx, s, tx, s.hot.event, rows)
}

// txQuery runs a query in a write transaction handed out as a *sql.Tx (to
// event hooks and fan-outs), prepared once it has been seen on SQLite.
func (s *Store) txQuery(ctx context.Context, tx *sql.Tx, q string, args ...any) (*sql.Rows, error) {
	if s.hot.w != nil {
		if st := s.hot.w.lookup(q); st != nil {
			return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
		}
	}
	return tx.QueryContext(ctx, q, args...)
}

// readRow runs a one-row query on the read pool, prepared on SQLite.
func (s *Store) readRow(ctx context.Context, q string, args ...any) *sql.Row {
	if s.hot.r != nil {
		if st, err := s.hot.r.get(ctx, q); err == nil {
			return st.QueryRowContext(ctx, args...)
		}
	}
	return s.rdb.QueryRowContext(ctx, q, args...)
}

// exactLookup is the prepared form of the commonest lists on SQLite: the
// lead of an email or of a user id, first page, creation order. It returns
// "" for every other filter, which Bun builds.
func (s *Store) exactLookup(projectID string, f core.LeadFilter, cur cursor, field, dir string, n int) (string, []any) {
	if s.hot.r == nil || f.Q != "" || f.Tag != "" || cur.Seq > 0 || field != "created_at" || (f.Email == "") == (f.UserID == "") {
		return "", nil
	}
	q := "SELECT " + s.hot.lead.cols + " FROM leads AS l WHERE l.project_id = ?"
	args := []any{projectID}
	if f.Status != "all" {
		q += " AND l.status = ?"
		args = append(args, f.Status)
	}
	if f.Email != "" {
		q += " AND l.email_lc = ? AND l.email_lc <> ''"
		args = append(args, core.NormalizeEmail(f.Email))
	} else {
		q += " AND l.id = (SELECT lead_id FROM lead_user_ids WHERE project_id = ? AND user_id = ?)"
		args = append(args, projectID, f.UserID)
	}
	return q + " ORDER BY l.seq " + dir + " LIMIT ?", append(args, n)
}

// readRows runs a prepared query on the read pool and scans its rows into
// dst, a pointer to a slice of models.
func (s *Store) readRows(ctx context.Context, q string, dst any, args ...any) error {
	st, err := s.hot.r.get(ctx, q)
	if err != nil {
		return err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	return s.rdb.ScanRows(ctx, rows, dst)
}
