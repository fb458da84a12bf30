//go:build !linux

package pluginhost

import "os/exec"

// dieWithParent has no parent-death signal to set outside Linux: plugins
// built with the SDK exit on their own once the host is gone (they watch
// their parent process).
func dieWithParent(*exec.Cmd) {}
