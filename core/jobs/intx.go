package jobs

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// A handler whose work is a write to the same database may record the
// completion of its jobs in that write's transaction: the work and its
// completion then commit (or roll back) together, and the queue saves a
// transaction of its own. Two steps:
//
//  1. inside the transaction, CompleteInTx(ctx, tx, ids) with the context
//     the handler was given;
//  2. once the transaction has committed, CommittedInTx(ctx, ids).
//
// The queue then writes nothing for those jobs when their outcome is a
// success. Jobs completed in a transaction that did not commit are simply
// not reported in step 2: their outcome is written as usual. Completion
// matches the batch's lease like the queue's own: a worker that lost its
// lease changes nothing.

// batchKey carries the batch being worked in its handler's context.
type batchKey struct{}

// batchState is what CompleteInTx needs of the batch being worked, and
// what it tells the runner.
type batchState struct {
	r     *runner
	token int64

	mu        sync.Mutex
	committed map[int64]bool
}

func (b *batchState) isCommitted(id int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.committed[id]
}

// ErrNoBatch is returned by CompleteInTx called without the context of a
// handler call.
var ErrNoBatch = errors.New("jobs: not in a handler call")

// CompleteInTx marks the jobs ids of the batch being worked under ctx done,
// in tx: a transaction on the queue's database. ids not in the batch are
// left alone. It returns how many jobs it marked.
func CompleteInTx(ctx context.Context, tx *sql.Tx, ids []int64) (int64, error) {
	b, _ := ctx.Value(batchKey{}).(*batchState)
	if b == nil {
		return 0, ErrNoBatch
	}
	if len(ids) == 0 {
		return 0, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	q, qargs := b.r.completeStatement(b.token, args)
	return rowsAffected(tx.ExecContext(ctx, q, qargs...))
}

// CommittedInTx tells the queue that the transaction in which CompleteInTx
// marked ids done has committed: it writes nothing more for those of them
// whose outcome is a success.
func CommittedInTx(ctx context.Context, ids []int64) {
	b, _ := ctx.Value(batchKey{}).(*batchState)
	if b == nil || len(ids) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.committed == nil {
		b.committed = make(map[int64]bool, len(ids))
	}
	for _, id := range ids {
		b.committed[id] = true
	}
}
