package main

import (
	"fmt"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/memstate"
	"github.com/sessionlogin/sessionlogin/internal/metrics"
	"github.com/sessionlogin/sessionlogin/internal/redisstate"
	"github.com/sessionlogin/sessionlogin/internal/sessionstore"
)

// sessionState is where sessions, the session registry and the login
// counters live: all in this process, or all in one Redis.
type sessionState struct {
	backend  sessionstore.Backend
	registry auth.Registry
	counter  auth.Counter
	close    func()
}

// openState is the one place that picks the session store.
func openState(cfg config, m *metrics.Metrics) (sessionState, error) {
	switch cfg.SessionStore {
	case "redis":
		pool, err := redisstate.NewPool(cfg.RedisURL)
		if err != nil {
			return sessionState{}, fmt.Errorf("redis: %w", err)
		}
		m.WatchRedisPool(pool)
		b := redisstate.NewSessionBackend(pool, cfg.RedisKeyPrefix)
		return sessionState{
			backend:  b,
			registry: redisstate.NewRegistry(b, sessionstore.TombstoneTTL),
			counter:  redisstate.NewCounter(pool, cfg.RedisKeyPrefix),
			close:    func() { _ = pool.Close() },
		}, nil
	default:
		b := memstate.NewSessionBackend()
		return sessionState{
			backend:  b,
			registry: memstate.NewRegistry(b, sessionstore.TombstoneTTL),
			counter:  memstate.NewCounter(memstate.DefaultCounterCapacity),
			close:    b.Close,
		}, nil
	}
}
