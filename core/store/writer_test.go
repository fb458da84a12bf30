package store

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
)

// One batch, three operations: the middle one writes a row and then fails
// on the database's own constraint. Its row is rolled back with it; the
// operations before and after it commit, and each caller gets its own result.
func TestBatchRollsBackTheFailingOperationOnly(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{URL: "sqlite:" + filepath.Join(t.TempDir(), "l.db"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	insert := func(name string) txFunc {
		return func(ctx context.Context, tx *wtx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO server_settings (name, value) VALUES (?, 'x')", name)
			return err
		}
	}
	var committed []string
	ops := []*writeOp{
		{ctx: ctx, fn: insert("a"), res: make(chan error, 1)},
		{ctx: ctx, fn: func(ctx context.Context, tx *wtx) error {
			tx.onCommit(func() { committed = append(committed, "b") })
			if err := insert("b")(ctx, tx); err != nil {
				return err
			}
			return insert("a")(ctx, tx) // the primary key refuses a second "a"
		}, res: make(chan error, 1)},
		{ctx: ctx, fn: func(ctx context.Context, tx *wtx) error {
			tx.onCommit(func() { committed = append(committed, "c") })
			return insert("c")(ctx, tx)
		}, res: make(chan error, 1)},
	}
	s.writer.(*batcher).run(ops)
	if err := <-ops[0].res; err != nil {
		t.Fatalf("first: %v", err)
	}
	if err := <-ops[1].res; err == nil {
		t.Fatal("second: no error")
	}
	if err := <-ops[2].res; err != nil {
		t.Fatalf("third: %v", err)
	}
	if len(committed) != 1 || committed[0] != "c" {
		t.Fatalf("after-commit work ran for %v, want [c]", committed)
	}
	for name, want := range map[string]bool{"a": true, "b": false, "c": true} {
		var v string
		err := s.rdb.QueryRowContext(ctx, "SELECT value FROM server_settings WHERE name = ?", name).Scan(&v)
		if got := err == nil; got != want {
			t.Errorf("row %q present: %v, want %v (%v)", name, got, want, errors.Unwrap(err))
		}
	}
}
