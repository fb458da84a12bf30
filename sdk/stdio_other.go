//go:build !linux

package sdk

import "os"

// handshakeStdout is the process's real stdout, kept for go-plugin's
// handshake line; nil when the process was not started as a plugin.
var handshakeStdout *os.File

// init protects the go-plugin handshake from stray output written through
// os.Stdout before Serve; see the Linux version, which also covers fd 1.
func init() {
	if os.Getenv(MagicCookieKey) != MagicCookieValue {
		return
	}
	handshakeStdout = os.Stdout
	os.Stdout = os.Stderr
}
