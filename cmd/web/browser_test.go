package main

// Browser tests: the real server (through run, sessions in Redis) driven by
// headless Chromium through chromedp, for what only a browser shows: which
// cookies it keeps across a restart, what scripts can read, what it sends
// from another site, how the keyboard moves through the pages, and whether
// every page loads without console errors or CSP violations.

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/sessionlogin/sessionlogin/internal/smtptest"
	"github.com/sessionlogin/sessionlogin/internal/testenv"
)

// browserStepTimeout bounds each browser step (a navigation, a click and
// the page it loads, a query), so a stuck step fails the test instead of
// hanging it.
const browserStepTimeout = 15 * time.Second

// browserPassword passes the password policy.
const browserPassword = "correct horse battery staple"

// chromiumPath finds Chromium: $CHROMIUM_PATH, else /usr/bin/chromium, else
// a lookup on PATH. Without one the test is skipped, or fails when
// REQUIRE_SERVICES=1.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		if _, err := os.Stat(p); err != nil {
			testenv.Unavailable(t, "CHROMIUM_PATH=%s: %v", p, err)
		}
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Unavailable(t, "no Chromium found: set CHROMIUM_PATH, or install chromium")
	return ""
}

// startBrowserServer runs the service through run with sessions in the
// test's own corner of Redis. Start servers before browsers: cleanups run
// last-in first-out, so the browsers close first, and the servers' graceful
// shutdown need not wait for Chrome's idle spare connections.
func startBrowserServer(t *testing.T, env map[string]string) *runningServer {
	t.Helper()
	chromiumPath(t) // skip before starting anything
	redisURL := testenv.RedisURL(t)
	vars := map[string]string{
		"SESSION_STORE":    "redis",
		"REDIS_URL":        redisURL,
		"REDIS_KEY_PREFIX": testenv.RedisPrefix(t, redisURL),
		"LOG_LEVEL":        "warn",
	}
	for k, v := range env {
		vars[k] = v
	}
	return startServer(t, vars)
}

// consoleEntry is one thing a page said on its console: a console API
// call, an uncaught exception, or a browser log entry (failed loads, CSP
// violations and other security messages come this way).
type consoleEntry struct {
	Kind   string // "console", "exception" or "log"
	Level  string // the console call's type, or the log entry's level
	Source string // log entries: "network", "security", ...
	URL    string
	Text   string
}

func (e consoleEntry) String() string {
	s := e.Kind + "/" + e.Level
	if e.Source != "" {
		s += "/" + e.Source
	}
	s += ": " + e.Text
	if e.URL != "" {
		s += " (" + e.URL + ")"
	}
	return s
}

// documentResponse is the response to a page load (not a subresource).
type documentResponse struct {
	URL    string
	Status int
}

// tab is one headless Chromium with its own profile directory, and its one
// tab, with what the tab reported.
type tab struct {
	ctx context.Context

	mu        sync.Mutex
	console   []consoleEntry
	documents []documentResponse
	requests  map[network.RequestID]string          // document request → URL
	headers   map[network.RequestID]network.Headers // as sent on the wire

	closeOnce sync.Once
	closeFunc func()
}

// browser drives a tab on behalf of one (sub)test, where its steps report
// failures.
type browser struct {
	t *testing.T
	*tab
}

// in returns the same browser reporting to t, for a subtest.
func (b *browser) in(t *testing.T) *browser { return &browser{t: t, tab: b.tab} }

// startBrowser starts Chromium on the profile directory dir (a fresh
// t.TempDir() for a new browser; the same dir again to reopen one), and
// closes it when the test ends.
func startBrowser(t *testing.T, dir string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.UserDataDir(dir),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 800),
	)
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	tb := &tab{requests: map[network.RequestID]string{}, headers: map[network.RequestID]network.Headers{}}
	// The listener runs in the tab's read loop, in order with the replies
	// to commands: once a command returns, every event sent before its
	// reply has been recorded.
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithListener(tb.record))
	tb.ctx = ctx
	tb.closeFunc = func() {
		// A graceful close (Browser.close), so that Chromium writes its
		// cookies to the profile as it does when a user closes it.
		cctx, ccancel := context.WithTimeout(ctx, browserStepTimeout)
		defer ccancel()
		if err := chromedp.Cancel(cctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("closing the browser: %v", err)
		}
		cancel()
		allocCancel()
	}
	t.Cleanup(tb.close)

	// The first Do starts the browser and binds it to its context, so that
	// context must not carry a timeout; the start is bounded from outside.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start chromium: %v", err)
		}
	case <-time.After(30 * time.Second):
		tb.close()
		t.Fatal("chromium did not start within 30s")
	}
	return &browser{t: t, tab: tb}
}

// close closes the browser as a user would; it is safe to call twice.
func (tb *tab) close() { tb.closeOnce.Do(tb.closeFunc) }

func (tb *tab) record(ev any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range ev.Args {
			if len(a.Value) > 0 {
				parts = append(parts, string(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		tb.console = append(tb.console, consoleEntry{Kind: "console", Level: string(ev.Type), Text: strings.Join(parts, " ")})
	case *runtime.EventExceptionThrown:
		text := ev.ExceptionDetails.Text
		if ex := ev.ExceptionDetails.Exception; ex != nil {
			text += " " + ex.Description
		}
		tb.console = append(tb.console, consoleEntry{Kind: "exception", Level: "error", URL: ev.ExceptionDetails.URL, Text: text})
	case *cdplog.EventEntryAdded:
		e := ev.Entry
		tb.console = append(tb.console, consoleEntry{Kind: "log", Level: string(e.Level), Source: string(e.Source), URL: e.URL, Text: e.Text})
	case *network.EventRequestWillBeSent:
		if ev.Type == network.ResourceTypeDocument {
			tb.requests[ev.RequestID] = ev.Request.URL
		}
	case *network.EventRequestWillBeSentExtraInfo:
		tb.headers[ev.RequestID] = ev.Headers
	case *network.EventResponseReceived:
		if ev.Type == network.ResourceTypeDocument {
			tb.documents = append(tb.documents, documentResponse{URL: ev.Response.URL, Status: int(ev.Response.Status)})
		}
	}
}

// takeConsole returns what the tab logged since the last call.
func (tb *tab) takeConsole() []consoleEntry {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	c := tb.console
	tb.console = nil
	return c
}

// lastDocument returns the latest page response for url.
func (tb *tab) lastDocument(url string) (documentResponse, bool) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for i := len(tb.documents) - 1; i >= 0; i-- {
		if tb.documents[i].URL == url {
			return tb.documents[i], true
		}
	}
	return documentResponse{}, false
}

// sentHeaders returns the headers Chrome sent with the page request for
// url (the tests that ask make one), as they went on the wire.
func (tb *tab) sentHeaders(url string) http.Header {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	h := http.Header{}
	for id, u := range tb.requests {
		if u != url {
			continue
		}
		for k, v := range tb.headers[id] {
			h.Add(k, fmt.Sprint(v))
		}
	}
	return h
}

// browserStep runs one action under browserStepTimeout, failing the test
// on error.
func browserStep[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	v, err := retryStale(func() (T, error) { return chromedp.Run(ctx, a) })
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// retryStale runs f again, up to twice, when it failed on a node of a
// document that a navigation has just replaced: chromedp found the node in
// its copy of the DOM, Chrome no longer had it. Such a failure comes
// before the action did anything (no click sent, no key typed).
func retryStale[T any](f func() (T, error)) (T, error) {
	for i := 0; ; i++ {
		v, err := f()
		if err == nil || i == 2 || !strings.Contains(err.Error(), "No node with given id found") {
			return v, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// do runs steps that return nothing, under one browserStepTimeout.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	browserStep(b, what, chromedp.Steps(steps...))
}

// loadBy runs steps that start a navigation (a click, a key), waits for
// the page, and returns its response (after redirects).
func (b *browser) loadBy(what string, steps ...chromedp.Action[chromedp.Void]) *network.Response {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	res, err := retryStale(func() (*network.Response, error) { return chromedp.RunResponse(ctx, steps...) })
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return res
}

// navigate loads url and returns the page's response.
func (b *browser) navigate(url string) *network.Response {
	b.t.Helper()
	return browserStep(b, "navigate to "+url, chromedp.NavigateResponse(url))
}

// submit clicks sel (a submit button) and returns the response of the page
// the form leads to.
func (b *browser) submit(sel string) *network.Response {
	b.t.Helper()
	return b.loadBy("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// fill types value into the field sel, as a user would.
func (b *browser) fill(sel, value string) {
	b.t.Helper()
	b.do("fill "+sel, chromedp.Clear(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), value))
}

// press sends keys to the focused element.
func (b *browser) press(what, keys string, opts ...chromedp.KeyOption) {
	b.t.Helper()
	b.do(what, chromedp.KeyEvent(keys, opts...))
}

// doc returns the current page, parsed, to assert on by CSS selector. It
// reads the live document by script rather than by DOM query: chromedp's
// node ids can still name the previous document just after a navigation.
func (b *browser) doc() *goquery.Document {
	b.t.Helper()
	src := browserStep(b, "read the page", chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	d, err := goquery.NewDocumentFromReader(strings.NewReader(src))
	if err != nil {
		b.t.Fatalf("parse the page: %v", err)
	}
	return d
}

// location returns the URL of the current page.
func (b *browser) location() string {
	b.t.Helper()
	return browserStep(b, "read the location", chromedp.Location())
}

// focused describes the element that has the focus: "#id", or its tag and
// text.
func (b *browser) focused() string {
	b.t.Helper()
	return browserStep(b, "read the focus", chromedp.Evaluate[string](`(() => {
		const e = document.activeElement;
		if (!e || e === document.body) return "body";
		if (e.id) return "#" + e.id;
		return e.tagName.toLowerCase() + ":" + e.textContent.trim();
	})()`))
}

// focusSettles returns where the focus is once it is on want, or after a
// few seconds: autofocus applies at the next rendering update, after the
// page has loaded.
func (b *browser) focusSettles(want string) string {
	b.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		got := b.focused()
		if got == want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// focusVisible reports whether the focused element shows an outline.
func (b *browser) focusVisible() bool {
	b.t.Helper()
	return browserStep(b, "read the focus style", chromedp.Evaluate[bool](`(() => {
		const s = getComputedStyle(document.activeElement);
		return s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2;
	})()`))
}

// sessionCookie returns the browser's session cookie for base, or nil.
func (b *browser) sessionCookie(base string) *network.Cookie {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
	if err != nil {
		b.t.Fatalf("read cookies: %v", err)
	}
	for _, c := range res.Cookies {
		if c.Name == "sid" {
			return c
		}
	}
	return nil
}

// screenshot saves the whole page as dir/name.png, and returns its size.
func (b *browser) screenshot(dir, name string) int {
	b.t.Helper()
	png := browserStep(b, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return len(png)
}

func (b *browser) signup(base, email, password string) *network.Response {
	b.t.Helper()
	b.navigate(base + "/signup")
	b.fill("#email", email)
	b.fill("#password", password)
	return b.submit(`form[action="/signup"] button[type="submit"]`)
}

func (b *browser) login(base, email, password string, remember bool) *network.Response {
	b.t.Helper()
	b.navigate(base + "/login")
	b.fill("#email", email)
	b.fill("#password", password)
	if remember {
		b.do("tick remember", chromedp.Click(chromedp.CSS("#remember")))
	}
	return b.submit(`form[action="/login"] button[type="submit"]`)
}

// signedInAs opens /account and returns the email it shows, or "" when the
// browser lands anywhere else (the login page).
func (b *browser) signedInAs(base string) string {
	b.t.Helper()
	b.navigate(base + "/account")
	if u := b.location(); !strings.HasPrefix(u, base+"/account") {
		return ""
	}
	return strings.TrimSpace(b.doc().Find("#profile-heading ~ p strong").First().Text())
}

func wantPageStatus(t *testing.T, what string, res *network.Response, want int) {
	t.Helper()
	if res == nil {
		t.Fatalf("%s: no response", what)
	}
	if int(res.Status) != want {
		t.Fatalf("%s: got status %d, want %d (%s)", what, res.Status, want, res.URL)
	}
}

// pageStatus is the HTTP status of a page's response.
func pageStatus(res *network.Response) int { return int(res.Status) }

// browserEmail returns an address no other test uses.
func browserEmail(name string) string { return testenv.RandomName(name+"-") + "@example.com" }

// postForm posts form to base+path with a plain HTTP client (no browser,
// no redirects followed) and returns the status and Location.
func postForm(t *testing.T, base, path string, form url.Values, userAgent string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if userAgent != "" {
		req.Header.Set("User-Agent", userAgent)
	}
	// The transport alone never follows the redirect.
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("Location")
}

// postLogin posts the login form without a browser, and reports whether
// it signed in.
func postLogin(t *testing.T, base, email, password, userAgent string, remember bool) bool {
	t.Helper()
	form := url.Values{"email": {email}, "password": {password}}
	if remember {
		form.Set("remember", "on")
	}
	status, location := postForm(t, base, "/login", form, userAgent)
	return status == http.StatusSeeOther && location == "/account"
}

// postSignup creates an account without a browser.
func postSignup(t *testing.T, base, email, password string) {
	t.Helper()
	status, location := postForm(t, base, "/signup", url.Values{"email": {email}, "password": {password}}, "")
	if status != http.StatusSeeOther || location != "/account" {
		t.Fatalf("POST /signup: got %d to %q, want 303 to /account", status, location)
	}
}

// otherSite serves pages from another site than the app's: localhost,
// while the app is on 127.0.0.1 (two different sites for the browser).
func otherSite(t *testing.T, pages map[string]http.HandlerFunc) string {
	t.Helper()
	mux := http.NewServeMux()
	// No favicon, and no failed request for one in the console either.
	mux.HandleFunc("/favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for path, h := range pages {
		mux.HandleFunc(path, h)
	}
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	_, port, err := net.SplitHostPort(ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return "http://localhost:" + port
}

// htmlPage serves body as an HTML page.
func htmlPage(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, body)
	}
}

// autoPost is a page that posts a form to action as soon as it has loaded,
// without a click from the user: a forged request.
func autoPost(action string, fields url.Values) http.HandlerFunc {
	var inputs strings.Builder
	for k, vs := range fields {
		for _, v := range vs {
			fmt.Fprintf(&inputs, `<input type="hidden" name="%s" value="%s">`, html.EscapeString(k), html.EscapeString(v))
		}
	}
	return htmlPage(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>You won a prize</title></head><body>` +
		`<form method="post" action="` + html.EscapeString(action) + `">` + inputs.String() + `</form>` +
		`<script>addEventListener("load", () => document.forms[0].submit())</script></body></html>`)
}

// waitLoaded waits until the tab shows url, fully loaded, for navigations
// that no action waits for (a page's own form submission).
func (b *browser) waitLoaded(url string) {
	b.t.Helper()
	deadline := time.Now().Add(browserStepTimeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, time.Second)
		// Fails while the old document goes away: then try again.
		state, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + " " + document.readyState`))
		cancel()
		if err == nil && state == url+" complete" {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s did not load: last state %q, error %v", url, state, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// visitAutoPost opens a page that auto-posts to the app at appBase, waits
// for the app's answer to load, and returns where the browser landed and
// that page's status.
func (b *browser) visitAutoPost(pageURL, appBase string) (string, int) {
	b.t.Helper()
	nav := browserStep(b, "visit "+pageURL, chromedp.WaitEvent(page.FrameNavigated,
		func(e page.EventFrameNavigated) bool {
			return e.Frame.ParentID == "" && strings.HasPrefix(e.Frame.URL, appBase+"/")
		},
		chromedp.Navigate(pageURL)))
	b.waitLoaded(nav.Frame.URL)
	doc, ok := b.lastDocument(nav.Frame.URL)
	if !ok {
		b.t.Fatalf("no response recorded for %s", nav.Frame.URL)
	}
	return nav.Frame.URL, doc.Status
}

// TestBrowserSignupLoginLogout walks signup → account → logout → login
// (remember ticked) → account, and checks that scripts cannot read the
// session cookie.
func TestBrowserSignupLoginLogout(t *testing.T) {
	srv := startBrowserServer(t, nil)
	b := startBrowser(t, t.TempDir())
	email := browserEmail("walk")

	wantPageStatus(t, "signup", b.signup(srv.URL, email, browserPassword), http.StatusOK)
	if got, want := b.location(), srv.URL+"/account"; got != want {
		t.Fatalf("after signup: got location %s, want %s", got, want)
	}
	if got := strings.TrimSpace(b.doc().Find("#profile-heading ~ p strong").Text()); got != email {
		t.Fatalf("after signup: got signed in as %q, want %q", got, email)
	}

	wantPageStatus(t, "logout", b.submit(`nav form[action="/logout"] button`), http.StatusOK)
	if got, want := b.location(), srv.URL+"/"; got != want {
		t.Fatalf("after logout: got location %s, want %s", got, want)
	}
	if got := strings.TrimSpace(b.doc().Find(`.alert[role="status"]`).Text()); got != "You have been logged out." {
		t.Errorf("after logout: got notice %q, want %q", got, "You have been logged out.")
	}
	if c := b.sessionCookie(srv.URL); c != nil {
		t.Errorf("after logout: the browser still holds a session cookie (%+v)", c)
	}
	if got := b.signedInAs(srv.URL); got != "" {
		t.Fatalf("after logout: got signed in as %q, want signed out", got)
	}

	wantPageStatus(t, "login", b.login(srv.URL, email, browserPassword, true), http.StatusOK)
	if got, want := b.location(), srv.URL+"/account"; got != want {
		t.Fatalf("after login: got location %s, want %s", got, want)
	}
	if got := b.signedInAs(srv.URL); got != email {
		t.Fatalf("after login: got signed in as %q, want %q", got, email)
	}

	// The browser holds the session cookie, and scripts cannot read it.
	c := b.sessionCookie(srv.URL)
	if c == nil || !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax {
		t.Fatalf("session cookie = %+v, want an HttpOnly, SameSite=Lax cookie", c)
	}
	if cookies := browserStep(b, "read document.cookie", chromedp.Evaluate[string](`document.cookie`)); strings.Contains(cookies, "sid=") {
		t.Errorf("document.cookie = %q: scripts can read the session cookie", cookies)
	}
}

// TestBrowserPasswordReset walks forgot → mail → link → new password →
// log in, the mail going through a real SMTP server.
func TestBrowserPasswordReset(t *testing.T) {
	env, sink := mailEnv(t)
	srv := startBrowserServer(t, env)
	b := startBrowser(t, t.TempDir())
	email := browserEmail("reset")
	postSignup(t, srv.URL, email, browserPassword)

	b.navigate(srv.URL + "/login")
	wantPageStatus(t, "forgot link", b.loadBy("follow the forgot link", chromedp.Click(chromedp.CSS("#forgot-link"))), http.StatusOK)
	if got, want := b.location(), srv.URL+"/password/forgot"; got != want {
		t.Fatalf("forgot link: got location %s, want %s", got, want)
	}
	b.fill("#email", email)
	wantPageStatus(t, "ask for a link", b.submit(`form[action="/password/forgot"] button[type="submit"]`), http.StatusOK)
	if b.doc().Find("#forgot-sent").Length() != 1 {
		t.Fatal("no confirmation after asking for a reset link")
	}
	var link string
	sink.Wait(t, "reset mail", func([]smtptest.Mail) bool {
		for _, m := range sink.MailsTo(email) {
			if l := m.Link(srv.URL + "/password/reset?token="); l != "" {
				link = l
				return true
			}
		}
		return false
	})
	wantPageStatus(t, "open the link", b.navigate(link), http.StatusOK)
	b.fill("#new_password", "a completely new passphrase")
	wantPageStatus(t, "set the password", b.submit(`form[action="/password/reset"] button[type="submit"]`), http.StatusOK)
	if got, want := b.location(), srv.URL+"/login"; got != want {
		t.Fatalf("after the reset: got location %s, want %s", got, want)
	}
	if got := b.doc().Find(".alert-info").Text(); !strings.Contains(got, "password has been reset") {
		t.Errorf("after the reset: notice %q", got)
	}
	wantPageStatus(t, "log in", b.login(srv.URL, email, "a completely new passphrase", false), http.StatusOK)
	if got := b.signedInAs(srv.URL); got != email {
		t.Fatalf("after logging in with the new password: signed in as %q, want %q", got, email)
	}
	// The link worked once.
	res := b.navigate(link)
	wantPageStatus(t, "the used link", res, http.StatusBadRequest)
	if b.doc().Find("#ask-again").Length() != 1 {
		t.Fatal("the used link's page offers no new link")
	}
}

// TestBrowserRememberMe closes the browser and opens it again on the same
// profile: a remembered session survives, a browser-session one does not.
func TestBrowserRememberMe(t *testing.T) {
	srv := startBrowserServer(t, nil)
	email := browserEmail("remember")
	postSignup(t, srv.URL, email, browserPassword)

	for _, tt := range []struct {
		name     string
		remember bool
	}{
		{"remembered", true},
		{"not remembered", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			profile := t.TempDir()
			b := startBrowser(t, profile)
			wantPageStatus(t, "login", b.login(srv.URL, email, browserPassword, tt.remember), http.StatusOK)
			if got := b.signedInAs(srv.URL); got != email {
				t.Fatalf("before the restart: got signed in as %q, want %q", got, email)
			}
			c := b.sessionCookie(srv.URL)
			if c == nil {
				t.Fatal("before the restart: no session cookie")
			}
			if got, want := c.Session, !tt.remember; got != want {
				t.Errorf("session cookie: got browser-session %v, want %v", got, want)
			}
			b.close()

			b = startBrowser(t, profile)
			got := b.signedInAs(srv.URL)
			switch {
			case tt.remember && got != email:
				t.Errorf("after the restart: got signed in as %q, want %q", got, email)
			case !tt.remember && got != "":
				t.Errorf("after the restart: got signed in as %q, want signed out", got)
			}
		})
	}
}

// TestBrowserRevokeOtherSession signs in from two browsers as one user;
// the first ends the second's session from /account/sessions, and the
// second's next page is the login page.
func TestBrowserRevokeOtherSession(t *testing.T) {
	srv := startBrowserServer(t, nil)
	email := browserEmail("revoke")
	first := startBrowser(t, t.TempDir())
	wantPageStatus(t, "signup", first.signup(srv.URL, email, browserPassword), http.StatusOK)
	second := startBrowser(t, t.TempDir())
	wantPageStatus(t, "login", second.login(srv.URL, email, browserPassword, false), http.StatusOK)
	if got := second.signedInAs(srv.URL); got != email {
		t.Fatalf("second browser: got signed in as %q, want %q", got, email)
	}

	first.navigate(srv.URL + "/account/sessions")
	doc := first.doc()
	if got, want := doc.Find(".session").Length(), 2; got != want {
		t.Fatalf("sessions page: got %d sessions, want %d", got, want)
	}
	if got, want := doc.Find(".session-current").Length(), 1; got != want {
		t.Fatalf("sessions page: got %d current sessions, want %d", got, want)
	}
	wantPageStatus(t, "end session", first.submit(`.session:not(.session-current) form[action$="/revoke"] button`), http.StatusOK)
	if got, want := first.location(), srv.URL+"/account/sessions"; got != want {
		t.Errorf("after ending a session: got location %s, want %s", got, want)
	}
	if got, want := first.doc().Find(".session").Length(), 1; got != want {
		t.Errorf("sessions page after ending one: got %d sessions, want %d", got, want)
	}

	second.navigate(srv.URL + "/account/sessions")
	if got, want := second.location(), srv.URL+"/login?next=%2Faccount%2Fsessions"; got != want {
		t.Errorf("second browser after its session was ended: got location %s, want %s", got, want)
	}
	if got := first.signedInAs(srv.URL); got != email {
		t.Errorf("first browser: got signed in as %q, want %q", got, email)
	}
}

// TestBrowserCrossOriginRefused has pages of another site post forms to
// the app on their own, as forged requests do: each is refused with 403
// and changes nothing.
func TestBrowserCrossOriginRefused(t *testing.T) {
	srv := startBrowserServer(t, nil)
	email := browserEmail("forged")
	newPassword := "an entirely different passphrase"
	other := otherSite(t, map[string]http.HandlerFunc{
		"/logout": autoPost(srv.URL+"/logout", nil),
		"/password": autoPost(srv.URL+"/account/password", url.Values{
			"current_password": {browserPassword}, "new_password": {newPassword},
		}),
	})
	b := startBrowser(t, t.TempDir())
	wantPageStatus(t, "signup", b.signup(srv.URL, email, browserPassword), http.StatusOK)

	for _, tt := range []struct{ name, page, target string }{
		{"logout", other + "/logout", srv.URL + "/logout"},
		{"password change", other + "/password", srv.URL + "/account/password"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := b.in(t)
			landed, status := b.visitAutoPost(tt.page, srv.URL)
			if landed != tt.target || status != http.StatusForbidden {
				t.Errorf("POST %s from %s: got %d at %s, want %d at %s", tt.target, other, status, landed, http.StatusForbidden, tt.target)
			}
			// What Chrome sent: a cross-site request from the other origin.
			h := b.sentHeaders(tt.target)
			t.Logf("Chrome sent Origin: %s, Sec-Fetch-Site: %s", h.Get("Origin"), h.Get("Sec-Fetch-Site"))
			if got := h.Get("Sec-Fetch-Site"); got != "cross-site" {
				t.Errorf("Sec-Fetch-Site = %q, want cross-site", got)
			}
			if got := h.Get("Origin"); got != other {
				t.Errorf("Origin = %q, want %q", got, other)
			}
			if got := b.signedInAs(srv.URL); got != email {
				t.Errorf("after the forged request: got signed in as %q, want %q", got, email)
			}
		})
	}
	if !postLogin(t, srv.URL, email, browserPassword, "", false) {
		t.Error("the password no longer works: the forged password change went through")
	}
	if postLogin(t, srv.URL, email, newPassword, "", false) {
		t.Error("the forged new password works")
	}
}

// TestBrowserKeyboardOnly signs up and logs out with the keyboard alone:
// the tab order follows the page, the focus is always visible, the skip
// link works, and a form that comes back with errors puts the focus on its
// first field in error.
func TestBrowserKeyboardOnly(t *testing.T) {
	srv := startBrowserServer(t, nil)
	b := startBrowser(t, t.TempDir())
	b.navigate(srv.URL + "/signup")

	wantOrder := []string{"a:Skip to content", "a:Sessionlogin", "a:Log in", "a:Sign up", "#email", "#password", "button:Sign up", "a:Log in"}
	var got []string
	for range wantOrder {
		b.press("tab", kb.Tab)
		got = append(got, b.focused())
		if !b.focusVisible() {
			t.Errorf("the focus on %s is not visible", got[len(got)-1])
		}
	}
	if !slices.Equal(got, wantOrder) {
		t.Errorf("tab order: got %q, want %q", got, wantOrder)
	}

	b.navigate(srv.URL + "/signup")
	b.press("tab to the skip link", kb.Tab)
	b.press("follow the skip link", kb.Enter)
	if got, want := b.focusSettles("#main"), "#main"; got != want {
		t.Errorf("after the skip link: got the focus on %s, want %s", got, want)
	}
	b.press("tab into the form", kb.Tab)
	if got, want := b.focused(), "#email"; got != want {
		t.Fatalf("first tab after the skip link: got the focus on %s, want %s", got, want)
	}
	b.press("type an email", "not-an-email")
	b.press("tab to the password", kb.Tab)
	b.press("type a password", "short")
	wantPageStatus(t, "signup with errors", b.loadBy("submit with Enter", chromedp.KeyEvent(kb.Enter)), http.StatusUnprocessableEntity)
	if got, want := b.focusSettles("#email"), "#email"; got != want {
		t.Errorf("form with errors: got the focus on %s, want the first field in error, %s", got, want)
	}
	doc := b.doc()
	if got := doc.Find("#email").AttrOr("aria-describedby", ""); !strings.Contains(got, "email-error") {
		t.Errorf("#email aria-describedby = %q, want it to name email-error", got)
	}
	if got := doc.Find(`[role="alert"]`).Length(); got != 1 {
		t.Errorf("form with errors: got %d role=alert summaries, want 1", got)
	}

	b.press("select the email", "a", chromedp.KeyModifiers(chromedp.ModifierCtrl))
	b.press("type the email", browserEmail("keys"))
	b.press("tab to the password", kb.Tab)
	b.press("type the password", browserPassword)
	wantPageStatus(t, "signup", b.loadBy("submit with Enter", chromedp.KeyEvent(kb.Enter)), http.StatusOK)
	if got, want := b.location(), srv.URL+"/account"; got != want {
		t.Fatalf("after signup: got location %s, want %s", got, want)
	}

	for i := 0; b.focused() != "button:Log out"; i++ {
		if i == 10 {
			t.Fatal("the Log out button is not among the first 10 tab stops")
		}
		b.press("tab", kb.Tab)
	}
	wantPageStatus(t, "logout", b.loadBy("press Log out", chromedp.KeyEvent(kb.Enter)), http.StatusOK)
	if got := b.signedInAs(srv.URL); got != "" {
		t.Errorf("after logging out by keyboard: got signed in as %q", got)
	}
}

// screenshotDir is where page screenshots go: $SCREENSHOT_DIR, else a
// folder under the test's temporary directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SCREENSHOT_DIR")
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// mainDocumentStatus starts the line Chrome logs for a page whose own
// response is not a success ("Failed to load resource: the server
// responded with a status of 404 (Not Found)"): expected on error pages.
const mainDocumentStatus = "Failed to load resource: the server responded with a status of "

// consoleProblems returns what the tab logged since the last call, less
// Chrome's line about the page's own non-2xx status and its verbose and
// info hints (security messages, CSP violations among them, are kept at
// any level).
func (b *browser) consoleProblems(pageURL string) []consoleEntry {
	b.t.Helper()
	b.location() // a round trip: everything sent before it is recorded
	var problems []consoleEntry
	for _, e := range b.takeConsole() {
		if e.Kind == "log" && e.Source == "network" && e.URL == pageURL && strings.HasPrefix(e.Text, mainDocumentStatus) {
			continue
		}
		if e.Kind == "log" && e.Source != "security" && (e.Level == "verbose" || e.Level == "info") {
			continue
		}
		problems = append(problems, e)
	}
	return problems
}

// TestBrowserPages loads every page, error pages included, and checks each
// one's status and that it loads with no console errors or CSP violations;
// a screenshot of each goes to screenshotDir.
func TestBrowserPages(t *testing.T) {
	env, sink := mailEnv(t)
	env["LOGIN_MAX_FAILURES"] = "2"
	srv := startBrowserServer(t, env)
	// Another instance, whose session store (Redis on a port where nothing
	// listens) does not answer.
	// Reached at localhost like srv, so that the browser sends it srv's
	// session cookie.
	downAddr := freeAddr(t)
	down := startBrowserServer(t, map[string]string{"REDIS_URL": "redis://" + freeAddr(t) + "/0", "ADDR": downAddr, "PUBLIC_URL": localURL(t, downAddr)})
	dir := screenshotDir(t)

	res, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	csp := res.Header.Get("Content-Security-Policy")
	if csp == "" {
		t.Fatal("no Content-Security-Policy header")
	}
	other := otherSite(t, map[string]http.HandlerFunc{
		"/logout": autoPost(srv.URL+"/logout", nil),
		// A page under the app's own policy that breaks it with an inline
		// style: the console check must see the violation.
		"/csp-probe": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", csp)
			htmlPage(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>probe</title></head>`+
				`<body><p style="color: red">inline style</p></body></html>`)(w, r)
		},
	})
	b := startBrowser(t, t.TempDir())
	email := browserEmail("pages")

	// The rows run in order, in one browser; each reaches a page and
	// returns its status.
	for _, tt := range []struct {
		name   string
		status int
		load   func(b *browser) int
	}{
		{"home", http.StatusOK, func(b *browser) int { return pageStatus(b.navigate(srv.URL + "/")) }},
		{"signup", http.StatusOK, func(b *browser) int { return pageStatus(b.navigate(srv.URL + "/signup")) }},
		{"error-422-signup", http.StatusUnprocessableEntity, func(b *browser) int {
			b.fill("#email", "not-an-email")
			b.fill("#password", "short")
			return pageStatus(b.submit(`form[action="/signup"] button[type="submit"]`))
		}},
		{"login", http.StatusOK, func(b *browser) int { return pageStatus(b.navigate(srv.URL + "/login")) }},
		{"error-422-login", http.StatusUnprocessableEntity, func(b *browser) int {
			return pageStatus(b.login(srv.URL, "nobody@example.com", "wrong password 1", false))
		}},
		{"error-429", http.StatusTooManyRequests, func(b *browser) int {
			b.login(srv.URL, "nobody@example.com", "wrong password 2", false)
			return pageStatus(b.login(srv.URL, "nobody@example.com", "wrong password 3", false))
		}},
		{"error-404", http.StatusNotFound, func(b *browser) int { return pageStatus(b.navigate(srv.URL + "/no-such-page")) }},
		{"error-405", http.StatusMethodNotAllowed, func(b *browser) int {
			// A form posting to a GET-only route.
			b.navigate(srv.URL + "/login")
			b.do("point the form at /", chromedp.SetAttributeValue(chromedp.CSS(`form[action="/login"]`), "action", "/"))
			return pageStatus(b.submit(`form[action="/"] button[type="submit"]`))
		}},
		{"error-413", http.StatusRequestEntityTooLarge, func(b *browser) int {
			b.navigate(srv.URL + "/login")
			b.do("fill in 70 KiB", chromedp.SetValue(chromedp.CSS("#email"), strings.Repeat("a", 70<<10)))
			return pageStatus(b.submit(`form[action="/login"] button[type="submit"]`))
		}},
		{"forgot", http.StatusOK, func(b *browser) int { return pageStatus(b.navigate(srv.URL + "/password/forgot")) }},
		{"forgot-sent", http.StatusOK, func(b *browser) int {
			b.fill("#email", "nobody@example.com")
			return pageStatus(b.submit(`form[action="/password/forgot"] button[type="submit"]`))
		}},
		{"error-400-link", http.StatusBadRequest, func(b *browser) int {
			return pageStatus(b.navigate(srv.URL + "/password/reset?token=expired"))
		}},
		{"account", http.StatusOK, func(b *browser) int { return pageStatus(b.signup(srv.URL, email, browserPassword)) }},
		{"verify", http.StatusOK, func(b *browser) int {
			m := sink.WaitCount(t, email, 1)[0]
			return pageStatus(b.navigate(m.Link(srv.URL + "/email/verify?token=")))
		}},
		{"reset", http.StatusOK, func(b *browser) int {
			b.navigate(srv.URL + "/password/forgot")
			b.fill("#email", email)
			b.submit(`form[action="/password/forgot"] button[type="submit"]`)
			m := sink.WaitCount(t, email, 2)[1]
			return pageStatus(b.navigate(m.Link(srv.URL + "/password/reset?token=")))
		}},
		{"sessions", http.StatusOK, func(b *browser) int { return pageStatus(b.navigate(srv.URL + "/account/sessions")) }},
		{"activity", http.StatusOK, func(b *browser) int { return pageStatus(b.navigate(srv.URL + "/account/activity")) }},
		{"security", http.StatusOK, func(b *browser) int { return pageStatus(b.navigate(srv.URL + "/account/security")) }},
		{"totp-setup", http.StatusOK, func(b *browser) int { return pageStatus(b.submit(`form[action="/account/totp"] button`)) }},
		{"recovery-codes", http.StatusOK, func(b *browser) int {
			key, err := otp.NewKeyFromURL(strings.TrimSpace(b.doc().Find("#totp-uri").Text()))
			if err != nil {
				b.t.Fatal(err)
			}
			code, err := totp.GenerateCode(key.Secret(), time.Now())
			if err != nil {
				b.t.Fatal(err)
			}
			b.fill("#code", code)
			return pageStatus(b.submit(`form[action="/account/totp/confirm"] button`))
		}},
		{"error-403", http.StatusForbidden, func(b *browser) int {
			_, status := b.visitAutoPost(other+"/logout", srv.URL)
			return status
		}},
		{"home-signed-in", http.StatusOK, func(b *browser) int { return pageStatus(b.navigate(srv.URL + "/")) }},
		{"second-factor", http.StatusOK, func(b *browser) int {
			b.submit(`nav form[action="/logout"] button`)
			return pageStatus(b.login(srv.URL, email, browserPassword, false))
		}},
		// The browser holds a session cookie for localhost (cookies are per
		// host, not per port), so this instance must ask its store.
		{"error-503", http.StatusServiceUnavailable, func(b *browser) int { return pageStatus(b.navigate(down.URL + "/")) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := b.in(t)
			if got := tt.load(b); got != tt.status {
				t.Errorf("got status %d, want %d", got, tt.status)
			}
			loc := b.location()
			for _, e := range b.consoleProblems(loc) {
				t.Errorf("%s: console: %s", loc, e)
			}
			b.screenshot(dir, tt.name)
		})
	}

	t.Run("the console check sees CSP violations", func(t *testing.T) {
		b := b.in(t)
		b.navigate(other + "/csp-probe")
		problems := b.consoleProblems(other + "/csp-probe")
		if !slices.ContainsFunc(problems, func(e consoleEntry) bool { return strings.Contains(e.Text, "Content Security Policy") }) {
			t.Errorf("got console %q, want a CSP violation", problems)
		}
	})
}

// viewport is how a screenshot is taken: the window size and colour scheme.
type viewport struct {
	width, height int64
	phone         bool
	dark          bool
}

var (
	desktopLight = viewport{width: 1280, height: 800}
	desktopDark  = viewport{width: 1280, height: 800, dark: true}
	phoneLight   = viewport{width: 390, height: 844, phone: true}
	phoneDark    = viewport{width: 390, height: 844, phone: true, dark: true}
)

// emulate sets the window size and the preferred colour scheme.
func (b *browser) emulate(v viewport) {
	b.t.Helper()
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
	if v.phone {
		opts = []chromedp.EmulateViewportOption{chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulatePortrait}
	}
	scheme := "light"
	if v.dark {
		scheme = "dark"
	}
	b.do("emulate", chromedp.EmulateViewport(v.width, v.height, opts...),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
			})
			return err
		}))
}

// TestDocScreenshots writes the screenshots in docs/screenshots. It runs
// only when asked:
//
//	DOCS_SCREENSHOTS=1 go test ./cmd/web -run TestDocScreenshots
func TestDocScreenshots(t *testing.T) {
	if os.Getenv("DOCS_SCREENSHOTS") != "1" {
		t.Skip("set DOCS_SCREENSHOTS=1 to write docs/screenshots")
	}
	chromiumPath(t)
	dir := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// On localhost (mailEnv's PUBLIC_URL), where passkeys work (see
	// TestBrowserPasskeys).
	env, sink := mailEnv(t)
	env["LOG_LEVEL"] = "warn"
	srv := startServer(t, env)
	b := startBrowser(t, t.TempDir())
	b.virtualAuthenticator()
	const email = "ada@example.com"
	var secret string // of the authenticator app, once set up
	code := func(at time.Time) string {
		c, err := totp.GenerateCode(secret, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// Two more devices, signed in over plain HTTP with their own user
	// agents, so that the sessions page reads like a device list.
	otherDevices := func() {
		for _, d := range []struct {
			ua       string
			remember bool
		}{
			{"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", true},
			{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", false},
		} {
			if !postLogin(t, srv.URL, email, browserPassword, d.ua, d.remember) {
				t.Fatalf("login as %q failed", d.ua)
			}
		}
	}
	for _, s := range []struct {
		name string
		view viewport
		load func()
	}{
		{"home", desktopLight, func() { b.navigate(srv.URL + "/") }},
		{"signup-errors", desktopLight, func() {
			b.navigate(srv.URL + "/signup")
			b.fill("#email", "ada@example")
			b.fill("#password", "password")
			b.submit(`form[action="/signup"] button[type="submit"]`)
		}},
		{"login", desktopLight, func() { b.navigate(srv.URL + "/login") }},
		{"login-phone", phoneLight, func() { b.navigate(srv.URL + "/login") }},
		{"account", desktopLight, func() { b.signup(srv.URL, email, browserPassword) }},
		{"account-dark", desktopDark, func() { b.navigate(srv.URL + "/account") }},
		{"sessions", desktopLight, func() {
			otherDevices()
			b.navigate(srv.URL + "/account/sessions")
		}},
		{"sessions-dark", desktopDark, func() { b.navigate(srv.URL + "/account/sessions") }},
		{"sessions-phone", phoneLight, func() { b.navigate(srv.URL + "/account/sessions") }},
		{"activity", desktopLight, func() {
			// A failed attempt among the sign-ins, as the page would show one.
			postLogin(t, srv.URL, email, "a wrong guess", "curl/8.11.0", false)
			b.navigate(srv.URL + "/account/activity")
		}},
		{"activity-phone-dark", phoneDark, func() { b.navigate(srv.URL + "/account/activity") }},
		{"totp-setup", desktopLight, func() {
			b.navigate(srv.URL + "/account/security")
			b.submit(`form[action="/account/totp"] button`)
		}},
		{"recovery-codes", desktopLight, func() {
			key, err := otp.NewKeyFromURL(strings.TrimSpace(b.doc().Find("#totp-uri").Text()))
			if err != nil {
				t.Fatal(err)
			}
			secret = key.Secret()
			b.fill("#code", code(time.Now()))
			b.submit(`form[action="/account/totp/confirm"] button`)
		}},
		{"second-factor", desktopLight, func() {
			b.submit(`nav form[action="/logout"] button`)
			b.login(srv.URL, email, browserPassword, false)
		}},
		{"security", desktopLight, func() {
			// The next step's code: the one shown now was used to turn
			// the app on.
			b.fill("#code", code(time.Now().Add(30*time.Second)))
			b.submit(`form[action="/login/second-factor"] button`)
			b.navigate(srv.URL + "/account/security")
			b.waitVisible("#passkey-register")
			b.fill("#passkey-name", "MacBook Air")
			b.submit("#passkey-register")
		}},
		{"security-dark", desktopDark, func() { b.navigate(srv.URL + "/account/security") }},
		{"home-phone-dark", phoneDark, func() { b.navigate(srv.URL + "/") }},
		{"error-404", desktopLight, func() { b.navigate(srv.URL + "/no-such-page") }},
		{"forgot", desktopLight, func() {
			b.submit(`nav form[action="/logout"] button`)
			b.navigate(srv.URL + "/password/forgot")
		}},
		{"forgot-sent-phone", phoneLight, func() {
			b.fill("#email", email)
			b.submit(`form[action="/password/forgot"] button[type="submit"]`)
		}},
		{"reset", desktopLight, func() {
			var link string
			sink.Wait(t, "reset mail", func([]smtptest.Mail) bool {
				for _, m := range sink.MailsTo(email) {
					if link = m.Link("/password/reset?token="); link != "" {
						return true
					}
				}
				return false
			})
			b.navigate(link)
		}},
	} {
		b.emulate(s.view)
		s.load()
		size := b.screenshot(dir, s.name)
		t.Logf("%s.png: %d KB", s.name, size>>10)
		if size > 300<<10 {
			t.Errorf("%s.png is %d KB, want at most 300 KB", s.name, size>>10)
		}
	}
}
