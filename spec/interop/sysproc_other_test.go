//go:build !linux

package interop

import "syscall"

// sysProcAttr puts pnsmgr in its own process group, killed as a group in t.Cleanup.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
