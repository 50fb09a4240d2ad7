package app_test

import (
	"bufio"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// auditRecords returns the audit records in a text log, each as its
// key=value fields.
func auditRecords(t *testing.T, log string) []map[string]string {
	t.Helper()
	var out []map[string]string
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		fields := map[string]string{}
		for _, f := range strings.Fields(sc.Text()) {
			if k, v, ok := strings.Cut(f, "="); ok {
				fields[k] = v
			}
		}
		if fields["msg"] == "audit" {
			out = append(out, fields)
		}
	}
	return out
}

// TestAuditLog checks that every security event leaves an audit record
// with the user and the client IP, and that no log line holds a session
// token, a password or a raw session id.
func TestAuditLog(t *testing.T) {
	const newPassword = "a brand new passphrase"
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			logs := &webtest.SyncBuffer{}
			sh := newShared(t, store)
			srv := newInstance(t, sh, options{logs: logs, maxFailures: 2, trustedProxies: "127.0.0.1/32"})
			var tokens []string
			keep := func(c *webtest.Client) { tokens = append(tokens, c.Cookie("sid")) }

			c := fromIP(t, "198.51.100.7")
			c.SignUp(srv.URL, "ann@example.com", webtest.Password)
			keep(c)
			uid := fmt.Sprint(sh.userID(t, "ann@example.com"))

			other := fromIP(t, "198.51.100.8")
			other.LogIn(srv.URL, "ann@example.com", webtest.Password, false)
			keep(other)
			ids := listSessions(t, c, srv.URL).revoke
			if len(ids) != 1 {
				t.Fatalf("got %d revocable sessions, want 1", len(ids))
			}
			webtest.WantRedirect(t, c.Post(srv.URL+"/account/sessions/"+ids[0]+"/revoke", nil), "/account/sessions")

			attacker := fromIP(t, "203.0.113.66")
			failN(t, attacker, srv.URL, "ann@example.com", 2)
			webtest.WantStatus(t, attempt(attacker, srv.URL, "ann@example.com", webtest.Password), http.StatusTooManyRequests)
			webtest.WantStatus(t, attempt(attacker, srv.URL, "nobody@example.com", "a guessed password"), http.StatusUnprocessableEntity)

			webtest.WantRedirect(t, c.Post(srv.URL+"/account/password", url.Values{"current_password": {webtest.Password}, "new_password": {newPassword}}), "/account")
			keep(c)
			webtest.WantRedirect(t, c.Post(srv.URL+"/logout", nil), "/")
			c.LogIn(srv.URL, "ann@example.com", newPassword, false)
			keep(c)
			webtest.WantRedirect(t, c.Post(srv.URL+"/account/delete", url.Values{"password": {newPassword}}), "/")

			// Requests ran one after another, so the records come in this
			// order: exactly one per event, none missing, none extra.
			type rec struct{ event, userID, ip string }
			want := []rec{
				{"signup", uid, "198.51.100.7"},
				{"login_success", uid, "198.51.100.7"}, // signing up signs in
				{"login_success", uid, "198.51.100.8"},
				{"session_revoked", uid, "198.51.100.7"},
				{"login_failure", uid, "203.0.113.66"},
				{"login_failure", uid, "203.0.113.66"},
				{"login_throttled", "0", "203.0.113.66"}, // refused before any account is looked up
				{"login_failure", "0", "203.0.113.66"},   // an unknown email
				{"password_changed", uid, "198.51.100.7"},
				{"logout", uid, "198.51.100.7"},
				{"login_success", uid, "198.51.100.7"},
				{"account_deleted", uid, "198.51.100.7"},
				{"logout", uid, "198.51.100.7"}, // deleting the account ends this session
			}
			records := auditRecords(t, logs.String())
			var got []rec
			for _, r := range records {
				got = append(got, rec{r["event"], r["user_id"], r["ip"]})
			}
			if !slices.Equal(got, want) {
				t.Errorf("audit records:\n got %v\nwant %v", got, want)
			}

			log := logs.String()
			for i, tok := range tokens {
				if tok == "" {
					t.Fatalf("token %d empty: the test lost track of a session", i)
				}
				if strings.Contains(log, tok) || strings.Contains(log, storeKey(tok)) {
					t.Errorf("the log holds session token %d (or its store key)", i)
				}
			}
			for _, pw := range []string{webtest.Password, newPassword, "wrong password 0", "a guessed password"} {
				if strings.Contains(log, pw) {
					t.Errorf("the log holds the password %q", pw)
				}
			}
			for _, r := range records {
				for _, v := range r {
					if v == ids[0] || strings.Contains(v, ids[0]) {
						t.Errorf("audit record %v holds the raw session id", r)
					}
				}
			}
		})
	}
}
