//go:build linux

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// hideInput turns off the echo of terminal f, so that a password typed at
// bin/web admin does not show on the screen, and returns what restores it.
// ok is false when f is not a terminal (a pipe: nothing to hide).
func hideInput(f *os.File) (restore func(), ok bool) {
	fd := int(f.Fd())
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, false
	}
	saved := *t
	t.Lflag &^= unix.ECHO
	t.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return nil, false
	}
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, &saved) }, true
}
