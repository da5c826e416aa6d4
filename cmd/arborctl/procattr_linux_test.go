package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes a helper process (etcd, etcdctl) die with the test
// binary, so a test killed by its timeout leaves nothing running.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
