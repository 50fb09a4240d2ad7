package testenv

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Ports handed out by FreeAddr come from below the kernel's ephemeral range
// (Linux: /proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by default).
// A port taken from the ephemeral range and closed again goes straight
// back to the kernel, which may hand it to any httptest server or outgoing
// connection of a test binary running in parallel before the instance
// under test binds it; a test then talks to the wrong server. Below the
// range only FreeAddr hands ports out, each at most once per process, and
// at random so that parallel test binaries rarely pick the same one (when
// they do, the listen check below or the server's own bind error says
// so; a port a test leaves free on purpose, a Redis it restarts or an
// address meant to be dead, can still be taken by another binary in the
// meantime, which is rare enough to accept). Where the ephemeral range
// leaves no room below it, ports come from the kernel as before.
const (
	minPort      = 10000
	portsBelow   = 12000
	defaultLocal = 32768
)

// portRange returns the ports FreeAddr picks from, [low, high): fewer
// than a thousand means no room below the ephemeral range.
var portRange = sync.OnceValues(func() (low, high int) {
	high = defaultLocal
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				high = n
			}
		}
	}
	return max(minPort, high-portsBelow), high
})

var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// FreeAddr returns a loopback address with a port that is free now and that
// no other call in this process has returned.
func FreeAddr(t testing.TB) string {
	t.Helper()
	low, high := portRange()
	if high-low < 1000 {
		return kernelAddr(t)
	}
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 1000 {
		port := low + rand.IntN(high-low)
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

// kernelAddr returns a loopback address with a port the kernel picked.
func kernelAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
