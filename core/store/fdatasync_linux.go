package store

import (
	"os"
	"syscall"
)

// fdatasync flushes f's data and the metadata needed to read it back (its
// size), as SQLite does on Linux: not its times, which fsync would add.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
