package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/leadhub/leadhub/core"
)

func openWALTest(t *testing.T, sync string) (*Store, string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "l.db")
	s := openSQLiteStore(t, path, sync)
	p, _, err := s.CreateProject(context.Background(), "p")
	if err != nil {
		t.Fatal(err)
	}
	return s, path, p.ID
}

// At synchronous=full a write is answered only after the WAL it committed
// to has been fsynced: while the fsync is held, the write is committed (a
// read sees it) but its caller is still waiting.
func TestWriteIsAnsweredAfterItsWALSync(t *testing.T) {
	s, path, pid := openWALTest(t, "full")
	b := s.writer.(*batcher)
	if b.synced == nil {
		t.Fatal("synchronous=full: no WAL syncer")
	}
	entered, release := make(chan string, 16), make(chan struct{})
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) }) // a failed test must not leave the syncer held
	hold := func(f *os.File) error {
		entered <- f.Name()
		<-release
		return fdatasync(f)
	}
	b.synced.syncFile.Store(&hold)

	ctx := context.Background()
	heldEmail := "held@example.com"
	done := make(chan error, 1)
	go func() {
		_, err := s.CreateLead(ctx, pid, core.NewLead{UserID: "u-1", Fields: core.LeadFields{Email: &heldEmail}}, "test")
		done <- err
	}()
	var name string
	select {
	case name = <-entered: // the lead's commit is being synced
	case err := <-done:
		t.Fatalf("the write was answered (%v) without a WAL sync", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no WAL sync within 10 s of a write")
	}
	if name != path+"-wal" {
		t.Fatalf("synced %s, want the WAL %s", name, path+"-wal")
	}
	page, err := s.Leads(ctx, pid, core.LeadFilter{UserID: "u-1", Status: "all"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 {
		t.Fatalf("during the sync a read found %d leads, want the committed one", len(page.Items))
	}
	select {
	case err := <-done:
		t.Fatalf("the write was answered (%v) before its WAL sync returned", err)
	default:
	}
	releaseOnce.Do(func() { close(release) })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A failed fsync fails the writes waiting for it, and every write after it
// is refused without running: what the file holds is no longer known.
func TestFailedWALSyncRefusesWrites(t *testing.T) {
	s, _, pid := openWALTest(t, "full")
	fail := func(*os.File) error { return syscall.EIO }
	s.writer.(*batcher).synced.syncFile.Store(&fail)

	ctx := context.Background()
	if _, err := s.CreateLead(ctx, pid, core.NewLead{UserID: "u-1"}, "test"); !errors.Is(err, syscall.EIO) {
		t.Fatalf("write during a failing fsync: %v, want EIO", err)
	}
	ok := fdatasync
	s.writer.(*batcher).synced.syncFile.Store(&ok)
	if _, err := s.CreateLead(ctx, pid, core.NewLead{UserID: "u-2"}, "test"); !errors.Is(err, syscall.EIO) {
		t.Fatalf("write after a failed fsync: %v, want the failure again", err)
	}
	page, err := s.Leads(ctx, pid, core.LeadFilter{UserID: "u-2", Status: "all"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 0 {
		t.Fatal("a write refused after a failed fsync was committed")
	}
}

// At synchronous=normal commits are answered as they commit: no syncer.
func TestNormalHasNoWALSyncer(t *testing.T) {
	s, _, pid := openWALTest(t, "normal")
	if s.writer.(*batcher).synced != nil {
		t.Fatal("synchronous=normal: a WAL syncer runs")
	}
	if _, err := s.CreateLead(context.Background(), pid, core.NewLead{UserID: "u-1"}, "test"); err != nil {
		t.Fatal(err)
	}
}
