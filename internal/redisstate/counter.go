package redisstate

import (
	"context"
	"fmt"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// Counter is an auth.Counter in Redis: atomic INCR on expiring keys, so all
// instances see one count.
type Counter struct {
	pool   *redis.Pool
	prefix string
}

// NewCounter returns a Counter on pool.
func NewCounter(pool *redis.Pool, prefix string) *Counter {
	return &Counter{pool: pool, prefix: prefix}
}

func (c *Counter) key(k string) string { return c.prefix + "c:" + k }

// Counts returns the state of each key in one round trip.
func (c *Counter) Counts(ctx context.Context, keys ...string) ([]auth.Count, error) {
	rc, err := conn(ctx, c.pool)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	for _, k := range keys {
		_ = rc.Send("GET", c.key(k))
		_ = rc.Send("PTTL", c.key(k))
	}
	if err := rc.Flush(); err != nil {
		return nil, err
	}
	out := make([]auth.Count, len(keys))
	for i := range keys {
		n, err := redis.Int64(redis.ReceiveContext(rc, ctx))
		if err != nil && err != redis.ErrNil {
			return nil, err
		}
		ttl, err := redis.Int64(redis.ReceiveContext(rc, ctx))
		if err != nil {
			return nil, err
		}
		if ttl > 0 {
			out[i] = auth.Count{N: n, TTL: time.Duration(ttl) * time.Millisecond}
		}
	}
	return out, nil
}

// Incr adds one to each key (a new key's window starts now: PEXPIRE NX)
// and returns their states, in one atomic MULTI/EXEC.
func (c *Counter) Incr(ctx context.Context, window time.Duration, keys ...string) ([]auth.Count, error) {
	rc, err := conn(ctx, c.pool)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	_ = rc.Send("MULTI")
	for _, k := range keys {
		_ = rc.Send("INCR", c.key(k))
		_ = rc.Send("PEXPIRE", c.key(k), window.Milliseconds(), "NX")
		_ = rc.Send("PTTL", c.key(k))
	}
	res, err := redis.Values(redis.DoContext(rc, ctx, "EXEC"))
	if err != nil {
		return nil, err
	}
	if len(res) != 3*len(keys) {
		return nil, fmt.Errorf("redisstate: EXEC returned %d replies, want %d", len(res), 3*len(keys))
	}
	out := make([]auth.Count, len(keys))
	for i := range keys {
		n, err := redis.Int64(res[3*i], nil)
		if err != nil {
			return nil, err
		}
		ttl, err := redis.Int64(res[3*i+2], nil)
		if err != nil {
			return nil, err
		}
		out[i] = auth.Count{N: n, TTL: time.Duration(max(ttl, 0)) * time.Millisecond}
	}
	return out, nil
}

// Reset deletes key.
func (c *Counter) Reset(ctx context.Context, key string) error {
	rc, err := conn(ctx, c.pool)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = redis.DoContext(rc, ctx, "DEL", c.key(key))
	return err
}
