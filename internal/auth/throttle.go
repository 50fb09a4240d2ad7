package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"time"
)

// Count is the state of one throttling counter.
type Count struct {
	N   int64
	TTL time.Duration // time left in the counter's window; 0 when absent
}

// Budget is one counter and the count it may reach.
type Budget struct {
	Key   string
	Limit int64
}

// Counter keeps expiring counters shared by every instance that uses the
// same back-end (Redis), or by one process (memory).
type Counter interface {
	// Counts returns the state of each key, in order (zero when absent).
	Counts(ctx context.Context, keys ...string) ([]Count, error)
	// Take adds one to every key of budgets when each is below its Limit,
	// as one atomic step, and reports whether it did. The states returned
	// are those after the increment, or as found when nothing was taken,
	// in order. A key that does not exist starts a window of the given
	// length, which later increments do not extend.
	Take(ctx context.Context, window time.Duration, budgets ...Budget) (bool, []Count, error)
	// Clear deletes the first key of budgets when every key is below its
	// Limit, as one atomic step, and reports whether it did. The states
	// returned are those found before the delete, in order.
	Clear(ctx context.Context, budgets ...Budget) (bool, []Count, error)
	// Reset deletes key.
	Reset(ctx context.Context, key string) error
}

// ThrottleCause says which limit a *ThrottledError comes from.
type ThrottleCause int

// The limits behind a *ThrottledError.
const (
	// CauseFailures: too many failed logins.
	CauseFailures ThrottleCause = iota
	// CauseSignups: too many sign-ups from one client network.
	CauseSignups
	// CauseBusy: too many password checks queued for one client network.
	CauseBusy
	// CauseMails: too many mails asked for (resets, verification links),
	// for one address or from one client network.
	CauseMails
)

// ThrottledError is returned while a client must wait before trying again.
type ThrottledError struct {
	RetryAfter time.Duration
	Cause      ThrottleCause
}

func (e *ThrottledError) Error() string {
	what := "too many failed attempts"
	switch e.Cause {
	case CauseSignups:
		what = "too many sign-ups"
	case CauseBusy:
		what = "too many password checks queued"
	case CauseMails:
		what = "too many mails asked for"
	}
	return fmt.Sprintf("auth: %s, retry after %s", what, e.RetryAfter)
}

// ThrottleConfig sets the limits of a Throttle.
type ThrottleConfig struct {
	// MaxFailures is how many failures one account may see from one client
	// IP, or from one known device, in one window; the next attempt is
	// refused.
	MaxFailures int
	// Window is how long a run of failures is remembered.
	Window time.Duration
	// MaxFailuresPerIP caps failures from one IP across all accounts, which
	// stops password spraying (few guesses on many accounts). Zero means
	// 20 × MaxFailures.
	MaxFailuresPerIP int
	// MaxSignups is how many sign-ups one client network may attempt per
	// SignupWindow. Zero means no limit.
	MaxSignups   int
	SignupWindow time.Duration
	// DeviceKey signs device cookies (at least 32 bytes); nil turns them
	// off, and every login is judged on the account+IP and IP budgets.
	DeviceKey []byte
}

// Attempt identifies a login attempt for the throttle.
type Attempt struct {
	Email string // normalised
	IP    string
	// Device is the id of the browser's device cookie for Email, or ""
	// when the browser presented none valid for that account.
	Device string
}

// Throttle limits failed logins and sign-ups.
//
// A login is judged on the failures of its account from its client IP and
// on those of its IP across accounts, or, from a browser that signed in to
// the account before (a device cookie), on that device's failures alone, so
// that an attacker who uses up the first two does not lock the user out
// (OWASP, "Slow down online guessing attacks with device cookies"). Keys
// combine account and IP, so nobody can lock a user out from an address the
// user does not share.
//
// Only failures count, so any number of people may log in at once from one
// address. What an attempt may reveal is decided after its password check,
// in one atomic step on the counters: a wrong password takes one unit of
// every budget if each has one left (answered "wrong"), a right one signs
// in if each has one left; otherwise both are answered throttled and
// change nothing. So a burst of parallel guesses gets at most the budget's
// worth of answers, and the guesses beyond it look, in every answer and
// every counter, the same whether the right password was among them or not.
type Throttle struct {
	counter Counter
	cfg     ThrottleConfig
	devices *devices
}

// NewThrottle returns a Throttle keeping its counts in c.
func NewThrottle(c Counter, cfg ThrottleConfig) *Throttle {
	if cfg.MaxFailuresPerIP <= 0 {
		cfg.MaxFailuresPerIP = 20 * cfg.MaxFailures
	}
	t := &Throttle{counter: c, cfg: cfg}
	if len(cfg.DeviceKey) > 0 {
		t.devices = &devices{key: cfg.DeviceKey}
	}
	return t
}

func accountKey(email, ip string) string {
	// Hashed so that counters neither hold addresses nor grow with input length.
	sum := sha256.Sum256([]byte(email + "\x00" + clientNetwork(ip)))
	return "acct:" + hex.EncodeToString(sum[:16])
}

func ipKey(ip string) string { return "ip:" + clientNetwork(ip) }

// clientNetwork is what one client controls: its IPv4 address, or its IPv6
// /64 (one host is routinely given a whole /64 and can pick any address in
// it, which would otherwise be a fresh budget per address).
func clientNetwork(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	p, _ := addr.WithZone("").Prefix(64)
	return p.String()
}

// budgets are the counters a login attempt is judged on.
func (t *Throttle) budgets(a Attempt) []Budget {
	if a.Device != "" {
		return []Budget{{Key: "dev:" + a.Device, Limit: int64(t.cfg.MaxFailures)}}
	}
	return []Budget{
		{Key: accountKey(a.Email, a.IP), Limit: int64(t.cfg.MaxFailures)},
		{Key: ipKey(a.IP), Limit: int64(t.cfg.MaxFailuresPerIP)},
	}
}

// refusal returns a *ThrottledError when a budget has nothing left, with
// the longest wait among those that have nothing left.
func refusal(budgets []Budget, counts []Count, cause ThrottleCause) error {
	var wait time.Duration
	spent := false
	for i, b := range budgets {
		if counts[i].N >= b.Limit {
			spent = true
			wait = max(wait, counts[i].TTL)
		}
	}
	if !spent {
		return nil
	}
	return &ThrottledError{RetryAfter: max(wait, time.Second), Cause: cause}
}

// Check returns a *ThrottledError when a budget of a is used up. It is
// called before the password check, so that a used-up budget costs no hash.
func (t *Throttle) Check(ctx context.Context, a Attempt) error {
	b := t.budgets(a)
	counts, err := t.counter.Counts(ctx, keys(b)...)
	if err != nil {
		return fmt.Errorf("%w: throttle: %v", ErrUnavailable, err)
	}
	return refusal(b, counts, CauseFailures)
}

// Fail records a wrong password when every budget of a has one left, and
// otherwise returns a *ThrottledError and records nothing: the caller
// answers as throttled.
func (t *Throttle) Fail(ctx context.Context, a Attempt) error {
	return take(ctx, t.counter, t.cfg.Window, CauseFailures, t.budgets(a))
}

// take takes one from every budget in counter, or returns a
// *ThrottledError of cause when one has nothing left.
func take(ctx context.Context, counter Counter, window time.Duration, cause ThrottleCause, b []Budget) error {
	taken, counts, err := counter.Take(ctx, window, b...)
	if err != nil {
		return fmt.Errorf("%w: throttle: %v", ErrUnavailable, err)
	}
	if taken {
		return nil
	}
	return refused(b, counts, cause)
}

// refused is the *ThrottledError of a step the counter refused. The
// counter's word is final: should the counts it returned show no budget
// spent (a count whose key had lost its expiry reads as zero), the step
// is still refused, with the shortest wait, and never lets a login
// through.
func refused(budgets []Budget, counts []Count, cause ThrottleCause) error {
	if err := refusal(budgets, counts, cause); err != nil {
		return err
	}
	return &ThrottledError{RetryAfter: time.Second, Cause: cause}
}

// Succeed lets a right password sign in when every budget of a has one
// left (the condition of Fail), clearing the failures of the account from
// this IP or device. Otherwise it returns the *ThrottledError that Fail
// would, and records nothing: the caller must not sign the user in. The
// per-IP count stays: a sprayer who guesses one password right earns no
// new budget.
//
// The check and the clearing are one atomic step (one round trip on
// Redis), so that no failure recorded in parallel slips between them.
func (t *Throttle) Succeed(ctx context.Context, a Attempt) error {
	b := t.budgets(a)
	cleared, counts, err := t.counter.Clear(ctx, b...)
	if err != nil {
		return fmt.Errorf("%w: throttle: %v", ErrUnavailable, err)
	}
	if cleared {
		return nil
	}
	return refused(b, counts, CauseFailures)
}

// SignUp counts a sign-up from ip, and returns a *ThrottledError when the
// client network has used up its sign-ups for the window.
func (t *Throttle) SignUp(ctx context.Context, ip string) error {
	if t.cfg.MaxSignups <= 0 {
		return nil
	}
	b := []Budget{{Key: "signup:" + clientNetwork(ip), Limit: int64(t.cfg.MaxSignups)}}
	return take(ctx, t.counter, t.cfg.SignupWindow, CauseSignups, b)
}

func keys(budgets []Budget) []string {
	ks := make([]string, len(budgets))
	for i, b := range budgets {
		ks[i] = b.Key
	}
	return ks
}
