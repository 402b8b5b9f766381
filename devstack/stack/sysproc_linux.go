package stack

import "syscall"

// Children get their own process group, so a Ctrl-C in the terminal reaches
// only the runner, which then stops them in order; and they get SIGTERM if
// the runner dies without stopping them.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
