package redisstate

import (
	"context"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionlogin/sessionlogin/internal/testenv"
)

func TestParseSentinelURL(t *testing.T) {
	good := []struct {
		raw  string
		want SentinelURL
	}{
		{"redis+sentinel://10.0.0.1:26379/mymaster",
			SentinelURL{Sentinels: []string{"10.0.0.1:26379"}, Master: "mymaster"}},
		{"redis+sentinel://:s%40cret@a:1,b:2,c/mymaster/3",
			SentinelURL{Sentinels: []string{"a:1", "b:2", "c:26379"}, Master: "mymaster", DB: 3, Password: "s@cret"}},
		{"redis+sentinel://app:pw@[::1]:26380,[fd00::2]/cache/",
			SentinelURL{Sentinels: []string{"[::1]:26380", "[fd00::2]:26379"}, Master: "cache", Username: "app", Password: "pw"}},
	}
	for _, tt := range good {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := ParseSentinelURL(tt.raw)
			if err != nil {
				t.Fatalf("ParseSentinelURL: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	bad := []string{
		"redis://a:1/mymaster",
		"redis+sentinel://",
		"redis+sentinel:///mymaster",
		"redis+sentinel://a:1",
		"redis+sentinel://a:1/",
		"redis+sentinel://a:1/mymaster/x",
		"redis+sentinel://a:1/mymaster/-1",
		"redis+sentinel://a:1/mymaster/0/1",
		"redis+sentinel://a:1,,b:2/mymaster",
		"redis+sentinel://a:0/mymaster",
		"redis+sentinel://a:70000/mymaster",
		"redis+sentinel://a:port/mymaster",
		"redis+sentinel://::1/mymaster",
		"redis+sentinel://pw@a:1/mymaster",
		"redis+sentinel://:%zz@a:1/mymaster",
		"redis+sentinel://a:1/my%zzmaster",
		"redis+sentinel://a:1/mymaster?db=1",
	}
	for _, raw := range bad {
		t.Run(raw, func(t *testing.T) {
			if got, err := ParseSentinelURL(raw); err == nil {
				t.Fatalf("got %+v, want an error", got)
			}
			if err := ValidateURL(raw); err == nil && strings.HasPrefix(raw, SentinelScheme) {
				t.Fatalf("ValidateURL: got nil, want an error")
			}
		})
	}
}

// sentinelSetup is a primary and one Sentinel watching it under the name
// "main" (quorum 1, default timings: it never fails over in a test this
// short), and a pool through them.
type sentinelSetup struct {
	primary  *testenv.RedisProcess
	sentinel *testenv.RedisProcess
	dialer   *sentinelDialer
	pool     *redis.Pool
}

// newSentinelSetup starts the processes; sentinels lists Sentinel
// addresses to put before the real one in the URL.
func newSentinelSetup(t *testing.T, sentinels ...string) *sentinelSetup {
	t.Helper()
	return newSentinelSetupAuth(t, sentinelAuth{}, sentinels...)
}

// sentinelAuth are the passwords of a sentinelSetup.
type sentinelAuth struct {
	primary  string // required by the primary
	sentinel string // required by the Sentinel
	url      string // given in the URL
}

func newSentinelSetupAuth(t *testing.T, auth sentinelAuth, sentinels ...string) *sentinelSetup {
	t.Helper()
	var args []string
	if auth.primary != "" {
		args = []string{"--requirepass", auth.primary}
	}
	s := &sentinelSetup{primary: testenv.StartRedisServer(t, args...)}
	s.primary.Password = auth.primary
	s.sentinel = testenv.StartSentinel(t, testenv.SentinelConfig{
		Master: "main", Primary: s.primary.Addr, Quorum: 1,
		DownAfter: 30 * time.Second, FailoverTimeout: time.Minute,
		AuthPass: auth.primary, RequirePass: auth.sentinel,
	})
	s.sentinel.Password = auth.sentinel
	userinfo := ""
	if auth.url != "" {
		userinfo = ":" + url.PathEscape(auth.url) + "@"
	}
	raw := "redis+sentinel://" + userinfo + strings.Join(append(sentinels, s.sentinel.Addr), ",") + "/main/2"
	if err := ValidateURL(raw); err != nil {
		t.Fatalf("ValidateURL(%q): %v", raw, err)
	}
	pool := NewPool(raw)
	t.Cleanup(func() { pool.Close() })
	s.pool = pool
	su, _ := ParseSentinelURL(raw)
	s.dialer = newSentinelDialer(su)
	pool.DialContext, pool.TestOnBorrowContext = s.dialer.dial, s.dialer.fresh
	return s
}

// set writes key through the pool.
func (s *sentinelSetup) set(key string) error {
	c, err := conn(context.Background(), s.pool)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = redis.DoContext(c, context.Background(), "SET", key, "v")
	return err
}

// demote makes the primary a replica (of a server that is not there), as
// a failover does to an old primary that comes back, while the Sentinel,
// which looks every 10s, still names it.
func (s *sentinelSetup) demote() { s.primary.Do("REPLICAOF", "127.0.0.1", "1") }

// promote makes it the primary again, and checks that the pool uses it.
func (s *sentinelSetup) promote(t *testing.T) {
	t.Helper()
	s.primary.Do("REPLICAOF", "NO", "ONE")
	if err := s.set("k"); err != nil {
		t.Fatalf("SET once it is the primary again: %v", err)
	}
}

func TestSentinelFindsPrimary(t *testing.T) {
	// The first Sentinel listed is down: the next is asked, and asked
	// first from then on.
	dead := testenv.StartRedisServer(t)
	dead.Kill()
	s := newSentinelSetup(t, dead.Addr)
	if err := s.set("k"); err != nil {
		t.Fatalf("SET through the Sentinel: %v", err)
	}
	c, err := redis.Dial("tcp", s.primary.Addr, redis.DialDatabase(2))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, _ := redis.String(c.Do("GET", "k")); got != "v" {
		t.Fatalf("GET k in database 2 of the primary: got %q, want %q", got, "v")
	}
	if got := s.dialer.sentinels; got[0] != s.sentinel.Addr {
		t.Fatalf("Sentinel order after discovery: got %v, want %s first", got, s.sentinel.Addr)
	}
}

func TestSentinelPasswords(t *testing.T) {
	// The URL's password is the primary's; it goes to a Sentinel only when
	// the Sentinel asks for one, so one URL serves either set-up.
	tests := []struct {
		name    string
		auth    sentinelAuth
		wantErr string // "" for success
	}{
		{"primary only", sentinelAuth{primary: "pri/pw", url: "pri/pw"}, ""},
		{"primary and Sentinels", sentinelAuth{primary: "shared", sentinel: "shared", url: "shared"}, ""},
		{"no password given", sentinelAuth{primary: "shared", sentinel: "shared"}, "NOAUTH"},
		{"wrong password", sentinelAuth{primary: "shared", sentinel: "shared", url: "wrong"}, "AUTH"},
		{"primary refuses it", sentinelAuth{primary: "pri", url: "wrong"}, "WRONGPASS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSentinelSetupAuth(t, tt.auth)
			err := s.set("k")
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("SET: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("SET: got error %v, want one with %q", err, tt.wantErr)
			}
		})
	}
}

func TestSentinelUnknownMaster(t *testing.T) {
	s := newSentinelSetup(t)
	s.dialer.url.Master = "other"
	err := s.set("k")
	if err == nil || !strings.Contains(err.Error(), `does not know master "other"`) {
		t.Fatalf("SET with an unknown master name: got %v, want the Sentinel's answer named", err)
	}
}

func TestSentinelChecksRole(t *testing.T) {
	// A Sentinel may name a server that is no longer the primary (it has
	// not noticed a failover yet): ROLE on connect refuses it.
	s := newSentinelSetup(t)
	s.demote()
	if err := s.set("k"); !errors.Is(err, errNotPrimary) {
		t.Fatalf("SET while the named server is a replica: got %v, want errNotPrimary", err)
	}
	s.promote(t)
}

func TestSentinelReadOnlyConnectionClosed(t *testing.T) {
	// A pooled connection to a primary that became a replica answers
	// READONLY: it is closed, not returned to the pool.
	s := newSentinelSetup(t)
	if err := s.set("k"); err != nil {
		t.Fatal(err)
	}
	if n := s.pool.IdleCount(); n != 1 {
		t.Fatalf("idle connections: got %d, want 1", n)
	}
	s.demote()
	if err := s.set("k"); !isRedisError(err, "READONLY") {
		t.Fatalf("SET on the demoted primary: got %v, want READONLY", err)
	}
	if n := s.pool.ActiveCount(); n != 0 {
		t.Fatalf("connections kept after READONLY: got %d, want 0", n)
	}
	s.promote(t)
}

func TestSentinelConnectionErrorDropsPool(t *testing.T) {
	// Once one pooled connection finds the primary gone, the others, from
	// the same time, are not tried: the next request gets a new one.
	s := newSentinelSetup(t)
	ctx := context.Background()
	var held []redis.Conn
	for range 3 {
		c, err := conn(ctx, s.pool)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := redis.DoContext(c, ctx, "PING"); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	for _, c := range held {
		c.Close()
	}
	if n := s.pool.IdleCount(); n != 3 {
		t.Fatalf("idle connections: got %d, want 3", n)
	}
	s.primary.Do("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
	if err := s.set("k"); err == nil {
		t.Fatal("SET on a killed connection: got no error")
	}
	if err := s.set("k"); err != nil {
		t.Fatalf("SET after one connection failed: %v, want a new connection", err)
	}
	if n := s.pool.ActiveCount(); n != 1 {
		t.Fatalf("connections after the failure: got %d, want 1 (the new one)", n)
	}
}

// TestSentinelLearnsOtherSentinels: the URL names one Sentinel of two; the
// dialer learns the other from it, and finds the primary through that one
// once the first is gone.
func TestSentinelLearnsOtherSentinels(t *testing.T) {
	primary := testenv.StartRedisServer(t)
	cfg := testenv.SentinelConfig{Master: "main", Primary: primary.Addr, Quorum: 2,
		DownAfter: 30 * time.Second, FailoverTimeout: time.Minute}
	first, second := testenv.StartSentinel(t, cfg), testenv.StartSentinel(t, cfg)
	// Sentinels find each other through the primary's hello channel,
	// every two seconds.
	deadline := time.Now().Add(15 * time.Second)
	for {
		known, _ := redis.Values(first.Do("SENTINEL", "sentinels", "main"), nil)
		if len(known) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first Sentinel knows %d others after 15s, want 1", len(known))
		}
		time.Sleep(100 * time.Millisecond)
	}
	u, err := ParseSentinelURL("redis+sentinel://" + first.Addr + "/main")
	if err != nil {
		t.Fatal(err)
	}
	d := newSentinelDialer(u)
	if addr, err := d.primary(t.Context()); err != nil || addr != primary.Addr {
		t.Fatalf("primary through the first Sentinel: %q, %v; want %s", addr, err, primary.Addr)
	}
	if want := []string{first.Addr, second.Addr}; !reflect.DeepEqual(d.sentinels, want) {
		t.Fatalf("Sentinels after discovery: got %v, want %v", d.sentinels, want)
	}
	first.Kill()
	if addr, err := d.primary(t.Context()); err != nil || addr != primary.Addr {
		t.Fatalf("primary once the first Sentinel is gone: %q, %v; want %s", addr, err, primary.Addr)
	}
}
