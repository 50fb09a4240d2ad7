package app_test

import (
	"bufio"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gomodule/redigo/redis"
	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// Many logins of one account, and what a live session costs in Redis:
//
//	go test -run '^$' -bench LoginsOneAccount -benchtime 10000x ./internal/app/
//	go test -run '^$' -bench SessionMemory -benchtime 1x ./internal/app/
//
// Both hash with the cheap test parameters: they measure the session layer
// (the per-user registry above all), not argon2id.

// BenchmarkLoginsOneAccount is the rig's memory.sh without the network:
// one account logs in b.N times and never logs out, so that its registry
// is as full as the session cap lets it be. Each login must cost the same
// however many came before it.
func BenchmarkLoginsOneAccount(b *testing.B) {
	for _, store := range stores {
		b.Run(store, func(b *testing.B) {
			cfg := benchConfig{store: store, params: testParams}
			if store == "redis" {
				cfg.redisURL = startRedis(b)
			}
			h := newBenchApp(b, cfg)
			signUpAndLogIn(b, h)
			creds := url.Values{"email": {benchEmail}, "password": {webtest.Password}}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if w := serve(b, h, newRequest(b, http.MethodPost, "/login", "", creds)); w.status != http.StatusSeeOther {
					b.Fatalf("POST /login: got status %d, want 303", w.status)
				}
			}
		})
	}
}

// BenchmarkSessionMemory reports the Redis memory of one live session, its
// registry entry included (redis-bytes/session): the growth of a private
// Redis's used_memory over 10,000 sessions (sign-ups and logins), divided
// by 10,000. No session ends, so no tombstone is counted. What a session
// costs depends on how the sessions are spread over accounts (each account
// has its registry key, whose encoding Redis picks by its size) and on the
// user agent (kept in the registry entry), so it is measured for a few
// shapes, with a short user agent (curl, as the rig's memory.sh) and a
// browser's. "1x10000" lifts the session cap (default 100). The Redis is
// private, so keys carry cmd/web's default prefix.
func BenchmarkSessionMemory(b *testing.B) {
	agents := []struct{ name, ua string }{
		{"curl", "curl/8.5.0"},
		{"firefox", "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"},
	}
	shapes := []struct{ users, sessions int }{{1, 10000}, {100, 100}, {2000, 5}, {5000, 2}}
	for _, a := range agents {
		for _, shape := range shapes {
			b.Run(fmt.Sprintf("%s/%dx%d", a.name, shape.users, shape.sessions), func(b *testing.B) {
				u := startRedis(b)
				h := newBenchApp(b, benchConfig{
					store: "redis", redisURL: u, params: testParams, maxSessions: shape.sessions,
					redisPrefix: "sl:", // cmd/web's default: keys as long as in production
				})
				var grown, registry int64
				round := 0
				for b.Loop() {
					before := usedMemory(b, u)
					for i := range shape.users {
						creds := url.Values{"email": {fmt.Sprintf("u%d.%d@example.com", round, i)}, "password": {webtest.Password}}
						for j := range shape.sessions {
							target := "/login"
							if j == 0 {
								target = "/signup"
							}
							r := newRequest(b, http.MethodPost, target, "", creds)
							r.Header.Set("User-Agent", a.ua)
							if w := serve(b, h, r); w.status != http.StatusSeeOther {
								b.Fatalf("POST %s: got status %d, want 303", target, w.status)
							}
						}
					}
					// The throttle counters the sign-ups left (mails per
					// address and per client, an hour each) are not
					// session memory.
					deleteKeys(b, u, "sl:c:*")
					grown += usedMemory(b, u) - before
					round++
				}
				registry = keysMemory(b, u, "sl:z:*")
				sessions := float64(round * shape.users * shape.sessions)
				b.ReportMetric(float64(grown)/sessions, "redis-bytes/session")
				// The registries' share: all rounds' registry keys are
				// still there, as are all rounds' sessions.
				b.ReportMetric(float64(registry)/sessions, "registry-bytes/session")
			})
		}
	}
}

// keysMemory sums MEMORY USAGE over the keys matching pattern.
func keysMemory(tb testing.TB, redisURL, pattern string) int64 {
	tb.Helper()
	var total int64
	eachKey(tb, redisURL, pattern, func(c redis.Conn, key string) {
		n, err := redis.Int64(c.Do("MEMORY", "USAGE", key, "SAMPLES", 0))
		if err != nil {
			tb.Fatal(err)
		}
		total += n
	})
	return total
}

// deleteKeys deletes the keys matching pattern.
func deleteKeys(tb testing.TB, redisURL, pattern string) {
	tb.Helper()
	var keys []any
	eachKey(tb, redisURL, pattern, func(_ redis.Conn, key string) { keys = append(keys, key) })
	c, err := redis.DialURL(redisURL)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	for chunk := range slices.Chunk(keys, 1000) {
		if _, err := c.Do("DEL", chunk...); err != nil {
			tb.Fatal(err)
		}
	}
}

// eachKey calls fn with every key matching pattern (SCAN), on a
// connection fn may use.
func eachKey(tb testing.TB, redisURL, pattern string, fn func(c redis.Conn, key string)) {
	tb.Helper()
	c, err := redis.DialURL(redisURL)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	cursor := "0"
	for {
		reply, err := redis.Values(c.Do("SCAN", cursor, "MATCH", pattern, "COUNT", 1000))
		if err != nil {
			tb.Fatal(err)
		}
		keys, _ := redis.Strings(reply[1], nil)
		for _, k := range keys {
			fn(c, k)
		}
		if cursor, _ = redis.String(reply[0], nil); cursor == "0" {
			return
		}
	}
}

// usedMemory returns Redis's used_memory (INFO memory), in bytes.
func usedMemory(tb testing.TB, redisURL string) int64 {
	tb.Helper()
	c, err := redis.DialURL(redisURL)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	info, err := redis.String(c.Do("INFO", "memory"))
	if err != nil {
		tb.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "used_memory:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return n
		}
	}
	tb.Fatal("no used_memory in INFO memory")
	return 0
}
