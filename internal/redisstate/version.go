package redisstate

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/gomodule/redigo/redis"
)

// MinVersion is the oldest Redis the service supports: the login counters
// use PEXPIRE … NX, which Redis 7.0 introduced (an older server refuses it,
// and every failed login would be a 503 that counts nothing). Valkey
// reports its Redis compatibility level as redis_version, so the same
// minimum holds for it.
var MinVersion = [3]int{7, 0, 0}

// VersionError reports a server older than MinVersion, or one that does
// not say which version it is.
type VersionError struct {
	Server  string // "Redis 6.2.14", "Valkey 7.2.5 (Redis 7.2.4)", or "" if unknown
	Problem string // why the server is refused
}

func (e *VersionError) Error() string {
	if e.Server == "" {
		return "redis: " + e.Problem
	}
	return fmt.Sprintf("redis: %s: %s", e.Server, e.Problem)
}

// CheckVersion asks the server its version (INFO server) and returns a
// *VersionError when it is older than MinVersion. Any other error means
// the question could not be asked (Redis unreachable).
func CheckVersion(ctx context.Context, pool *redis.Pool) error {
	c, err := conn(ctx, pool)
	if err != nil {
		return err
	}
	defer c.Close()
	info, err := redis.String(redis.DoContext(c, ctx, "INFO", "server"))
	if err != nil {
		return err
	}
	return CheckServerInfo(info)
}

// CheckServerInfo checks the reply of INFO server: nil if its redis_version
// is at least MinVersion, else a *VersionError.
func CheckServerInfo(info string) error {
	fields := make(map[string]string)
	for _, line := range strings.Split(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			fields[k] = v
		}
	}
	rv, ok := fields["redis_version"]
	if !ok {
		return &VersionError{Problem: "the server does not report redis_version in INFO server; Redis 7.0 or later is required"}
	}
	server := "Redis " + rv
	if vv, ok := fields["valkey_version"]; ok {
		server = fmt.Sprintf("Valkey %s (Redis %s)", vv, rv)
	}
	v, ok := parseVersion(rv)
	if !ok {
		return &VersionError{Server: server, Problem: fmt.Sprintf("cannot read the version %q; Redis 7.0 or later is required", rv)}
	}
	if older(v, MinVersion) {
		return &VersionError{Server: server, Problem: "too old; Redis 7.0 or later (or Valkey 7.2 or later) is required"}
	}
	return nil
}

// parseVersion reads "major.minor.patch" (a missing part counts as 0).
func parseVersion(s string) ([3]int, bool) {
	var v [3]int
	parts := strings.Split(s, ".")
	if len(parts) > 3 {
		return v, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, false
		}
		v[i] = n
	}
	return v, true
}

func older(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}
