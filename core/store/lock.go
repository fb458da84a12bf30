package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// ErrDatabaseBusy is the error of opening a SQLite database that another
// Leadhub process holds in a way that excludes this one: an import while a
// server (or anything else) has it open, or anything while an import runs.
var ErrDatabaseBusy = errors.New("database in use")

// fileLock is an advisory lock on PATH.lock beside a SQLite database: shared
// for every process that opens the database, exclusive for an import, which
// holds the one writer for minutes and rebuilds indexes. SQLite's own locks
// cannot say this: they are taken per transaction, not per process. A lock
// file, not the database file itself: closing any descriptor of a file drops
// the POSIX locks SQLite holds on it.
type fileLock struct{ f *os.File }

func lockDatabase(path string, exclusive bool) (*fileLock, error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			if exclusive {
				return nil, fmt.Errorf("%w: %s is open in another leadhub process (a server?): stop it first", ErrDatabaseBusy, path)
			}
			return nil, fmt.Errorf("%w: an import into %s is running", ErrDatabaseBusy, path)
		}
		return nil, fmt.Errorf("lock %s.lock: %w", path, err)
	}
	return &fileLock{f: f}, nil
}

// release drops the lock; the file stays, for the next process.
func (l *fileLock) release() {
	if l != nil {
		l.f.Close()
	}
}
