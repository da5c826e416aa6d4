package testutil

import (
	"os/exec"
	"syscall"
)

// DieWithParent makes a helper process die with the test binary, so a
// test killed by its timeout leaves nothing running.
func DieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
