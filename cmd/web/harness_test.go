package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/secretkey"
	"github.com/sessionlogin/sessionlogin/internal/testenv"
	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// localURL is the origin of a loopback address by name: http://localhost:PORT.
func localURL(t testing.TB, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return "http://localhost:" + port
}

// freeAddr returns a loopback address with a port that was free a moment ago.
var freeAddr = testenv.FreeAddr

// testSecretKey is the SECRET_KEY of every test instance, shared as the
// instances of one deployment share it.
var testSecretKey = secretkey.Generate().String()

// runningServer is a running instance of the real binary's run function.
type runningServer struct {
	URL  string
	Logs *webtest.SyncBuffer
	stop func() error // cancels run and waits for it to return
}

// startServer runs the service through run with env on top of test
// defaults (a free port, a temp SQLite file, COOKIE_SECURE=false, a fresh
// SECRET_KEY, so that nothing is written beside the tests), waits
// until /healthz answers, and stops it when the test ends.
func startServer(t testing.TB, env map[string]string) *runningServer {
	t.Helper()
	vars := map[string]string{
		"ADDR":          freeAddr(t),
		"DATABASE_URL":  "sqlite:" + filepath.Join(t.TempDir(), "app.db"),
		"COOKIE_SECURE": "false",
		"LOG_LEVEL":     "debug",
		"SECRET_KEY":    testSecretKey,
	}
	for k, v := range env {
		vars[k] = v
	}
	getenv := func(k string) string { return vars[k] }
	logs := &webtest.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, getenv, logs, logs) }()

	// Reached as users reach it: at PUBLIC_URL when set (a localhost
	// name for the loopback address), so that links in mails, cookies
	// and passkeys all match.
	base := "http://" + vars["ADDR"]
	if u := vars["PUBLIC_URL"]; u != "" {
		base = u
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("run returned before serving: %v\nlogs:\n%s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("server did not answer /healthz within 15s\nlogs:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(30 * time.Second):
				stopErr = fmt.Errorf("run did not return within 30s of cancel")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stop server: %v", err)
		}
	})
	return &runningServer{URL: base, Logs: logs, stop: stop}
}

// e2eEmail returns an address no other test uses, so tests may share a
// database.
func e2eEmail() string { return testenv.RandomName("user") + "@example.com" }
