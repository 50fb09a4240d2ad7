package redisstate_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessionlogin/sessionlogin/internal/redisstate"
)

// info builds an INFO server reply as Redis sends it (CRLF lines).
func info(lines ...string) string {
	return "# Server\r\n" + strings.Join(lines, "\r\n") + "\r\n"
}

func TestCheckServerInfo(t *testing.T) {
	tests := []struct {
		name string
		info string
		ok   bool
		want string // in the error, when refused
	}{
		{"Redis 7.0.0", info("redis_version:7.0.0", "redis_mode:standalone"), true, ""},
		{"Redis 7.2.4", info("redis_version:7.2.4"), true, ""},
		{"Redis 8.0.2", info("redis_version:8.0.2"), true, ""},
		{"Redis 10.0", info("redis_version:10.0"), true, ""},
		{"Valkey 8", info("redis_version:7.2.4", "server_name:valkey", "valkey_version:8.0.1"), true, ""},
		{"LF lines", "# Server\nredis_version:7.4.1\n", true, ""},
		{"Redis 6.2.14", info("redis_version:6.2.14"), false, "Redis 6.2.14"},
		{"Redis 6.9.99", info("redis_version:6.9.99"), false, "Redis 6.9.99"},
		{"Redis 5.0.7", info("redis_version:5.0.7"), false, "7.0 or later"},
		{"Valkey reporting an old Redis", info("redis_version:6.2.0", "valkey_version:6.2.0"), false, "Valkey 6.2.0"},
		{"no version", info("redis_mode:standalone"), false, "redis_version"},
		{"unreadable version", info("redis_version:seven"), false, `"seven"`},
		{"too many parts", info("redis_version:7.0.0.1"), false, "7.0.0.1"},
		{"empty reply", "", false, "redis_version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := redisstate.CheckServerInfo(tt.info)
			if tt.ok {
				if err != nil {
					t.Fatalf("got %v, want accepted", err)
				}
				return
			}
			var ve *redisstate.VersionError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a *VersionError", err)
			}
			if !strings.Contains(err.Error(), tt.want) || strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error %q: want one line containing %q", err, tt.want)
			}
		})
	}
}

// TestCheckVersion asks the real server of TEST_REDIS_URL, which the
// service supports.
func TestCheckVersion(t *testing.T) {
	pool, _ := newPool(t)
	if err := redisstate.CheckVersion(t.Context(), pool); err != nil {
		t.Fatalf("CheckVersion on the test Redis: %v", err)
	}
}

func TestPoolCollector(t *testing.T) {
	pool, _ := newPool(t)
	if err := redisstate.Ping(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(redisstate.NewPoolCollector(pool))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		m := f.GetMetric()[0]
		got[f.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
	}
	for _, name := range []string{"redis_pool_active_connections", "redis_pool_idle_connections", "redis_pool_waits_total", "redis_pool_wait_seconds_total"} {
		if _, ok := got[name]; !ok {
			t.Errorf("no %s in %v", name, got)
		}
	}
	if got["redis_pool_active_connections"] != 1 {
		t.Errorf("redis_pool_active_connections = %v, want 1 (the pinged connection, idle)", got["redis_pool_active_connections"])
	}
}
