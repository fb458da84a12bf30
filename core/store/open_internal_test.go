package store

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
)

// openSQLiteStore opens a store on the SQLite file at path (a new one in a
// temporary folder when path is empty) at the sync level sync ("" for the
// default), and closes it when the test ends.
func openSQLiteStore(t testing.TB, path, sync string) *Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "l.db")
	}
	s, err := Open(context.Background(), Options{URL: "sqlite:" + path, Synchronous: sync, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
