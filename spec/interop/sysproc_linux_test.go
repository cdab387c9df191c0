//go:build linux

package interop

import "syscall"

// sysProcAttr puts pnsmgr in its own process group (killed as a group) and has the kernel kill it if
// the test binary dies (go test -timeout panics, SIGKILL), so no pnsmgr outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
