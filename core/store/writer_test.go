package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/leadhub/leadhub/core"
)

// One batch, three operations: the middle one writes a row and then fails
// on the database's own constraint. Its row is rolled back with it; the
// operations before and after it commit, and each caller gets its own result.
func TestBatchRollsBackTheFailingOperationOnly(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteStore(t, "", "")
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

// An operation queued with doAlone never shares its transaction with
// ordinary ones: those queued before it commit in one batch, those after it
// in the next. Large operations queued one after another share one, without
// savepoints; when one of them fails, each runs again alone, so that the
// failure rolls back its own writes only.
func TestAloneOperationRunsInATransactionOfItsOwn(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteStore(t, "", "")
	b := s.writer.(*batcher)
	txOf := map[string]*sql.Tx{}
	runs := map[string]int{}
	var mu sync.Mutex
	op := func(name string, fail bool) txFunc {
		return func(ctx context.Context, tx *wtx) error {
			mu.Lock()
			txOf[name] = tx.Tx.Tx
			runs[name]++
			mu.Unlock()
			if _, err := tx.ExecContext(ctx, "INSERT INTO server_settings (name, value) VALUES (?, 'x')", name); err != nil {
				return err
			}
			if fail {
				return errors.New("refused")
			}
			return nil
		}
	}
	// Hold the writer so that everything below queues up behind it.
	release, running := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- b.do(ctx, func(ctx context.Context, tx *wtx) error { close(running); <-release; return nil })
	}()
	waitQueued := func(n int) {
		for len(b.ops) < n {
			time.Sleep(time.Millisecond)
		}
	}
	<-running
	type call struct {
		name        string
		alone, fail bool
	}
	calls := []call{{"a1", false, false}, {"a2", false, false}, {"big2", true, false}, {"big", true, true},
		{"c1", false, false}, {"c2", false, false}, {"big3", true, false}, {"big4", true, false}, {"d1", false, false}}
	results := make([]chan error, len(calls))
	for i, c := range calls {
		results[i] = make(chan error, 1)
		go func() {
			if c.alone {
				results[i] <- b.doAlone(ctx, op(c.name, c.fail))
			} else {
				results[i] <- b.do(ctx, op(c.name, c.fail))
			}
		}()
		waitQueued(i + 1)
	}
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	for i, c := range calls {
		if err := <-results[i]; (err != nil) != c.fail {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	same := func(x, y string) bool { return txOf[x] == txOf[y] }
	for _, pair := range [][2]string{{"a1", "a2"}, {"c1", "c2"}, {"big3", "big4"}} {
		if !same(pair[0], pair[1]) {
			t.Errorf("%s and %s did not share a transaction", pair[0], pair[1])
		}
	}
	for _, pair := range [][2]string{{"a2", "big2"}, {"big2", "big"}, {"big", "c1"}, {"c2", "big3"}, {"big4", "d1"}} {
		if same(pair[0], pair[1]) {
			t.Errorf("%s and %s shared a transaction", pair[0], pair[1])
		}
	}
	// big failed after big2 in their shared transaction: both ran again,
	// alone, and big2's first writes were rolled back with big's.
	if runs["big"] != 2 || runs["big2"] != 2 || runs["big3"] != 1 {
		t.Errorf("runs: %v", runs)
	}
	for name, want := range map[string]bool{"a1": true, "a2": true, "big": false, "big2": true, "c1": true, "c2": true, "big3": true, "big4": true, "d1": true} {
		var v string
		err := s.rdb.QueryRowContext(ctx, "SELECT value FROM server_settings WHERE name = ?", name).Scan(&v)
		if got := err == nil; got != want {
			t.Errorf("row %q present: %v, want %v", name, got, want)
		}
	}
}

// An import reads its source as it goes, so it must never run twice: it
// shares no transaction with another bulk operation, whose failure would
// make the writer run both again. Queued between two, it runs in a
// transaction of its own and imports everything.
func TestImportRunsInATransactionOfItsOwn(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteStore(t, "", "")
	p, _, err := s.CreateProject(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	// The import prepares its statements on the writer's connection before
	// it queues: done here, before the writer is held.
	if err := s.prepareBulkInserts(ctx); err != nil {
		t.Fatal(err)
	}
	b := s.writer.(*batcher)
	release, running := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- b.do(ctx, func(ctx context.Context, tx *wtx) error { close(running); <-release; return nil })
	}()
	<-running
	n := 0
	next := func() (core.ImportItem, error) {
		if n == 10 {
			return core.ImportItem{}, io.EOF
		}
		n++
		return core.ImportItem{Line: n, Lead: core.NewLead{UserID: fmt.Sprint("u", n)}}, nil
	}
	// A bulk operation queued before the import and a failing one after
	// it: the import must join neither's transaction, or the failure would
	// make the writer run it again.
	bulk := func(err error) chan error {
		c := make(chan error, 1)
		go func() {
			c <- b.doAlone(ctx, func(ctx context.Context, tx *wtx) error { return err })
		}()
		return c
	}
	waitQueued := func(n int) {
		for len(b.ops) < n {
			time.Sleep(time.Millisecond)
		}
	}
	before := bulk(nil)
	waitQueued(1)
	imported := make(chan error, 1)
	go func() {
		_, err := s.ImportLeads(ctx, p.ID, next, ImportOptions{})
		imported <- err
	}()
	waitQueued(2)
	after := bulk(errors.New("refused"))
	waitQueued(3)
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if err1, err2 := <-before, <-after; err1 != nil || err2 == nil {
		t.Fatalf("the operation before: %v (want none); the failing one after: %v", err1, err2)
	}
	if err := <-imported; err != nil {
		t.Fatalf("import queued beside a failing bulk operation: %v", err)
	}
	var leads int
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM leads").Scan(&leads); err != nil || leads != 10 {
		t.Fatalf("%d leads after the import, want 10 (%v)", leads, err)
	}
}
