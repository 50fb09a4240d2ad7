package mail_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/mail"
	"github.com/sessionlogin/sessionlogin/internal/smtptest"
	"github.com/sessionlogin/sessionlogin/internal/storage"
	"github.com/sessionlogin/sessionlogin/internal/testenv"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestParseURL(t *testing.T) {
	tests := []struct {
		raw  string
		want string // Endpoint.String(), or "" for an error
	}{
		{"log:", "log:"},
		{"smtp://mail.example.com:25", "smtp://mail.example.com:25"},
		{"smtp://mail.example.com", "smtp://mail.example.com:587"},
		{"smtps://ann:secret@mail.example.com", "smtps://ann@mail.example.com:465"},
		{"smtp://ann:p%40ss@[::1]:2525", "smtp://ann@[::1]:2525"},
		{"http://mail.example.com", ""},
		{"smtp://", ""},
		{"smtp://mail.example.com:0", ""},
		{"smtp://mail.example.com:99999", ""},
		{"smtp://mail.example.com:25/path", ""},
		{"smtp://mail.example.com:25?x=1", ""},
		{"smtp://:pass@mail.example.com", ""},
		{"mail.example.com:25", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			e, err := mail.ParseURL(tt.raw)
			switch {
			case tt.want == "" && err == nil:
				t.Fatalf("ParseURL(%q) = %v, want an error", tt.raw, e)
			case tt.want != "" && err != nil:
				t.Fatalf("ParseURL(%q): %v", tt.raw, err)
			case tt.want != "" && e.String() != tt.want:
				t.Fatalf("ParseURL(%q) = %s, want %s", tt.raw, e, tt.want)
			}
		})
	}
	e, _ := mail.ParseURL("smtps://ann:p%40ss@mail.example.com")
	if e.Password != "p@ss" {
		t.Fatalf("password = %q, want p@ss", e.Password)
	}
}

// fullData has every value any mail needs.
func fullData() map[string]string {
	return map[string]string{
		auth.DataLink: "https://example.com/password/reset?token=abc", auth.DataValid: "1 hour",
		auth.DataForgot: "https://example.com/password/forgot", auth.DataLogin: "https://example.com/login",
		auth.DataSessions: "https://example.com/account/sessions", auth.DataEmail: "new@example.com",
		auth.DataWhen: "Monday 7 December 2026, 06:00 UTC", auth.DataDevice: "Firefox on Linux", auth.DataIP: "192.0.2.1",
		auth.DataSecurity: "https://example.com/account/security", auth.DataName: "MacBook Air", auth.DataLeft: "9",
	}
}

func TestComposeEveryKind(t *testing.T) {
	c, err := mail.NewComposer()
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range auth.MailKinds {
		t.Run(string(kind), func(t *testing.T) {
			m, err := c.Compose(auth.Mail{Kind: kind, To: "ann@example.com", Data: fullData()})
			if err != nil {
				t.Fatalf("Compose: %v", err)
			}
			if m.To != "ann@example.com" || m.Subject == "" || !strings.Contains(m.Subject, mail.Product) {
				t.Errorf("To %q, Subject %q: want the recipient and the product name", m.To, m.Subject)
			}
			for _, body := range []string{m.Text, m.HTML} {
				if !strings.Contains(body, mail.Product) || !strings.Contains(body, "If this was not you") {
					t.Errorf("body lacks the product name or what to do if it was not you:\n%s", body)
				}
				if !strings.Contains(body, "https://example.com/") {
					t.Errorf("body has no link:\n%s", body)
				}
			}
			if !strings.HasPrefix(m.HTML, "<!doctype html>") {
				t.Errorf("HTML part does not start with a doctype")
			}
		})
	}
	t.Run("links carry validity", func(t *testing.T) {
		m, _ := c.Compose(auth.Mail{Kind: auth.MailPasswordReset, To: "a@example.com", Data: fullData()})
		for _, body := range []string{m.Text, m.HTML} {
			if !strings.Contains(body, "works once, for 1 hour") {
				t.Errorf("reset mail does not say how long the link works:\n%s", body)
			}
		}
	})
	t.Run("HTML escapes values", func(t *testing.T) {
		d := fullData()
		d[auth.DataDevice] = `<script>alert(1)</script>`
		m, _ := c.Compose(auth.Mail{Kind: auth.MailNewDevice, To: "a@example.com", Data: d})
		if strings.Contains(m.HTML, "<script>") {
			t.Errorf("HTML part holds an unescaped value")
		}
	})
	t.Run("missing data is permanent", func(t *testing.T) {
		_, err := c.Compose(auth.Mail{Kind: auth.MailPasswordReset, To: "a@example.com"})
		if !errors.Is(err, mail.ErrPermanent) {
			t.Fatalf("got %v, want ErrPermanent", err)
		}
	})
	t.Run("unknown kind is permanent", func(t *testing.T) {
		_, err := c.Compose(auth.Mail{Kind: "nonsense", To: "a@example.com", Data: fullData()})
		if !errors.Is(err, mail.ErrPermanent) {
			t.Fatalf("got %v, want ErrPermanent", err)
		}
	})
}

func message(to string) mail.Message {
	return mail.Message{To: to, Subject: "Hello", Text: "Text part https://example.com/x", HTML: "<p>HTML part</p>"}
}

func TestSMTPTransport(t *testing.T) {
	ctx := context.Background()
	t.Run("plain", func(t *testing.T) {
		sink := smtptest.Start(t)
		e, _ := mail.ParseURL(sink.URL())
		tr := mail.NewTransport(e, "Sessionlogin <no-reply@example.com>", discard, mail.TransportOptions{})
		if err := tr.Send(ctx, message("ann@example.com")); err != nil {
			t.Fatal(err)
		}
		got := sink.WaitCount(t, "ann@example.com", 1)[0]
		if got.Subject != "Hello" || !strings.Contains(got.Text, "Text part") || !strings.Contains(got.HTML, "<p>HTML part</p>") {
			t.Fatalf("received %+v", got)
		}
		if got.From != "no-reply@example.com" {
			t.Fatalf("envelope sender %q, want no-reply@example.com", got.From)
		}
	})
	t.Run("STARTTLS when offered", func(t *testing.T) {
		sink := smtptest.Start(t, smtptest.WithTLS(), smtptest.WithAuth("ann", "secret"))
		e, _ := mail.ParseURL("smtp://ann:secret@" + sink.Addr)
		tr := mail.NewTransport(e, "no-reply@example.com", discard,
			mail.TransportOptions{TLS: &tls.Config{RootCAs: sink.RootCAs, ServerName: "127.0.0.1"}})
		if err := tr.Send(ctx, message("bob@example.com")); err != nil {
			t.Fatal(err)
		}
		got := sink.WaitCount(t, "bob@example.com", 1)[0]
		if !got.TLS || got.User != "ann" {
			t.Fatalf("TLS %v, user %q: want TLS and user ann", got.TLS, got.User)
		}
	})
	t.Run("smtps", func(t *testing.T) {
		sink := smtptest.Start(t, smtptest.WithImplicitTLS(), smtptest.WithAuth("ann", "secret"))
		e, _ := mail.ParseURL("smtps://ann:secret@" + sink.Addr)
		tr := mail.NewTransport(e, "no-reply@example.com", discard,
			mail.TransportOptions{TLS: &tls.Config{RootCAs: sink.RootCAs, ServerName: "127.0.0.1"}})
		if err := tr.Send(ctx, message("fay@example.com")); err != nil {
			t.Fatal(err)
		}
		if got := sink.WaitCount(t, "fay@example.com", 1)[0]; !got.TLS || got.User != "ann" {
			t.Fatalf("TLS %v, user %q: want TLS and user ann", got.TLS, got.User)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		sink := smtptest.Start(t, smtptest.WithImplicitTLS())
		e, _ := mail.ParseURL("smtps://" + sink.Addr)
		if err := mail.NewTransport(e, "no-reply@example.com", discard, mail.TransportOptions{}).Send(ctx, message("gil@example.com")); err == nil {
			t.Fatal("sent to a server whose certificate nobody trusts")
		}
	})
	t.Run("credentials to loopback without TLS", func(t *testing.T) {
		sink := smtptest.Start(t, smtptest.WithAuth("ann", "secret"))
		e, _ := mail.ParseURL("smtp://ann:secret@" + sink.Addr)
		tr := mail.NewTransport(e, "no-reply@example.com", discard, mail.TransportOptions{})
		if err := tr.Send(ctx, message("cy@example.com")); err != nil {
			t.Fatal(err)
		}
		if got := sink.WaitCount(t, "cy@example.com", 1)[0]; got.User != "ann" {
			t.Fatalf("user %q, want ann", got.User)
		}
	})
	t.Run("never credentials in clear to another host", func(t *testing.T) {
		sink := smtptest.Start(t, smtptest.WithAuth("ann", "secret"))
		// The server is reached under a name that is not this machine's.
		e, _ := mail.ParseURL("smtp://ann:secret@mail.example.test:25")
		var d net.Dialer
		tr := mail.NewTransport(e, "no-reply@example.com", discard, mail.TransportOptions{
			Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, sink.Addr)
			},
		})
		err := tr.Send(ctx, message("dan@example.com"))
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
			t.Fatalf("Send without TLS to another host: %v, want a STARTTLS refusal", err)
		}
		if n := len(sink.Mails()); n != 0 {
			t.Fatalf("%d mails delivered", n)
		}
	})
	t.Run("server down", func(t *testing.T) {
		sink := smtptest.Start(t)
		sink.Stop()
		e, _ := mail.ParseURL(sink.URL())
		err := mail.NewTransport(e, "no-reply@example.com", discard, mail.TransportOptions{}).Send(ctx, message("eve@example.com"))
		if err == nil || errors.Is(err, mail.ErrPermanent) {
			t.Fatalf("Send to a stopped server: %v, want a temporary error", err)
		}
	})
}

func TestLogTransport(t *testing.T) {
	var buf strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), nil))
	e, _ := mail.ParseURL("log:")
	if err := mail.NewTransport(e, "x@example.com", log, mail.TransportOptions{}).Send(context.Background(), message("ann@example.com")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "https://example.com/x") {
		t.Fatalf("log lacks the link: %s", buf.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// dialects opens an outbox database per dialect.
var dialects = map[string]func(t *testing.T) string{
	"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "app.db") },
	"postgres": func(t *testing.T) string { return testenv.PostgresURL(t) },
}

func open(t *testing.T, url string) *storage.DB {
	t.Helper()
	db, err := storage.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// fast makes senders retry within milliseconds.
var fast = mail.SenderConfig{Poll: 20 * time.Millisecond, BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond}

// startSender runs a sender over db to sink until the test ends (or stop
// is called), and returns it.
func startSender(t *testing.T, db *storage.DB, sink *smtptest.Server) (*mail.Sender, func()) {
	t.Helper()
	e, _ := mail.ParseURL(sink.URL())
	s, err := mail.NewSender(db, mail.NewTransport(e, "no-reply@example.com", discard, mail.TransportOptions{}), discard, fast)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Error("sender did not stop within 20s")
			}
		})
	}
	t.Cleanup(stop)
	return s, stop
}

func queue(t *testing.T, db *storage.DB, n int, prefix string) []string {
	t.Helper()
	var to []string
	for i := range n {
		addr := fmt.Sprintf("%s%d@example.com", prefix, i)
		to = append(to, addr)
		d := fullData()
		if err := db.QueueMail(context.Background(), auth.Mail{Kind: auth.MailPasswordReset, To: addr, Data: d}); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// wantEachOnce waits until every address got its mail, then checks that
// none got two.
func wantEachOnce(t *testing.T, sink *smtptest.Server, to []string) {
	t.Helper()
	sink.Wait(t, "every mail", func(ms []smtptest.Mail) bool { return len(ms) >= len(to) })
	// Give a duplicate, if any, the time to arrive.
	time.Sleep(300 * time.Millisecond)
	counts := map[string]int{}
	for _, m := range sink.Mails() {
		for _, r := range m.To {
			counts[r]++
		}
	}
	for _, addr := range to {
		if counts[addr] != 1 {
			t.Errorf("%s received %d mails, want 1", addr, counts[addr])
		}
	}
	if len(sink.Mails()) != len(to) {
		t.Errorf("received %d mails, want %d", len(sink.Mails()), len(to))
	}
}

func TestSenderSurvivesOutage(t *testing.T) {
	for name, url := range dialects {
		t.Run(name, func(t *testing.T) {
			db := open(t, url(t))
			sink := smtptest.Start(t)
			sink.Stop()
			s, _ := startSender(t, db, sink)
			to := queue(t, db, 5, "outage")
			// Wait for failed attempts, then bring the server back.
			deadline := time.Now().Add(15 * time.Second)
			for testutil.ToFloat64(counter(t, s, "mail_send_failures_total")) < 5 {
				if time.Now().After(deadline) {
					t.Fatal("no failed attempts counted while the server is down")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if n, _, _ := db.Pending(context.Background()); n != 5 {
				t.Fatalf("pending during the outage = %d, want 5", n)
			}
			sink.Restart()
			wantEachOnce(t, sink, to)
			if n, _, _ := db.Pending(context.Background()); n != 0 {
				t.Fatalf("pending after delivery = %d, want 0", n)
			}
			if got := testutil.ToFloat64(counter(t, s, "mail_sent_total")); got != 5 {
				t.Fatalf("mail_sent_total = %v, want 5", got)
			}
		})
	}
}

func TestSenderTemporaryRefusal(t *testing.T) {
	db := open(t, dialects["sqlite"](t))
	sink := smtptest.Start(t)
	sink.Refuse(true)
	startSender(t, db, sink)
	to := queue(t, db, 2, "refused")
	time.Sleep(200 * time.Millisecond)
	sink.Refuse(false)
	wantEachOnce(t, sink, to)
}

func TestTwoSendersOnePostgresOutbox(t *testing.T) {
	url := testenv.PostgresURL(t)
	db1, db2 := open(t, url), open(t, url)
	sink := smtptest.Start(t)
	sink.Stop()
	startSender(t, db1, sink)
	startSender(t, db2, sink)
	to := queue(t, db1, 40, "two")
	time.Sleep(200 * time.Millisecond) // both retry against the dead server
	sink.Restart()
	wantEachOnce(t, sink, to)
}

// TestSenderConnectionLostAfterAccept: the server accepted the mail, then
// the connection broke before QUIT; the mail counts as sent, not again.
func TestSenderConnectionLostAfterAccept(t *testing.T) {
	db := open(t, dialects["sqlite"](t))
	sink := smtptest.Start(t)
	sink.DropAfterAccept(true)
	s, _ := startSender(t, db, sink)
	to := queue(t, db, 3, "dropped")
	wantEachOnce(t, sink, to)
	if got := testutil.ToFloat64(counter(t, s, "mail_send_failures_total")); got != 0 {
		t.Fatalf("mail_send_failures_total = %v, want 0", got)
	}
}

func TestSenderStopsCleanly(t *testing.T) {
	db := open(t, dialects["sqlite"](t))
	sink := smtptest.Start(t)
	_, stop := startSender(t, db, sink)
	to := queue(t, db, 1, "stop")
	wantEachOnce(t, sink, to)
	stop() // fails the test if Run does not return
}

func TestSenderMetrics(t *testing.T) {
	db := open(t, dialects["sqlite"](t))
	sink := smtptest.Start(t)
	sink.Stop()
	s, _ := startSender(t, db, sink)
	queue(t, db, 2, "metrics")
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := testutil.GatherAndCount(reg, "mail_outbox_pending", "mail_outbox_oldest_pending_age_seconds")
		if err != nil {
			t.Fatal(err)
		}
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox gauges missing: %d series", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "mail_outbox_pending" {
			if got := mf.GetMetric()[0].GetGauge().GetValue(); got != 2 {
				t.Fatalf("mail_outbox_pending = %v, want 2", got)
			}
		}
	}
}

// counter returns the sum over kinds of the sender's counter name.
func counter(t *testing.T, s *mail.Sender, name string) prometheus.Collector {
	t.Helper()
	return collectorFunc{s: s, name: name}
}

// collectorFunc narrows a sender's metrics to one name, summed, for
// testutil.ToFloat64.
type collectorFunc struct {
	s    *mail.Sender
	name string
}

var sumDesc = prometheus.NewDesc("sum", "sum", nil, nil)

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) { ch <- sumDesc }

func (c collectorFunc) Collect(ch chan<- prometheus.Metric) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.s)
	mfs, _ := reg.Gather()
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == c.name {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(sumDesc, prometheus.GaugeValue, total)
}
