// Package redisstate keeps session state in Redis, shared by every instance
// pointed at the same server: sessions, the per-user session registry and
// login-throttling counters, all through one redigo pool.
package redisstate

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
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
// password, database number), or for a redis+sentinel:// URL, whose
// primary is found through Redis Sentinel and followed through a failover
// (see sentinelDialer). Nothing is dialled until first use. The URL is
// checked where the configuration is read (ValidateURL); one that is not
// valid fails every dial.
func NewPool(rawURL string) *redis.Pool {
	dial, fresh := dialFuncs(rawURL)
	return &redis.Pool{
		// MaxIdle at the expected concurrency: a pool that keeps fewer idle
		// connections than requests in flight reconnects constantly.
		MaxIdle:     256,
		MaxActive:   1024,
		Wait:        true,
		IdleTimeout: 5 * time.Minute,
		DialContext: dial,
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
		TestOnBorrowContext: fresh,
	}
}

// ValidateURL checks a REDIS_URL: redis://host:port/db, rediss://…, or
// redis+sentinel://[:password@]host:port[,host:port…]/MASTER_NAME[/DB].
func ValidateURL(rawURL string) error {
	if strings.HasPrefix(rawURL, SentinelScheme+":") {
		_, err := ParseSentinelURL(rawURL)
		return err
	}
	u, err := url.Parse(rawURL)
	switch {
	case err != nil:
		return fmt.Errorf("not a URL: %q", rawURL)
	case u.Scheme != "redis" && u.Scheme != "rediss":
		return fmt.Errorf("want redis://host:port/db or %s://host:port,…/MASTER_NAME/db, got %q", SentinelScheme, rawURL)
	case u.Host == "":
		return fmt.Errorf("no host in %q", rawURL)
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return fmt.Errorf("database must be a number, got %q", db)
		}
	}
	return nil
}

// dialFuncs returns the pool's dial function for rawURL, and a check of
// idle connections before reuse (nil when none is needed).
func dialFuncs(rawURL string) (func(context.Context) (redis.Conn, error), func(context.Context, redis.Conn, time.Time) error) {
	if strings.HasPrefix(rawURL, SentinelScheme+":") {
		su, err := ParseSentinelURL(rawURL)
		if err != nil {
			return func(context.Context) (redis.Conn, error) { return nil, err }, nil
		}
		d := newSentinelDialer(su)
		return d.dial, d.fresh
	}
	dial := func(ctx context.Context) (redis.Conn, error) {
		return redis.DialURLContext(ctx, rawURL,
			redis.DialConnectTimeout(dialTimeout),
			redis.DialReadTimeout(ioTimeout),
			redis.DialWriteTimeout(ioTimeout))
	}
	return dial, nil
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
