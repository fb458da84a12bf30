package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// walSyncer makes the writer's commits durable beside it, for
// synchronous=full on SQLite.
//
// SQLite at synchronous=FULL fsyncs the WAL inside every commit, on the one
// connection that writes: the writer sat idle in fsync for a fifth of its
// time under ingest, while the next batch's writes queued. So the writer's
// connection runs at synchronous=NORMAL (a commit is written to the WAL,
// not fsynced) and this goroutine fsyncs the WAL file after each commit,
// while the writer goes on with the next batch. A batch's callers get their
// answers only once a sync that began after its commit has returned:
// nothing is acknowledged before it is on disk, as with FULL. Batches that
// commit while a sync runs share the next one.
//
// The job queue's own bookkeeping (claims, outcomes) shares the writer's
// connection without going through the batcher, and so commits at NORMAL:
// a power cut can only make the queue do a job again, which its
// at-least-once promise covers already.
//
// What differs from FULL: another connection can read a commit during the
// millisecond or so before its fsync ends, so a reader may see a write that
// a power cut would then take back, a write whose caller was never told it
// succeeded. The checkpoints are unchanged: at NORMAL SQLite fsyncs the WAL
// before it copies it into the database, and the database after.
type walSyncer struct {
	path    string
	batches chan syncBatch
	done    chan struct{}
	finish  func(ops []*writeOp, start time.Time, err error)
	// syncFile is fdatasync; a test replaces it.
	syncFile atomic.Pointer[func(*os.File) error]

	f      *os.File // the WAL, opened on the first sync
	failed atomic.Pointer[error]
}

// syncBatch is a committed batch waiting for its fsync.
type syncBatch struct {
	ops   []*writeOp
	start time.Time
}

func newWALSyncer(dbPath string, finish func([]*writeOp, time.Time, error)) *walSyncer {
	w := &walSyncer{path: dbPath + "-wal", batches: make(chan syncBatch, 64), done: make(chan struct{}), finish: finish}
	f := fdatasync
	w.syncFile.Store(&f)
	go w.loop()
	return w
}

// committed hands over a batch whose transaction has committed. The
// syncer answers its callers.
func (w *walSyncer) committed(ops []*writeOp, start time.Time) {
	w.batches <- syncBatch{ops: ops, start: start}
}

// err is the failure of an earlier fsync, after which no write is taken:
// the kernel may have dropped the pages it could not write, so what the
// file holds is no longer known (PostgreSQL stops for the same reason).
func (w *walSyncer) err() error {
	if p := w.failed.Load(); p != nil {
		return *p
	}
	return nil
}

func (w *walSyncer) loop() {
	defer close(w.done)
	for first := range w.batches {
		group := []syncBatch{first}
	more:
		for {
			select {
			case b, ok := <-w.batches:
				if !ok {
					break more
				}
				group = append(group, b)
			default:
				break more
			}
		}
		err := w.sync()
		for _, b := range group {
			w.finish(b.ops, b.start, err)
		}
	}
}

func (w *walSyncer) sync() error {
	if err := w.err(); err != nil {
		return err
	}
	if err := w.open(); err != nil {
		return err
	}
	if err := (*w.syncFile.Load())(w.f); err != nil {
		err = fmt.Errorf("fsync %s: %w (writes are refused until leadhub restarts)", w.path, err)
		w.failed.Store(&err)
		return err
	}
	return nil
}

// open opens the WAL, again if SQLite has replaced the file since (it
// deletes the WAL when its last connection closes, which the writer's
// never does while the store is open; checked rather than assumed). A new
// file's folder is synced once, so that the file's name is durable too.
func (w *walSyncer) open() error {
	if w.f != nil {
		a, errA := w.f.Stat()
		b, errB := os.Stat(w.path)
		if errA == nil && errB == nil && os.SameFile(a, b) {
			return nil
		}
		w.f.Close()
		w.f = nil
	}
	f, err := os.Open(w.path)
	if err != nil {
		return fmt.Errorf("open the WAL to sync it: %w", err)
	}
	if d, err := os.Open(filepath.Dir(w.path)); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil && !errors.Is(err, os.ErrInvalid) {
			f.Close()
			return fmt.Errorf("sync the database folder: %w", err)
		}
	}
	w.f = f
	return nil
}

// close answers the batches handed over so far and stops. The write loop
// calls it once, as it ends.
func (w *walSyncer) close() {
	close(w.batches)
	<-w.done
	if w.f != nil {
		w.f.Close()
	}
}
