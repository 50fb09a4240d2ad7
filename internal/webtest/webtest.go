// Package webtest is test support for the service's HTTP tests (internal/app
// through httptest, cmd/web through run): a browser-like client that keeps
// its own cookies and never follows redirects, and assertions on responses.
package webtest

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// Password passes the password policy (long, not a common password).
const Password = "correct horse battery staple"

// Client is a browser-like HTTP client. It keeps cookies itself, by name
// only, so that Secure cookies also travel over a plain-HTTP test server,
// and it never follows redirects, so tests see every 303.
type Client struct {
	t       testing.TB
	hc      *http.Client
	mu      sync.Mutex
	cookies map[string]*http.Cookie
	// Header is added to every request (e.g. X-Forwarded-For, Origin).
	Header http.Header
}

// NewClient returns a Client with no cookies.
func NewClient(t testing.TB) *Client {
	return &Client{
		t: t,
		hc: &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			// Longer than any bound a test sets on a response time, so a hang
			// shows up as a failed bound rather than a transport error.
			Timeout: 20 * time.Second,
		},
		cookies: map[string]*http.Cookie{},
		Header:  http.Header{},
	}
}

// WithToken returns a fresh client holding only the session cookie name=token,
// as a thief replaying a stolen cookie would.
func WithToken(t testing.TB, name, token string) *Client {
	c := NewClient(t)
	c.SetCookie(name, token)
	return c
}

// Response is a finished response with its body read.
type Response struct {
	*http.Response
	Body    string
	Elapsed time.Duration // from sending the request to the end of the body
}

// Doc parses the body as HTML.
func (r *Response) Doc(t testing.TB) *goquery.Document {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(r.Body))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	return doc
}

// Cookie returns this response's Set-Cookie of name, or nil.
func (r *Response) Cookie(name string) *http.Cookie {
	for _, c := range r.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Do sends req with the client's cookies and extra headers, and keeps the
// cookies the response sets (an expired one is dropped).
func (c *Client) Do(req *http.Request) *Response {
	c.t.Helper()
	c.mu.Lock()
	for _, ck := range c.cookies {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	c.mu.Unlock()
	for k, vs := range c.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
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
	return &Response{Response: res, Body: string(body), Elapsed: elapsed}
}

// Send makes a request with extra headers (h may be nil); body may be nil.
func (c *Client) Send(method, u string, body io.Reader, h http.Header) *Response {
	c.t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	return c.Do(req)
}

// Get fetches u.
func (c *Client) Get(u string) *Response {
	c.t.Helper()
	return c.Send(http.MethodGet, u, nil, nil)
}

// Post submits form to u as a browser form would.
func (c *Client) Post(u string, form url.Values) *Response {
	c.t.Helper()
	return c.PostWith(u, form, nil)
}

// PostWith posts form with extra headers, e.g. Origin or Sec-Fetch-Site.
func (c *Client) PostWith(u string, form url.Values, h http.Header) *Response {
	c.t.Helper()
	hh := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	for k, vs := range h {
		hh[k] = vs
	}
	return c.Send(http.MethodPost, u, bytes.NewBufferString(form.Encode()), hh)
}

// Cookie returns the value of the client's cookie name ("" if none).
func (c *Client) Cookie(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ck, ok := c.cookies[name]; ok {
		return ck.Value
	}
	return ""
}

// SetCookie sets (or, with value "", removes) a cookie, as an attacker or a
// replayed request would.
func (c *Client) SetCookie(name, value string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if value == "" {
		delete(c.cookies, name)
		return
	}
	c.cookies[name] = &http.Cookie{Name: name, Value: value}
}

// SignUp creates an account through the form and checks the 303 to /account.
func (c *Client) SignUp(base, email, password string) *Response {
	c.t.Helper()
	res := c.Post(base+"/signup", url.Values{"email": {email}, "password": {password}})
	WantRedirect(c.t, res, "/account")
	return res
}

// LogIn signs in through the form and checks the 303 to /account.
func (c *Client) LogIn(base, email, password string, remember bool) *Response {
	c.t.Helper()
	form := url.Values{"email": {email}, "password": {password}}
	if remember {
		form.Set("remember", "on")
	}
	res := c.Post(base+"/login", form)
	WantRedirect(c.t, res, "/account")
	return res
}

// SignedInAs returns the email /account shows, or "" when /account sends
// the client to the login page.
func (c *Client) SignedInAs(base string) string {
	c.t.Helper()
	res := c.Get(base + "/account")
	if res.StatusCode == http.StatusSeeOther {
		if got, want := res.Header.Get("Location"), "/login?next=%2Faccount"; got != want {
			c.t.Fatalf("GET /account: got Location %q, want %q", got, want)
		}
		return ""
	}
	WantStatus(c.t, res, http.StatusOK)
	return strings.TrimSpace(res.Doc(c.t).Find("#profile-heading ~ p strong").First().Text())
}

// WantStatus fails t unless res has status want.
func WantStatus(t testing.TB, res *Response, want int) {
	t.Helper()
	if res.StatusCode != want {
		t.Fatalf("%s %s: got status %d, want %d; body:\n%.600s",
			res.Request.Method, res.Request.URL.Path, res.StatusCode, want, res.Body)
	}
}

// WantRedirect fails t unless res is a 303 to location.
func WantRedirect(t testing.TB, res *Response, location string) {
	t.Helper()
	WantStatus(t, res, http.StatusSeeOther)
	if got := res.Header.Get("Location"); got != location {
		t.Fatalf("%s %s: got Location %q, want %q", res.Request.Method, res.Request.URL.Path, got, location)
	}
}

// SyncBuffer is a log destination that a test may read while a server
// writes to it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
