package redisstate

import (
	"context"
	"fmt"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// Counter is an auth.Counter in Redis: expiring keys changed by one Lua
// script at a time, so all instances see one count.
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

// takeScript adds one to every key when each is below its limit (ARGV[2],
// ARGV[3], ...), starting a window of ARGV[1] ms on a new key. It returns
// 1 or 0 (taken or not), then the count and PTTL of every key. One script
// makes the check and the increments one atomic step across instances;
// PEXPIRE on a key without a TTL does what PEXPIRE NX does, on every
// Redis version.
var takeScript = redis.NewScript(-1, `
local taken = 1
for i, k in ipairs(KEYS) do
  if tonumber(redis.call('GET', k) or '0') >= tonumber(ARGV[i + 1]) then
    taken = 0
  end
end
local out = {taken}
for i, k in ipairs(KEYS) do
  local n
  if taken == 1 then
    n = redis.call('INCR', k)
    if redis.call('PTTL', k) < 0 then
      redis.call('PEXPIRE', k, ARGV[1])
    end
  else
    n = tonumber(redis.call('GET', k) or '0')
  end
  table.insert(out, n)
  table.insert(out, redis.call('PTTL', k))
end
return out
`)

// Take adds one to every key of budgets when each is below its limit, in
// one atomic script, and returns their states.
func (c *Counter) Take(ctx context.Context, window time.Duration, budgets ...auth.Budget) (bool, []auth.Count, error) {
	return c.runBudgetScript(ctx, takeScript, budgets, window.Milliseconds())
}

// clearScript deletes KEYS[1] when every key is below its limit (ARGV[1],
// ARGV[2], ...). It returns 1 or 0 (cleared or not), then the count and
// PTTL of every key as found.
var clearScript = redis.NewScript(-1, `
local cleared = 1
local out = {0}
for i, k in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', k) or '0')
  if n >= tonumber(ARGV[i]) then
    cleared = 0
  end
  table.insert(out, n)
  table.insert(out, redis.call('PTTL', k))
end
if cleared == 1 and #KEYS > 0 then
  redis.call('DEL', KEYS[1])
  out[1] = 1
end
return out
`)

// Clear deletes the first key of budgets when each is below its limit, in
// one atomic script, and returns their states as found.
func (c *Counter) Clear(ctx context.Context, budgets ...auth.Budget) (bool, []auth.Count, error) {
	return c.runBudgetScript(ctx, clearScript, budgets)
}

// runBudgetScript runs a script on the budgets' keys, with ARGV the
// leading values, then each budget's limit; the script answers a flag,
// then the count and PTTL of each key.
func (c *Counter) runBudgetScript(ctx context.Context, script *redis.Script, budgets []auth.Budget, leading ...any) (bool, []auth.Count, error) {
	n := len(budgets)
	args := make([]any, 0, 1+2*n+len(leading))
	args = append(args, n)
	for _, b := range budgets {
		args = append(args, c.key(b.Key))
	}
	args = append(args, leading...)
	for _, b := range budgets {
		args = append(args, b.Limit)
	}
	rc, err := conn(ctx, c.pool)
	if err != nil {
		return false, nil, err
	}
	defer rc.Close()
	res, err := redis.Int64s(script.DoContext(ctx, rc, args...))
	if err != nil {
		return false, nil, err
	}
	if len(res) != 1+2*n {
		return false, nil, fmt.Errorf("redisstate: script returned %d values, want %d", len(res), 1+2*n)
	}
	out := make([]auth.Count, n)
	for i := range n {
		if ttl := res[2+2*i]; ttl > 0 {
			out[i] = auth.Count{N: res[1+2*i], TTL: time.Duration(ttl) * time.Millisecond}
		}
	}
	return res[0] == 1, out, nil
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
