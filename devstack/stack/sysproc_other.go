//go:build !linux

package stack

import "syscall"

// Children get their own process group, so a Ctrl-C in the terminal reaches
// only the runner, which then stops them in order.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
