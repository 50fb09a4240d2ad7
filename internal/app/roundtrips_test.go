package app_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionlogin/sessionlogin/internal/redisstate"
	"github.com/sessionlogin/sessionlogin/internal/server"
	"github.com/sessionlogin/sessionlogin/internal/testenv"
	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// redisLog records the commands and round trips that reach Redis through
// a pool.
type redisLog struct {
	prefix string
	mu     sync.Mutex
	cmds   []string
	trips  int
}

// record notes a command as its name and the kind of its first key
// (prefix stripped, up to the colon): "GET s:", "EVALSHA z:".
func (l *redisLog) record(cmd string, args []any) {
	if cmd == "" {
		return
	}
	if strings.EqualFold(cmd, "EVALSHA") || strings.EqualFold(cmd, "EVAL") {
		args = args[2:] // script, number of keys
	}
	s := cmd
	if len(args) > 0 {
		if k, ok := args[0].(string); ok && strings.HasPrefix(k, l.prefix) {
			k = strings.TrimPrefix(k, l.prefix)
			if i := strings.IndexByte(k, ':'); i >= 0 {
				k = k[:i+1]
			}
			s += " " + k
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cmds = append(l.cmds, s)
}

func (l *redisLog) trip() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.trips++
}

// take returns what was recorded since the last take, and forgets it.
func (l *redisLog) take() (cmds []string, trips int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cmds, trips = l.cmds, l.trips
	l.cmds, l.trips = nil, 0
	return cmds, trips
}

// fullConn is what redigo's connections are.
type fullConn interface {
	redis.Conn
	redis.ConnWithTimeout
	redis.ConnWithContext
}

// countingConn passes everything to a real connection and records it: a
// Do is one round trip (it flushes what was sent before it), and so is a
// Flush; a Do or Flush with nothing to send (as the pool's Close does)
// costs none.
type countingConn struct {
	fullConn
	log     *redisLog
	pending int
}

func (c *countingConn) do(cmd string, args []any) {
	c.log.record(cmd, args)
	if cmd != "" || c.pending > 0 {
		c.log.trip()
	}
	c.pending = 0
}

func (c *countingConn) Do(cmd string, args ...any) (any, error) {
	c.do(cmd, args)
	return c.fullConn.Do(cmd, args...)
}

func (c *countingConn) DoWithTimeout(d time.Duration, cmd string, args ...any) (any, error) {
	c.do(cmd, args)
	return c.fullConn.DoWithTimeout(d, cmd, args...)
}

func (c *countingConn) DoContext(ctx context.Context, cmd string, args ...any) (any, error) {
	c.do(cmd, args)
	return c.fullConn.DoContext(ctx, cmd, args...)
}

func (c *countingConn) Send(cmd string, args ...any) error {
	c.log.record(cmd, args)
	c.pending++
	return c.fullConn.Send(cmd, args...)
}

func (c *countingConn) Flush() error {
	if c.pending > 0 {
		c.log.trip()
	}
	c.pending = 0
	return c.fullConn.Flush()
}

// countRedis makes sh's instances reach Redis through a pool built by
// redisstate.NewPool whose connections are counted.
func (sh *shared) countRedis(t *testing.T) *redisLog {
	t.Helper()
	pool := redisstate.NewPool(testenv.RedisURL(t))
	log := &redisLog{prefix: sh.prefix}
	dial := pool.DialContext
	pool.DialContext = func(ctx context.Context) (redis.Conn, error) {
		c, err := dial(ctx)
		if err != nil {
			return nil, err
		}
		return &countingConn{fullConn: c.(fullConn), log: log}, nil
	}
	sh.state = server.RedisState(pool, sh.prefix)
	t.Cleanup(sh.state.Close)
	return log
}

// TestRedisRoundTrips counts what a page view, a login and a logout cost in
// Redis, as docs/BENCHMARKS.md ("Redis round trips") lists them: a page
// view is one GET; a login is two round trips for the throttle and one
// script each for the registry and the session; a logout loads the session
// and ends it in one script.
func TestRedisRoundTrips(t *testing.T) {
	sh := newShared(t, "redis")
	log := sh.countRedis(t)
	srv := newInstance(t, sh, options{})
	webtest.NewClient(t).SignUp(srv.URL, "ann@example.com", webtest.Password)
	// Once, so that every script is loaded (a first EVALSHA is answered
	// NOSCRIPT and followed by EVAL) and every connection dialled.
	warm := webtest.NewClient(t)
	warm.LogIn(srv.URL, "ann@example.com", webtest.Password, false)
	warm.SignedInAs(srv.URL)
	webtest.WantRedirect(t, warm.Post(srv.URL+"/logout", nil), "/")

	c := webtest.NewClient(t)
	log.take()
	c.LogIn(srv.URL, "ann@example.com", webtest.Password, false)
	loginCmds, loginTrips := log.take()
	session := slices.DeleteFunc(slices.Clone(loginCmds), func(s string) bool { return strings.HasSuffix(s, " c:") })
	t.Logf("login: %d round trips: %q", loginTrips, loginCmds)
	// The registry (register, prune, cap) in one script; the session
	// written unless tombstoned in one script.
	if want := []string{"EVALSHA z:", "EVALSHA s:"}; !slices.Equal(session, want) {
		t.Errorf("login, session state: got %q, want %q", session, want)
	}
	// The throttle: its counts before the hash (pipelined), then one
	// script that checks them again and clears the account's failures.
	if want := []string{"GET c:", "PTTL c:", "GET c:", "PTTL c:", "EVALSHA c:", "EVALSHA z:", "EVALSHA s:"}; !slices.Equal(loginCmds, want) || loginTrips != 4 {
		t.Errorf("login: got %q in %d round trips, want %q in 4", loginCmds, loginTrips, want)
	}

	for range 3 {
		webtest.WantStatus(t, c.Get(srv.URL+"/account"), http.StatusOK)
		cmds, trips := log.take()
		if want := []string{"GET s:"}; !slices.Equal(cmds, want) || trips != 1 {
			t.Errorf("page view: got %q in %d round trips, want %q in 1", cmds, trips, want)
		}
	}

	webtest.WantRedirect(t, c.Post(srv.URL+"/logout", nil), "/")
	cmds, trips := log.take()
	// The page load (GET), then the session and its registry entry ended
	// in one script.
	if want := []string{"GET s:", "EVALSHA z:"}; !slices.Equal(cmds, want) || trips != 2 {
		t.Errorf("logout: got %q in %d round trips, want %q in 2", cmds, trips, want)
	}
}
