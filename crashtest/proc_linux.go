package crashtest

import "syscall"

// sysProcAttr makes the kernel kill a node when the process that started it
// dies, so a crashed test run leaves no servers behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
