//go:build unix

package main

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionlogin/sessionlogin/internal/testenv"
	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// Bounds for answers during an outage: generous against a slow machine,
// far below "hangs" (an outage must turn into a fast 503).
const (
	outageBound   = 2 * time.Second         // a page needing the lost dependency
	readyzBound   = 1500 * time.Millisecond // /readyz, whose checks time out at 1s
	recoveryBound = 15 * time.Second        // back to ready after the dependency returns
)

// redisProcess is a redis-server of the test's own, on a free port, so the
// test can stop it without disturbing the shared Redis other tests use.
type redisProcess struct {
	t    *testing.T
	bin  string
	addr string
	dir  string
	out  *webtest.SyncBuffer
	cmd  *exec.Cmd
}

// startRedisProcess starts redis-server without persistence on a free
// loopback port and kills it when the test ends.
func startRedisProcess(t *testing.T) *redisProcess {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testenv.Unavailable(t, "redis-server not installed: %v", err)
	}
	r := &redisProcess{t: t, bin: bin, addr: freeAddr(t), dir: t.TempDir(), out: &webtest.SyncBuffer{}}
	r.start()
	t.Cleanup(r.kill)
	return r
}

// URL is the redis:// URL of the process.
func (r *redisProcess) URL() string { return "redis://" + r.addr + "/0" }

// start runs redis-server on r.addr and waits until it answers PING.
func (r *redisProcess) start() {
	r.t.Helper()
	_, port, _ := net.SplitHostPort(r.addr)
	r.cmd = exec.Command(r.bin, "--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir)
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	exited := make(chan struct{})
	go func(cmd *exec.Cmd) { _ = cmd.Wait(); close(exited) }(r.cmd)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := redis.Dial("tcp", r.addr, redis.DialConnectTimeout(time.Second))
		if err == nil {
			_, err = c.Do("PING")
			c.Close()
			if err == nil {
				return
			}
		}
		select {
		case <-exited:
			r.t.Fatalf("redis-server exited at start:\n%s", r.out)
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on %s not answering after 10s: %v\n%s", r.addr, err, r.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill stops redis-server at once, as a crash would.
func (r *redisProcess) kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGCONT) // a paused process dies only when resumed
	_ = r.cmd.Process.Kill()
	// Wait until the port is free again, so a restart can bind it.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", r.addr, 100*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
	r.cmd = nil
}

// pause freezes redis-server (SIGSTOP): connections are accepted by the
// kernel but nothing answers, as with a hung server or a lost network.
func (r *redisProcess) pause() {
	r.t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		r.t.Fatalf("SIGSTOP redis-server: %v", err)
	}
}

func (r *redisProcess) resume() {
	r.t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		r.t.Fatalf("SIGCONT redis-server: %v", err)
	}
}

// tcpProxy forwards TCP connections to upstream, and can be cut (listener
// and every connection closed: "connection refused") or stalled (new
// connections accepted but never answered, old ones closed: a hung
// server), then restored on the same address.
type tcpProxy struct {
	t        *testing.T
	addr     string
	upstream string

	mu      sync.Mutex
	ln      net.Listener
	conns   map[net.Conn]struct{}
	stalled bool
}

func startProxy(t *testing.T, upstream string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{t: t, addr: ln.Addr().String(), upstream: upstream, conns: map[net.Conn]struct{}{}}
	p.ln = ln
	go p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns[c] = struct{}{}
		stalled := p.stalled
		p.mu.Unlock()
		if stalled {
			continue // held open, never answered, closed by cut or restore
		}
		go p.forward(c)
	}
}

func (p *tcpProxy) forward(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.upstream, 2*time.Second)
	if err != nil {
		p.drop(c)
		return
	}
	p.mu.Lock()
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		// Either side ending ends the pair.
		p.drop(dst)
		p.drop(src)
	}
	wg.Add(2)
	go pipe(up, c)
	go pipe(c, up)
	wg.Wait()
}

func (p *tcpProxy) drop(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *tcpProxy) closeConns() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// cut closes the listener and every connection.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	p.mu.Unlock()
	p.closeConns()
}

// stall closes every connection and, from now on, accepts connections but
// never answers them.
func (p *tcpProxy) stall() {
	p.mu.Lock()
	p.stalled = true
	p.mu.Unlock()
	p.closeConns()
}

// restore forwards again, on the same address.
func (p *tcpProxy) restore() {
	p.t.Helper()
	p.closeConns() // connections held while stalled
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = false
	if p.ln != nil {
		return
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy: listen again on %s: %v", p.addr, err)
	}
	p.ln = ln
	go p.serve(ln)
}

// wantUnavailablePage checks a styled 503 error page that came within
// bound.
func wantUnavailablePage(t *testing.T, what string, res *webtest.Response, bound time.Duration) {
	t.Helper()
	t.Logf("%s: %d in %s", what, res.StatusCode, res.Elapsed.Round(time.Millisecond))
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("%s: got status %d, want 503; body:\n%.400s", what, res.StatusCode, res.Body)
		return
	}
	if res.Elapsed > bound {
		t.Errorf("%s: answered in %s, want within %s", what, res.Elapsed, bound)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("%s: got Content-Type %q, want text/html", what, ct)
	}
	if h1 := strings.TrimSpace(res.Doc(t).Find("h1").First().Text()); h1 != "Service unavailable" {
		t.Errorf("%s: got h1 %q, want %q", what, h1, "Service unavailable")
	}
	if ck := res.Cookie("sid"); ck != nil {
		t.Errorf("%s: got Set-Cookie %v on an error page, want the session cookie left alone", what, ck)
	}
}

// wantReadyz checks /readyz's status, that its body names each check's
// state, and that it answered within readyzBound.
func wantReadyz(t *testing.T, c *webtest.Client, base string, status int, lines ...string) {
	t.Helper()
	res := c.Get(base + "/readyz")
	t.Logf("/readyz: %d in %s", res.StatusCode, res.Elapsed.Round(time.Millisecond))
	if res.StatusCode != status {
		t.Errorf("/readyz: got status %d, want %d; body:\n%s", res.StatusCode, status, res.Body)
	}
	for _, l := range lines {
		if !strings.Contains(res.Body, l+"\n") {
			t.Errorf("/readyz: body %q lacks line %q", res.Body, l)
		}
	}
	if res.Elapsed > readyzBound {
		t.Errorf("/readyz: answered in %s, want within %s", res.Elapsed, readyzBound)
	}
}

// wantHealthy checks that the process still serves.
func wantHealthy(t *testing.T, c *webtest.Client, base string) {
	t.Helper()
	if res := c.Get(base + "/healthz"); res.StatusCode != http.StatusOK {
		t.Errorf("/healthz: got status %d, want 200", res.StatusCode)
	}
	webtest.WantStatus(t, c.Get(base+"/"), http.StatusOK)
}

// waitReady polls /readyz until it answers 200, and returns how long that
// took.
func waitReady(t *testing.T, c *webtest.Client, base string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		res := c.Get(base + "/readyz")
		if res.StatusCode == http.StatusOK {
			return time.Since(start)
		}
		if time.Since(start) > recoveryBound {
			t.Fatalf("/readyz still %d %s after %s; want recovery by itself", res.StatusCode, strings.TrimSpace(res.Body), recoveryBound)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRedisOutage runs the service on a redis-server of its own, then
// freezes it and kills it: pages needing sessions answer a styled 503
// quickly, /readyz names the session store, /healthz stays 200, and the
// service recovers by itself once Redis is back.
func TestRedisOutage(t *testing.T) {
	rp := startRedisProcess(t)
	srv := startServer(t, map[string]string{"SESSION_STORE": "redis", "REDIS_URL": rp.URL()})
	base := srv.URL
	probe := webtest.NewClient(t)

	email := e2eEmail()
	c := webtest.NewClient(t)
	c.SignUp(base, email, webtest.Password)
	if got := c.SignedInAs(base); got != email {
		t.Fatalf("before the outage: signed in as %q, want %q", got, email)
	}
	wantReadyz(t, probe, base, http.StatusOK, "database: ok", "session store: ok")

	loginForm := url.Values{"email": {email}, "password": {webtest.Password}}

	t.Run("hung", func(t *testing.T) {
		rp.pause()
		wantUnavailablePage(t, "GET /account", c.Get(base+"/account"), outageBound)
		wantUnavailablePage(t, "POST /login", webtest.NewClient(t).Post(base+"/login", loginForm), outageBound)
		wantReadyz(t, probe, base, http.StatusServiceUnavailable, "database: ok", "session store: down")
		wantHealthy(t, probe, base)

		rp.resume()
		t.Logf("recovered %s after SIGCONT", waitReady(t, probe, base).Round(time.Millisecond))
		// Redis kept its data: the session outlived the outage.
		if got := c.SignedInAs(base); got != email {
			t.Fatalf("after resume: signed in as %q, want %q", got, email)
		}
	})

	t.Run("down", func(t *testing.T) {
		rp.kill()
		wantUnavailablePage(t, "GET /account", c.Get(base+"/account"), outageBound)
		wantUnavailablePage(t, "POST /login", webtest.NewClient(t).Post(base+"/login", loginForm), outageBound)
		wantUnavailablePage(t, "POST /signup", webtest.NewClient(t).Post(base+"/signup",
			url.Values{"email": {e2eEmail()}, "password": {webtest.Password}}), outageBound)
		wantReadyz(t, probe, base, http.StatusServiceUnavailable,
			"database: ok", "session store: down")
		wantHealthy(t, probe, base)
		if c.Cookie("sid") == "" {
			t.Fatal("the outage cleared the client's session cookie")
		}

		rp.start()
		t.Logf("recovered %s after redis-server answered again", waitReady(t, probe, base).Round(time.Millisecond))
		// This Redis keeps nothing across a restart: the old session is
		// gone, which is an ordinary anonymous visit, not an error.
		if got := c.SignedInAs(base); got != "" {
			t.Fatalf("after a Redis restart without persistence: signed in as %q, want nobody", got)
		}
		d := webtest.NewClient(t)
		d.LogIn(base, email, webtest.Password, false)
		if got := d.SignedInAs(base); got != email {
			t.Fatalf("login after recovery: signed in as %q, want %q", got, email)
		}
		other := e2eEmail()
		e := webtest.NewClient(t)
		e.SignUp(base, other, webtest.Password)
		if got := e.SignedInAs(base); got != other {
			t.Fatalf("signup after recovery: signed in as %q, want %q", got, other)
		}
	})
}

// TestDatabaseOutage puts a TCP proxy between the service and PostgreSQL
// and cuts it (connection refused) or stalls it (a server that accepts but
// never answers): pages needing the database answer a styled 503 quickly,
// /readyz names the database, /healthz stays 200, and the service recovers
// by itself once the proxy forwards again.
func TestDatabaseOutage(t *testing.T) {
	u, err := url.Parse(testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, u.Host)
	u.Host = proxy.addr
	srv := startServer(t, map[string]string{"DATABASE_URL": u.String()})
	base := srv.URL
	probe := webtest.NewClient(t)

	email := e2eEmail()
	c := webtest.NewClient(t)
	c.SignUp(base, email, webtest.Password)
	if got := c.SignedInAs(base); got != email {
		t.Fatalf("before the outage: signed in as %q, want %q", got, email)
	}
	wantReadyz(t, probe, base, http.StatusOK, "database: ok", "session store: ok")
	loginForm := url.Values{"email": {email}, "password": {webtest.Password}}

	tests := []struct {
		name    string
		breakDB func()
		bound   time.Duration
	}{
		{"refused", proxy.cut, outageBound},
		// A new connection waits for PostgreSQL's answer up to the
		// connect_timeout storage adds (2s), so the bound is a little
		// wider; without that timeout the request would hang.
		{"stalled", proxy.stall, outageBound + time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.breakDB()
			wantUnavailablePage(t, "GET /account", c.Get(base+"/account"), tt.bound)
			wantUnavailablePage(t, "POST /login", webtest.NewClient(t).Post(base+"/login", loginForm), tt.bound)
			wantReadyz(t, probe, base, http.StatusServiceUnavailable, "database: down", "session store: ok")
			wantHealthy(t, probe, base)

			proxy.restore()
			t.Logf("recovered %s after the proxy forwarded again", waitReady(t, probe, base).Round(time.Millisecond))
			// Sessions live in memory here: the session outlived the outage.
			if got := c.SignedInAs(base); got != email {
				t.Fatalf("after recovery: signed in as %q, want %q", got, email)
			}
			d := webtest.NewClient(t)
			d.LogIn(base, email, webtest.Password, false)
			if got := d.SignedInAs(base); got != email {
				t.Fatalf("login after recovery: signed in as %q, want %q", got, email)
			}
		})
	}
}
