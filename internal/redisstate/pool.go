// Package redisstate keeps session state in Redis, shared by every instance
// pointed at the same server: sessions, the per-user session registry and
// login-throttling counters, all through one redigo pool.
package redisstate

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Timeouts are short so that an outage turns into a fast 503, not a hang.
const (
	dialTimeout  = time.Second
	ioTimeout    = time.Second
	getTimeout   = time.Second // longest wait for a free pool connection
	testIdleOver = 30 * time.Second
)

// NewPool returns a redigo pool for a redis:// or rediss:// URL (host, port,
// password, database number). Nothing is dialled until first use.
func NewPool(rawURL string) (*redis.Pool, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("scheme must be redis or rediss, got %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("no host in %q", rawURL)
	}
	return &redis.Pool{
		// MaxIdle at the expected concurrency: a pool that keeps fewer idle
		// connections than requests in flight reconnects constantly.
		MaxIdle:     256,
		MaxActive:   1024,
		Wait:        true,
		IdleTimeout: 5 * time.Minute,
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			return redis.DialURLContext(ctx, rawURL,
				redis.DialConnectTimeout(dialTimeout),
				redis.DialReadTimeout(ioTimeout),
				redis.DialWriteTimeout(ioTimeout))
		},
		// A connection idle for a while is tested before reuse, so a Redis
		// restart costs no failed request; busy connections are not, so a
		// page view stays at one command.
		TestOnBorrow: func(c redis.Conn, lastUsed time.Time) error {
			if time.Since(lastUsed) < testIdleOver {
				return nil
			}
			_, err := c.Do("PING")
			return err
		},
	}, nil
}

// conn takes a connection from the pool, waiting at most getTimeout.
func conn(ctx context.Context, pool *redis.Pool) (redis.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, getTimeout)
	defer cancel()
	return pool.GetContext(ctx)
}

// Ping checks that Redis answers.
func Ping(ctx context.Context, pool *redis.Pool) error {
	c, err := conn(ctx, pool)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = redis.DoContext(c, ctx, "PING")
	return err
}
