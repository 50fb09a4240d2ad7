// Package testenv finds the real services tests run against (Redis,
// PostgreSQL) and gives each test its own isolated piece of them. A missing
// service skips the test, unless REQUIRE_SERVICES=1 (set by CI), where it
// fails it.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver for creating databases
)

// Required reports whether missing services fail tests instead of skipping them.
func Required() bool { return os.Getenv("REQUIRE_SERVICES") == "1" }

// Unavailable skips t, or fails it when services are required.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if Required() {
		t.Fatalf("REQUIRE_SERVICES=1: "+format, args...)
	}
	t.Skipf(format, args...)
}

// RandomName returns a short random lower-case name with prefix.
func RandomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// RedisURL returns TEST_REDIS_URL after checking that Redis answers there.
func RedisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		Unavailable(t, "TEST_REDIS_URL not set")
	}
	c, err := redis.DialURL(u, redis.DialConnectTimeout(time.Second))
	if err != nil {
		Unavailable(t, "redis at %s: %v", u, err)
	}
	defer c.Close()
	if _, err := c.Do("PING"); err != nil {
		Unavailable(t, "redis at %s: %v", u, err)
	}
	return u
}

// RedisPrefix returns a key prefix unique to this test, and deletes the
// test's keys when it ends, so tests sharing one Redis never collide.
func RedisPrefix(t testing.TB, redisURL string) string {
	t.Helper()
	prefix := RandomName("t") + ":"
	t.Cleanup(func() {
		c, err := redis.DialURL(redisURL)
		if err != nil {
			return
		}
		defer c.Close()
		iter := 0
		for {
			vals, err := redis.Values(c.Do("SCAN", iter, "MATCH", prefix+"*", "COUNT", 1000))
			if err != nil {
				return
			}
			iter, _ = redis.Int(vals[0], nil)
			keys, _ := redis.Strings(vals[1], nil)
			for _, k := range keys {
				_, _ = c.Do("DEL", k)
			}
			if iter == 0 {
				return
			}
		}
	})
	return prefix
}

// PostgresURL creates a fresh database on the server of TEST_DATABASE_URL,
// drops it when the test ends, and returns its URL.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		Unavailable(t, "TEST_DATABASE_URL not set")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		Unavailable(t, "postgres at %s: %v", base, err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		Unavailable(t, "postgres at %s: %v", base, err)
	}
	name := RandomName("test_")
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		_, _ = a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + strings.TrimPrefix(name, "/")
	return u.String()
}
