package store

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/leadhub/leadhub/migrations"
)

// Migrate applies the embedded migrations that have not run yet, each in its
// own transaction. On PostgreSQL an advisory lock makes replicas that start
// together migrate once.
func (s *Store) Migrate(ctx context.Context) error {
	dir := string(s.dialect)
	names, err := fs.Glob(migrations.FS, dir+"/*.up.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if s.dialect == Postgres {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(7239001)"); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(7239001)")
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	done := map[string]bool{}
	rows, err := conn.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		done[v] = true
	}
	rows.Close()
	for _, name := range names {
		version := strings.TrimSuffix(name[len(dir)+1:], ".up.sql")
		if done[version] {
			continue
		}
		body, err := fs.ReadFile(migrations.FS, name)
		if err != nil {
			return err
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		// Another process may have applied it since the list was read: on
		// SQLite the transaction holds the write lock (BEGIN IMMEDIATE), on
		// PostgreSQL the advisory lock is held, so this answer stays true.
		var applied int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE version = ?", version).Scan(&applied); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", name, err)
		}
		if applied > 0 {
			tx.Rollback()
			continue
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", version, s.now().Format(timeLayout)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
		s.log.Info("migration applied", "version", version)
	}
	return nil
}

// Pending reports migrations not yet applied: readiness means none.
func (s *Store) Pending(ctx context.Context) (int, error) {
	names, err := fs.Glob(migrations.FS, string(s.dialect)+"/*.up.sql")
	if err != nil {
		return 0, err
	}
	var n int
	if err := s.rdb.NewRaw("SELECT count(*) FROM schema_migrations").Scan(ctx, &n); err != nil {
		return 0, err
	}
	return len(names) - n, nil
}
