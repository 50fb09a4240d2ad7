//go:build !linux

package main

import "os"

// hideInput would turn off the echo of terminal f; on this system the
// password is read as it is typed. Piping it in works everywhere.
func hideInput(*os.File) (restore func(), ok bool) { return nil, false }
