package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

// RedisProcess is a redis-server or a Redis Sentinel of a test's own, on a
// free loopback port, without persistence, killed when the test ends.
type RedisProcess struct {
	Addr string // 127.0.0.1:port
	// Password is given on every connection of Do (set it when the
	// process requires one).
	Password string
	Dir      string // working folder, holding the log (and a Sentinel's config)
	t        testing.TB
	cmd      *exec.Cmd
	done     chan struct{}
}

// StartRedisServer starts redis-server with args added to its command line
// (e.g. "--replicaof", "127.0.0.1", "6379") and waits until it answers.
// A missing redis-server skips t, or fails it under REQUIRE_SERVICES=1.
func StartRedisServer(t testing.TB, args ...string) *RedisProcess {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		Unavailable(t, "redis-server not installed: %v", err)
	}
	addr, dir := FreeAddr(t), t.TempDir()
	_, port, _ := net.SplitHostPort(addr)
	argv := append([]string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log")}, args...)
	return startRedisProcess(t, bin, argv, addr, dir)
}

// SentinelConfig is what a test Sentinel monitors and how fast it gives up
// on a primary.
type SentinelConfig struct {
	Master          string        // name of the monitored primary
	Primary         string        // its host:port
	Quorum          int           // Sentinels that must agree it is down
	DownAfter       time.Duration // silence before a Sentinel thinks it down
	FailoverTimeout time.Duration
	AuthPass        string // the primary's password, if it has one
	RequirePass     string // the password clients must give the Sentinel, if any
}

// StartSentinel starts a Redis Sentinel (redis-sentinel, or redis-server
// --sentinel) monitoring cfg.Primary, and waits until it answers. A
// missing binary skips t, or fails it under REQUIRE_SERVICES=1.
func StartSentinel(t testing.TB, cfg SentinelConfig) *RedisProcess {
	t.Helper()
	bin, err := exec.LookPath("redis-sentinel")
	var argv []string
	if err != nil {
		if bin, err = exec.LookPath("redis-server"); err != nil {
			Unavailable(t, "neither redis-sentinel nor redis-server installed: %v", err)
		}
		argv = []string{"--sentinel"}
	}
	addr, dir := FreeAddr(t), t.TempDir()
	host, port, _ := net.SplitHostPort(cfg.Primary)
	_, own, _ := net.SplitHostPort(addr)
	// Sentinel rewrites its configuration file, so it must be its own.
	conf := filepath.Join(dir, "sentinel.conf")
	text := fmt.Sprintf("port %s\nbind 127.0.0.1\ndir %s\nlogfile %s\n"+
		"sentinel monitor %s %s %s %d\n"+
		"sentinel down-after-milliseconds %s %d\n"+
		"sentinel failover-timeout %s %d\n",
		own, dir, filepath.Join(dir, "redis.log"),
		cfg.Master, host, port, cfg.Quorum,
		cfg.Master, cfg.DownAfter.Milliseconds(),
		cfg.Master, cfg.FailoverTimeout.Milliseconds())
	if cfg.AuthPass != "" {
		text += fmt.Sprintf("sentinel auth-pass %s %s\n", cfg.Master, cfg.AuthPass)
	}
	if cfg.RequirePass != "" {
		text += fmt.Sprintf("requirepass %s\n", cfg.RequirePass)
	}
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return startRedisProcess(t, bin, append([]string{conf}, argv...), addr, dir)
}

func startRedisProcess(t testing.TB, bin string, argv []string, addr, dir string) *RedisProcess {
	t.Helper()
	r := &RedisProcess{Addr: addr, Dir: dir, t: t, cmd: exec.Command(bin, argv...), done: make(chan struct{})}
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	t.Cleanup(r.Kill)
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := r.ping()
		if err == nil {
			return r
		}
		select {
		case <-r.done:
			t.Fatalf("%s %v exited at start:\n%s", bin, argv, r.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s on %s not answering after 10s: %v\n%s", bin, addr, err, r.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ping checks that the process answers (NOAUTH is an answer).
func (r *RedisProcess) ping() error {
	c, err := redis.Dial("tcp", r.Addr, redis.DialConnectTimeout(time.Second),
		redis.DialReadTimeout(time.Second), redis.DialWriteTimeout(time.Second))
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Do("PING")
	var re redis.Error
	if errors.As(err, &re) {
		return nil
	}
	return err
}

// Do runs one command on a connection of its own, failing t on an error.
func (r *RedisProcess) Do(cmd string, args ...any) any {
	r.t.Helper()
	c, err := redis.Dial("tcp", r.Addr, redis.DialConnectTimeout(time.Second),
		redis.DialReadTimeout(10*time.Second), redis.DialWriteTimeout(time.Second),
		redis.DialPassword(r.Password))
	if err != nil {
		r.t.Fatalf("dial %s: %v", r.Addr, err)
	}
	defer c.Close()
	v, err := c.Do(cmd, args...)
	if err != nil {
		r.t.Fatalf("%s %v on %s: %v", cmd, args, r.Addr, err)
	}
	return v
}

// Port is the process's port, as a string for command lines.
func (r *RedisProcess) Port() string {
	_, p, _ := net.SplitHostPort(r.Addr)
	return p
}

// Log returns what the process logged so far.
func (r *RedisProcess) Log() string {
	b, _ := os.ReadFile(filepath.Join(r.Dir, "redis.log"))
	return string(b)
}

// Signal sends sig to the process (SIGSTOP: it hangs; the kernel still
// accepts connections for it).
func (r *RedisProcess) Signal(sig os.Signal) error { return r.cmd.Process.Signal(sig) }

// Kill ends the process at once (SIGKILL, as a crash would) and waits for
// it; killing a dead process does nothing.
func (r *RedisProcess) Kill() {
	_ = r.cmd.Process.Kill()
	<-r.done
}
