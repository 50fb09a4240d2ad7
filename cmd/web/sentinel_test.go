//go:build unix

package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionlogin/sessionlogin/internal/testenv"
	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// failoverBound is how long the service may take to answer again after
// the primary dies: Sentinel's down-after (1s here), its agreement and the
// promotion take a few seconds; far more means it does not follow.
const failoverBound = 20 * time.Second

// TestSentinelFailover runs the service through three Sentinels watching
// a primary and its replica, signs in, and kills the primary: logins get
// the 503 page (never a 500 or a hang) until the Sentinels promote the
// replica, then the service answers again without a restart, the session
// written before the failover is still valid, and the login throttling
// counters work on the new primary. /readyz follows: 503, then 200.
func TestSentinelFailover(t *testing.T) {
	primary := testenv.StartRedisServer(t)
	replica := testenv.StartRedisServer(t, "--replicaof", "127.0.0.1", primary.Port())
	// Sentinels learn of replicas from the primary's INFO, so the replica
	// must be attached before they start, or they see it only 10s later.
	waitFor(t, "replica attached", func() bool {
		info, _ := redis.String(replica.Do("INFO", "replication"), nil)
		return strings.Contains(info, "master_link_status:up")
	})
	const master = "main"
	var addrs []string
	var sentinels []*testenv.RedisProcess
	for range 3 {
		s := testenv.StartSentinel(t, testenv.SentinelConfig{
			Master: master, Primary: primary.Addr, Quorum: 2,
			DownAfter: time.Second, FailoverTimeout: 3 * time.Second,
		})
		sentinels = append(sentinels, s)
		addrs = append(addrs, s.Addr)
	}
	// A failover needs every Sentinel to know the others (they announce
	// themselves every 2s) and the replica.
	for _, s := range sentinels {
		waitFor(t, "Sentinel "+s.Addr+" sees 2 Sentinels and 1 replica", func() bool {
			m, _ := redis.StringMap(s.Do("SENTINEL", "MASTER", master), nil)
			return m["num-other-sentinels"] == "2" && m["num-slaves"] == "1"
		})
	}

	prefix := testenv.RandomName("t") + ":"
	srv := startServer(t, map[string]string{
		"SESSION_STORE":    "redis",
		"REDIS_URL":        "redis+sentinel://" + strings.Join(addrs, ",") + "/" + master + "/0",
		"REDIS_KEY_PREFIX": prefix,
	})
	base := srv.URL
	probe := webtest.NewClient(t)
	wantReadyz(t, probe, base, http.StatusOK, "session store: ok")

	email := e2eEmail()
	webtest.NewClient(t).SignUp(base, email, webtest.Password)
	before := webtest.NewClient(t)
	before.LogIn(base, email, webtest.Password, false)

	// Replication is asynchronous: WAIT after a write of our own covers
	// every earlier write of the stream, the service's included.
	primary.Do("SET", prefix+"fence", 1)
	if n, _ := redis.Int(primary.Do("WAIT", 1, 5000), nil); n != 1 {
		t.Fatalf("WAIT 1: got %d replicas, want 1", n)
	}
	if n := redisKeys(t, "redis://"+replica.Addr+"/0", prefix+"s:*"); n == 0 {
		t.Fatalf("no session under %q on the replica before the failover", prefix)
	}

	primary.Kill()
	killed := time.Now()

	// The Sentinels give the primary a second before thinking it down, so
	// the first requests certainly fall inside the failover.
	login := url.Values{"email": {email}, "password": {webtest.Password}}
	wantUnavailablePage(t, "login just after the primary died", webtest.NewClient(t).Post(base+"/login", login), outageBound)
	wantReadyz(t, probe, base, http.StatusServiceUnavailable, "session store: down")

	var unavailable int
	after := webtest.NewClient(t)
	for {
		res := after.Post(base+"/login", login)
		if res.StatusCode == http.StatusSeeOther {
			break
		}
		wantUnavailablePage(t, "login during the failover", res, outageBound)
		// Readiness may come back a moment before the login above would
		// have succeeded, but never says anything else, nor slowly.
		if r := probe.Get(base + "/readyz"); (r.StatusCode != http.StatusServiceUnavailable && r.StatusCode != http.StatusOK) || r.Elapsed > readyzBound {
			t.Errorf("/readyz during the failover: got %d in %s, want 503 or 200 within %s", r.StatusCode, r.Elapsed, readyzBound)
		}
		if t.Failed() {
			t.Fatalf("logs:\n%s", srv.Logs)
		}
		unavailable++
		if time.Since(killed) > failoverBound {
			t.Fatalf("logins still 503 %s after the primary died; want the promoted replica used", failoverBound)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("service answered again %s after the primary died (%d logins got 503 meanwhile)",
		time.Since(killed).Round(10*time.Millisecond), unavailable+1)

	wantReadyz(t, probe, base, http.StatusOK, "session store: ok")
	if got := before.SignedInAs(base); got != email {
		t.Fatalf("session from before the failover: signed in as %q, want %q", got, email)
	}
	if got := after.SignedInAs(base); got != email {
		t.Fatalf("session from after the failover: signed in as %q, want %q", got, email)
	}
	addr, err := redis.Strings(sentinels[0].Do("SENTINEL", "get-master-addr-by-name", master), nil)
	if err != nil || len(addr) != 2 || addr[0]+":"+addr[1] != replica.Addr {
		t.Fatalf("primary named by the Sentinels: got %v (%v), want the former replica %s", addr, err, replica.Addr)
	}

	// The throttling counters live on the new primary too.
	res := webtest.NewClient(t).Post(base+"/login", url.Values{"email": {email}, "password": {"wrong " + webtest.Password}})
	webtest.WantStatus(t, res, http.StatusUnprocessableEntity)
	if n := redisKeys(t, "redis://"+replica.Addr+"/0", prefix+"c:*"); n == 0 {
		t.Fatalf("no throttling counter under %q on the new primary after a failed login", prefix)
	}
}

// waitFor polls cond until it holds, failing t after 15s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 15s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
