//go:build !linux

package crashtest

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
