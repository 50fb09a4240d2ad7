package app_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/memstate"
	"github.com/sessionlogin/sessionlogin/internal/storage"
	"github.com/sessionlogin/sessionlogin/internal/testenv"
	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// databases lists the account databases the revocation tests run on.
var databases = []string{"sqlite", "postgres"}

// useDatabase points sh at a fresh database of kind (newShared opens
// SQLite).
func (sh *shared) useDatabase(t *testing.T, kind string) {
	t.Helper()
	if kind != "postgres" {
		return
	}
	db, err := storage.Open(context.Background(), testenv.PostgresURL(t))
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	sh.db = db
}

// loseRegistry deletes the registry of user id behind the app's back, as a
// Redis eviction or an operator's DEL would.
func (sh *shared) loseRegistry(t *testing.T, id int64) {
	t.Helper()
	if sh.store == "redis" {
		conn := sh.state.Pool.Get()
		defer conn.Close()
		if _, err := conn.Do("DEL", sh.prefix+"z:"+strconv.FormatInt(id, 10)); err != nil {
			t.Fatalf("DEL: %v", err)
		}
		return
	}
	registry := sh.state.Registry.(*memstate.Registry)
	entries, err := registry.List(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := registry.Remove(context.Background(), id, e.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRevocationWithoutRegistry checks that a password change, "end all
// other sessions" and Sessions.EndAll end the other sessions even when the
// registry that indexes them is gone: the session generation kept with the
// account ends them, on every instance.
func TestRevocationWithoutRegistry(t *testing.T) {
	const newPassword = "a brand new passphrase"
	actions := []struct {
		name string
		// act ends the sessions through instance a, as owner; it reports
		// whether owner's own session is meant to stay signed in.
		act func(t *testing.T, a *instance, owner *webtest.Client, id int64) bool
	}{
		{"password change", func(t *testing.T, a *instance, owner *webtest.Client, _ int64) bool {
			webtest.WantRedirect(t, owner.Post(a.URL+"/account/password",
				url.Values{"current_password": {webtest.Password}, "new_password": {newPassword}}), "/account")
			return true
		}},
		{"end other sessions", func(t *testing.T, a *instance, owner *webtest.Client, _ int64) bool {
			webtest.WantRedirect(t, owner.Post(a.URL+"/account/sessions/revoke-others", nil), "/account/sessions")
			return true
		}},
		{"end all", func(t *testing.T, a *instance, _ *webtest.Client, id int64) bool {
			if err := a.Sessions.EndAll(context.Background(), id, auth.Client{IP: "192.0.2.9"}); err != nil {
				t.Fatalf("EndAll: %v", err)
			}
			return false
		}},
	}
	for _, store := range stores {
		for _, database := range databases {
			for _, tt := range actions {
				t.Run(store+"/"+database+"/"+tt.name, func(t *testing.T) {
					sh := newShared(t, store)
					sh.useDatabase(t, database)
					a, b := newInstance(t, sh, options{}), newInstance(t, sh, options{})
					owner := webtest.NewClient(t)
					owner.SignUp(a.URL, "ann@example.com", webtest.Password)
					other := webtest.NewClient(t)
					other.LogIn(b.URL, "ann@example.com", webtest.Password, true)
					token := other.Cookie("sid")
					id := sh.userID(t, "ann@example.com")

					ownerToken := owner.Cookie("sid")
					sh.loseRegistry(t, id)
					stays := tt.act(t, a, owner, id)

					for name, srv := range map[string]*instance{"a": a, "b": b} {
						if got := other.SignedInAs(srv.URL); got != "" {
							t.Errorf("other session on instance %s: still signed in as %q", name, got)
						}
					}
					if got := withToken(t, token).SignedInAs(b.URL); got != "" {
						t.Errorf("replayed token of the other session: signed in as %q", got)
					}
					want := ""
					if stays {
						want = "ann@example.com"
					}
					if got := owner.SignedInAs(b.URL); got != want {
						t.Errorf("the session that acted: signed in as %q, want %q", got, want)
					}
					// It goes on under a new token: a copy of the old one
					// (a stolen cookie) is signed out too.
					if got := withToken(t, ownerToken).SignedInAs(b.URL); got != "" {
						t.Errorf("the acting session's old token: signed in as %q", got)
					}
					// A fresh login works under the new generation.
					again := webtest.NewClient(t)
					password := webtest.Password
					if tt.name == "password change" {
						password = newPassword
					}
					again.LogIn(a.URL, "ann@example.com", password, false)
					if got := again.SignedInAs(b.URL); got != "ann@example.com" {
						t.Errorf("a new login afterwards: signed in as %q", got)
					}
				})
			}
		}
	}
}

// TestSessionCap checks that a user has at most MaxSessions live sessions:
// a login beyond that ends the oldest, and only it.
func TestSessionCap(t *testing.T) {
	const limit = 3
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			sh := newShared(t, store)
			srv := newInstance(t, sh, options{maxSessions: limit})
			first := webtest.NewClient(t)
			first.SignUp(srv.URL, "ann@example.com", webtest.Password) // session 1
			firstToken := first.Cookie("sid")
			var later []*webtest.Client
			for range limit - 1 {
				c := webtest.NewClient(t)
				c.LogIn(srv.URL, "ann@example.com", webtest.Password, true)
				later = append(later, c)
			}
			if got := first.SignedInAs(srv.URL); got != "ann@example.com" {
				t.Fatalf("at the cap, the oldest session: signed in as %q", got)
			}
			c := webtest.NewClient(t)
			c.LogIn(srv.URL, "ann@example.com", webtest.Password, false) // one too many
			later = append(later, c)
			if got := first.SignedInAs(srv.URL); got != "" {
				t.Fatalf("beyond the cap, the oldest session: still signed in as %q", got)
			}
			if sh.sessionStored(t, firstToken) {
				t.Error("the oldest session is still in the store")
			}
			for i, c := range later {
				if got := c.SignedInAs(srv.URL); got != "ann@example.com" {
					t.Errorf("session %d of the newest %d: signed in as %q", i+1, limit, got)
				}
			}
			l := listSessions(t, later[0], srv.URL)
			if n := l.items.Length(); n != limit {
				t.Errorf("sessions listed: got %d, want %d", n, limit)
			}
			webtest.WantStatus(t, later[0].Get(srv.URL+"/account"), http.StatusOK)
		})
	}
}
