// Package smtptest runs a real SMTP server in the test process
// (github.com/emersion/go-smtp) on a loopback port, as a sink: the service
// talks real SMTP to it, and tests read the mails it received, follow
// their links, stop it to play an outage, and start it again on the same
// port.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mail is one received mail, decoded.
type Mail struct {
	From    string
	To      []string
	Subject string
	Text    string // the text/plain part
	HTML    string // the text/html part
	Raw     []byte
	// TLS tells whether the mail came over an encrypted connection.
	TLS bool
	// User is the name the client authenticated as, if any.
	User string
}

var linkRE = regexp.MustCompile(`https?://[^\s<>"]+`)

// Links returns every URL in the text part, in order.
func (m Mail) Links() []string { return linkRE.FindAllString(m.Text, -1) }

// Link returns the first URL in the text part that contains part, or "".
func (m Mail) Link(part string) string {
	for _, l := range m.Links() {
		if strings.Contains(l, part) {
			return l
		}
	}
	return ""
}

// Server is an SMTP sink on 127.0.0.1.
type Server struct {
	// Addr is host:port, the same across Stop and Start.
	Addr string
	// RootCAs trusts the server's certificate (with WithTLS).
	RootCAs *x509.CertPool

	t        testing.TB
	tls      *tls.Config
	implicit bool // TLS from the first byte (smtps) rather than STARTTLS
	user     string
	password string

	mu      sync.Mutex
	srv     *smtp.Server
	ln      net.Listener
	mails   []Mail
	changed chan struct{} // closed and replaced on each new mail
	refuse  bool
	drop    bool
}

// Option configures a Server.
type Option func(*Server)

// WithAuth requires clients to authenticate with PLAIN as user:password.
func WithAuth(user, password string) Option {
	return func(s *Server) { s.user, s.password = user, password }
}

// WithTLS offers STARTTLS with a fresh self-signed certificate for
// 127.0.0.1 (trusted through RootCAs).
func WithTLS() Option {
	return func(s *Server) { s.tls, s.RootCAs = selfSigned(s.t) }
}

// WithImplicitTLS serves TLS from the first byte, as smtps:// expects,
// with a fresh self-signed certificate for 127.0.0.1 (trusted through
// RootCAs).
func WithImplicitTLS() Option {
	return func(s *Server) {
		s.tls, s.RootCAs = selfSigned(s.t)
		s.implicit = true
	}
}

// Start runs a sink on a free loopback port until the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{t: t, changed: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s.Addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.Stop)
	return s
}

// URL is the MAIL_URL of the sink (without credentials).
func (s *Server) URL() string { return "smtp://" + s.Addr }

func (s *Server) serve(ln net.Listener) {
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		dc, _ := c.Conn().(*dropConn)
		return &session{s: s, tls: isTLS, conn: dc}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	var l net.Listener = dropListener{ln}
	if s.implicit {
		l = tls.NewListener(l, s.tls)
	} else {
		srv.TLSConfig = s.tls
	}
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 1 << 20
	s.mu.Lock()
	s.srv, s.ln = srv, ln
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

// Stop closes the server and its connections: clients now fail to
// connect, as when a mail server is down. Mails received stay readable.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if srv != nil {
		// The listener is closed here too: Serve may not have taken it
		// over yet, and Close only closes the listeners Serve holds.
		_ = ln.Close()
		_ = srv.Close()
	}
}

// Restart serves again on the same address.
func (s *Server) Restart() {
	s.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may take a moment to be free again
		if ln, err = net.Listen("tcp", s.Addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("smtptest: listen again on %s: %v", s.Addr, err)
	}
	s.serve(ln)
}

// Refuse makes the server answer every recipient with a temporary
// failure (450) while on is true: it is up, but accepts nothing.
func (s *Server) Refuse(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = on
}

// DropAfterAccept makes the server, while on is true, cut the connection
// right after it accepted a mail: the client got the mail's 250, and its
// QUIT fails.
func (s *Server) DropAfterAccept(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop = on
}

// dropConn closes itself after its next write once armed.
type dropConn struct {
	net.Conn
	mu    sync.Mutex
	armed bool
}

func (c *dropConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	armed := c.armed
	c.mu.Unlock()
	if armed {
		_ = c.Conn.Close()
	}
	return n, err
}

func (c *dropConn) arm() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed = true
}

// dropListener hands out dropConns.
type dropListener struct{ net.Listener }

func (l dropListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &dropConn{Conn: c}, nil
}

// Mails returns every mail received so far.
func (s *Server) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// MailsTo returns the mails received for addr.
func (s *Server) MailsTo(addr string) []Mail {
	var out []Mail
	for _, m := range s.Mails() {
		for _, to := range m.To {
			if strings.EqualFold(to, addr) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// Wait waits up to 15 s until ok holds of the mails received, and returns
// them; it fails the test otherwise.
func (s *Server) Wait(t testing.TB, what string, ok func([]Mail) bool) []Mail {
	t.Helper()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		mails, changed := append([]Mail(nil), s.mails...), s.changed
		s.mu.Unlock()
		if ok(mails) {
			return mails
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("smtptest: no %s within 15s; received %d mails: %s", what, len(mails), subjects(mails))
			return nil
		}
	}
}

// WaitCount waits until n mails went to addr in all, and returns them.
func (s *Server) WaitCount(t testing.TB, addr string, n int) []Mail {
	t.Helper()
	s.Wait(t, "mail to "+addr, func([]Mail) bool { return len(s.MailsTo(addr)) >= n })
	return s.MailsTo(addr)
}

// Next waits for the mail to addr that follows the seen already, and
// returns it.
func (s *Server) Next(t testing.TB, addr string, seen int) Mail {
	t.Helper()
	return s.WaitCount(t, addr, seen+1)[seen]
}

func subjects(mails []Mail) string {
	var b strings.Builder
	for _, m := range mails {
		b.WriteString("\n  " + strings.Join(m.To, ",") + ": " + m.Subject)
	}
	return b.String()
}

func (s *Server) add(m Mail) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mails = append(s.mails, m)
	close(s.changed)
	s.changed = make(chan struct{})
}

type session struct {
	s    *Server
	conn *dropConn // nil after STARTTLS (then never dropped)
	tls  bool
	user string
	from string
	to   []string
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, password string) error {
		if user != ss.s.user || password != ss.s.password {
			return errors.New("invalid credentials")
		}
		ss.user = user
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.user != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	refuse := ss.s.refuse
	ss.s.mu.Unlock()
	if refuse {
		return &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "try again later"}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := parse(raw)
	if err != nil {
		return err
	}
	m.From, m.To, m.TLS, m.User = ss.from, ss.to, ss.tls, ss.user
	ss.s.add(m)
	ss.s.mu.Lock()
	drop := ss.s.drop
	ss.s.mu.Unlock()
	if drop && ss.conn != nil {
		ss.conn.arm() // the 250 for this mail is the last thing sent
	}
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

// parse decodes a mail: its subject and its text and HTML parts.
func parse(raw []byte) (Mail, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Mail{}, err
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return Mail{}, err
	}
	m := Mail{Subject: subject, Raw: raw}
	err = walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, &m)
	return m, err
}

// walk reads a part (recursively, for multipart ones) into m.
func walk(contentType, encoding string, body io.Reader, m *Mail) error {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mediaType = "text/plain"
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart() // undoes quoted-printable itself
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, m); err != nil {
				return err
			}
		}
	}
	if strings.EqualFold(encoding, "base64") {
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	switch mediaType {
	case "text/plain":
		m.Text = string(b)
	case "text/html":
		m.HTML = string(b)
	}
	return nil
}

// selfSigned returns a server TLS configuration for 127.0.0.1 and a pool
// that trusts it.
func selfSigned(t testing.TB) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "smtptest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}
