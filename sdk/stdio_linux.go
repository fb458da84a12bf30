//go:build linux

package sdk

import (
	"os"
	"syscall"
)

// handshakeStdout is the process's real stdout, kept for go-plugin's
// handshake line; nil when the process was not started as a plugin.
var handshakeStdout *os.File

// init protects the go-plugin handshake from stray output. When the process
// was started by a host (the magic cookie is in the environment), it keeps a
// private duplicate of fd 1 for Serve, points fd 1 at stderr (for output that
// bypasses os.Stdout: cgo, child processes) and sets os.Stdout to os.Stderr.
// Anything printed before Serve then lands in the host's plugin log instead
// of being read as the handshake. In any other process, such as the host
// itself or tests, it does nothing.
func init() {
	if os.Getenv(MagicCookieKey) != MagicCookieValue {
		return
	}
	fd, err := syscall.Dup(1)
	if err != nil {
		return
	}
	syscall.CloseOnExec(fd)
	if err := syscall.Dup3(2, 1, 0); err != nil {
		_ = syscall.Close(fd)
		return
	}
	handshakeStdout = os.NewFile(uintptr(fd), "/dev/stdout")
	os.Stdout = os.Stderr
}
