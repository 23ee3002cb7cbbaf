//go:build !linux

package gethtest

import "os/exec"

// setProcAttr does nothing where the kernel cannot stop an orphaned child.
func setProcAttr(*exec.Cmd) {}
