package redisstate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"
)

// SentinelScheme is the URL scheme that finds the Redis primary through
// Redis Sentinel instead of naming it.
const SentinelScheme = "redis+sentinel"

// defaultSentinelPort is Sentinel's own default port, used when a Sentinel
// in the URL has none.
const defaultSentinelPort = "26379"

// sentinelTimeout bounds the talk with one Sentinel (connect and answer).
// It is short because the next Sentinel is asked when one does not answer,
// and the whole discovery must fit in the time a request may wait for a
// connection (getTimeout).
const sentinelTimeout = 300 * time.Millisecond

// SentinelURL is a parsed redis+sentinel:// URL.
type SentinelURL struct {
	Sentinels []string // host:port of each Sentinel, in the URL's order
	Master    string   // the name the Sentinels monitor the primary under
	DB        int      // database number on the primary
	Username  string   // ACL user, for the primary and for Sentinels that ask
	Password  string   // for the primary and for Sentinels that ask
}

// ParseSentinelURL parses
// redis+sentinel://[[user]:password@]host[:port][,host[:port]…]/MASTER_NAME[/DB].
// A Sentinel without a port is on 26379; IPv6 addresses go in brackets.
func ParseSentinelURL(raw string) (SentinelURL, error) {
	var s SentinelURL
	rest, ok := strings.CutPrefix(raw, SentinelScheme+"://")
	if !ok {
		return s, fmt.Errorf("want %s://host:port[,host:port…]/MASTER_NAME[/DB]", SentinelScheme)
	}
	if strings.ContainsAny(rest, "?#") {
		return s, errors.New("no query or fragment allowed in a " + SentinelScheme + " URL")
	}
	authority, path, _ := strings.Cut(rest, "/")
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo := authority[:i]
		authority = authority[i+1:]
		user, pass, hasPass := strings.Cut(userinfo, ":")
		if !hasPass {
			return s, errors.New("credentials must be :password@ or user:password@")
		}
		var err error
		if s.Username, err = url.PathUnescape(user); err != nil {
			return s, errors.New("bad escape in the user name")
		}
		if s.Password, err = url.PathUnescape(pass); err != nil {
			return s, errors.New("bad escape in the password")
		}
	}
	if authority == "" {
		return s, errors.New("no Sentinel address")
	}
	for _, h := range strings.Split(authority, ",") {
		addr, err := sentinelAddr(h)
		if err != nil {
			return s, err
		}
		s.Sentinels = append(s.Sentinels, addr)
	}
	name, db, hasDB := strings.Cut(path, "/")
	name, err := url.PathUnescape(name)
	if err != nil || name == "" || strings.ContainsAny(name, " \t\r\n") {
		return s, errors.New("want the master name after the Sentinels: …/MASTER_NAME[/DB]")
	}
	s.Master = name
	if hasDB && db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 || strings.Contains(db, "/") {
			return s, fmt.Errorf("database must be a number, got %q", db)
		}
		s.DB = n
	}
	return s, nil
}

// sentinelAddr checks one host[:port] of the list and adds the default port.
func sentinelAddr(h string) (string, error) {
	h = strings.TrimSpace(h)
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		// No port: a bare name or address, or a bracketed IPv6 address.
		host, port = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), defaultSentinelPort
		if host == "" || strings.ContainsAny(host, "[]/@ ") || (strings.Contains(host, ":") && !strings.HasPrefix(h, "[")) {
			return "", fmt.Errorf("bad Sentinel address %q, want host:port", h)
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("bad port in Sentinel address %q", h)
	}
	if host == "" {
		return "", fmt.Errorf("no host in Sentinel address %q", h)
	}
	return net.JoinHostPort(host, port), nil
}

// sentinelDialer connects to the current primary as the Redis Sentinel
// client guidelines describe: ask the Sentinels in turn, the last one that
// answered first; connect to the address given; check that it really is
// the primary (ROLE), since a Sentinel may not yet know of a failover.
//
// Every connection is dialled this way, so the pool follows a failover by
// itself once the connections to the old primary are gone. To make them
// go at once, a connection that fails (network error, timeout) or meets
// READONLY (the old primary, now a replica) ends its generation: it is
// closed instead of going back to the pool, and every idle connection
// dialled before it is closed when next taken from the pool (fresh), so
// that one failed request, not one per pooled connection, finds out.
type sentinelDialer struct {
	url SentinelURL

	mu        sync.Mutex
	sentinels []string // the one that answered last comes first

	gen atomic.Uint64
}

func newSentinelDialer(u SentinelURL) *sentinelDialer {
	return &sentinelDialer{url: u, sentinels: append([]string(nil), u.Sentinels...)}
}

// errNotPrimary is returned when the address a Sentinel gives is not (or
// no longer) the primary.
var errNotPrimary = errors.New("not the primary")

// dial connects to the primary the Sentinels name now.
func (d *sentinelDialer) dial(ctx context.Context) (redis.Conn, error) {
	gen := d.gen.Load()
	addr, err := d.primary(ctx)
	if err != nil {
		return nil, err
	}
	c, err := redis.DialContext(ctx, "tcp", addr,
		redis.DialUsername(d.url.Username),
		redis.DialPassword(d.url.Password),
		redis.DialDatabase(d.url.DB),
		redis.DialConnectTimeout(dialTimeout),
		redis.DialReadTimeout(ioTimeout),
		redis.DialWriteTimeout(ioTimeout))
	if err != nil {
		return nil, fmt.Errorf("redis primary %s (master %q): %w", addr, d.url.Master, err)
	}
	role, err := redis.Values(redis.DoContext(c, ctx, "ROLE"))
	if err == nil && len(role) == 0 {
		err = errors.New("empty ROLE reply")
	}
	if err == nil {
		if r, _ := redis.String(role[0], nil); r != "master" {
			err = fmt.Errorf("%w: ROLE is %q", errNotPrimary, r)
		}
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("redis primary %s (master %q): %w", addr, d.url.Master, err)
	}
	cc, ok := c.(ctxConn)
	if !ok {
		c.Close()
		return nil, errors.New("redis: connection without context and timeout support")
	}
	return &sentinelConn{ctxConn: cc, d: d, gen: gen}, nil
}

// maxSentinels bounds the list of Sentinels, those of the URL and those
// learned from them.
const maxSentinels = 16

// primary asks each Sentinel in turn for the primary's address, puts the
// first that answers at the front of the list, and the other Sentinels it
// knows of after the URL's, as the Sentinel client guidelines ask:
// a deployment that replaces its Sentinels one by one stays reachable
// without a new REDIS_URL.
func (d *sentinelDialer) primary(ctx context.Context) (string, error) {
	d.mu.Lock()
	order := append([]string(nil), d.sentinels...)
	d.mu.Unlock()
	var msgs []string
	for _, s := range order {
		if err := ctx.Err(); err != nil {
			msgs = append(msgs, err.Error())
			break
		}
		addr, others, err := d.ask(ctx, s)
		if err != nil {
			msgs = append(msgs, fmt.Sprintf("%s: %v", s, err))
			continue
		}
		// The list is made again from each answer: the one that answered,
		// the URL's, then those it knows of now, so that Sentinels taken
		// out of service leave the list as new ones join it.
		next := []string{s}
		for _, x := range slices.Concat(d.url.Sentinels, others) {
			if len(next) < maxSentinels && !slices.Contains(next, x) {
				next = append(next, x)
			}
		}
		d.mu.Lock()
		d.sentinels = next
		d.mu.Unlock()
		return addr, nil
	}
	return "", fmt.Errorf("no Sentinel named a primary for master %q (%s)", d.url.Master, strings.Join(msgs, "; "))
}

// ask asks one Sentinel for the primary's address, and for the addresses
// of the other Sentinels watching it (none when it will not say). The
// password is sent only when the Sentinel asks for it (NOAUTH), so one URL
// works whether or not the Sentinels require it.
func (d *sentinelDialer) ask(ctx context.Context, sentinel string) (primary string, others []string, err error) {
	ctx, cancel := context.WithTimeout(ctx, sentinelTimeout)
	defer cancel()
	c, err := redis.DialContext(ctx, "tcp", sentinel,
		redis.DialConnectTimeout(sentinelTimeout),
		redis.DialReadTimeout(sentinelTimeout),
		redis.DialWriteTimeout(sentinelTimeout))
	if err != nil {
		return "", nil, err
	}
	defer c.Close()
	reply, err := redis.Strings(redis.DoContext(c, ctx, "SENTINEL", "get-master-addr-by-name", d.url.Master))
	if isRedisError(err, "NOAUTH") && d.url.Password != "" {
		args := []any{d.url.Password}
		if d.url.Username != "" {
			args = []any{d.url.Username, d.url.Password}
		}
		if _, err = redis.DoContext(c, ctx, "AUTH", args...); err != nil {
			return "", nil, fmt.Errorf("AUTH: %w", err)
		}
		reply, err = redis.Strings(redis.DoContext(c, ctx, "SENTINEL", "get-master-addr-by-name", d.url.Master))
	}
	switch {
	case errors.Is(err, redis.ErrNil):
		return "", nil, fmt.Errorf("does not know master %q", d.url.Master)
	case err != nil:
		return "", nil, err
	case len(reply) != 2:
		return "", nil, fmt.Errorf("unexpected reply %q", reply)
	}
	return net.JoinHostPort(reply[0], reply[1]), d.otherSentinels(ctx, c), nil
}

// otherSentinels asks a Sentinel for the others watching the master. A
// Sentinel that will not say (an ACL, an old version) is not an error:
// the list stays as it is.
func (d *sentinelDialer) otherSentinels(ctx context.Context, c redis.Conn) []string {
	entries, err := redis.Values(redis.DoContext(c, ctx, "SENTINEL", "sentinels", d.url.Master))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		fields, err := redis.StringMap(e, nil)
		if err != nil || fields["ip"] == "" || fields["port"] == "" {
			continue
		}
		if strings.Contains(fields["flags"], "s_down") {
			// Down for longer than down-after-milliseconds, as this
			// Sentinel sees it. ("disconnected" alone is also what a
			// Sentinel found a moment ago shows, until its link is up.)
			continue
		}
		if addr, err := sentinelAddr(net.JoinHostPort(fields["ip"], fields["port"])); err == nil {
			out = append(out, addr)
		}
	}
	return out
}

// fresh is the pool's TestOnBorrowContext: a connection dialled before the
// last failure is not used again.
func (d *sentinelDialer) fresh(_ context.Context, c redis.Conn, _ time.Time) error {
	if sc, ok := c.(*sentinelConn); ok && sc.gen != d.gen.Load() {
		return errors.New("redis: connection from before a failure, dropped")
	}
	return nil
}

// isRedisError reports whether err is an error reply whose code is code.
func isRedisError(err error, code string) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.HasPrefix(string(re), code)
}

// ctxConn is a connection with context and timeout support, as redigo's
// own connections are.
type ctxConn interface {
	redis.Conn
	redis.ConnWithContext
	redis.ConnWithTimeout
}

// sentinelConn is a connection to the primary that ends its dialer's
// generation when it fails or meets READONLY (see sentinelDialer).
type sentinelConn struct {
	ctxConn
	d        *sentinelDialer
	gen      uint64
	readOnly atomic.Bool
}

// check looks at the outcome of a command and passes err on.
func (c *sentinelConn) check(err error) error {
	if err == nil {
		return nil
	}
	if isRedisError(err, "READONLY") {
		c.readOnly.Store(true)
	} else if c.ctxConn.Err() == nil || errors.Is(err, context.Canceled) {
		// An error reply on a healthy connection, or a request given up
		// by its client: nothing says the primary moved.
		return err
	}
	c.d.gen.CompareAndSwap(c.gen, c.gen+1)
	return err
}

// Err makes the pool close, rather than keep, a connection to a server
// that answered READONLY: it is a replica now.
func (c *sentinelConn) Err() error {
	if err := c.ctxConn.Err(); err != nil {
		return err
	}
	if c.readOnly.Load() {
		return errNotPrimary
	}
	return nil
}

func (c *sentinelConn) Do(cmd string, args ...any) (any, error) {
	r, err := c.ctxConn.Do(cmd, args...)
	return r, c.check(err)
}

func (c *sentinelConn) DoContext(ctx context.Context, cmd string, args ...any) (any, error) {
	r, err := c.ctxConn.DoContext(ctx, cmd, args...)
	return r, c.check(err)
}

func (c *sentinelConn) DoWithTimeout(t time.Duration, cmd string, args ...any) (any, error) {
	r, err := c.ctxConn.DoWithTimeout(t, cmd, args...)
	return r, c.check(err)
}

func (c *sentinelConn) Send(cmd string, args ...any) error {
	return c.check(c.ctxConn.Send(cmd, args...))
}

func (c *sentinelConn) Flush() error { return c.check(c.ctxConn.Flush()) }

func (c *sentinelConn) Receive() (any, error) {
	r, err := c.ctxConn.Receive()
	return r, c.check(err)
}

func (c *sentinelConn) ReceiveContext(ctx context.Context) (any, error) {
	r, err := c.ctxConn.ReceiveContext(ctx)
	return r, c.check(err)
}

func (c *sentinelConn) ReceiveWithTimeout(t time.Duration) (any, error) {
	r, err := c.ctxConn.ReceiveWithTimeout(t)
	return r, c.check(err)
}
