//go:build unix

package redisstate

import (
	"syscall"
	"testing"

	"github.com/sessionlogin/sessionlogin/internal/testenv"
)

func TestSentinelHungSentinelSkipped(t *testing.T) {
	// A Sentinel that accepts connections but never answers costs at most
	// sentinelTimeout: the next one is asked within the request's budget.
	hung := testenv.StartRedisServer(t)
	if err := hung.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	s := newSentinelSetup(t, hung.Addr)
	if err := s.set("k"); err != nil {
		t.Fatalf("SET with a hung Sentinel listed first: %v", err)
	}
	if got := s.dialer.sentinels[0]; got != s.sentinel.Addr {
		t.Fatalf("first Sentinel after discovery: got %s, want %s", got, s.sentinel.Addr)
	}
}
