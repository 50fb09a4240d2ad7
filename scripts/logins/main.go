// Command logins logs one account in N times over HTTP, never logging out,
// as the peers' memory.sh does, and prints how long that took and, with
// -redis, how much Redis's used_memory grew per login:
//
//	go run ./scripts/logins -url http://127.0.0.1:4000 -n 10000 -redis 127.0.0.1:6379
//
// Each login is one POST /login without a cookie, so each makes a new
// session; any answer but a 303 stops the run.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:4000", "the service's origin")
	n := flag.Int("n", 10000, "how many logins")
	email := flag.String("email", "user@example.com", "the account")
	password := flag.String("password", "correct horse battery staple", "its password")
	redisAddr := flag.String("redis", "", "host:port of the Redis whose used_memory to report (optional)")
	flag.Parse()
	if err := run(*base, *n, *email, *password, *redisAddr); err != nil {
		fmt.Fprintln(os.Stderr, "logins:", err)
		os.Exit(1)
	}
}

func run(base string, n int, email, password, redisAddr string) error {
	client := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
	form := url.Values{"email": {email}, "password": {password}}.Encode()
	var before int64
	if redisAddr != "" {
		var err error
		if before, err = usedMemory(redisAddr); err != nil {
			return err
		}
	}
	start := time.Now()
	for i := range n {
		res, err := client.Post(base+"/login", "application/x-www-form-urlencoded", strings.NewReader(form))
		if err != nil {
			return fmt.Errorf("login %d: %w", i+1, err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther {
			return fmt.Errorf("login %d: got status %d, want 303", i+1, res.StatusCode)
		}
	}
	elapsed := time.Since(start)
	fmt.Printf("logins=%d elapsed=%.2fs per_login=%.3fms\n", n, elapsed.Seconds(), float64(elapsed.Microseconds())/1000/float64(n))
	if redisAddr != "" {
		after, err := usedMemory(redisAddr)
		if err != nil {
			return err
		}
		fmt.Printf("redis_used_memory_growth=%d bytes_per_login=%.0f\n", after-before, float64(after-before)/float64(n))
	}
	return nil
}

// usedMemory asks Redis for INFO memory over a plain connection (RESP by
// hand: this script needs no client library) and returns used_memory.
func usedMemory(addr string) (int64, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if _, err := fmt.Fprint(c, "*2\r\n$4\r\nINFO\r\n$6\r\nmemory\r\n"); err != nil {
		return 0, err
	}
	r := bufio.NewReader(c)
	header, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(header, "$") {
		return 0, fmt.Errorf("INFO: unexpected reply %q (%v)", header, err)
	}
	size, err := strconv.Atoi(strings.TrimSpace(header[1:]))
	if err != nil || size < 0 {
		return 0, fmt.Errorf("INFO: unexpected reply %q", header)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(body), "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("INFO: no used_memory")
}
