package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/server"
	"github.com/sessionlogin/sessionlogin/internal/storage"
)

// Exit statuses of bin/web admin.
const (
	exitOK     = 0
	exitFailed = 1 // the account does not exist, or the action failed
	exitUsage  = 2 // bad arguments or configuration
)

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// adminCommand is one subcommand of bin/web admin.
type adminCommand struct {
	name    string
	args    string // as shown in help
	summary string
	// raw commands get the configuration but no database or session
	// store: migrate opens the database its own way. help needs nothing.
	raw bool
	run func(a *adminRun, args []string) error
}

// adminCommands lists the subcommands in the order help shows them.
var adminCommands []adminCommand

func init() {
	// Assigned here rather than at declaration: adminHelp reads the list.
	adminCommands = []adminCommand{
		{name: "users", args: "[--query TEXT] [--json]", summary: "list accounts (email containing TEXT)", run: adminUsers},
		{name: "user", args: "EMAIL [--json]", summary: "show one account, its live sessions and recent events", run: adminUser},
		{name: "create-user", args: "EMAIL", summary: "create an account; the password is read from standard input", run: adminCreateUser},
		{name: "set-password", args: "EMAIL", summary: "set a new password (read from standard input) and end every session", run: adminSetPassword},
		{name: "lock", args: "EMAIL", summary: "stop the account signing in and end every session at once", run: adminLock},
		{name: "unlock", args: "EMAIL", summary: "let a locked account sign in again", run: adminUnlock},
		{name: "verify-email", args: "EMAIL", summary: "mark the account's address confirmed, without a link", run: adminVerifyEmail},
		{name: "disable-2fa", args: "EMAIL", summary: "turn the authenticator app off and delete the recovery codes; the user is mailed", run: adminDisable2FA},
		{name: "revoke-sessions", args: "EMAIL", summary: "end every session of the account, on every instance", run: adminRevokeSessions},
		{name: "delete-user", args: "EMAIL [--yes]", summary: "delete the account and end its sessions (asks first unless --yes)", run: adminDeleteUser},
		{name: "migrate", args: "status|up", summary: "show or apply the database migrations", raw: true, run: adminMigrate},
		{name: "help", summary: "show this help", raw: true, run: adminHelp},
	}
}

// adminRun is one invocation of bin/web admin: its environment, streams and
// (except for raw commands) the service's parts.
type adminRun struct {
	ctx    context.Context // carries auth.AsOperator
	cfg    config
	tty    *os.File // stdin, when it is a file (perhaps a terminal)
	stdin  *bufio.Reader
	stdout io.Writer
	stderr io.Writer
	db     *storage.DB
	svc    *server.Server
}

// operator is the auth.Client of the admin command. An operator at a
// console has no IP address or browser; the events it causes say "by
// operator" instead (auth.AsOperator).
var operator = auth.Client{}

// admin runs `bin/web admin ARGS` against the database and session store
// that the environment names (the server's own), and returns the exit
// status. Passwords come only from stdin: never from args, so they never
// show in a process list or a shell history.
func admin(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printAdminHelp(stderr)
		return exitUsage
	}
	name := args[0]
	if name == "-h" || name == "--help" {
		name = "help"
	}
	var cmd *adminCommand
	for i := range adminCommands {
		if adminCommands[i].name == name {
			cmd = &adminCommands[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "bin/web admin: unknown command %q (bin/web admin help lists them)\n", args[0])
		return exitUsage
	}
	a := &adminRun{ctx: auth.AsOperator(ctx), stdin: bufio.NewReader(stdin), stdout: stdout, stderr: stderr}
	a.tty, _ = stdin.(*os.File)
	err := a.start(cmd, getenv)
	if err == nil {
		defer a.close()
		err = cmd.run(a, args[1:])
	}
	if err == nil {
		return exitOK
	}
	// One line, whatever the error carries.
	msg := strings.Join(strings.Fields(err.Error()), " ")
	fmt.Fprintf(stderr, "bin/web admin %s: %s\n", cmd.name, msg)
	var ue *usageError
	var ce *configError
	if errors.As(err, &ue) || errors.As(err, &ce) {
		if ue != nil {
			fmt.Fprintf(stderr, "usage: bin/web admin %s %s\n", cmd.name, cmd.args)
		}
		return exitUsage
	}
	return exitFailed
}

// start reads the configuration and, unless cmd is raw, opens the
// database (whose schema must be current) and the session store.
func (a *adminRun) start(cmd *adminCommand, getenv func(string) string) error {
	if cmd.name == "help" {
		return nil // help works whatever the environment holds
	}
	cfg, err := parseConfig(getenv)
	if err != nil {
		return err
	}
	a.cfg = cfg
	if cmd.raw {
		return nil
	}
	db, err := storage.OpenCurrent(a.ctx, cfg.DatabaseURL)
	if errors.Is(err, storage.ErrSchemaOutdated) {
		return fmt.Errorf("%w: run bin/web admin migrate up (or start the server) first", err)
	}
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	logger := a.logger(getenv)
	key, err := cfg.secretKey(logger)
	if err != nil {
		db.Close()
		return err
	}
	sc := cfg.server()
	sc.SecretKey, sc.DB = key, db
	svc, err := newServer(a.ctx, sc, logger)
	if err != nil {
		db.Close()
		return err
	}
	a.db, a.svc = db, svc
	return nil
}

// logger writes the admin command's log lines (the audit records among
// them) to stderr, keeping stdout for the answer. Unless LOG_LEVEL says
// otherwise only warnings show: every action is kept in the audit trail in
// the database already.
func (a *adminRun) logger(getenv func(string) string) *slog.Logger {
	cfg := a.cfg
	if strings.TrimSpace(getenv("LOG_LEVEL")) == "" {
		cfg.LogLevel = slog.LevelWarn
	}
	return newLogger(cfg, a.stderr)
}

func (a *adminRun) close() {
	if a.svc != nil {
		a.svc.Close()
	}
	if a.db != nil {
		a.db.Close()
	}
}

// parseArgs parses flags placed anywhere among the arguments ("user EMAIL
// --json" as well as "user --json EMAIL") and checks the number of
// positional arguments. Arguments are never echoed back: one might be a
// password typed where it does not belong.
func parseArgs(fs *flag.FlagSet, args []string, positional ...string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usagef("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) != len(positional) {
		if len(positional) == 0 {
			return nil, usagef("takes no arguments besides flags")
		}
		return nil, usagef("takes %d argument(s), %s", len(positional), strings.Join(positional, " "))
	}
	return pos, nil
}

// account parses the one EMAIL argument (and the flags in fs) and loads the
// account: "no account" is an action failure (exit 1), not a usage error.
func (a *adminRun) account(fs *flag.FlagSet, args []string) (auth.User, error) {
	pos, err := parseArgs(fs, args, "EMAIL")
	if err != nil {
		return auth.User{}, err
	}
	u, err := a.svc.Auth.UserByEmail(a.ctx, pos[0])
	if errors.Is(err, auth.ErrUserNotFound) {
		return auth.User{}, fmt.Errorf("no account with email %s", auth.NormalizeEmail(pos[0]))
	}
	return u, err
}

// sharedSessions reports whether this process reaches the server's
// sessions. With SESSION_STORE=memory they live inside the server
// process, out of the admin command's reach.
func (a *adminRun) sharedSessions() bool { return a.cfg.SessionStore != "memory" }

// noteUnreachableSessions tells the operator what happens to sessions it
// cannot reach: the server reads the account on every request, so a lock
// or a deletion still ends them at their next request.
func (a *adminRun) noteUnreachableSessions(what string) {
	if !a.sharedSessions() {
		fmt.Fprintf(a.stderr, "note: SESSION_STORE=memory keeps sessions inside the server process; %s\n", what)
	}
}

// endSessions ends every session of u, when this process can reach them.
func (a *adminRun) endSessions(u auth.User) error {
	if !a.sharedSessions() {
		return nil
	}
	return a.svc.Sessions.EndAll(a.ctx, u.ID, operator)
}

// readPassword reads the password for email from stdin: one line, without
// its line end, piped in (printf '%s\n' "$PW" | bin/web admin …). At a
// terminal it asks, twice, with the echo off.
func (a *adminRun) readPassword(email string) (string, error) {
	if a.tty != nil {
		if restore, ok := hideInput(a.tty); ok {
			defer restore()
			first, err := a.prompt(fmt.Sprintf("New password for %s: ", email))
			if err != nil {
				return "", err
			}
			again, err := a.prompt("Repeat it: ")
			if err != nil {
				return "", err
			}
			if first != again {
				return "", errors.New("the two passwords differ; nothing changed")
			}
			return first, nil
		}
	}
	line, err := a.stdin.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	if line == "" {
		return "", usagef("no password on standard input (pipe it in; it is never taken from an argument)")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// prompt asks on stderr and reads a line typed at the terminal. An
// interrupt (Ctrl-C, which ends ctx) gives up at once rather than waiting
// for Enter, so that the caller restores the terminal's echo.
func (a *adminRun) prompt(question string) (string, error) {
	fmt.Fprint(a.stderr, question)
	type result struct {
		line string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		line, err := a.stdin.ReadString('\n')
		done <- result{line, err}
	}()
	select {
	case r := <-done:
		fmt.Fprintln(a.stderr) // the Enter the hidden input did not show
		if r.err != nil && !errors.Is(r.err, io.EOF) {
			return "", fmt.Errorf("read password: %w", r.err)
		}
		return strings.TrimRight(r.line, "\r\n"), nil
	case <-a.ctx.Done():
		fmt.Fprintln(a.stderr)
		return "", errors.New("interrupted; nothing changed")
	}
}

// userSummary is one account as users and user show it. A new account
// property (verified, second factor) is a field here and a row in
// userColumns.
type userSummary struct {
	ID           int64      `json:"id"`
	Email        string     `json:"email"`
	CreatedAt    time.Time  `json:"created_at"`
	LockedAt     *time.Time `json:"locked_at"`
	VerifiedAt   *time.Time `json:"email_verified_at"` // null while the address is unconfirmed
	TwoFactor    bool       `json:"two_factor"`        // the authenticator app is on
	LiveSessions *int       `json:"live_sessions"`     // null when the sessions are out of reach (memory store)
}

// userColumns are the columns of the users table, in order.
var userColumns = []struct {
	header string
	value  func(userSummary) string
}{
	{"ID", func(u userSummary) string { return fmt.Sprint(u.ID) }},
	{"EMAIL", func(u userSummary) string { return u.Email }},
	{"CREATED", func(u userSummary) string { return adminTime(u.CreatedAt) }},
	{"LOCKED", func(u userSummary) string {
		if u.LockedAt == nil {
			return "no"
		}
		return adminTime(*u.LockedAt)
	}},
	{"VERIFIED", func(u userSummary) string {
		if u.VerifiedAt == nil {
			return "no"
		}
		return adminTime(*u.VerifiedAt)
	}},
	{"2FA", func(u userSummary) string {
		if u.TwoFactor {
			return "on"
		}
		return "off"
	}},
	{"SESSIONS", func(u userSummary) string {
		if u.LiveSessions == nil {
			return "?"
		}
		return fmt.Sprint(*u.LiveSessions)
	}},
}

func adminTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// summarize describes u, with its live sessions counted when reachable.
func (a *adminRun) summarize(u auth.User) (userSummary, []auth.SessionInfo, error) {
	s := userSummary{ID: u.ID, Email: u.Email, CreatedAt: u.CreatedAt.UTC()}
	if u.Locked() {
		t := u.LockedAt.UTC()
		s.LockedAt = &t
	}
	if u.EmailVerified() {
		t := u.EmailVerifiedAt.UTC()
		s.VerifiedAt = &t
	}
	on, err := a.svc.Factors.TOTPEnabled(a.ctx, u.ID)
	if err != nil {
		return userSummary{}, nil, err
	}
	s.TwoFactor = on
	if !a.sharedSessions() {
		return s, nil, nil
	}
	live, err := a.svc.Sessions.Live(a.ctx, u.ID)
	if err != nil {
		return userSummary{}, nil, err
	}
	n := len(live)
	s.LiveSessions = &n
	return s, live, nil
}

// usersBatch is how many accounts users reads at a time.
const usersBatch = 500

func adminUsers(a *adminRun, args []string) error {
	fs := flag.NewFlagSet("users", flag.ContinueOnError)
	query := fs.String("query", "", "")
	asJSON := fs.Bool("json", false, "")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	var rows []userSummary
	var after int64
	for {
		users, err := a.db.Users(a.ctx, *query, after, usersBatch)
		if err != nil {
			return err
		}
		for _, u := range users {
			s, _, err := a.summarize(u)
			if err != nil {
				return err
			}
			rows = append(rows, s)
			after = u.ID
		}
		if len(users) < usersBatch {
			break
		}
	}
	if *asJSON {
		if rows == nil {
			rows = []userSummary{}
		}
		return writeJSON(a.stdout, rows)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	headers := make([]string, len(userColumns))
	for i, c := range userColumns {
		headers[i] = c.header
	}
	fmt.Fprintln(tw, strings.Join(headers, "\t"))
	for _, r := range rows {
		cells := make([]string, len(userColumns))
		for i, c := range userColumns {
			cells[i] = c.value(r)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// userEventCount is how many recent events user shows.
const userEventCount = 10

// userDetail is what user shows of one account.
type userDetail struct {
	userSummary
	Sessions     []sessionDetail `json:"sessions"`
	RecentEvents []eventDetail   `json:"recent_events"`
}

type sessionDetail struct {
	ID        string    `json:"id"`
	Created   time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen_at"`
	IP        string    `json:"ip"`
	UserAgent string    `json:"user_agent"`
	Remember  bool      `json:"remember"`
}

type eventDetail struct {
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"`
	Actor     string    `json:"actor"`
	IP        string    `json:"ip"`
	UserAgent string    `json:"user_agent"`
	Detail    string    `json:"detail"`
}

func adminUser(a *adminRun, args []string) error {
	fs := flag.NewFlagSet("user", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "")
	u, err := a.account(fs, args)
	if err != nil {
		return err
	}
	s, live, err := a.summarize(u)
	if err != nil {
		return err
	}
	events, _, err := a.svc.Trail.Page(a.ctx, u.ID, auth.AuditCursor{}, userEventCount)
	if err != nil {
		return err
	}
	d := userDetail{userSummary: s, Sessions: []sessionDetail{}, RecentEvents: []eventDetail{}}
	for _, l := range live {
		d.Sessions = append(d.Sessions, sessionDetail{
			ID: l.ID, Created: l.Created.UTC(), LastSeen: l.LastSeen.UTC(), IP: l.IP, UserAgent: l.UserAgent, Remember: l.Remember,
		})
	}
	for _, e := range events {
		d.RecentEvents = append(d.RecentEvents, eventDetail{
			Time: e.Time.UTC(), Kind: string(e.Kind), Actor: string(e.Actor), IP: e.IP, UserAgent: e.UserAgent, Detail: e.Detail,
		})
	}
	if *asJSON {
		return writeJSON(a.stdout, d)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	for _, c := range userColumns {
		fmt.Fprintf(tw, "%s:\t%s\n", strings.ToLower(c.header), c.value(s))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if a.sharedSessions() {
		fmt.Fprintf(a.stdout, "\nLive sessions (%d):\n", len(d.Sessions))
		tw = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		for _, l := range d.Sessions {
			fmt.Fprintf(tw, "  %s\tsince %s\tlast seen %s\t%s\t%s\n", l.ID, adminTime(l.Created), adminTime(l.LastSeen), l.IP, l.UserAgent)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(a.stdout, "\nRecent events (newest first):\n")
	tw = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	for _, e := range d.RecentEvents {
		by := ""
		if e.Actor == string(auth.ActorOperator) {
			by = "by operator"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", adminTime(e.Time), e.Kind, by, e.IP, e.Detail)
	}
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// policyError turns a password or email policy error into its plain words.
func policyError(err error) error {
	var fe *auth.FieldError
	if errors.As(err, &fe) {
		return errors.New(fe.Field + ": " + fe.Message)
	}
	return err
}

func adminCreateUser(a *adminRun, args []string) error {
	pos, err := parseArgs(flag.NewFlagSet("create-user", flag.ContinueOnError), args, "EMAIL")
	if err != nil {
		return err
	}
	password, err := a.readPassword(auth.NormalizeEmail(pos[0]))
	if err != nil {
		return err
	}
	u, err := a.svc.Auth.SignUp(a.ctx, pos[0], password, operator)
	if errors.Is(err, auth.ErrDuplicateEmail) {
		return fmt.Errorf("an account with email %s already exists", auth.NormalizeEmail(pos[0]))
	}
	if err != nil {
		return policyError(err)
	}
	fmt.Fprintf(a.stdout, "created account %d, %s\n", u.ID, u.Email)
	return nil
}

func adminSetPassword(a *adminRun, args []string) error {
	u, err := a.account(flag.NewFlagSet("set-password", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	password, err := a.readPassword(u.Email)
	if err != nil {
		return err
	}
	if err := a.svc.Auth.SetPassword(a.ctx, u.ID, password, operator); err != nil {
		return policyError(err)
	}
	// Whoever knew the old password is signed out.
	if err := a.endSessions(u); err != nil {
		return fmt.Errorf("password set, but ending the sessions failed: %w", err)
	}
	a.noteUnreachableSessions("its sessions were not ended (lock the account to end them)")
	fmt.Fprintf(a.stdout, "set the password of %s; its sessions ended\n", u.Email)
	return nil
}

func adminLock(a *adminRun, args []string) error {
	u, err := a.account(flag.NewFlagSet("lock", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	// Locked first, so that no sign-in racing with the sweep below can
	// start a session that outlives it (and the server refuses the
	// sessions of a locked account anyway).
	if err := a.svc.Auth.Lock(a.ctx, u.ID, operator); err != nil {
		return err
	}
	if err := a.endSessions(u); err != nil {
		return fmt.Errorf("locked, but ending the sessions failed (they end at their next request): %w", err)
	}
	a.noteUnreachableSessions("they end at their next request")
	fmt.Fprintf(a.stdout, "locked %s; its sessions ended\n", u.Email)
	return nil
}

func adminUnlock(a *adminRun, args []string) error {
	u, err := a.account(flag.NewFlagSet("unlock", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	if err := a.svc.Auth.Unlock(a.ctx, u.ID, operator); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "unlocked %s\n", u.Email)
	return nil
}

func adminVerifyEmail(a *adminRun, args []string) error {
	u, err := a.account(flag.NewFlagSet("verify-email", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	changed, err := a.svc.Recovery.MarkVerified(a.ctx, u.ID, operator)
	if err != nil {
		return err
	}
	if !changed {
		fmt.Fprintf(a.stdout, "the address %s was confirmed already\n", u.Email)
		return nil
	}
	fmt.Fprintf(a.stdout, "marked the address %s confirmed\n", u.Email)
	return nil
}

func adminDisable2FA(a *adminRun, args []string) error {
	u, err := a.account(flag.NewFlagSet("disable-2fa", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	// Factors records the event (by operator) and queues the notice in the
	// outbox; the server's sender mails it.
	err = a.svc.Factors.DisableTOTP(a.ctx, u.ID, operator)
	if errors.Is(err, auth.ErrTOTPNotSetUp) {
		return fmt.Errorf("two-factor authentication is not on for %s", u.Email)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "turned two-factor authentication off for %s and deleted its recovery codes; the user is mailed\n", u.Email)
	return nil
}

func adminRevokeSessions(a *adminRun, args []string) error {
	u, err := a.account(flag.NewFlagSet("revoke-sessions", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	if !a.sharedSessions() {
		return errors.New("needs a shared session store (SESSION_STORE=redis): with SESSION_STORE=memory the sessions live inside the server process (lock the account to end them)")
	}
	live, err := a.svc.Sessions.Live(a.ctx, u.ID)
	if err != nil {
		return err
	}
	if err := a.endSessions(u); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "ended %d session(s) of %s\n", len(live), u.Email)
	return nil
}

func adminDeleteUser(a *adminRun, args []string) error {
	fs := flag.NewFlagSet("delete-user", flag.ContinueOnError)
	yes := fs.Bool("yes", false, "")
	u, err := a.account(fs, args)
	if err != nil {
		return err
	}
	if !*yes {
		fmt.Fprintf(a.stderr, "Delete the account %s and end all its sessions? This cannot be undone. Type yes to confirm: ", u.Email)
		answer, err := a.stdin.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if strings.TrimSpace(answer) != "yes" {
			return errors.New("not confirmed; nothing deleted")
		}
	}
	if err := a.svc.Auth.RemoveAccount(a.ctx, u.ID, operator); err != nil {
		return err
	}
	if err := a.endSessions(u); err != nil {
		return fmt.Errorf("deleted, but ending the sessions failed (they end at their next request): %w", err)
	}
	a.noteUnreachableSessions("they end at their next request")
	fmt.Fprintf(a.stdout, "deleted %s\n", u.Email)
	return nil
}

func adminMigrate(a *adminRun, args []string) error {
	pos, err := parseArgs(flag.NewFlagSet("migrate", flag.ContinueOnError), args, "status|up")
	if err != nil {
		return err
	}
	if pos[0] != "status" && pos[0] != "up" {
		return usagef("want status or up")
	}
	db, err := storage.Connect(a.ctx, a.cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer db.Close()
	if pos[0] == "up" {
		applied, err := db.Migrate(a.ctx)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if len(applied) == 0 {
			fmt.Fprintln(a.stdout, "the schema is up to date; nothing to apply")
		}
		for _, m := range applied {
			fmt.Fprintf(a.stdout, "applied %s\n", m.Name)
		}
		return nil
	}
	migrations, err := db.Migrations(a.ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tMIGRATION\tSTATE")
	pending := 0
	for _, m := range migrations {
		state := "pending"
		if m.Applied {
			state = "applied " + adminTime(m.AppliedAt)
		} else {
			pending++
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", m.Version, m.Name, state)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%d pending\n", pending)
	return nil
}

func adminHelp(a *adminRun, args []string) error {
	if _, err := parseArgs(flag.NewFlagSet("help", flag.ContinueOnError), args); err != nil {
		return err
	}
	printAdminHelp(a.stdout)
	return nil
}

func printAdminHelp(w io.Writer) {
	fmt.Fprint(w, `Usage: bin/web admin COMMAND [ARGUMENTS]

Acts on the database and session store that the environment names
(DATABASE_URL, SESSION_STORE, REDIS_URL…), as the server does. Passwords are
read from standard input, never from an argument. Every action is recorded
in the account's audit trail as done by the operator.

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range adminCommands {
		fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
	}
	_ = tw.Flush()
	fmt.Fprint(w, `
Exit status: 0 success, 1 the account does not exist or the action failed,
2 a usage or configuration error.
`)
}
