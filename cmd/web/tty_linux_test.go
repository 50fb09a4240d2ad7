//go:build linux

package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns the two ends of a new pseudo-terminal: the one a
// program reads its input from, and the one a person's keyboard writes to.
func openPTY(t *testing.T) (terminal, keyboard *os.File) {
	t.Helper()
	keyboard, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { keyboard.Close() })
	// Through SyscallConn rather than Fd, which would make reads
	// blocking and deadlines useless.
	rc, err := keyboard.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var ioErr error
	if err := rc.Control(func(fd uintptr) {
		if ioErr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ioErr == nil {
			n, ioErr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		}
	}); err != nil || ioErr != nil {
		t.Fatalf("unlock pty: %v %v", err, ioErr)
	}
	terminal, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	t.Cleanup(func() { terminal.Close() })
	return terminal, keyboard
}

// TestAdminPasswordAtTerminal types a password at a terminal: it is asked
// for twice, never echoed, and the terminal's echo comes back afterwards.
func TestAdminPasswordAtTerminal(t *testing.T) {
	terminal, keyboard := openPTY(t)
	env := map[string]string{"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "app.db")}
	var out adminOutputs
	out.run(t, env, "", "migrate", "up").want(t, exitOK, "applied")

	// A person types after each question, when the echo is already off.
	const password = "typed at the keyboard"
	stderr := &promptWriter{asked: make(chan struct{}, 2)}
	var stdout strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- admin(context.Background(), []string{"create-user", "tty@example.com"},
			func(k string) string { return env[k] }, terminal, &stdout, stderr)
	}()
	for range 2 {
		<-stderr.asked
		if _, err := keyboard.WriteString(password + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	if code := <-done; code != exitOK {
		t.Fatalf("exit status %d, want 0; stderr: %s", code, stderr.String())
	}
	if got := stderr.String(); !strings.Contains(got, "New password for tty@example.com:") || !strings.Contains(got, "Repeat it:") {
		t.Errorf("stderr %q, want the two prompts", got)
	}
	// The terminal echoes as each key arrives, before the line can be
	// read: whatever it echoed is waiting on the keyboard side by now.
	if err := keyboard.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := keyboard.Read(buf)
	if !errors.Is(err, os.ErrDeadlineExceeded) || strings.Contains(string(buf[:n]), password) {
		t.Errorf("the terminal echoed %q (%v), want nothing", buf[:n], err)
	}
	tio, err := unix.IoctlGetTermios(int(terminal.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if tio.Lflag&unix.ECHO == 0 {
		t.Error("the terminal's echo is still off after the command")
	}
	out.run(t, env, "", "user", "tty@example.com").want(t, exitOK, "tty@example.com")
}

// promptWriter is a stderr that signals each question (a write ending in
// ": ").
type promptWriter struct {
	mu    sync.Mutex
	b     strings.Builder
	asked chan struct{}
}

func (w *promptWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if strings.HasSuffix(string(p), ": ") {
		w.asked <- struct{}{}
	}
	return w.b.Write(p)
}

func (w *promptWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
