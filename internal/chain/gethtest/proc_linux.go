package gethtest

import (
	"os/exec"
	"syscall"
)

// setProcAttr asks the kernel to stop geth if the test binary dies without
// running its cleanups.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
