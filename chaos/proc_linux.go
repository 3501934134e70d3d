package chaos

import "syscall"

// sysProcAttr makes the kernel kill a node when the harness dies, so a
// crashed run leaves no servers behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
