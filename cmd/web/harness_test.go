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

	"github.com/sessionlogin/sessionlogin/internal/testenv"
	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

type syncBuffer = webtest.SyncBuffer

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// testSecretKey is the SECRET_KEY of test servers.
const testSecretKey = "dGVzdCBrZXkgb2YgdGhlIHRlc3Qgc2VydmVycyAzMiE="

// server is a running instance of the real binary's run function.
type server struct {
	URL  string
	Logs *syncBuffer
	stop func() error // cancels run and waits for it to return
}

// startServer runs the service through run with env on top of test
// defaults (a free port, a temp SQLite file, COOKIE_SECURE=false), waits
// until /healthz answers, and stops it when the test ends.
func startServer(t testing.TB, env map[string]string) *server {
	t.Helper()
	vars := map[string]string{
		"ADDR":          freeAddr(t),
		"DATABASE_URL":  "sqlite:" + filepath.Join(t.TempDir(), "app.db"),
		"COOKIE_SECURE": "false",
		"LOG_LEVEL":     "debug",
		// A fixed key, so that no test writes one into a data folder (the
		// working directory's, with PostgreSQL); a test may set another,
		// or "" to test the generated one.
		"SECRET_KEY": testSecretKey,
	}
	for k, v := range env {
		vars[k] = v
	}
	getenv := func(k string) string { return vars[k] }
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, getenv, logs, logs) }()

	base := "http://" + vars["ADDR"]
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
	return &server{URL: base, Logs: logs, stop: stop}
}

// The HTTP client and assertions are shared with internal/app's tests. The
// client keeps cookies by name, like a browser ignoring the port, so one
// client can visit several instances on 127.0.0.1.
type (
	webClient   = webtest.Client
	webResponse = webtest.Response
)

var (
	newWebClient    = webtest.NewClient
	wantWebStatus   = webtest.WantStatus
	wantWebRedirect = webtest.WantRedirect
)

// e2ePassword passes the password policy (long, not a common password).
const e2ePassword = webtest.Password

// e2eEmail returns an address no other test uses, so tests may share a
// database.
func e2eEmail() string { return testenv.RandomName("user") + "@example.com" }
