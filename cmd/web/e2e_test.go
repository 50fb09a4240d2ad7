package main

import (
	"context"
	"database/sql"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionlogin/sessionlogin/internal/testenv"
	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// redisEnv points the service at TEST_REDIS_URL under a key prefix of its
// own, and returns the variables with the URL and prefix for checks.
func redisEnv(t *testing.T) map[string]string {
	t.Helper()
	u := testenv.RedisURL(t)
	return map[string]string{
		"SESSION_STORE":    "redis",
		"REDIS_URL":        u,
		"REDIS_KEY_PREFIX": testenv.RedisPrefix(t, u),
	}
}

// redisKeys counts the keys under prefix+pattern.
func redisKeys(t *testing.T, redisURL, pattern string) int {
	t.Helper()
	c, err := redis.DialURL(redisURL)
	if err != nil {
		t.Fatalf("dial redis: %v", err)
	}
	defer c.Close()
	n, iter := 0, 0
	for {
		vals, err := redis.Values(c.Do("SCAN", iter, "MATCH", pattern, "COUNT", 1000))
		if err != nil {
			t.Fatalf("SCAN: %v", err)
		}
		iter, _ = redis.Int(vals[0], nil)
		keys, _ := redis.Strings(vals[1], nil)
		n += len(keys)
		if iter == 0 {
			return n
		}
	}
}

// postgresUsers counts the accounts with email in the PostgreSQL database
// at dbURL.
func postgresUsers(t *testing.T, dbURL, email string) int {
	t.Helper()
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM users WHERE email = $1", email).Scan(&n); err != nil {
		t.Fatalf("count users: %v", err)
	}
	return n
}

// TestEndToEnd drives the real run function on a free port through
// signup → account → logout → login → account, on every combination of
// session store and database, and checks that the data really lands in
// the configured back-ends.
func TestEndToEnd(t *testing.T) {
	type backend struct {
		env    map[string]string
		verify func(t *testing.T, email string) // the account/session is where env says
	}
	redisBackend := func(t *testing.T, b *backend) {
		for k, v := range redisEnv(t) {
			b.env[k] = v
		}
		u, prefix := b.env["REDIS_URL"], b.env["REDIS_KEY_PREFIX"]
		prev := b.verify
		b.verify = func(t *testing.T, email string) {
			prev(t, email)
			if n := redisKeys(t, u, prefix+"s:*"); n == 0 {
				t.Errorf("got no session keys under %q in Redis, want the live session there", prefix)
			}
		}
	}
	postgresBackend := func(t *testing.T, b *backend) {
		u := testenv.PostgresURL(t)
		b.env["DATABASE_URL"] = u
		prev := b.verify
		b.verify = func(t *testing.T, email string) {
			prev(t, email)
			if n := postgresUsers(t, u, email); n != 1 {
				t.Errorf("got %d rows for %s in PostgreSQL, want 1", n, email)
			}
		}
	}
	tests := []struct {
		name  string
		setup []func(*testing.T, *backend)
	}{
		{name: "memory+sqlite"},
		{name: "redis+sqlite", setup: []func(*testing.T, *backend){redisBackend}},
		{name: "memory+postgres", setup: []func(*testing.T, *backend){postgresBackend}},
		{name: "redis+postgres", setup: []func(*testing.T, *backend){redisBackend, postgresBackend}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := &backend{env: map[string]string{}, verify: func(*testing.T, string) {}}
			for _, f := range tt.setup {
				f(t, b)
			}
			srv := startServer(t, b.env)
			base := srv.URL
			c := webtest.NewClient(t)

			webtest.WantStatus(t, c.Get(base+"/"), http.StatusOK)
			if got := c.SignedInAs(base); got != "" {
				t.Fatalf("anonymous: signed in as %q, want nobody", got)
			}

			email := e2eEmail()
			res := c.SignUp(base, email, webtest.Password)
			ck := res.Cookie("sid")
			if ck == nil {
				t.Fatal("signup: no session cookie set")
			}
			if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" {
				t.Errorf("signup cookie: got HttpOnly=%v SameSite=%v Path=%q Domain=%q, want HttpOnly, Lax, /, no Domain",
					ck.HttpOnly, ck.SameSite, ck.Path, ck.Domain)
			}
			if ck.Secure {
				t.Errorf("signup cookie: got Secure with COOKIE_SECURE=false, want not Secure")
			}
			if ck.MaxAge != 0 || !ck.Expires.IsZero() {
				t.Errorf("signup cookie: got Max-Age=%d Expires=%v, want a browser-session cookie", ck.MaxAge, ck.Expires)
			}
			signupToken := ck.Value
			if got := c.SignedInAs(base); got != email {
				t.Fatalf("after signup: signed in as %q, want %q", got, email)
			}
			b.verify(t, email)

			res = c.Post(base+"/logout", nil)
			webtest.WantRedirect(t, res, "/")
			if ck := res.Cookie("sid"); ck == nil || ck.MaxAge >= 0 {
				t.Fatalf("logout: got session cookie %v, want it expired (Max-Age=0)", ck)
			}
			if got := c.SignedInAs(base); got != "" {
				t.Fatalf("after logout: signed in as %q, want nobody", got)
			}
			// The session ended in the store, not only in this client.
			replay := webtest.NewClient(t)
			replay.SetCookie("sid", signupToken)
			if got := replay.SignedInAs(base); got != "" {
				t.Fatalf("replayed pre-logout cookie: signed in as %q, want nobody", got)
			}

			res = c.Post(base+"/login", url.Values{"email": {email}, "password": {"wrong " + webtest.Password}})
			webtest.WantStatus(t, res, http.StatusUnprocessableEntity)

			res = c.LogIn(base, email, webtest.Password, false)
			if ck := res.Cookie("sid"); ck == nil || ck.Value == signupToken {
				t.Fatalf("login: got session cookie %v, want a new token", ck)
			}
			if got := c.SignedInAs(base); got != email {
				t.Fatalf("after login: signed in as %q, want %q", got, email)
			}

			// Remember-me makes the cookie outlive the browser session.
			r := webtest.NewClient(t)
			res = r.LogIn(base, email, webtest.Password, true)
			if ck := res.Cookie("sid"); ck == nil || ck.MaxAge <= 0 {
				t.Fatalf("login with remember: got cookie %v, want a persistent one (Max-Age > 0)", ck)
			}
			if got := r.SignedInAs(base); got != email {
				t.Fatalf("after remembered login: signed in as %q, want %q", got, email)
			}
		})
	}
}

// TestInstancesShareSessions runs several instances through run on one
// Redis prefix and one database: a login through one is seen by the
// other, a logout through one ends the session on both, and a session
// survives restarting every instance.
func TestInstancesShareSessions(t *testing.T) {
	tests := []struct {
		name  string
		dbURL func(t *testing.T) string
	}{
		// Two processes' pools on one SQLite file (WAL, busy timeout).
		{name: "sqlite file", dbURL: func(t *testing.T) string { return "sqlite:" + t.TempDir() + "/shared.db" }},
		{name: "postgres", dbURL: func(t *testing.T) string { return testenv.PostgresURL(t) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := redisEnv(t)
			env["DATABASE_URL"] = tt.dbURL(t)
			a := startServer(t, env)
			b := startServer(t, env)

			email := e2eEmail()
			webtest.NewClient(t).SignUp(a.URL, email, webtest.Password)

			c := webtest.NewClient(t)
			c.LogIn(a.URL, email, webtest.Password, false)
			if c.Cookie("device") == "" {
				t.Fatal("a successful login set no device cookie")
			}
			if got := c.SignedInAs(b.URL); got != email {
				t.Fatalf("logged in through A: signed in on B as %q, want %q", got, email)
			}
			old := c.Cookie("sid")
			res := c.Post(b.URL+"/logout", nil)
			webtest.WantRedirect(t, res, "/")
			replay := webtest.NewClient(t)
			replay.SetCookie("sid", old)
			if got := replay.SignedInAs(a.URL); got != "" {
				t.Fatalf("logged out through B: old cookie signed in on A as %q, want nobody", got)
			}

			// A session from before every instance restarts.
			d := webtest.NewClient(t)
			d.LogIn(b.URL, email, webtest.Password, false)
			if got := d.SignedInAs(a.URL); got != email {
				t.Fatalf("logged in through B: signed in on A as %q, want %q", got, email)
			}
			if err := a.stop(); err != nil {
				t.Fatalf("stop A: %v", err)
			}
			if err := b.stop(); err != nil {
				t.Fatalf("stop B: %v", err)
			}
			cSrv := startServer(t, env)
			if got := d.SignedInAs(cSrv.URL); got != email {
				t.Fatalf("after restarting all instances: signed in on C as %q, want %q", got, email)
			}
			if got := replay.SignedInAs(cSrv.URL); got != "" {
				t.Fatalf("after restart: logged-out cookie signed in on C as %q, want nobody", got)
			}
		})
	}
}

// TestGracefulShutdown cancels run's context while a request is in
// flight: the request still gets its answer, and run returns nil.
func TestGracefulShutdown(t *testing.T) {
	srv := startServer(t, nil)

	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/login", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// With Expect: 100-continue the server sends "100 Continue" only when
	// the handler starts reading the body: proof the request is in flight.
	req.Header.Set("Expect", "100-continue")
	reading := make(chan struct{})
	req = req.WithContext(httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got100Continue: func() { close(reading) },
	}))
	tr := &http.Transport{ExpectContinueTimeout: time.Minute, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	type result struct {
		res  *http.Response
		body string
		err  error
	}
	answered := make(chan result, 1)
	go func() {
		res, err := tr.RoundTrip(req)
		if err != nil {
			answered <- result{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		answered <- result{res: res, body: string(b), err: err}
	}()
	go func() { _, _ = io.WriteString(pw, "email=nobody%40example.com&pass") }()
	select {
	case <-reading:
	case r := <-answered:
		t.Fatalf("request finished before its body was sent: %+v", r)
	case <-time.After(10 * time.Second):
		t.Fatal("handler did not start reading the body within 10s")
	}

	stopped := make(chan error, 1)
	go func() { stopped <- srv.stop() }()
	// Shutdown has begun once the listener is closed.
	host := strings.TrimPrefix(srv.URL, "http://")
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", host, time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting 10s after cancel")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-stopped:
		t.Fatalf("run returned (%v) with a request in flight", err)
	default:
	}

	if _, err := io.WriteString(pw, "word=wrong+password+here"); err != nil {
		t.Fatalf("finish body: %v", err)
	}
	pw.Close()
	select {
	case r := <-answered:
		if r.err != nil {
			t.Fatalf("in-flight request: %v", r.err)
		}
		if r.res.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("in-flight POST /login: got status %d, want %d; body:\n%.400s",
				r.res.StatusCode, http.StatusUnprocessableEntity, r.body)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("in-flight request got no answer within 15s of finishing its body")
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("run returned %v, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return within 15s of the last request")
	}
	if !strings.Contains(srv.Logs.String(), "shutting down") {
		t.Errorf("logs: got no \"shutting down\" line:\n%s", srv.Logs)
	}
}
