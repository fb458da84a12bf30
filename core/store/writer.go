package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// wtx is a write transaction as an operation sees it: the Bun transaction plus
// what to do once it has committed.
type wtx struct {
	bun.Tx
	after []func()
	// holding and held: writes held back to be sent together (PostgreSQL).
	holding bool
	held    []string
}

// onCommit runs f after the transaction carrying this operation commits.
func (t *wtx) onCommit(f func()) { t.after = append(t.after, f) }

// holdWrites makes execHeld hold statements back on PostgreSQL, where every
// statement is a round trip to the server and the round trips, not the
// statements, are most of the cost on both sides. An operation calls it once
// it has read what it needs: from then on it must not read what it writes
// through execHeld before flushHeld (the store flushes before the event hook
// runs and before the commit). On SQLite, in process, it does nothing.
func (s *Store) holdWrites(tx *wtx) { tx.holding = s.dialect == Postgres }

// execQuery is a Bun query that execHeld can send now or later.
type execQuery interface {
	Exec(ctx context.Context, dest ...any) (sql.Result, error)
	String() string
}

// execHeld runs q, or holds it back (see holdWrites). Held statements get no
// RETURNING: their results are not read.
func (t *wtx) execHeld(ctx context.Context, q execQuery) error {
	if t.holding {
		t.held = append(t.held, q.String())
		return nil
	}
	_, err := q.Exec(ctx)
	return err
}

// flushHeld sends the held statements in one round trip (Bun inlines values,
// so the batch has no parameters and goes as one simple-protocol query). An
// error in any of them fails the whole transaction, as it would have alone.
func (t *wtx) flushHeld(ctx context.Context) error {
	if len(t.held) == 0 {
		return nil
	}
	q := strings.Join(t.held, ";\n")
	t.held = t.held[:0]
	if _, err := t.Tx.Tx.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

type txFunc func(ctx context.Context, tx *wtx) error

// writer runs write operations, each atomically.
type writer interface {
	do(ctx context.Context, fn txFunc) error
	// doAlone is do for a large operation (a bulk load, a merge): it runs
	// in a transaction of its own, without the savepoint that isolates an
	// operation from its neighbours, whose journal would hold a copy of
	// every page it changes.
	doAlone(ctx context.Context, fn txFunc) error
	// doOnce is doAlone for an operation that cannot run twice (an import
	// reading its source as it goes): it never shares a transaction, so a
	// neighbour's failure never makes the writer run it again, and it is
	// not retried on PostgreSQL.
	doOnce(ctx context.Context, fn txFunc) error
	close()
}

var errClosed = errors.New("store is closed")

// batcher is SQLite's group commit: concurrent operations share one
// transaction, each inside its own savepoint, so one caller's failure rolls
// back that caller alone while the commit (and its fsync) is paid once per
// batch. Batches form naturally: whatever queued up while the previous batch
// committed goes into the next one, up to max.
type batcher struct {
	s      *Store
	ops    chan *writeOp
	max    int
	linger time.Duration // the longest a batch waits to fill
	last   int           // writes in the previous batch
	timer  *time.Timer
	quit   chan struct{}
	done   chan struct{}
	next   *writeOp // an operation taken from ops that starts the next batch
	// synced, when set, answers committed batches once their fsync is done
	// (synchronous=full on SQLite); without it a batch is answered as it
	// commits.
	synced *walSyncer
}

type writeOp struct {
	ctx   context.Context
	fn    txFunc
	alone bool // runs in a batch of its own (doAlone)
	once  bool // and shares it with no other large operation (doOnce)
	err   error
	tx    wtx
	res   chan error
}

// newBatcher starts the write loop. With syncWAL set (a database file's
// path), commits are answered once the syncer has fsynced its WAL.
func newBatcher(s *Store, max int, linger time.Duration, syncWAL string) *batcher {
	b := &batcher{s: s, ops: make(chan *writeOp, max*4), max: max, linger: linger, quit: make(chan struct{}), done: make(chan struct{})}
	if syncWAL != "" {
		b.synced = newWALSyncer(syncWAL, b.finish)
	}
	go b.loop()
	return b
}

func (b *batcher) do(ctx context.Context, fn txFunc) error {
	return b.queue(ctx, &writeOp{ctx: ctx, fn: fn, res: make(chan error, 1)})
}

func (b *batcher) doAlone(ctx context.Context, fn txFunc) error {
	return b.queue(ctx, &writeOp{ctx: ctx, fn: fn, alone: true, res: make(chan error, 1)})
}

func (b *batcher) doOnce(ctx context.Context, fn txFunc) error {
	return b.queue(ctx, &writeOp{ctx: ctx, fn: fn, alone: true, once: true, res: make(chan error, 1)})
}

func (b *batcher) queue(ctx context.Context, op *writeOp) error {
	select {
	case b.ops <- op:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.quit:
		return errClosed
	}
	// Once queued, the operation may commit: wait for the outcome whatever the
	// caller's context does, so that an acknowledged write is a durable one.
	return <-op.res
}

func (b *batcher) close() {
	select {
	case <-b.quit:
		return
	default:
	}
	close(b.quit)
	<-b.done
}

func (b *batcher) loop() {
	defer func() {
		if b.synced != nil {
			b.synced.close()
		}
		close(b.done)
	}()
	batch := make([]*writeOp, 0, b.max)
	for {
		first := b.next
		b.next = nil
		if first == nil {
			select {
			case first = <-b.ops:
			case <-b.quit:
				// Finish what was queued before the close.
				for {
					select {
					case op := <-b.ops:
						b.run([]*writeOp{op})
					default:
						return
					}
				}
			}
		}
		if b.s.hot.w != nil {
			b.s.hot.w.prepareWanted(context.Background())
		}
		if cp := b.s.checkpoints; cp != nil && cp.overdue() {
			_, _ = b.s.wdb.DB.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
		}
		batch = append(batch[:0], first)
		if first.alone && !first.once {
			// Large operations queued one after another share a
			// transaction (runAlone): fewer commits, and pages that two of
			// them change are written once.
		group:
			for len(batch) < maxAloneGroup {
				select {
				case op := <-b.ops:
					if !op.alone || op.once {
						b.next = op
						break group
					}
					batch = append(batch, op)
				default:
					break group
				}
			}
		}
		// take adds op to the batch, or keeps it for the next one when it
		// must run alone; false ends the batch.
		take := func(op *writeOp) bool {
			if op.alone {
				b.next = op
				return false
			}
			batch = append(batch, op)
			return true
		}
	drain:
		for !first.alone && len(batch) < b.max {
			select {
			case op := <-b.ops:
				if !take(op) {
					break drain
				}
			default:
				break drain
			}
		}
		// Under concurrent load (the last batch carried more than one
		// write), wait a little for more: a commit costs about as much as
		// tens of writes, so fuller batches raise throughput, for at most
		// b.linger of added latency. A lone writer never waits.
		if !first.alone && b.next == nil && len(batch) < b.max && b.linger > 0 && b.last > 1 {
			if b.timer == nil {
				b.timer = time.NewTimer(b.linger)
			} else {
				b.timer.Reset(b.linger)
			}
		wait:
			for len(batch) < b.max {
				select {
				case op := <-b.ops:
					if !take(op) {
						break wait
					}
				case <-b.timer.C:
					break wait
				}
			}
			b.timer.Stop()
		}
		b.last = len(batch)
		b.run(batch)
	}
}

// maxAloneGroup bounds the large operations that share a transaction.
const maxAloneGroup = 4

func (b *batcher) run(batch []*writeOp) {
	if b.synced != nil {
		if err := b.synced.err(); err != nil {
			b.finish(batch, time.Now(), err)
			return
		}
	}
	if len(batch) > 1 && batch[0].alone {
		b.runAlone(batch)
		return
	}
	start := time.Now()
	err := b.runTx(batch, true)
	b.ended(batch, start, err)
}

// ended passes on a batch whose transaction has ended: to the syncer when
// it committed and commits wait for their fsync, else to its callers.
func (b *batcher) ended(batch []*writeOp, start time.Time, err error) {
	if err == nil && b.synced != nil {
		// The loop reuses batch's array for the next batch.
		b.synced.committed(slices.Clone(batch), start)
		return
	}
	b.finish(batch, start, err)
}

// runAlone runs large operations in one transaction without savepoints
// (each would journal every page it changes). Should one of them fail, the
// transaction is rolled back and each runs again in a transaction of its
// own, so that one failure costs the others a retry, never their writes.
func (b *batcher) runAlone(batch []*writeOp) {
	start := time.Now()
	// An error here means nothing committed. (An operation whose caller
	// gave up before it ran is skipped; the others commit.)
	if err := b.runTx(batch, false); err == nil {
		b.ended(batch, start, nil)
		return
	}
	b.s.metrics.TxDone(len(batch), time.Since(start), errRetriedAlone)
	for _, op := range batch {
		op.err = nil
		b.run([]*writeOp{op})
	}
}

// errRetriedAlone marks a transaction of large operations rolled back to be
// run again one by one.
var errRetriedAlone = errors.New("rolled back: its operations run again one by one")

// finish ends a batch: the transaction's outcome goes to every caller, and
// the work promised after the commit runs. With a syncer it runs on the
// syncer's goroutine, once the commit is on disk.
func (b *batcher) finish(batch []*writeOp, start time.Time, err error) {
	b.s.metrics.TxDone(len(batch), time.Since(start), err)
	if b.s.checkpoints != nil {
		b.s.checkpoints.committed()
	}
	for _, op := range batch {
		if err != nil && op.err == nil {
			op.err = err
		}
		if op.err == nil {
			for _, f := range op.tx.after {
				f()
			}
		}
		op.res <- op.err
	}
}

// runTx runs a batch in one transaction, each operation inside a savepoint
// of its own when savepoints is true (and there is more than one). Without
// savepoints, the first failure rolls back the transaction.
func (b *batcher) runTx(batch []*writeOp, savepoints bool) error {
	// The operations run detached from their callers' contexts: a cancelled
	// context would interrupt SQLite mid-statement, which rolls back the whole
	// shared transaction, not just that caller's part.
	ctx := context.Background()
	tx, err := b.s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	b.s.subs.txBegan()
	ok := 0
	for _, op := range batch {
		if err := op.ctx.Err(); err != nil {
			op.err = err
			continue
		}
		op.tx = wtx{Tx: tx}
		if len(batch) == 1 || !savepoints {
			op.err = op.fn(context.WithoutCancel(op.ctx), &op.tx)
			if op.err == nil {
				ok++
				continue
			}
			if !savepoints {
				_ = tx.Rollback()
				return op.err
			}
			continue
		}
		if err := b.exec(ctx, &op.tx, sqlSavepoint); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("savepoint: %w", err)
		}
		op.err = op.fn(context.WithoutCancel(op.ctx), &op.tx)
		if op.err != nil {
			if err := b.exec(ctx, &op.tx, sqlRollbackTo); err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("rollback to savepoint: %w", err)
			}
		} else {
			ok++
		}
		if err := b.exec(ctx, &op.tx, sqlRelease); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("release savepoint: %w", err)
		}
	}
	if ok == 0 {
		return tx.Rollback()
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// The statements that wrap each operation of a batch.
const (
	sqlSavepoint  = "SAVEPOINT op"
	sqlRollbackTo = "ROLLBACK TO op"
	sqlRelease    = "RELEASE op"
)

// exec runs one of the savepoint statements, prepared once the store is
// open (before that, while migrations run, there are none to prepare).
func (b *batcher) exec(ctx context.Context, tx *wtx, q string) error {
	if ok, err := b.s.execHot(ctx, tx, q); ok {
		return err
	}
	_, err := tx.ExecContext(ctx, q)
	return err
}

// directWriter runs each operation in its own transaction: PostgreSQL takes
// concurrent writers, so batching would only lengthen lock hold times. Races
// between replicas surface as unique violations or serialization failures and
// are retried: the retry sees the winner's row.
type directWriter struct{ s *Store }

func (d *directWriter) do(ctx context.Context, fn txFunc) error { return d.run(ctx, fn, 5) }

// run runs fn in a transaction of its own, up to attempts times while it
// fails in a way a retry can mend.
func (d *directWriter) run(ctx context.Context, fn txFunc, attempts int) error {
	var err error
	for attempt := 0; attempt < attempts; attempt++ {
		start := time.Now()
		var t wtx
		err = d.s.wdb.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			t = wtx{Tx: tx}
			if err := fn(ctx, &t); err != nil {
				return err
			}
			return t.flushHeld(ctx)
		})
		d.s.metrics.TxDone(1, time.Since(start), err)
		if err == nil {
			for _, f := range t.after {
				f()
			}
			return nil
		}
		if !retryable(err) {
			return err
		}
	}
	return err
}

// doAlone is do: on PostgreSQL every operation has its own transaction.
func (d *directWriter) doAlone(ctx context.Context, fn txFunc) error { return d.do(ctx, fn) }

// doOnce is do without retries.
func (d *directWriter) doOnce(ctx context.Context, fn txFunc) error { return d.run(ctx, fn, 1) }

func (d *directWriter) close() {}

func retryable(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "SQLSTATE 23505") || strings.Contains(msg, "SQLSTATE 40001") || strings.Contains(msg, "SQLSTATE 40P01")
}

// write runs fn atomically through the store's write path. Inside InTx it
// joins the open transaction instead, within a savepoint of its own.
func (s *Store) write(ctx context.Context, fn txFunc) error {
	if tx, ok := ctx.Value(txKey{}).(*wtx); ok {
		return s.nested(ctx, tx, fn)
	}
	return s.writer.do(ctx, fn)
}

// writeAlone is write for an operation that changes many pages at once (a
// bulk load, a merge): outside InTx it runs in a transaction of its own.
func (s *Store) writeAlone(ctx context.Context, fn txFunc) error {
	if tx, ok := ctx.Value(txKey{}).(*wtx); ok {
		return s.nested(ctx, tx, fn)
	}
	return s.writer.doAlone(ctx, fn)
}

// writeOnce is writeAlone for an operation that must not run twice
// (doOnce).
func (s *Store) writeOnce(ctx context.Context, fn txFunc) error {
	if tx, ok := ctx.Value(txKey{}).(*wtx); ok {
		return s.nested(ctx, tx, fn)
	}
	return s.writer.doOnce(ctx, fn)
}

// txKey carries the open transaction of InTx in a context.
type txKey struct{}

// InTx runs fn in one write transaction: every store method that fn calls
// with the context it is given joins that transaction, so several service
// calls (and whatever fn writes itself) commit or roll back together. A
// method that fails inside fn rolls back its own writes only, and fn may
// carry on; an error returned by fn rolls back everything. Reads that
// methods make on the read pool do not see the open transaction.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.write(ctx, func(ctx context.Context, tx *wtx) error {
		return fn(context.WithValue(ctx, txKey{}, tx))
	})
}

// txFrom returns the transaction InTx opened, or nil.
func txFrom(ctx context.Context) *wtx {
	tx, _ := ctx.Value(txKey{}).(*wtx)
	return tx
}

// nested runs fn inside tx within a savepoint, so that its failure undoes its
// writes (and drops its after-commit work) but not the caller's.
func (s *Store) nested(ctx context.Context, tx *wtx, fn txFunc) error {
	// Writes held back (holdWrites) belong to the operation that held them:
	// the caller's go out before the savepoint, fn's inside it, and fn's
	// holding ends with fn.
	if err := tx.flushHeld(ctx); err != nil {
		return err
	}
	if err := s.execSQL(ctx, tx, sqlNestedSavepoint); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	after := len(tx.after)
	holding := tx.holding
	tx.holding = false
	err := fn(ctx, tx)
	if err == nil {
		err = tx.flushHeld(ctx)
	}
	tx.holding, tx.held = holding, tx.held[:0]
	if err != nil {
		tx.after = tx.after[:after]
		if rerr := s.execSQL(ctx, tx, sqlNestedRollback); rerr != nil {
			return errors.Join(err, fmt.Errorf("rollback to savepoint: %w", rerr))
		}
		if rerr := s.execSQL(ctx, tx, sqlNestedRelease); rerr != nil {
			return errors.Join(err, fmt.Errorf("release savepoint: %w", rerr))
		}
		return err
	}
	if err := s.execSQL(ctx, tx, sqlNestedRelease); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// The statements around a nested write.
const (
	sqlNestedSavepoint = "SAVEPOINT nested"
	sqlNestedRollback  = "ROLLBACK TO SAVEPOINT nested"
	sqlNestedRelease   = "RELEASE SAVEPOINT nested"
)

// execSQL runs a statement in tx, prepared once seen (SQLite).
func (s *Store) execSQL(ctx context.Context, tx *wtx, q string, args ...any) error {
	if ok, err := s.execHot(ctx, tx, q, args...); ok {
		return err
	}
	_, err := tx.ExecContext(ctx, q, args...)
	return err
}

// defaultMaxWait is Options.MaxWait's default (see docs/performance.md).
var defaultMaxWait = 250 * time.Microsecond
