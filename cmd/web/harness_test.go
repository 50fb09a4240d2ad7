package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/sessionlogin/sessionlogin/internal/testenv"
)

// syncBuffer is a bytes.Buffer safe for the server's logger and the test
// to use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

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

// webClient is a small browser stand-in for end-to-end tests: it keeps
// cookies by name (like a browser, ignoring the port, so one client can
// visit several instances on 127.0.0.1) and never follows redirects, so
// tests see every 303 with its Location and Set-Cookie.
type webClient struct {
	t       testing.TB
	hc      *http.Client
	mu      sync.Mutex
	cookies map[string]*http.Cookie
}

func newWebClient(t testing.TB) *webClient {
	return &webClient{
		t: t,
		hc: &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			// Longer than any outage test's bound, so a hang shows up as a
			// measured, failed bound rather than a transport error.
			Timeout: 20 * time.Second,
		},
		cookies: map[string]*http.Cookie{},
	}
}

// webResponse is a finished response with its body read and the time the
// round trip took.
type webResponse struct {
	*http.Response
	Body    string
	Elapsed time.Duration
}

// doc parses the body as HTML.
func (r *webResponse) doc(t testing.TB) *goquery.Document {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(r.Body))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	return doc
}

// setCookie returns this response's Set-Cookie for name, or nil.
func (r *webResponse) setCookie(name string) *http.Cookie {
	for _, c := range r.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (c *webClient) do(req *http.Request) *webResponse {
	c.t.Helper()
	c.mu.Lock()
	for _, ck := range c.cookies {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	c.mu.Unlock()
	start := time.Now()
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v (after %s)", req.Method, req.URL, err, time.Since(start))
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	elapsed := time.Since(start)
	c.mu.Lock()
	for _, ck := range res.Cookies() {
		if ck.MaxAge < 0 || ck.Value == "" {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck
		}
	}
	c.mu.Unlock()
	return &webResponse{Response: res, Body: string(body), Elapsed: elapsed}
}

func (c *webClient) get(u string) *webResponse {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.do(req)
}

func (c *webClient) post(u string, form url.Values) *webResponse {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// cookie returns the value of the client's cookie name ("" if none).
func (c *webClient) cookie(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ck, ok := c.cookies[name]; ok {
		return ck.Value
	}
	return ""
}

// setCookieValue sets (or, with value "", removes) a cookie, as a replayed
// request would.
func (c *webClient) setCookieValue(name, value string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if value == "" {
		delete(c.cookies, name)
		return
	}
	c.cookies[name] = &http.Cookie{Name: name, Value: value}
}

// e2ePassword passes the password policy (long, not a common password).
const e2ePassword = "correct horse battery staple"

// e2eEmail returns an address no other test uses, so tests may share a
// database.
func e2eEmail() string { return testenv.RandomName("user") + "@example.com" }

// signup creates an account through the form and checks the 303.
func (c *webClient) signup(base, email, password string) *webResponse {
	c.t.Helper()
	res := c.post(base+"/signup", url.Values{"email": {email}, "password": {password}})
	wantWebRedirect(c.t, res, "/account")
	return res
}

// login signs in through the form and checks the 303.
func (c *webClient) login(base, email, password string, remember bool) *webResponse {
	c.t.Helper()
	form := url.Values{"email": {email}, "password": {password}}
	if remember {
		form.Set("remember", "on")
	}
	res := c.post(base+"/login", form)
	wantWebRedirect(c.t, res, "/account")
	return res
}

// signedInAs returns the email /account shows, or "" when /account sends
// the client to the login page.
func (c *webClient) signedInAs(base string) string {
	c.t.Helper()
	res := c.get(base + "/account")
	if res.StatusCode == http.StatusSeeOther {
		if got, want := res.Header.Get("Location"), "/login?next=%2Faccount"; got != want {
			c.t.Fatalf("GET /account: got Location %q, want %q", got, want)
		}
		return ""
	}
	wantWebStatus(c.t, res, http.StatusOK)
	return strings.TrimSpace(res.doc(c.t).Find("#profile-heading ~ p strong").First().Text())
}

func wantWebStatus(t testing.TB, res *webResponse, want int) {
	t.Helper()
	if res.StatusCode != want {
		t.Fatalf("%s %s: got status %d, want %d; body:\n%.600s",
			res.Request.Method, res.Request.URL.Path, res.StatusCode, want, res.Body)
	}
}

func wantWebRedirect(t testing.TB, res *webResponse, location string) {
	t.Helper()
	wantWebStatus(t, res, http.StatusSeeOther)
	if got := res.Header.Get("Location"); got != location {
		t.Fatalf("%s %s: got Location %q, want %q", res.Request.Method, res.Request.URL.Path, got, location)
	}
}
