package app_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// TestSessionFixation checks that the token changes at every sign-in, so a
// token an attacker planted (made up, or a real session of the attacker's)
// is worth nothing after the victim signs in.
func TestSessionFixation(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			srv := newInstance(t, newShared(t, store), options{})

			t.Run("signup renews", func(t *testing.T) {
				planted := "attacker-chosen-token-0123456789abcdefghijk"
				victim := withToken(t, planted)
				victim.SignUp(srv.URL, "victim1@example.com", webtest.Password)
				if got := victim.Cookie("sid"); got == "" || got == planted {
					t.Fatalf("token after signup = %q, want a new one", got)
				}
				if got := withToken(t, planted).SignedInAs(srv.URL); got != "" {
					t.Fatalf("planted token is signed in as %q after signup", got)
				}
			})

			t.Run("login renews a made-up token", func(t *testing.T) {
				webtest.NewClient(t).SignUp(srv.URL, "victim2@example.com", webtest.Password)
				planted := "attacker-chosen-token-abcdefghijk0123456789"
				victim := withToken(t, planted)
				victim.LogIn(srv.URL, "victim2@example.com", webtest.Password, false)
				if got := victim.Cookie("sid"); got == "" || got == planted {
					t.Fatalf("token after login = %q, want a new one", got)
				}
				if got := withToken(t, planted).SignedInAs(srv.URL); got != "" {
					t.Fatalf("planted token is signed in as %q after the victim's login", got)
				}
			})

			t.Run("login renews a live token", func(t *testing.T) {
				// The attacker plants the token of a real session of their
				// own; the victim signs in over it.
				attacker := webtest.NewClient(t)
				attacker.SignUp(srv.URL, "attacker@example.com", webtest.Password)
				webtest.NewClient(t).SignUp(srv.URL, "victim3@example.com", webtest.Password)
				planted := attacker.Cookie("sid")
				victim := withToken(t, planted)
				victim.LogIn(srv.URL, "victim3@example.com", webtest.Password, false)
				if got := victim.Cookie("sid"); got == planted {
					t.Fatal("login kept the planted token")
				}
				if got := victim.SignedInAs(srv.URL); got != "victim3@example.com" {
					t.Fatalf("victim signed in as %q, want victim3@example.com", got)
				}
				if got := withToken(t, planted).SignedInAs(srv.URL); got == "victim3@example.com" {
					t.Fatal("the planted token is signed in as the victim")
				}
			})

			t.Run("login while signed in renews", func(t *testing.T) {
				c := webtest.NewClient(t)
				c.SignUp(srv.URL, "victim4@example.com", webtest.Password)
				before := c.Cookie("sid")
				c.LogIn(srv.URL, "victim4@example.com", webtest.Password, false)
				if c.Cookie("sid") == before {
					t.Fatal("a second login kept the token")
				}
				if got := withToken(t, before).SignedInAs(srv.URL); got != "" {
					t.Fatalf("the token before the second login is still signed in as %q", got)
				}
			})
		})
	}
}

// TestLogoutReplay checks that logout ends the session in the store, not
// just in the browser: the old cookie, replayed, is anonymous.
func TestLogoutReplay(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			sh := newShared(t, store)
			srv := newInstance(t, sh, options{})
			c := webtest.NewClient(t)
			c.SignUp(srv.URL, "ann@example.com", webtest.Password)
			token := c.Cookie("sid")
			if !sh.sessionStored(t, token) {
				t.Fatal("the session is not in the store after signup")
			}

			res := c.Post(srv.URL+"/logout", nil)
			webtest.WantRedirect(t, res, "/")
			ck := res.Cookie("sid")
			if ck == nil || ck.MaxAge >= 0 || ck.Value != "" {
				t.Fatalf("logout Set-Cookie = %v, want sid expired (Max-Age=0) and empty", ck)
			}
			if ck.Path != "/" {
				t.Errorf("expiring cookie path = %q, want / (else the browser keeps the real one)", ck.Path)
			}
			if got := withToken(t, token).SignedInAs(srv.URL); got != "" {
				t.Fatalf("replayed cookie after logout is signed in as %q", got)
			}
			if sh.sessionStored(t, token) {
				t.Fatal("the session is still in the store after logout")
			}
			// The "logged out" message rides in its own cookie; the home
			// page shows it without starting a session.
			home := c.Get(srv.URL + "/")
			if got := home.Doc(t).Find(`.alert[role="status"]`).Text(); !strings.Contains(got, "logged out") {
				t.Errorf("home notice = %q, want the logged-out message", got)
			}
			if home.Cookie("sid") != nil {
				t.Errorf("showing the logged-out notice set a session cookie")
			}
			// Logging out anonymously is harmless.
			webtest.WantRedirect(t, webtest.NewClient(t).Post(srv.URL+"/logout", nil), "/")
		})
	}
}

// TestSessionCookieAttributes checks the session cookie's attributes, with
// and without remember-me.
func TestSessionCookieAttributes(t *testing.T) {
	const remember = 7777 * time.Second // distinctive, to tell it from any default
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			srv := newInstance(t, newShared(t, store), options{rememberLifetime: remember})
			signup := webtest.NewClient(t)
			res := signup.Post(srv.URL+"/signup", url.Values{"email": {"ann@example.com"}, "password": {webtest.Password}})
			webtest.WantRedirect(t, res, "/account")

			for _, tt := range []struct {
				name     string
				res      *webtest.Response
				remember bool
			}{
				{"signup", res, false},
				{"login", webtest.NewClient(t).LogIn(srv.URL, "ann@example.com", webtest.Password, false), false},
				{"login remember", webtest.NewClient(t).LogIn(srv.URL, "ann@example.com", webtest.Password, true), true},
			} {
				t.Run(tt.name, func(t *testing.T) {
					ck := tt.res.Cookie("sid")
					if ck == nil {
						t.Fatal("no sid cookie set")
					}
					if !ck.HttpOnly {
						t.Error("cookie not HttpOnly")
					}
					if ck.SameSite != http.SameSiteLaxMode {
						t.Errorf("SameSite = %v, want Lax", ck.SameSite)
					}
					if ck.Path != "/" {
						t.Errorf("Path = %q, want /", ck.Path)
					}
					if !ck.Secure {
						t.Error("cookie not Secure")
					}
					if ck.Domain != "" {
						t.Errorf("Domain = %q, want none", ck.Domain)
					}
					if !tt.remember {
						if ck.MaxAge != 0 || ck.RawExpires != "" {
							t.Errorf("Max-Age = %d, Expires = %q; want a browser-session cookie", ck.MaxAge, ck.RawExpires)
						}
						return
					}
					if got := time.Duration(ck.MaxAge) * time.Second; got < remember-5*time.Second || got > remember+5*time.Second {
						t.Errorf("Max-Age = %v, want about %v", got, remember)
					}
					if until := time.Until(ck.Expires); until < remember-10*time.Second || until > remember+10*time.Second {
						t.Errorf("Expires in %v, want about %v", until, remember)
					}
				})
			}
		})
	}
}

// TestRememberedSessionOutlivesIdle checks that "keep me signed in" keeps
// the user signed in over a long pause: a remembered session ends only at
// REMEMBER_ME_LIFETIME (or by logout, revocation, a password change), never
// by the idle timeout, which still ends a session without remember-me.
func TestRememberedSessionOutlivesIdle(t *testing.T) {
	t.Parallel()
	const idle = time.Second
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			srv := newInstance(t, newShared(t, store), options{idle: idle, lifetime: time.Hour, rememberLifetime: 3 * time.Second})
			webtest.NewClient(t).SignUp(srv.URL, "ann@example.com", webtest.Password)
			remembered, plain := webtest.NewClient(t), webtest.NewClient(t)
			remembered.LogIn(srv.URL, "ann@example.com", webtest.Password, true)
			plain.LogIn(srv.URL, "ann@example.com", webtest.Password, false)
			time.Sleep(idle + 500*time.Millisecond)
			if got := plain.SignedInAs(srv.URL); got != "" {
				t.Fatalf("session without remember-me idle for longer than %v: still signed in as %q", idle, got)
			}
			if got := remembered.SignedInAs(srv.URL); got != "ann@example.com" {
				t.Fatalf("remembered session idle for longer than %v: signed in as %q, want ann", idle, got)
			}
			// Its own lifetime still ends it, however busy it is.
			time.Sleep(2 * time.Second)
			if got := remembered.SignedInAs(srv.URL); got != "" {
				t.Fatalf("remembered session past its lifetime: still signed in as %q", got)
			}
		})
	}
}

// TestSessionLifetime checks that a session without remember-me ends at its
// absolute lifetime, however busy it is.
func TestSessionLifetime(t *testing.T) {
	t.Parallel()
	const lifetime = 2 * time.Second
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			srv := newInstance(t, newShared(t, store), options{lifetime: lifetime})
			c := webtest.NewClient(t)
			// The session's deadline is set during the signup request.
			before := time.Now()
			c.SignUp(srv.URL, "ann@example.com", webtest.Password)
			after := time.Now()
			for range 2 {
				time.Sleep(600 * time.Millisecond)
				start := time.Now()
				got := c.SignedInAs(srv.URL)
				if got != "ann@example.com" && start.Before(before.Add(lifetime)) {
					t.Fatalf("busy session %v after signup: signed in as %q", start.Sub(before), got)
				}
			}
			time.Sleep(time.Until(after.Add(lifetime + 300*time.Millisecond)))
			if got := c.SignedInAs(srv.URL); got != "" {
				t.Fatalf("session past its %v lifetime (idle timeout 30m) still signed in as %q", lifetime, got)
			}
		})
	}
}

// sessionList is the parsed /account/sessions page.
type sessionList struct {
	items   *goquery.Selection
	current *goquery.Selection
	revoke  []string // the ids in the revoke forms' actions
}

func listSessions(t *testing.T, c *webtest.Client, base string) sessionList {
	t.Helper()
	res := c.Get(base + "/account/sessions")
	webtest.WantStatus(t, res, http.StatusOK)
	doc := res.Doc(t)
	l := sessionList{
		items:   doc.Find("ul.session-list li.session"),
		current: doc.Find("ul.session-list li.session.session-current"),
	}
	doc.Find(`ul.session-list li.session form[method="post"]`).Each(func(_ int, s *goquery.Selection) {
		action := s.AttrOr("action", "")
		id, ok := strings.CutPrefix(action, "/account/sessions/")
		id, ok2 := strings.CutSuffix(id, "/revoke")
		if !ok || !ok2 || id == "" {
			t.Fatalf("revoke form action %q, want /account/sessions/{id}/revoke", action)
		}
		l.revoke = append(l.revoke, id)
	})
	return l
}

// TestSessionRegistry checks the list of a user's sessions and ending them
// one by one or all at once, through two instances sharing the state (on
// Redis: two processes on one Redis).
func TestSessionRegistry(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			sh := newShared(t, store)
			a, b := newInstance(t, sh, options{}), newInstance(t, sh, options{})
			webtest.NewClient(t).SignUp(a.URL, "ann@example.com", webtest.Password)

			first := webtest.NewClient(t)
			first.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
			first.LogIn(a.URL, "ann@example.com", webtest.Password, false)
			second := webtest.NewClient(t)
			second.Header.Set("User-Agent", "Mozilla/5.0 (iPhone) Safari/604.1")
			second.LogIn(b.URL, "ann@example.com", webtest.Password, true)
			if got := second.SignedInAs(a.URL); got != "ann@example.com" {
				t.Fatalf("login through one instance, other instance: signed in as %q", got)
			}

			l := listSessions(t, first, a.URL)
			// The signup's own session is the third.
			if n := l.items.Length(); n != 3 {
				t.Fatalf("got %d sessions listed, want 3", n)
			}
			if n := l.current.Length(); n != 1 {
				t.Fatalf("got %d sessions marked current, want 1", n)
			}
			if got := strings.TrimSpace(l.current.Find(".badge").Text()); got != "This device" {
				t.Errorf("current session badge = %q, want This device", got)
			}
			if n := l.items.Find(".badge").Length(); n != 1 {
				t.Errorf("got %d badges, want 1", n)
			}
			if !strings.Contains(l.current.Find(".session-ua").Text(), "Firefox") {
				t.Errorf("current session user agent = %q, want the first client's", l.current.Find(".session-ua").Text())
			}
			if n := l.current.Find("form").Length(); n != 0 {
				t.Errorf("the current session has a revoke form; logging out is the way to end it")
			}
			if len(l.revoke) != 2 {
				t.Fatalf("got %d revoke forms, want 2", len(l.revoke))
			}
			tokens := []string{first.Cookie("sid"), second.Cookie("sid")}
			for _, id := range l.revoke {
				for _, tok := range tokens {
					if id == tok || strings.Contains(id, tok) || strings.Contains(tok, id) || id == storeKey(tok) {
						t.Fatalf("revoke id %q reveals a session token", id)
					}
				}
			}
			var secondID string
			l.items.Each(func(_ int, s *goquery.Selection) {
				if strings.Contains(s.Find(".session-ua").Text(), "iPhone") {
					secondID = strings.TrimSuffix(strings.TrimPrefix(s.Find("form").AttrOr("action", ""), "/account/sessions/"), "/revoke")
				}
			})
			if secondID == "" {
				t.Fatal("the second client's session is not listed with its user agent")
			}

			// A user cannot end another user's session, and an unknown id
			// is not found.
			other := webtest.NewClient(t)
			other.SignUp(b.URL, "bob@example.com", webtest.Password)
			for _, id := range []string{secondID, "AAAAAAAAAAAAAAAA", storeKey(second.Cookie("sid"))} {
				res := other.Post(a.URL+"/account/sessions/"+id+"/revoke", nil)
				webtest.WantStatus(t, res, http.StatusNotFound)
				if res.Doc(t).Find("main h1").Length() != 1 {
					t.Errorf("revoke %q: 404 is not the error page", id)
				}
			}
			webtest.WantStatus(t, first.Post(a.URL+"/account/sessions/"+strings.Repeat("x", 16)+"/revoke", nil), http.StatusNotFound)
			if got := second.SignedInAs(b.URL); got != "ann@example.com" {
				t.Fatalf("after refused revocations the second session is signed in as %q", got)
			}

			// Ending the second session signs it out at once, on both instances.
			webtest.WantRedirect(t, first.Post(a.URL+"/account/sessions/"+secondID+"/revoke", nil), "/account/sessions")
			if got := withToken(t, second.Cookie("sid")).SignedInAs(b.URL); got != "" {
				t.Fatalf("revoked session on the other instance: signed in as %q", got)
			}
			if got := second.SignedInAs(a.URL); got != "" {
				t.Fatalf("revoked session: signed in as %q", got)
			}
			l = listSessions(t, first, a.URL)
			if n := l.items.Length(); n != 2 {
				t.Fatalf("after one revocation: %d sessions listed, want 2", n)
			}
			webtest.WantStatus(t, first.Post(a.URL+"/account/sessions/"+secondID+"/revoke", nil), http.StatusNotFound)

			// Sign out all the others.
			third, fourth := webtest.NewClient(t), webtest.NewClient(t)
			third.LogIn(a.URL, "ann@example.com", webtest.Password, false)
			fourth.LogIn(b.URL, "ann@example.com", webtest.Password, false)
			webtest.WantRedirect(t, first.Post(a.URL+"/account/sessions/revoke-others", nil), "/account/sessions")
			for name, c := range map[string]*webtest.Client{"third": third, "fourth": fourth} {
				if got := c.SignedInAs(b.URL); got != "" {
					t.Errorf("%s session after revoke-others: signed in as %q", name, got)
				}
			}
			if got := first.SignedInAs(b.URL); got != "ann@example.com" {
				t.Fatalf("revoke-others ended this session too: signed in as %q", got)
			}
			l = listSessions(t, first, a.URL)
			if l.items.Length() != 1 || l.current.Length() != 1 {
				t.Fatalf("after revoke-others: %d sessions (%d current), want only this one", l.items.Length(), l.current.Length())
			}
			// Bob's session was never touched.
			if got := other.SignedInAs(a.URL); got != "bob@example.com" {
				t.Fatalf("another user's session after revoke-others: signed in as %q", got)
			}
		})
	}
}

// TestPasswordChange checks the form's errors, and that a change ends the
// other sessions and renews this one's token.
func TestPasswordChange(t *testing.T) {
	const newPassword = "a brand new passphrase"
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			sh := newShared(t, store)
			a, b := newInstance(t, sh, options{}), newInstance(t, sh, options{})
			c := webtest.NewClient(t)
			c.SignUp(a.URL, "ann@example.com", webtest.Password)
			other := webtest.NewClient(t)
			other.LogIn(b.URL, "ann@example.com", webtest.Password, true)

			for _, tt := range []struct {
				name           string
				current, next  string
				field, message string
			}{
				{"wrong current", "not my password", newPassword, "current_password", "incorrect"},
				{"missing current", "", newPassword, "current_password", "Enter your current password"},
				{"common new", webtest.Password, "iloveyou", "new_password", "too common"},
				{"short new", webtest.Password, "short", "new_password", "at least 8"},
				{"new is email", webtest.Password, "ann@example.com", "new_password", "email"},
			} {
				t.Run(tt.name, func(t *testing.T) {
					res := c.Post(a.URL+"/account/password", url.Values{"current_password": {tt.current}, "new_password": {tt.next}})
					webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
					doc := res.Doc(t)
					if got := doc.Find("#" + tt.field + "-error").Text(); !strings.Contains(got, tt.message) {
						t.Errorf("#%s-error = %q, want it to contain %q", tt.field, got, tt.message)
					}
					if n := doc.Find("input#" + tt.field + `[aria-invalid="true"]`).Length(); n != 1 {
						t.Errorf("input#%s[aria-invalid=true]: got %d, want 1", tt.field, n)
					}
					doc.Find(`input[type="password"]`).Each(func(_ int, s *goquery.Selection) {
						if v, ok := s.Attr("value"); ok {
							t.Errorf("password input %s has value %q", s.AttrOr("id", ""), v)
						}
					})
				})
			}
			if got := other.SignedInAs(b.URL); got != "ann@example.com" {
				t.Fatalf("failed changes ended the other session: signed in as %q", got)
			}

			before := c.Cookie("sid")
			res := c.Post(a.URL+"/account/password", url.Values{"current_password": {webtest.Password}, "new_password": {newPassword}})
			webtest.WantRedirect(t, res, "/account")
			after := c.Cookie("sid")
			if after == "" || after == before {
				t.Fatalf("token after a password change = %q, want a new one", after)
			}
			if got := c.SignedInAs(a.URL); got != "ann@example.com" {
				t.Fatalf("after a password change: signed in as %q", got)
			}
			if got := withToken(t, before).SignedInAs(a.URL); got != "" {
				t.Fatalf("the token before the change is signed in as %q", got)
			}
			if got := other.SignedInAs(b.URL); got != "" {
				t.Fatalf("the other session after a password change: signed in as %q", got)
			}
			if l := listSessions(t, c, b.URL); l.items.Length() != 1 || l.current.Length() != 1 {
				t.Fatalf("after a password change: %d sessions (%d current), want only this one", l.items.Length(), l.current.Length())
			}

			res = webtest.NewClient(t).Post(a.URL+"/login", url.Values{"email": {"ann@example.com"}, "password": {webtest.Password}})
			webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
			webtest.NewClient(t).LogIn(b.URL, "ann@example.com", newPassword, false)
		})
	}
}

// TestPasswordChangeKeepsCookieKind checks that the token renewed by a
// password change keeps the session's kind: a remembered session stays
// persistent with its deadline, a browser session stays a browser session.
func TestPasswordChangeKeepsCookieKind(t *testing.T) {
	const remember = 7777 * time.Second
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			srv := newInstance(t, newShared(t, store), options{rememberLifetime: remember})
			webtest.NewClient(t).SignUp(srv.URL, "ann@example.com", webtest.Password)
			password := webtest.Password
			for _, remembered := range []bool{true, false} {
				c := webtest.NewClient(t)
				c.LogIn(srv.URL, "ann@example.com", password, remembered)
				next := password + " again"
				res := c.Post(srv.URL+"/account/password", url.Values{"current_password": {password}, "new_password": {next}})
				webtest.WantRedirect(t, res, "/account")
				password = next
				ck := res.Cookie("sid")
				if ck == nil || ck.Value == "" {
					t.Fatalf("remember=%v: no renewed session cookie", remembered)
				}
				got := time.Duration(ck.MaxAge) * time.Second
				switch {
				case remembered && (got < remember-5*time.Second || got > remember+5*time.Second):
					t.Errorf("remembered session after a password change: Max-Age %v, want about %v", got, remember)
				case !remembered && (ck.MaxAge != 0 || ck.RawExpires != ""):
					t.Errorf("browser session after a password change: Max-Age %d, Expires %q, want neither", ck.MaxAge, ck.RawExpires)
				}
				if got := c.SignedInAs(srv.URL); got != "ann@example.com" {
					t.Fatalf("remember=%v: after the change signed in as %q", remembered, got)
				}
			}
		})
	}
}

// TestAccountDelete checks that deleting the account needs the password,
// then ends every session and the account itself.
func TestAccountDelete(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			sh := newShared(t, store)
			a, b := newInstance(t, sh, options{}), newInstance(t, sh, options{})
			c := webtest.NewClient(t)
			c.SignUp(a.URL, "ann@example.com", webtest.Password)
			other := webtest.NewClient(t)
			other.LogIn(b.URL, "ann@example.com", webtest.Password, true)
			tokens := []string{c.Cookie("sid"), other.Cookie("sid")}

			res := c.Post(a.URL+"/account/delete", url.Values{"password": {"not my password"}})
			webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
			if got := res.Doc(t).Find("#password-error").Text(); !strings.Contains(got, "incorrect") {
				t.Errorf("#password-error = %q, want the incorrect-password message", got)
			}
			if got := other.SignedInAs(b.URL); got != "ann@example.com" {
				t.Fatalf("a refused deletion ended a session: signed in as %q", got)
			}

			res = c.Post(a.URL+"/account/delete", url.Values{"password": {webtest.Password}})
			webtest.WantRedirect(t, res, "/")
			if ck := res.Cookie("sid"); ck == nil || ck.MaxAge >= 0 {
				t.Fatalf("deletion: session cookie not expired: %v", ck)
			}
			for i, tok := range tokens {
				if got := withToken(t, tok).SignedInAs(b.URL); got != "" {
					t.Errorf("session %d after deletion: signed in as %q", i, got)
				}
				if sh.sessionStored(t, tok) {
					t.Errorf("session %d still in the store after deletion", i)
				}
			}
			res = webtest.NewClient(t).Post(a.URL+"/login", url.Values{"email": {"ann@example.com"}, "password": {webtest.Password}})
			webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
			// The address is free again.
			webtest.NewClient(t).SignUp(b.URL, "ann@example.com", webtest.Password)
		})
	}
}

// TestDeletedUserSession checks that a session whose account disappeared
// behind the service's back (deleted in the database) is anonymous and
// ended on its next request.
func TestDeletedUserSession(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			sh := newShared(t, store)
			srv := newInstance(t, sh, options{})
			c := webtest.NewClient(t)
			c.SignUp(srv.URL, "ann@example.com", webtest.Password)
			token := c.Cookie("sid")
			if err := sh.db.DeleteUser(t.Context(), sh.userID(t, "ann@example.com")); err != nil {
				t.Fatal(err)
			}
			res := c.Get(srv.URL + "/account")
			webtest.WantRedirect(t, res, "/login?next=%2Faccount")
			if ck := res.Cookie("sid"); ck == nil || ck.MaxAge >= 0 {
				t.Errorf("session of a deleted user: cookie not expired: %v", ck)
			}
			if sh.sessionStored(t, token) {
				t.Error("session of a deleted user still in the store")
			}
			if got := withToken(t, token).SignedInAs(srv.URL); got != "" {
				t.Errorf("replayed token of a deleted user: signed in as %q", got)
			}
		})
	}
}

// TestManyLoginsStayRevocable checks that every session stays in the
// registry however many a user opens: a login that prunes the registry
// must not drop itself (its session is saved only after the handler), or a
// thief with the password could open sessions that "end all others" misses.
func TestManyLoginsStayRevocable(t *testing.T) {
	t.Parallel()
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			srv := newInstance(t, newShared(t, store), options{})
			owner := webtest.NewClient(t)
			owner.SignUp(srv.URL, "ann@example.com", webtest.Password)
			var thieves []*webtest.Client
			for range 40 {
				c := webtest.NewClient(t)
				c.LogIn(srv.URL, "ann@example.com", webtest.Password, true)
				thieves = append(thieves, c)
			}
			webtest.WantRedirect(t, owner.Post(srv.URL+"/account/sessions/revoke-others", nil), "/account/sessions")
			for i, c := range thieves {
				if got := c.SignedInAs(srv.URL); got != "" {
					t.Fatalf("session %d of %d: still signed in as %q after the owner ended all others", i+1, len(thieves), got)
				}
			}
			if got := owner.SignedInAs(srv.URL); got != "ann@example.com" {
				t.Fatalf("owner: signed in as %q, want ann@example.com", got)
			}
		})
	}
}
