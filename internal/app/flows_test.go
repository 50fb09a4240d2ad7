package app_test

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// TestCoreFlow walks signup → account → logout → login on every store.
func TestCoreFlow(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			srv := newInstance(t, newShared(t, store), options{})
			c := webtest.NewClient(t)

			webtest.WantStatus(t, c.Get(srv.URL+"/"), http.StatusOK)
			c.SignUp(srv.URL, "Ann@Example.com ", webtest.Password)
			if got := c.SignedInAs(srv.URL); got != "ann@example.com" {
				t.Fatalf("after signup: signed in as %q, want ann@example.com", got)
			}
			res := c.Post(srv.URL+"/logout", nil)
			webtest.WantRedirect(t, res, "/")
			if ck := res.Cookie("sid"); ck == nil || ck.MaxAge >= 0 {
				t.Fatalf("logout: session cookie not expired: %v", ck)
			}
			if got := c.SignedInAs(srv.URL); got != "" {
				t.Fatalf("after logout: signed in as %q", got)
			}
			c.LogIn(srv.URL, "ann@example.com", webtest.Password, false)
			if got := c.SignedInAs(srv.URL); got != "ann@example.com" {
				t.Fatalf("after login: signed in as %q", got)
			}
			res = c.Get(srv.URL + "/account")
			if got := res.Header.Get("Cache-Control"); got != "no-store" {
				t.Fatalf("account Cache-Control = %q, want no-store", got)
			}
		})
	}
}

// TestSignupInvalid checks that every refused sign-up answers 422 with the
// form again: the error beside the offending field, the email kept, the
// password never echoed, and nobody signed in.
func TestSignupInvalid(t *testing.T) {
	long := strings.Repeat("abcdefgh", 32) + "x" // 257 characters
	tests := []struct {
		name     string
		email    string
		password string
		field    string // the field whose error is shown
		contains string // part of the message
	}{
		{"empty email", "", webtest.Password, "email", "Enter your email"},
		{"bad email", "not-an-email", webtest.Password, "email", "valid email"},
		{"display name", "Ann <ann@example.com>", webtest.Password, "email", "valid email"},
		{"short password", "bob@example.com", "short1", "password", "at least 8"},
		{"common password", "bob@example.com", "iloveyou", "password", "too common"},
		{"password is email", "longname@example.com", "LongName@Example.com", "password", "must not be your email"},
		{"password over 256", "bob@example.com", long, "password", "at most 256"},
		{"taken email", "Taken@Example.com", webtest.Password, "email", "already exists"},
	}
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			srv := newInstance(t, newShared(t, store), options{})
			webtest.NewClient(t).SignUp(srv.URL, "taken@example.com", webtest.Password)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					c := webtest.NewClient(t)
					res := c.Post(srv.URL+"/signup", url.Values{"email": {tt.email}, "password": {tt.password}})
					webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
					doc := res.Doc(t)
					if got := doc.Find("#" + tt.field + "-error").Text(); !strings.Contains(got, tt.contains) {
						t.Errorf("#%s-error = %q, want it to contain %q", tt.field, got, tt.contains)
					}
					if n := doc.Find(".field-error").Length(); n != 1 {
						t.Errorf("got %d field errors, want 1", n)
					}
					if n := doc.Find("input#" + tt.field + `[aria-invalid="true"]`).Length(); n != 1 {
						t.Errorf("input#%s[aria-invalid=true]: got %d, want 1", tt.field, n)
					}
					if got := doc.Find("input#"+tt.field).AttrOr("aria-describedby", ""); !strings.Contains(got, tt.field+"-error") {
						t.Errorf("input#%s aria-describedby = %q, want it to name %s-error", tt.field, got, tt.field)
					}
					if got, ok := doc.Find("input#email").Attr("value"); !ok || got != tt.email {
						t.Errorf("email value = %q (present %v), want %q kept", got, ok, tt.email)
					}
					if v, ok := doc.Find("input#password").Attr("value"); ok {
						t.Errorf("password input has value %q, want none", v)
					}
					if !strings.EqualFold(tt.password, tt.email) && strings.Contains(res.Body, tt.password) {
						t.Errorf("the submitted password appears in the page")
					}
					if c.Cookie("sid") != "" {
						t.Errorf("a refused sign-up set a session cookie")
					}
				})
			}
			// The taken email's account is untouched by the failed attempt.
			webtest.NewClient(t).LogIn(srv.URL, "taken@example.com", webtest.Password, false)
		})
	}
}

// TestLoginWrongCredentials checks the single generic message, and that an
// unknown email cannot be told from a wrong password: same status, same
// headers, byte-identical body.
func TestLoginWrongCredentials(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			sh := newShared(t, store)
			srv := newInstance(t, sh, options{})
			webtest.NewClient(t).SignUp(srv.URL, "ann@example.com", webtest.Password)

			form := url.Values{"email": {"ann@example.com"}, "password": {"wrong password entirely"}}
			c := webtest.NewClient(t)
			wrong := c.Post(srv.URL+"/login", form)
			webtest.WantStatus(t, wrong, http.StatusUnprocessableEntity)
			doc := wrong.Doc(t)
			if got := strings.TrimSpace(doc.Find(`.alert-error[role="alert"]`).Text()); got != "Invalid email or password." {
				t.Errorf("form message = %q, want %q", got, "Invalid email or password.")
			}
			if n := doc.Find(`.field-error, [aria-invalid="true"]`).Length(); n != 0 {
				t.Errorf("got %d field-level errors, want none (one generic message)", n)
			}
			if c.Cookie("sid") != "" {
				t.Errorf("a failed login set a session cookie")
			}

			// The same request once the account no longer exists: the
			// "unknown email" answer must be the same bytes.
			if err := sh.db.DeleteUser(t.Context(), sh.userID(t, "ann@example.com")); err != nil {
				t.Fatal(err)
			}
			unknown := webtest.NewClient(t).Post(srv.URL+"/login", form)
			if unknown.StatusCode != wrong.StatusCode {
				t.Errorf("unknown email: got status %d, wrong password %d", unknown.StatusCode, wrong.StatusCode)
			}
			if unknown.Body != wrong.Body {
				t.Errorf("unknown email and wrong password bodies differ:\nunknown:\n%s\nwrong:\n%s", unknown.Body, wrong.Body)
			}
			if got, want := headerShape(unknown.Header), headerShape(wrong.Header); got != want {
				t.Errorf("headers differ: unknown email %s, wrong password %s", got, want)
			}
		})
	}
}

// headerShape lists header names and values, leaving out the ones that
// differ between any two responses (Date, the request id).
func headerShape(h http.Header) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(h)) {
		if k == "Date" || k == "X-Request-Id" {
			continue
		}
		b.WriteString(k + "=" + strings.Join(h[k], ",") + ";")
	}
	return b.String()
}

// TestLoginNext checks the post-login destination: a local path is
// followed, anything a browser could read as another site lands on
// /account, and protected pages send anonymous visitors to the login page
// with themselves as next.
func TestLoginNext(t *testing.T) {
	tests := []struct {
		name string
		next string
		want string
	}{
		{"empty", "", "/account"},
		{"local path", "/account/sessions", "/account/sessions"},
		{"local path with query", "/account/sessions?tab=all#x", "/account/sessions?tab=all#x"},
		// Percent-encoded slashes stay in the path: a browser requests
		// /%2F%2Fevil on this site, it never reads them as a host.
		{"encoded slashes stay local", "/%2F%2Fevil", "/%2F%2Fevil"},
		{"protocol-relative", "//evil.com", "/account"},
		{"triple slash", "///evil.com", "/account"},
		{"backslash", `/\evil.com`, "/account"},
		{"absolute URL", "https://evil.com", "/account"},
		{"javascript", "javascript:alert(1)", "/account"},
		{"leading tab", "\t//evil.com", "/account"},
		{"tab between slashes", "/\t/evil.com", "/account"},
		{"newline between slashes", "/\n/evil.com", "/account"},
		{"relative", "evil.com", "/account"},
		{"scheme without slashes", "https:evil.com", "/account"},
		{"userinfo", "//user@evil.com", "/account"},
	}
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			srv := newInstance(t, newShared(t, store), options{})
			webtest.NewClient(t).SignUp(srv.URL, "ann@example.com", webtest.Password)

			anon := webtest.NewClient(t)
			webtest.WantRedirect(t, anon.Get(srv.URL+"/account"), "/login?next=%2Faccount")
			webtest.WantRedirect(t, anon.Get(srv.URL+"/account/sessions"), "/login?next=%2Faccount%2Fsessions")

			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					// The login page carries a safe next into its form, and
					// drops an unsafe one.
					page := webtest.NewClient(t).Get(srv.URL + "/login?next=" + url.QueryEscape(tt.next))
					webtest.WantStatus(t, page, http.StatusOK)
					hidden := page.Doc(t).Find(`form[action="/login"] input[type="hidden"][name="next"]`)
					if tt.want == "/account" && tt.next != "/account" {
						if hidden.Length() != 0 {
							t.Errorf("login page keeps unsafe next %q as %q", tt.next, hidden.AttrOr("value", ""))
						}
					} else if got := hidden.AttrOr("value", ""); got != tt.next {
						t.Errorf("login page next = %q, want %q", got, tt.next)
					}

					c := webtest.NewClient(t)
					res := c.Post(srv.URL+"/login", url.Values{
						"email": {"ann@example.com"}, "password": {webtest.Password}, "next": {tt.next},
					})
					webtest.WantRedirect(t, res, tt.want)
				})
			}
		})
	}
}

// TestPagesForSignedInVisitors checks that the login and signup pages send
// a signed-in visitor on, and that the navigation shows the log-out form.
func TestPagesForSignedInVisitors(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			srv := newInstance(t, newShared(t, store), options{})
			c := webtest.NewClient(t)
			c.SignUp(srv.URL, "ann@example.com", webtest.Password)
			webtest.WantRedirect(t, c.Get(srv.URL+"/login"), "/account")
			webtest.WantRedirect(t, c.Get(srv.URL+"/login?next=%2Faccount%2Fsessions"), "/account/sessions")
			webtest.WantRedirect(t, c.Get(srv.URL+"/login?next=%2F%2Fevil.com"), "/account")
			webtest.WantRedirect(t, c.Get(srv.URL+"/signup"), "/account")
			home := c.Get(srv.URL + "/")
			webtest.WantStatus(t, home, http.StatusOK)
			if n := home.Doc(t).Find(`nav form[method="post"][action="/logout"] button`).Length(); n != 1 {
				t.Errorf("home page for a signed-in user: got %d log-out buttons, want 1", n)
			}
			anonHome := webtest.NewClient(t).Get(srv.URL + "/").Doc(t)
			if n := anonHome.Find(`nav form[action="/logout"]`).Length(); n != 0 {
				t.Errorf("home page for an anonymous visitor shows a log-out form")
			}
			var links []string
			anonHome.Find("nav a").Each(func(_ int, s *goquery.Selection) { links = append(links, s.AttrOr("href", "")) })
			if strings.Join(links, " ") != "/login /signup" {
				t.Errorf("anonymous nav links = %v, want [/login /signup]", links)
			}
		})
	}
}
