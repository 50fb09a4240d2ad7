// Package mail delivers the service's mails: it words them (plain text and
// HTML, from embedded templates), sends them through a transport chosen by
// MAIL_URL (the log, or SMTP through github.com/wneessen/go-mail), and runs
// the sender loop that drains the durable outbox.
//
// Mails are never sent from a request. A request writes them to the outbox
// in the same database transaction as the change they report (see
// auth.RecoveryStore); the Sender of every instance claims due mails under
// a lease, sends them, retries with backoff while the mail server is away,
// and marks them sent.
package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Message is a mail ready to go: worded, addressed.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// Transport hands a message to the outside world.
type Transport interface {
	// Send delivers m. An error wrapping ErrPermanent means that trying
	// again will not help (the server refused the recipient).
	Send(ctx context.Context, m Message) error
}

// ErrPermanent marks a refusal that retrying will not change.
var ErrPermanent = errors.New("mail: permanent failure")

// Scheme names a transport.
type Scheme string

// The transports MAIL_URL can name.
const (
	SchemeLog   Scheme = "log"   // mails written to the log
	SchemeSMTP  Scheme = "smtp"  // SMTP, STARTTLS when offered
	SchemeSMTPS Scheme = "smtps" // SMTP over implicit TLS
)

// Endpoint is a parsed MAIL_URL.
type Endpoint struct {
	Scheme   Scheme
	Host     string
	Port     int
	Username string
	Password string
}

// String describes e without its password, for logs.
func (e Endpoint) String() string {
	if e.Scheme == SchemeLog {
		return "log:"
	}
	user := ""
	if e.Username != "" {
		user = e.Username + "@"
	}
	return string(e.Scheme) + "://" + user + net.JoinHostPort(e.Host, strconv.Itoa(e.Port))
}

// ParseURL checks a MAIL_URL: "log:", "smtp://[user:pass@]host:port" or
// "smtps://[user:pass@]host:port" (the port defaults to 587 and 465).
func ParseURL(raw string) (Endpoint, error) {
	if raw == "log:" || raw == "log" {
		return Endpoint{Scheme: SchemeLog}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Endpoint{}, fmt.Errorf("not a URL: %q", raw)
	}
	e := Endpoint{Scheme: Scheme(u.Scheme)}
	switch e.Scheme {
	case SchemeSMTP:
		e.Port = 587
	case SchemeSMTPS:
		e.Port = 465
	default:
		return Endpoint{}, fmt.Errorf(`want "log:", "smtp://host:port" or "smtps://host:port", got scheme %q`, u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return Endpoint{}, errors.New("no host")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return Endpoint{}, errors.New("want only scheme, credentials, host and port")
	}
	e.Host = u.Hostname()
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Endpoint{}, fmt.Errorf("bad port %q", p)
		}
		e.Port = n
	}
	if u.User != nil {
		e.Username = u.User.Username()
		e.Password, _ = u.User.Password()
		if e.Username == "" {
			return Endpoint{}, errors.New("empty user name")
		}
	}
	return e, nil
}

// ParseFrom checks a MAIL_FROM: an address, optionally with a name
// ("Sessionlogin <no-reply@example.com>").
func ParseFrom(raw string) (string, error) {
	a, err := mail.ParseAddress(raw)
	if err != nil {
		return "", fmt.Errorf("not an address such as \"Name <no-reply@example.com>\": %q", raw)
	}
	return a.String(), nil
}

// isLoopback reports whether host is this machine: the only place
// credentials may travel without TLS.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// TransportOptions adjust an SMTP transport; the zero value is right for
// production.
type TransportOptions struct {
	// TLS replaces the default TLS settings (tests trust their own
	// certificate with it).
	TLS *tls.Config
	// Dial replaces the dialer (tests reach a local server under another
	// host name with it).
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// NewTransport returns the transport of e, sending as from.
func NewTransport(e Endpoint, from string, log *slog.Logger, o TransportOptions) Transport {
	if e.Scheme == SchemeLog {
		return logTransport{log: log}
	}
	return &smtpTransport{e: e, from: from, o: o}
}

// logTransport writes every mail, links included, to the log: a developer
// can follow a reset link from the terminal without a mail server.
type logTransport struct{ log *slog.Logger }

func (t logTransport) Send(ctx context.Context, m Message) error {
	t.log.LogAttrs(ctx, slog.LevelInfo, "mail", slog.String("to", m.To),
		slog.String("subject", m.Subject), slog.String("text", m.Text))
	return nil
}

// smtpTimeout bounds one delivery; it is well under the sender's lease.
const smtpTimeout = 30 * time.Second

type smtpTransport struct {
	e    Endpoint
	from string
	o    TransportOptions
}

// options picks the client's TLS and authentication: implicit TLS for
// smtps; STARTTLS when offered for smtp, and required whenever credentials
// would go to a host other than this machine. dial is the dialer.
func (t *smtpTransport) options(tlsConfig *tls.Config, dial func(context.Context, string, string) (net.Conn, error)) []gomail.Option {
	// One mail per connection: no RSET after it, which could fail after the
	// server accepted the mail and make it look unsent.
	opts := []gomail.Option{gomail.WithPort(t.e.Port), gomail.WithTimeout(smtpTimeout), gomail.WithoutRset(),
		gomail.WithTLSConfig(tlsConfig), gomail.WithDialContextFunc(dial)}
	loopback := isLoopback(t.e.Host)
	switch {
	case t.e.Scheme == SchemeSMTPS:
		opts = append(opts, gomail.WithSSL())
	case t.e.Username != "" && !loopback:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if t.e.Username != "" {
		// The strongest mechanism the server offers. PLAIN and LOGIN send
		// the password itself: go-mail refuses them on a connection
		// without TLS, except to this machine, where the "-NOENC" forms
		// allow it (the credentials never cross a network).
		mechs := []gomail.SMTPAuthType{gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin}
		if loopback && t.e.Scheme == SchemeSMTP {
			mechs = []gomail.SMTPAuthType{gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc}
		}
		opts = append(opts, gomail.WithOpportunisticSMTPAuth(mechs...),
			gomail.WithUsername(t.e.Username), gomail.WithPassword(t.e.Password))
	}
	return opts
}

// dialer returns the dial function of one delivery. The connection is
// closed as soon as ctx ends, so that a server that stops answering in
// the middle of a conversation cannot hold the sender (and shutdown)
// until the timeout. For smtps it speaks TLS from the first byte itself:
// go-mail leaves that to a custom dialer.
func (t *smtpTransport) dialer(ctx context.Context, tlsConfig *tls.Config) (func(context.Context, string, string) (net.Conn, error), func()) {
	var stop func() bool
	dial := func(dctx context.Context, network, address string) (net.Conn, error) {
		raw := t.o.Dial
		if raw == nil {
			var d net.Dialer
			raw = d.DialContext
		}
		conn, err := raw(dctx, network, address)
		if err != nil {
			return nil, err
		}
		stop = context.AfterFunc(ctx, func() { _ = conn.Close() })
		if t.e.Scheme != SchemeSMTPS {
			return conn, nil
		}
		tc := tls.Client(conn, tlsConfig)
		if err := tc.HandshakeContext(dctx); err != nil {
			_ = conn.Close()
			return nil, err
		}
		return tc, nil
	}
	return dial, func() {
		if stop != nil {
			stop()
		}
	}
}

func (t *smtpTransport) Send(ctx context.Context, m Message) error {
	msg := gomail.NewMsg()
	if err := msg.From(t.from); err != nil {
		return fmt.Errorf("%w: from: %v", ErrPermanent, err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("%w: to: %v", ErrPermanent, err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	tlsConfig := t.o.TLS
	if tlsConfig == nil {
		tlsConfig = &tls.Config{ServerName: t.e.Host, MinVersion: tls.VersionTLS12}
	}
	dial, stop := t.dialer(ctx, tlsConfig)
	defer stop()
	client, err := gomail.NewClient(t.e.Host, t.options(tlsConfig, dial)...)
	if err != nil {
		return fmt.Errorf("%w: client: %v", ErrPermanent, err)
	}
	conn, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	err = client.SendWithSMTPClient(conn, msg)
	// Once the server has accepted the mail, a failed QUIT changes
	// nothing: reporting it would send the mail again.
	_ = client.CloseWithSMTPClient(conn)
	if err != nil {
		var se *gomail.SendError
		if errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 && se.ErrorCode() < 600 &&
			(se.Reason == gomail.ErrSMTPRcptTo || se.Reason == gomail.ErrSMTPMailFrom) {
			return fmt.Errorf("%w: %v", ErrPermanent, err)
		}
		return err
	}
	return nil
}

// redact keeps an error message short and free of line breaks for the
// outbox's last_error column.
func redact(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 500 {
		s = s[:500]
	}
	return s
}
