package app_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/webtest"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// gatedUsers holds UserByEmail calls, while on, until the test lets them
// through, by order of arrival: a burst can then be replayed with its
// attempts settling in a chosen order.
type gatedUsers struct {
	auth.UserStore
	on      atomic.Bool
	mu      sync.Mutex
	arrived []chan struct{}
}

func (g *gatedUsers) UserByEmail(ctx context.Context, email string) (auth.User, error) {
	if g.on.Load() {
		ch := make(chan struct{})
		g.mu.Lock()
		g.arrived = append(g.arrived, ch)
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return auth.User{}, ctx.Err()
		}
	}
	return g.UserStore.UserByEmail(ctx, email)
}

// waitArrived waits until n calls are held.
func (g *gatedUsers) waitArrived(t *testing.T, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d held lookups", n), func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.arrived) >= n
	})
}

// release lets the held calls [from, to) through.
func (g *gatedUsers) release(from, to int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, ch := range g.arrived[from:to] {
		close(ch)
	}
}

// waitFor polls cond (a synchronisation point, not a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// observed is everything an attacker (and an operator) can see of a burst.
type observed struct {
	answers  []string // status, Retry-After and body of each answer, sorted
	metrics  []string // auth_events_total lines of /metrics
	audit    []string // audit records (event, user, address) with their number, sorted
	ipBudget int      // wrong guesses the address may still make before 429
}

var auditFields = regexp.MustCompile(`(event|user_id|ip)=\S+`)

// burstOracle sends burst parallel guesses at one account from one
// address, the right password among them when withRight, and returns what
// can be observed. The guesses are all past the first check when the
// first maxFailures settle, and the right one (the last to arrive) settles
// after them, past the budget: the case where a guess that was right used
// to leave a trace.
func burstOracle(t *testing.T, store string, burst, maxFailures int, withRight bool) observed {
	const (
		email    = "ann@example.com"
		attacker = "198.51.100.7"
	)
	sh := newShared(t, store)
	logs := &webtest.SyncBuffer{}
	gate := &gatedUsers{}
	srv := newInstance(t, sh, options{
		maxFailures: maxFailures, trustedProxies: "127.0.0.1/32", logs: logs,
		wrapUsers: func(u auth.UserStore) auth.UserStore { gate.UserStore = u; return gate },
	})
	webtest.NewClient(t).SignUp(srv.URL, email, webtest.Password)
	gate.on.Store(true)

	answers := make([]string, burst)
	var done atomic.Int32
	var wg sync.WaitGroup
	guess := func(i int, password string) {
		wg.Go(func() {
			// A fresh client per guess: an attacker keeps no cookies.
			res := attempt(fromIP(t, attacker), srv.URL, email, password)
			answers[i] = fmt.Sprintf("%d|%s|%s", res.StatusCode, res.Header.Get("Retry-After"), res.Body)
			done.Add(1)
		})
	}
	for i := range burst - 1 {
		guess(i, fmt.Sprintf("wrong guess number %d", i))
	}
	gate.waitArrived(t, burst-1)
	last := fmt.Sprintf("wrong guess number %d", burst-1)
	if withRight {
		last = webtest.Password
	}
	guess(burst-1, last)
	gate.waitArrived(t, burst)
	gate.release(0, maxFailures)
	waitFor(t, "the budget's answers", func() bool { return done.Load() == int32(maxFailures) })
	gate.release(maxFailures, burst)
	wg.Wait()
	gate.on.Store(false)

	var o observed
	o.answers = answers
	slices.Sort(o.answers)
	for _, line := range strings.Split(webtest.NewClient(t).Get(srv.URL+"/metrics").Body, "\n") {
		if strings.HasPrefix(line, "auth_events_total") {
			o.metrics = append(o.metrics, line)
		}
	}
	records := map[string]int{}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "msg=audit") {
			records[strings.Join(auditFields.FindAllString(line, -1), " ")]++
		}
	}
	for r, n := range records {
		o.audit = append(o.audit, fmt.Sprintf("%s ×%d", r, n))
	}
	slices.Sort(o.audit)
	// What the address has left, measured as the attacker would: wrong
	// guesses on other accounts until refused.
	probe := fromIP(t, attacker)
	for o.ipBudget = 0; o.ipBudget < 1000; o.ipBudget++ {
		res := attempt(probe, srv.URL, fmt.Sprintf("probe%d@example.com", o.ipBudget), "not the password")
		if res.StatusCode == http.StatusTooManyRequests {
			break
		}
	}
	return o
}

// TestThrottleBurstOracle replays the attack of the review: the same burst
// of parallel guesses with and without the right password must look the
// same in every answer, counter, metric and audit record.
func TestThrottleBurstOracle(t *testing.T) {
	const burst, maxFailures = 30, 5
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			without := burstOracle(t, store, burst, maxFailures, false)
			with := burstOracle(t, store, burst, maxFailures, true)

			wrong, throttled := 0, 0
			for _, a := range without.answers {
				switch {
				case strings.HasPrefix(a, "422|"):
					wrong++
				case strings.HasPrefix(a, "429|"):
					throttled++
				}
			}
			if wrong != maxFailures || throttled != burst-maxFailures {
				t.Fatalf("burst without the password: %d answered wrong and %d throttled, want %d and %d",
					wrong, throttled, maxFailures, burst-maxFailures)
			}
			if !slices.Equal(with.answers, without.answers) {
				for i := range with.answers {
					if with.answers[i] != without.answers[i] {
						t.Errorf("answers differ:\nwith the password:    %.300q\nwithout the password: %.300q", with.answers[i], without.answers[i])
						break
					}
				}
			}
			if !slices.Equal(with.metrics, without.metrics) {
				t.Errorf("metrics differ:\nwith the password:    %q\nwithout the password: %q", with.metrics, without.metrics)
			}
			if !slices.Equal(with.audit, without.audit) {
				t.Errorf("audit records differ:\nwith the password:    %q\nwithout the password: %q", with.audit, without.audit)
			}
			if with.ipBudget != without.ipBudget {
				t.Errorf("per-IP budget left: %d with the password, %d without", with.ipBudget, without.ipBudget)
			}
		})
	}
}

// TestParallelLoginsOneAddress checks that only failures are limited: 64
// simultaneous right logins to one account from one address (the W2
// benchmark's shape) all sign in.
func TestParallelLoginsOneAddress(t *testing.T) {
	const email, n = "ann@example.com", 64
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			sh := newShared(t, store)
			srv := newInstance(t, sh, options{trustedProxies: "127.0.0.1/32"})
			webtest.NewClient(t).SignUp(srv.URL, email, webtest.Password)
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					res := attempt(fromIP(t, "198.51.100.9"), srv.URL, email, webtest.Password)
					if res.StatusCode != http.StatusSeeOther {
						t.Errorf("parallel login: got status %d, want 303", res.StatusCode)
					}
				})
			}
			wg.Wait()
		})
	}
}
