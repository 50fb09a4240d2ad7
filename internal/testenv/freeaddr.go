package testenv

import (
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
)

// Ports handed out by FreeAddr come from below the kernel's ephemeral range
// (Linux: 32768-60999). A port taken from the ephemeral range and closed
// again goes straight back to the kernel, which may hand it to any
// httptest server or outgoing connection of a test binary running in
// parallel before the instance under test binds it; a test then talks to
// the wrong server. Below the range only FreeAddr hands ports out, each at
// most once per process, and at random so that parallel test binaries
// rarely pick the same one (when they do, the listen check below or the
// server's own bind error says so).
const (
	lowPort  = 20000
	highPort = 32000
)

var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// FreeAddr returns a loopback address with a port that is free now and that
// no other call in this process has returned.
func FreeAddr(t testing.TB) string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 1000 {
		port := lowPort + rand.IntN(highPort-lowPort)
		if handedOut.ports[port] {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue // taken by someone else
		}
		ln.Close()
		handedOut.ports[port] = true
		return addr
	}
	t.Fatal("testenv: no free loopback port found below the ephemeral range")
	return ""
}
