package app_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

const (
	uaFirefoxLinux = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	uaChromeMac    = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)

// browserAt returns a client with user agent ua whose requests come from
// ip through the trusted proxy.
func browserAt(t *testing.T, ip, ua string) *webtest.Client {
	t.Helper()
	c := fromIP(t, ip)
	c.Header.Set("User-Agent", ua)
	return c
}

// activityItem is one event as the activity page shows it.
type activityItem struct {
	kind, title, meta string
	operator, this    bool
}

// activityPage fetches one page of /account/activity through c and returns
// its events and the link to the older page ("" when none).
func activityPage(t *testing.T, c *webtest.Client, u string) ([]activityItem, string) {
	t.Helper()
	res := c.Get(u)
	webtest.WantStatus(t, res, http.StatusOK)
	if got := res.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	doc := res.Doc(t)
	var items []activityItem
	doc.Find("ol.activity-list > li.activity").Each(func(_ int, s *goquery.Selection) {
		title := s.Find(".activity-title")
		items = append(items, activityItem{
			kind:     s.AttrOr("data-kind", ""),
			title:    strings.Join(strings.Fields(title.Text()), " "),
			meta:     strings.Join(strings.Fields(s.Find(".activity-meta").Text()), " "),
			operator: strings.Contains(title.Find(".tag").Text(), "operator"),
			this:     title.Find(".badge").Length() == 1,
		})
	})
	return items, doc.Find(`a[rel="next"]`).AttrOr("href", "")
}

func kindsOf(items []activityItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.kind
	}
	return out
}

// TestActivityPage plays a scripted sequence of security events on two
// accounts and checks that each account's activity page shows its own
// events, newest first, with browser, system and IP, and nothing of the
// other's.
func TestActivityPage(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			sh := newShared(t, store)
			srv := newInstance(t, sh, options{trustedProxies: "127.0.0.1/32"})
			ctx := auth.AsOperator(context.Background())

			anon := webtest.NewClient(t)
			webtest.WantRedirect(t, anon.Get(srv.URL+"/account/activity"), "/login?next=%2Faccount%2Factivity")

			ann := browserAt(t, "198.51.100.7", uaFirefoxLinux)
			ann.SignUp(srv.URL, "ann@example.com", webtest.Password)
			bob := browserAt(t, "203.0.113.9", uaChromeMac)
			bob.SignUp(srv.URL, "bob@example.com", webtest.Password)

			attacker := fromIP(t, "203.0.113.66")
			failN(t, attacker, srv.URL, "ann@example.com", 1)
			failN(t, attacker, srv.URL, "bob@example.com", 2)

			phone := browserAt(t, "198.51.100.8", uaChromeMac)
			phone.LogIn(srv.URL, "ann@example.com", webtest.Password, false)
			ids := listSessions(t, ann, srv.URL).revoke
			if len(ids) != 1 {
				t.Fatalf("got %d revocable sessions, want 1", len(ids))
			}
			webtest.WantRedirect(t, ann.Post(srv.URL+"/account/sessions/"+ids[0]+"/revoke", nil), "/account/sessions")
			const newPassword = "a brand new passphrase"
			webtest.WantRedirect(t, ann.Post(srv.URL+"/account/password",
				url.Values{"current_password": {webtest.Password}, "new_password": {newPassword}}), "/account")

			// An operator locks the account (ending its sessions) and
			// unlocks it, as bin/web admin does.
			annID := sh.userID(t, "ann@example.com")
			if err := srv.Auth.Lock(ctx, annID, auth.Client{}); err != nil {
				t.Fatal(err)
			}
			if err := srv.Sessions.EndAll(ctx, annID, auth.Client{}); err != nil {
				t.Fatal(err)
			}
			if err := srv.Auth.Unlock(ctx, annID, auth.Client{}); err != nil {
				t.Fatal(err)
			}
			webtest.WantRedirect(t, bob.Post(srv.URL+"/logout", nil), "/")
			ann.LogIn(srv.URL, "ann@example.com", newPassword, false)

			items, older := activityPage(t, ann, srv.URL+"/account/activity")
			want := []string{
				"login_success",
				"account_unlocked",
				"session_revoked", // by the lock
				"account_locked",
				"password_changed",
				"session_revoked", // the phone, ended from the laptop
				"login_success",   // the phone
				"login_failure",
				"login_success", // signing up signs in
				"signup",
			}
			if got := kindsOf(items); !slices.Equal(got, want) {
				t.Fatalf("ann's events:\n got %v\nwant %v", got, want)
			}
			if older != "" {
				t.Errorf("one page of events links to an older page %q", older)
			}
			for i, wantOperator := range []bool{false, true, true, true, false, false, false, false, false, false} {
				if items[i].operator != wantOperator {
					t.Errorf("event %d (%s): by operator = %v, want %v", i, items[i].kind, items[i].operator, wantOperator)
				}
			}
			checks := []struct {
				i          int
				title      string
				metaParts  []string
				thisDevice bool
			}{
				{0, "Signed in", []string{"Firefox on Linux", "IP 198.51.100.7"}, true},
				{6, "Signed in", []string{"Chrome on macOS", "IP 198.51.100.8"}, false},
				{7, "Failed sign-in attempt", []string{"IP 203.0.113.66"}, false},
				{4, "Password changed", []string{"Firefox on Linux", "IP 198.51.100.7"}, false},
			}
			for _, c := range checks {
				it := items[c.i]
				if !strings.HasPrefix(it.title, c.title) {
					t.Errorf("event %d: title %q, want %q", c.i, it.title, c.title)
				}
				for _, p := range c.metaParts {
					if !strings.Contains(it.meta, p) {
						t.Errorf("event %d (%s): meta %q lacks %q", c.i, it.kind, it.meta, p)
					}
				}
				if it.this != c.thisDevice {
					t.Errorf("event %d (%s): marked this session = %v, want %v", c.i, it.kind, it.this, c.thisDevice)
				}
			}
			for _, it := range items {
				if strings.Contains(it.meta, "203.0.113.9") {
					t.Errorf("ann's page shows bob's address: %+v", it)
				}
			}

			bobAgain := browserAt(t, "203.0.113.9", uaChromeMac)
			bobAgain.LogIn(srv.URL, "bob@example.com", webtest.Password, false)
			bobItems, _ := activityPage(t, bobAgain, srv.URL+"/account/activity")
			wantBob := []string{"login_success", "logout", "login_failure", "login_failure", "login_success", "signup"}
			if got := kindsOf(bobItems); !slices.Equal(got, wantBob) {
				t.Fatalf("bob's events:\n got %v\nwant %v", got, wantBob)
			}
		})
	}
}

// TestActivityPagination walks the activity pages older and older: every
// event once, newest first, and bad page positions refused with 400.
func TestActivityPagination(t *testing.T) {
	sh := newShared(t, "memory")
	srv := newInstance(t, sh, options{trustedProxies: "127.0.0.1/32", maxFailures: 100})
	ann := fromIP(t, "198.51.100.7")
	ann.SignUp(srv.URL, "ann@example.com", webtest.Password)
	const failures = 30
	failN(t, fromIP(t, "203.0.113.66"), srv.URL, "ann@example.com", failures)

	var all []activityItem
	next, pages := "/account/activity", 0
	for next != "" {
		items, older := activityPage(t, ann, srv.URL+next)
		pages++
		if older != "" && len(items) != 25 {
			t.Fatalf("page %d has %d events and an older page, want 25", pages, len(items))
		}
		all = append(all, items...)
		next = older
		if pages > 5 {
			t.Fatal("the pages never end")
		}
	}
	if pages != 2 || len(all) != failures+2 {
		t.Fatalf("got %d events on %d pages, want %d on 2", len(all), pages, failures+2)
	}
	want := append(slices.Repeat([]string{"login_failure"}, failures), "login_success", "signup")
	if got := kindsOf(all); !slices.Equal(got, want) {
		t.Fatalf("events across pages:\n got %v\nwant %v", got, want)
	}

	for _, bad := range []string{"x", "1", "1.0", "-5.3", "1.2.3", "99999999999999999999.1", ".", "1.x"} {
		res := ann.Get(srv.URL + "/account/activity?before=" + url.QueryEscape(bad))
		webtest.WantStatus(t, res, http.StatusBadRequest)
	}
}

// TestLockedAccount checks that a lock ends the account's sessions at
// their next request, on the account read per request alone (no sweep of
// the sessions), and that the right password then gets the same generic
// answer as a wrong one.
func TestLockedAccount(t *testing.T) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			sh := newShared(t, store)
			a, b := newInstance(t, sh, options{}), newInstance(t, sh, options{})
			ann := webtest.NewClient(t)
			ann.SignUp(a.URL, "ann@example.com", webtest.Password)
			if got := ann.SignedInAs(b.URL); got != "ann@example.com" {
				t.Fatalf("before the lock: signed in as %q on b", got)
			}
			id := sh.userID(t, "ann@example.com")
			if err := a.Auth.Lock(auth.AsOperator(context.Background()), id, auth.Client{}); err != nil {
				t.Fatal(err)
			}
			if got := ann.SignedInAs(b.URL); got != "" {
				t.Fatalf("after the lock: still signed in as %q", got)
			}

			right := attempt(webtest.NewClient(t), a.URL, "ann@example.com", webtest.Password)
			wrong := attempt(webtest.NewClient(t), a.URL, "ann@example.com", "not the password")
			for _, res := range []*webtest.Response{right, wrong} {
				webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
				if res.Cookie("sid") != nil && res.Cookie("sid").MaxAge >= 0 {
					t.Errorf("a refused login set a session cookie")
				}
				if got := res.Doc(t).Find(`.alert-error`).Text(); !strings.Contains(got, "Invalid email or password.") {
					t.Errorf("refused login says %q, want the generic message", got)
				}
			}

			if err := a.Auth.Unlock(auth.AsOperator(context.Background()), id, auth.Client{}); err != nil {
				t.Fatal(err)
			}
			webtest.NewClient(t).LogIn(b.URL, "ann@example.com", webtest.Password, false)
		})
	}
}
