package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/sessionlogin/sessionlogin/internal/smtptest"
	"github.com/sessionlogin/sessionlogin/internal/testenv"
	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// adminResult is what one bin/web admin invocation produced.
type adminResult struct {
	code           int
	stdout, stderr string
}

// adminOutputs collects every stdout and stderr of the admin command in a
// test, to check that no password ever shows in them.
type adminOutputs struct{ all []string }

// runAdmin runs the admin entry point as main does, with env as the
// environment and stdin as standard input.
func (o *adminOutputs) run(t *testing.T, env map[string]string, stdin string, args ...string) adminResult {
	t.Helper()
	var stdout, stderr strings.Builder
	code := admin(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(stdin), &stdout, &stderr)
	o.all = append(o.all, stdout.String(), stderr.String())
	return adminResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// want checks the exit status, and that a failure says so in one line.
func (r adminResult) want(t *testing.T, code int, stdoutHas string) adminResult {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit status %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, stdoutHas) {
		t.Fatalf("stdout %q lacks %q", r.stdout, stdoutHas)
	}
	if code == exitFailed {
		lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
		if len(lines) != 1 || lines[0] == "" {
			t.Fatalf("a failure wrote %d lines to stderr, want one clear line:\n%s", len(lines), r.stderr)
		}
	}
	return r
}

// wantErr checks the exit status and that stderr says what.
func (r adminResult) wantErr(t *testing.T, code int, stderrHas string) {
	t.Helper()
	r.want(t, code, "")
	if !strings.Contains(r.stderr, stderrHas) {
		t.Fatalf("stderr %q lacks %q", r.stderr, stderrHas)
	}
}

// adminUserJSON is the part of `user --json` the tests read.
type adminUserJSON struct {
	ID           int64   `json:"id"`
	Email        string  `json:"email"`
	LockedAt     *string `json:"locked_at"`
	VerifiedAt   *string `json:"email_verified_at"`
	TwoFactor    bool    `json:"two_factor"`
	LiveSessions *int    `json:"live_sessions"`
	Sessions     []struct {
		IP string `json:"ip"`
	} `json:"sessions"`
	RecentEvents []struct {
		Kind  string `json:"kind"`
		Actor string `json:"actor"`
	} `json:"recent_events"`
}

// usersRow returns the fields of email's row in the users table.
func usersRow(t *testing.T, table, email string) []string {
	t.Helper()
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == email {
			return f
		}
	}
	t.Fatalf("no row for %s in:\n%s", email, table)
	return nil
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return v
}

// adminDBs are the databases the admin command is tested on: a fresh one
// of each dialect.
var adminDBs = map[string]func(t *testing.T) string{
	"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "app.db") },
	"postgres": func(t *testing.T) string { return testenv.PostgresURL(t) },
}

// TestAdminCommands runs every subcommand against SQLite and PostgreSQL,
// with a server on the same database and Redis, as an operator would on a
// running deployment.
func TestAdminCommands(t *testing.T) {
	for name, dbURL := range adminDBs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const (
				pw1 = "first admin-set passphrase"
				pw2 = "second admin-set passphrase"
				pw3 = "carol's own passphrase"
			)
			env := redisEnv(t)
			env["DATABASE_URL"] = dbURL(t)
			env["ADDR"] = freeAddr(t)
			env["COOKIE_SECURE"] = "false"
			// The server's key: second factors are sealed under it.
			env["SECRET_KEY"] = testSecretKey
			// Everything the command logs is captured and searched for
			// passwords below.
			env["LOG_LEVEL"] = "debug"
			var out adminOutputs

			out.run(t, env, "", "users").wantErr(t, exitFailed, "migrate up")
			out.run(t, env, "", "migrate", "status").want(t, exitOK, "pending")
			out.run(t, env, "", "migrate", "up").want(t, exitOK, "applied 00001_create_users.sql")
			out.run(t, env, "", "migrate", "status").want(t, exitOK, "0 pending")
			out.run(t, env, "", "migrate", "up").want(t, exitOK, "up to date")
			out.run(t, env, "", "migrate", "sideways").wantErr(t, exitUsage, "status or up")

			out.run(t, env, pw1+"\n", "create-user", "Ann@Example.com").want(t, exitOK, "ann@example.com")
			out.run(t, env, pw1+"\n", "create-user", "ann@example.com").wantErr(t, exitFailed, "already exists")
			out.run(t, env, "password\n", "create-user", "bob@example.com").wantErr(t, exitFailed, "too common")
			out.run(t, env, "", "create-user", "bob@example.com").wantErr(t, exitUsage, "standard input")
			out.run(t, env, "correct horse battery\n", "create-user", "not-an-email").wantErr(t, exitFailed, "Enter a valid email address")
			// A password put where it does not belong is refused, and not
			// repeated on the screen.
			r := out.run(t, env, "", "create-user", "bob@example.com", pw3)
			r.wantErr(t, exitUsage, "takes 1 argument")
			if strings.Contains(r.stderr, pw3) {
				t.Fatalf("the usage error repeats the stray argument: %q", r.stderr)
			}

			srv := startServer(t, env)
			web := webtest.NewClient(t)
			web.LogIn(srv.URL, "ann@example.com", pw1, false)

			users := decodeJSON[[]adminUserJSON](t, out.run(t, env, "", "users", "--json").want(t, exitOK, "").stdout)
			if len(users) != 1 || users[0].Email != "ann@example.com" || users[0].LockedAt != nil ||
				users[0].LiveSessions == nil || *users[0].LiveSessions != 1 {
				t.Fatalf("users --json: got %+v, want ann, unlocked, 1 live session", users)
			}
			table := out.run(t, env, "", "users").want(t, exitOK, "ann@example.com").stdout
			if header := strings.Fields(strings.SplitN(table, "\n", 2)[0]); !slices.Equal(header, []string{"ID", "EMAIL", "CREATED", "LOCKED", "VERIFIED", "2FA", "SESSIONS"}) {
				t.Fatalf("users header: got %v", header)
			}
			out.run(t, env, "", "users", "--query", "ANN").want(t, exitOK, "ann@example.com")
			if got := decodeJSON[[]adminUserJSON](t, out.run(t, env, "", "users", "--json", "--query", "nobody").stdout); len(got) != 0 {
				t.Fatalf("users --query nobody: got %+v, want none", got)
			}
			out.run(t, env, "", "users", "extra").wantErr(t, exitUsage, "no arguments")
			ann := decodeJSON[adminUserJSON](t, out.run(t, env, "", "user", "ann@example.com", "--json").want(t, exitOK, "").stdout)
			if len(ann.Sessions) != 1 || ann.Sessions[0].IP != "127.0.0.1" {
				t.Fatalf("user --json: sessions %+v, want the one from 127.0.0.1", ann.Sessions)
			}
			out.run(t, env, "", "user", "ann@example.com").want(t, exitOK, "Live sessions (1)")
			out.run(t, env, "", "user", "nobody@example.com").wantErr(t, exitFailed, "no account with email nobody@example.com")
			out.run(t, env, "", "user").wantErr(t, exitUsage, "EMAIL")

			// set-password: the new password works, the old does not, and
			// whoever was signed in is signed out.
			out.run(t, env, "short\n", "set-password", "ann@example.com").wantErr(t, exitFailed, "at least 8 characters")
			out.run(t, env, pw2+"\n", "set-password", "ann@example.com").want(t, exitOK, "set the password")
			if got := web.SignedInAs(srv.URL); got != "" {
				t.Fatalf("after set-password: still signed in as %q", got)
			}
			webtest.WantStatus(t, web.Post(srv.URL+"/login", url.Values{"email": {"ann@example.com"}, "password": {pw1}}), http.StatusUnprocessableEntity)
			web.LogIn(srv.URL, "ann@example.com", pw2, false)

			out.run(t, env, "", "revoke-sessions", "ann@example.com").want(t, exitOK, "ended 1 session(s)")
			if got := web.SignedInAs(srv.URL); got != "" {
				t.Fatalf("after revoke-sessions: still signed in as %q", got)
			}

			web.LogIn(srv.URL, "ann@example.com", pw2, false)
			out.run(t, env, "", "lock", "ann@example.com").want(t, exitOK, "locked ann@example.com")
			if got := web.SignedInAs(srv.URL); got != "" {
				t.Fatalf("after lock: still signed in as %q", got)
			}
			res := web.Post(srv.URL+"/login", url.Values{"email": {"ann@example.com"}, "password": {pw2}})
			webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
			if got := res.Doc(t).Find(".alert-error").Text(); !strings.Contains(got, "Invalid email or password.") {
				t.Fatalf("login of a locked account says %q, want the generic failure", got)
			}
			ann = decodeJSON[adminUserJSON](t, out.run(t, env, "", "user", "--json", "ann@example.com").stdout)
			if ann.LockedAt == nil {
				t.Fatalf("user --json after lock: locked_at is null")
			}
			// The LOCKED column holds a time (three fields) after CREATED's.
			if row := usersRow(t, out.run(t, env, "", "users").want(t, exitOK, "").stdout, "ann@example.com"); len(row) != 11 || row[7] != "UTC" {
				t.Fatalf("users after lock: ann's row %q, want a lock time", row)
			}
			out.run(t, env, "", "unlock", "ann@example.com").want(t, exitOK, "unlocked")
			web.LogIn(srv.URL, "ann@example.com", pw2, false)

			// Every action is in the audit trail, by the operator.
			ann = decodeJSON[adminUserJSON](t, out.run(t, env, "", "user", "--json", "ann@example.com").stdout)
			var trail []string
			for _, e := range ann.RecentEvents {
				trail = append(trail, e.Kind+"/"+e.Actor)
			}
			want := []string{
				"login_success/user", "account_unlocked/operator", "login_failure/user",
				"session_revoked/operator", "account_locked/operator", "login_success/user",
				"session_revoked/operator", "login_success/user", "login_failure/user",
				"session_revoked/operator",
			}
			if !slices.Equal(trail, want) {
				t.Fatalf("recent events:\n got %v\nwant %v", trail, want)
			}

			out.run(t, env, "no\n", "delete-user", "ann@example.com").wantErr(t, exitFailed, "not confirmed")
			out.run(t, env, "", "user", "ann@example.com").want(t, exitOK, "ann@example.com")
			out.run(t, env, "yes\n", "delete-user", "ann@example.com").want(t, exitOK, "deleted ann@example.com")
			if got := web.SignedInAs(srv.URL); got != "" {
				t.Fatalf("after delete-user: still signed in as %q", got)
			}
			out.run(t, env, "", "user", "ann@example.com").wantErr(t, exitFailed, "no account")
			out.run(t, env, pw3+"\n", "create-user", "carol@example.com").want(t, exitOK, "created")
			out.run(t, env, "", "delete-user", "--yes", "carol@example.com").want(t, exitOK, "deleted carol@example.com")

			for _, cmd := range []string{"set-password", "lock", "unlock", "revoke-sessions", "delete-user"} {
				out.run(t, env, pw1+"\n", cmd, "nobody@example.com").wantErr(t, exitFailed, "no account")
				out.run(t, env, "", cmd).wantErr(t, exitUsage, "usage:")
			}
			out.run(t, env, "", "lock", "a@example.com", "b@example.com").wantErr(t, exitUsage, "takes 1 argument")
			out.run(t, env, "", "users", "--bogus").wantErr(t, exitUsage, "bogus")

			for _, tt := range []struct {
				name string
				args []string
			}{{"help", []string{"help"}}, {"--help", []string{"--help"}}} {
				help := out.run(t, env, "", tt.args...).want(t, exitOK, "Usage: bin/web admin").stdout
				for _, c := range adminCommands {
					if !strings.Contains(help, "\n  "+c.name+" ") {
						t.Errorf("%s does not list %s", tt.name, c.name)
					}
				}
			}
			out.run(t, map[string]string{"SESSION_STORE": "bogus"}, "", "help").want(t, exitOK, "Usage: bin/web admin")
			out.run(t, env, "", "frobnicate").wantErr(t, exitUsage, "unknown command")
			out.run(t, env, "", []string{}...).want(t, exitUsage, "")
			bad := map[string]string{"DATABASE_URL": "mysql://x", "SESSION_STORE": "redis"}
			out.run(t, bad, "", "users").wantErr(t, exitUsage, "DATABASE_URL")

			if err := srv.stop(); err != nil {
				t.Fatal(err)
			}
			logs := srv.Logs.String() + strings.Join(out.all, "\n")
			for _, pw := range []string{pw1, pw2, pw3} {
				if strings.Contains(logs, pw) {
					t.Errorf("a password shows in the output or the logs: %q", pw)
				}
			}
		})
	}
}

// TestAdminLockEndsSessionsEverywhere checks that bin/web admin lock ends
// a session at once on every running instance: two servers on one Redis
// and one PostgreSQL database, a session opened on one, and the very next
// request on the other is signed out, with no wait.
func TestAdminLockEndsSessionsEverywhere(t *testing.T) {
	env := redisEnv(t)
	env["DATABASE_URL"] = testenv.PostgresURL(t)
	env["COOKIE_SECURE"] = "false"
	env["SECRET_KEY"] = testSecretKey
	var out adminOutputs
	out.run(t, env, "", "migrate", "up").want(t, exitOK, "applied")
	out.run(t, env, webtest.Password+"\n", "create-user", "ann@example.com").want(t, exitOK, "created")

	a := startServer(t, with(env, "ADDR", freeAddr(t)))
	b := startServer(t, with(env, "ADDR", freeAddr(t)))
	web := webtest.NewClient(t)
	web.LogIn(a.URL, "ann@example.com", webtest.Password, true)
	if got := web.SignedInAs(b.URL); got != "ann@example.com" {
		t.Fatalf("before the lock: instance b sees %q, want ann", got)
	}

	out.run(t, env, "", "lock", "ann@example.com").want(t, exitOK, "locked")
	if got := web.SignedInAs(b.URL); got != "" {
		t.Fatalf("right after the lock: instance b still signs in %q", got)
	}
	if got := web.SignedInAs(a.URL); got != "" {
		t.Fatalf("right after the lock: instance a still signs in %q", got)
	}
	webtest.WantStatus(t, web.Post(b.URL+"/login", url.Values{"email": {"ann@example.com"}, "password": {webtest.Password}}),
		http.StatusUnprocessableEntity)
}

// TestAdminMemoryStore checks the admin command with SESSION_STORE=memory,
// whose sessions live inside the server: it says it cannot count or end
// them rather than pretending, and a lock still ends them at their next
// request, because the server reads the account on every request.
func TestAdminMemoryStore(t *testing.T) {
	env := map[string]string{
		// PostgreSQL: the server reads it afresh on every request (on
		// SQLite it may reuse an account read up to a second earlier).
		"DATABASE_URL":  testenv.PostgresURL(t),
		"ADDR":          freeAddr(t),
		"COOKIE_SECURE": "false",
		"SECRET_KEY":    testSecretKey,
	}
	var out adminOutputs
	out.run(t, env, "", "migrate", "up").want(t, exitOK, "applied")
	out.run(t, env, webtest.Password+"\n", "create-user", "ann@example.com").want(t, exitOK, "created")
	users := decodeJSON[[]adminUserJSON](t, out.run(t, env, "", "users", "--json").stdout)
	if len(users) != 1 || users[0].LiveSessions != nil {
		t.Fatalf("users --json: got %+v, want live_sessions null (out of reach)", users)
	}
	out.run(t, env, "", "users").want(t, exitOK, "?")
	out.run(t, env, "", "revoke-sessions", "ann@example.com").wantErr(t, exitFailed, "SESSION_STORE=redis")

	srv := startServer(t, env)
	web := webtest.NewClient(t)
	web.LogIn(srv.URL, "ann@example.com", webtest.Password, false)
	r := out.run(t, env, "", "lock", "ann@example.com").want(t, exitOK, "locked")
	if !strings.Contains(r.stderr, "next request") {
		t.Fatalf("lock with the memory store: stderr %q, want a note that sessions end at their next request", r.stderr)
	}
	if got := web.SignedInAs(srv.URL); got != "" {
		t.Fatalf("after the lock: still signed in as %q", got)
	}
}

// with returns a copy of env with k set to v.
func with(env map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(env)+1)
	for key, val := range env {
		out[key] = val
	}
	out[k] = v
	return out
}

// TestAdminVerifyEmailAndDisable2FA runs verify-email and disable-2fa
// against SQLite and PostgreSQL, with a server on the same database and
// Redis: with EMAIL_VERIFICATION=required an account made by the operator
// cannot sign in until verify-email; once the user turned the
// authenticator app on, disable-2fa turns it off (the password alone signs
// in again), the user is mailed, and both actions are in the audit trail
// as the operator's.
func TestAdminVerifyEmailAndDisable2FA(t *testing.T) {
	for name, dbURL := range adminDBs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env, sink := mailEnv(t)
			for k, v := range redisEnv(t) {
				env[k] = v
			}
			env["DATABASE_URL"] = dbURL(t)
			env["COOKIE_SECURE"] = "false"
			env["SECRET_KEY"] = testSecretKey
			env["EMAIL_VERIFICATION"] = "required"
			const email = "ann@example.com"
			var out adminOutputs
			out.run(t, env, "", "migrate", "up").want(t, exitOK, "applied")
			out.run(t, env, webtest.Password+"\n", "create-user", email).want(t, exitOK, "created")
			users := decodeJSON[[]adminUserJSON](t, out.run(t, env, "", "users", "--json").want(t, exitOK, "").stdout)
			if len(users) != 1 || users[0].VerifiedAt != nil || users[0].TwoFactor {
				t.Fatalf("users --json: got %+v, want ann unverified, 2FA off", users)
			}
			if row := usersRow(t, out.run(t, env, "", "users").stdout, email); !slices.Equal(row[6:8], []string{"no", "off"}) {
				t.Fatalf("users: ann's row %q, want VERIFIED no, 2FA off", row)
			}

			srv := startServer(t, env)
			web := webtest.NewClient(t)
			login := url.Values{"email": {email}, "password": {webtest.Password}}
			if res := web.Post(srv.URL+"/login", login); res.StatusCode != http.StatusOK || web.SignedInAs(srv.URL) != "" {
				t.Fatalf("an unverified account: login answered %d, signed in as %q", res.StatusCode, web.SignedInAs(srv.URL))
			}

			out.run(t, env, "", "verify-email", email).want(t, exitOK, "marked the address ann@example.com confirmed")
			out.run(t, env, "", "verify-email", email).want(t, exitOK, "confirmed already")
			if u := decodeJSON[adminUserJSON](t, out.run(t, env, "", "user", "--json", email).stdout); u.VerifiedAt == nil {
				t.Fatalf("user --json after verify-email: email_verified_at is null")
			}
			web.LogIn(srv.URL, email, webtest.Password, false)

			// The user turns the authenticator app on.
			setup := web.Post(srv.URL+"/account/totp", nil)
			webtest.WantStatus(t, setup, http.StatusOK)
			key, err := otp.NewKeyFromURL(strings.TrimSpace(setup.Doc(t).Find("#totp-uri").Text()))
			if err != nil {
				t.Fatal(err)
			}
			code, err := totp.GenerateCode(key.Secret(), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			webtest.WantStatus(t, web.Post(srv.URL+"/account/totp/confirm", url.Values{"code": {code}}), http.StatusOK)
			if u := decodeJSON[adminUserJSON](t, out.run(t, env, "", "user", "--json", email).stdout); !u.TwoFactor {
				t.Fatalf("user --json with the app on: two_factor false")
			}
			if f := strings.Fields(out.run(t, env, "", "user", email).want(t, exitOK, "2fa:").stdout); !slices.Contains(f, "on") {
				t.Fatalf("user with the app on: no 2fa on in %q", f)
			}
			webtest.WantRedirect(t, web.Post(srv.URL+"/logout", nil), "/")
			webtest.WantRedirect(t, web.Post(srv.URL+"/login", login), "/login/second-factor")

			other := webtest.NewClient(t)
			out.run(t, env, "", "disable-2fa", email).want(t, exitOK, "turned two-factor authentication off")
			out.run(t, env, "", "disable-2fa", email).wantErr(t, exitFailed, "not on")
			webtest.WantRedirect(t, other.Post(srv.URL+"/login", login), "/account")
			sink.Wait(t, "the notice of disable-2fa", func([]smtptest.Mail) bool {
				for _, m := range sink.MailsTo(email) {
					if strings.Contains(m.Subject, "Two-step login is off") {
						return true
					}
				}
				return false
			})

			u := decodeJSON[adminUserJSON](t, out.run(t, env, "", "user", "--json", email).stdout)
			if u.TwoFactor {
				t.Fatalf("user --json after disable-2fa: two_factor true")
			}
			var trail []string
			for _, e := range u.RecentEvents {
				if e.Actor == "operator" {
					trail = append(trail, e.Kind)
				}
			}
			if !slices.Contains(trail, "email_verified") || !slices.Contains(trail, "totp_disabled") {
				t.Fatalf("operator events %v, want email_verified and totp_disabled", trail)
			}
			for _, cmd := range []string{"verify-email", "disable-2fa"} {
				out.run(t, env, "", cmd, "nobody@example.com").wantErr(t, exitFailed, "no account")
				out.run(t, env, "", cmd).wantErr(t, exitUsage, "usage:")
			}
		})
	}
}
