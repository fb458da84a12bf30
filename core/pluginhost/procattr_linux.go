//go:build linux

package pluginhost

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill the plugin when the host dies, even by
// SIGKILL. (The SDK's parent watchdog is the second line of defence.)
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
