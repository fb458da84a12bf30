package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// openPostgresDB opens the pool for a postgres:// URL with pgx, choosing the
// query mode by statement. Bun writes values into the SQL text, so nearly
// every statement of Bun's is new: preparing each one (pgx's default) would
// cost a round trip and fill the statement cache, so statements without
// parameters go in pgx's exec mode, one round trip. Statements with
// parameters ($1…: the job queue's claims, the webhook fan-out, the store's
// hot lookups) repeat, so they keep the default mode: prepared once per
// connection, their plans cached. A URL that sets default_query_exec_mode
// keeps its choice for the latter.
func openPostgresDB(url string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres url: %w", err)
	}
	if !strings.Contains(url, "default_query_exec_mode=") {
		cfg.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement
	}
	return sql.OpenDB(pgConnector{stdlib.GetConnector(*cfg)}), nil
}

type pgConnector struct{ driver.Connector }

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return pgConn{conn.(*stdlib.Conn)}, nil
}

// pgConn is a pgx connection whose queries without parameters run in exec
// mode. (Exec without parameters already uses the simple protocol.)
type pgConn struct{ *stdlib.Conn }

var execMode = []driver.NamedValue{{Ordinal: 1, Value: pgx.QueryExecModeExec}}

func (c pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) == 0 {
		args = execMode
	}
	return c.Conn.QueryContext(ctx, query, args)
}

// pgSQL is q with its ? placeholders numbered for PostgreSQL ($1, $2, …).
// Only for store-written statements whose text holds no other "?".
func pgSQL(q string) string {
	if v, ok := pgSQLs.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	pgSQLs.Store(q, b.String())
	return b.String()
}

var pgSQLs sync.Map

// lookupRow runs a one-row read that every API call repeats, with
// parameters: prepared on both databases (on PostgreSQL once per connection,
// its plan cached), where Bun would inline the values and have it parsed and
// planned each time.
func (s *Store) lookupRow(ctx context.Context, q string, args ...any) *sql.Row {
	if s.dialect == Postgres {
		return s.rdb.DB.QueryRowContext(ctx, pgSQL(q), args...)
	}
	return s.readRow(ctx, q, args...)
}

// pgTxScan runs a parameterized query in a PostgreSQL write transaction
// (prepared, see lookupRow) and scans its one row into dst, a model.
func (s *Store) pgTxScan(ctx context.Context, tx *wtx, dst any, q string, args ...any) error {
	rows, err := tx.Tx.Tx.QueryContext(ctx, pgSQL(q), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := s.wdb.ScanRow(ctx, rows, dst); err != nil {
		return err
	}
	return rows.Close()
}
