package mail

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// Queued is a mail claimed from the outbox.
type Queued struct {
	ID        int64
	Mail      auth.Mail
	Attempts  int // failed attempts so far
	CreatedAt time.Time
}

// ErrLeaseLost means a sender took too long and another may have claimed
// the mail: the update was not made.
var ErrLeaseLost = errors.New("mail: outbox lease lost")

// Outbox is the durable queue of mails (implemented by package storage).
// Updates after Claim hold only while the claim does; otherwise they
// return ErrLeaseLost.
type Outbox interface {
	// Claim leases up to limit mails due at now to claim until now+lease,
	// oldest first. No mail is leased to two claims at once.
	Claim(ctx context.Context, claim string, now time.Time, lease time.Duration, limit int) ([]Queued, error)
	// Sent marks mail id sent.
	Sent(ctx context.Context, id int64, claim string, now time.Time) error
	// Retry counts a failed attempt and makes mail id due again at next.
	Retry(ctx context.Context, id int64, claim string, next time.Time, reason string) error
	// Fail gives up on mail id.
	Fail(ctx context.Context, id int64, claim string, now time.Time, reason string) error
	// Pending returns how many mails wait and when the oldest was queued.
	Pending(ctx context.Context) (int, time.Time, error)
	// Purge deletes mails sent or given up, and tokens expired, before before.
	Purge(ctx context.Context, before time.Time) error
}

// SenderConfig tunes a Sender; zero values take the defaults.
type SenderConfig struct {
	// Poll is how often the outbox is looked at when nothing woke the
	// sender (mails queued by other instances): default 2s.
	Poll time.Duration
	// Lease is how long a claimed mail is this sender's: default 2m, well
	// over the 30 s a delivery may take, so no other sender sends it too.
	Lease time.Duration
	// BackoffMin and BackoffMax bound the wait before retrying a mail,
	// doubling per failed attempt: default 5s and 10m.
	BackoffMin time.Duration
	BackoffMax time.Duration
	// Batch is how many mails one claim takes: default 20.
	Batch int
	// Keep is how long sent mails and expired tokens are kept: default 7 days.
	Keep time.Duration
}

func (c *SenderConfig) defaults() {
	if c.Poll <= 0 {
		c.Poll = 2 * time.Second
	}
	if c.Lease <= 0 {
		c.Lease = 2 * time.Minute
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = 5 * time.Second
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 10 * time.Minute
	}
	if c.Batch <= 0 {
		c.Batch = 20
	}
	if c.Keep <= 0 {
		c.Keep = 7 * 24 * time.Hour
	}
}

// purgeInterval is how often a sender deletes old outbox rows and tokens.
const purgeInterval = time.Hour

// Sender delivers the outbox. Every instance runs one: they share the
// outbox, and the lease decides who sends which mail. It is an
// auth.QueueObserver (a queued mail wakes it) and a Prometheus collector.
type Sender struct {
	outbox    Outbox
	transport Transport
	composer  *Composer
	log       *slog.Logger
	cfg       SenderConfig
	claim     string
	wake      chan struct{}

	queued   *prometheus.CounterVec
	sent     *prometheus.CounterVec
	failures *prometheus.CounterVec
	givenUp  *prometheus.CounterVec
}

var (
	pendingDesc = prometheus.NewDesc("mail_outbox_pending", "Mails in the outbox not sent yet (all instances).", nil, nil)
	oldestDesc  = prometheus.NewDesc("mail_outbox_oldest_pending_age_seconds",
		"Age of the oldest mail not sent yet; 0 when none waits.", nil, nil)
)

// NewSender returns a Sender draining outbox through transport.
func NewSender(outbox Outbox, transport Transport, log *slog.Logger, cfg SenderConfig) (*Sender, error) {
	cfg.defaults()
	composer, err := NewComposer()
	if err != nil {
		return nil, err
	}
	b := make([]byte, 8)
	_, _ = crand.Read(b)
	s := &Sender{
		outbox: outbox, transport: transport, composer: composer, log: log, cfg: cfg,
		claim: hex.EncodeToString(b),
		wake:  make(chan struct{}, 1),
		queued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mail_queued_total", Help: "Mails queued by this instance, by kind.",
		}, []string{"kind"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mail_sent_total", Help: "Mails delivered by this instance, by kind.",
		}, []string{"kind"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mail_send_failures_total", Help: "Failed delivery attempts by this instance, by kind.",
		}, []string{"kind"}),
		givenUp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mail_given_up_total", Help: "Mails refused for good (not retried), by kind.",
		}, []string{"kind"}),
	}
	for _, k := range auth.MailKinds {
		for _, v := range []*prometheus.CounterVec{s.queued, s.sent, s.failures, s.givenUp} {
			v.WithLabelValues(string(k))
		}
	}
	return s, nil
}

// Queued counts a mail committed to the outbox and wakes the sender, so
// that it leaves at once rather than at the next poll.
func (s *Sender) Queued(m auth.Mail) {
	s.queued.WithLabelValues(string(m.Kind)).Inc()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Describe implements prometheus.Collector.
func (s *Sender) Describe(ch chan<- *prometheus.Desc) {
	s.queued.Describe(ch)
	s.sent.Describe(ch)
	s.failures.Describe(ch)
	s.givenUp.Describe(ch)
	ch <- pendingDesc
	ch <- oldestDesc
}

// Collect implements prometheus.Collector; the outbox gauges are read at
// scrape time (one indexed query), and left out when the database fails.
func (s *Sender) Collect(ch chan<- prometheus.Metric) {
	s.queued.Collect(ch)
	s.sent.Collect(ch)
	s.failures.Collect(ch)
	s.givenUp.Collect(ch)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	n, oldest, err := s.outbox.Pending(ctx)
	if err != nil {
		return
	}
	age := 0.0
	if n > 0 && !oldest.IsZero() {
		age = max(0, time.Since(oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age)
}

// Run sends due mails until ctx ends, then returns once the mail in hand
// is dealt with. A delivery cut short by the end goes back to the outbox.
func (s *Sender) Run(ctx context.Context) {
	var lastPurge time.Time
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-s.wake:
		}
		s.drain(ctx)
		if time.Since(lastPurge) > purgeInterval {
			lastPurge = time.Now()
			if err := s.outbox.Purge(ctx, lastPurge.Add(-s.cfg.Keep)); err != nil && ctx.Err() == nil {
				s.log.Warn("mail outbox purge failed", "error", err)
			}
		}
		timer.Reset(s.cfg.Poll)
	}
}

// drain claims and sends batches until none is due.
func (s *Sender) drain(ctx context.Context) {
	for ctx.Err() == nil {
		batch, err := s.outbox.Claim(ctx, s.claim, time.Now(), s.cfg.Lease, s.cfg.Batch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("mail outbox claim failed", "error", err)
			}
			return
		}
		if len(batch) == 0 {
			return
		}
		for _, q := range batch {
			s.send(ctx, q)
		}
	}
}

// settle is the context of outbox updates after a delivery: they must
// happen even when ctx has just ended, or a sent mail would go again.
func settle(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}

func (s *Sender) send(ctx context.Context, q Queued) {
	kind := string(q.Mail.Kind)
	var err error
	delivered := false
	if ctx.Err() == nil {
		var msg Message
		if msg, err = s.composer.Compose(q.Mail); err == nil {
			sctx, cancel := context.WithTimeout(ctx, smtpTimeout)
			err = s.transport.Send(sctx, msg)
			cancel()
			delivered = err == nil
		}
	}
	uctx, cancel := settle(ctx)
	defer cancel()
	var uerr error
	switch {
	case delivered:
		s.sent.WithLabelValues(kind).Inc()
		uerr = s.outbox.Sent(uctx, q.ID, s.claim, time.Now())
	case ctx.Err() != nil:
		// Shutting down: hand the mail back for the next sender now rather
		// than when the lease runs out.
		uerr = s.outbox.Retry(uctx, q.ID, s.claim, time.Now(), "sender stopped")
	case errors.Is(err, ErrPermanent):
		s.failures.WithLabelValues(kind).Inc()
		s.givenUp.WithLabelValues(kind).Inc()
		s.log.Error("mail refused for good", "id", q.ID, "kind", kind, "error", err)
		uerr = s.outbox.Fail(uctx, q.ID, s.claim, time.Now(), redact(err))
	default:
		s.failures.WithLabelValues(kind).Inc()
		wait := s.backoff(q.Attempts + 1)
		s.log.Warn("mail delivery failed, will retry", "id", q.ID, "kind", kind,
			"attempt", q.Attempts+1, "retry_in", wait.String(), "error", err)
		uerr = s.outbox.Retry(uctx, q.ID, s.claim, time.Now().Add(wait), redact(err))
	}
	if uerr != nil {
		s.log.Warn("mail outbox update failed", "id", q.ID, "kind", kind, "error", uerr)
	}
}

// backoff is the wait before attempt n+1: BackoffMin doubled per failed
// attempt, up to BackoffMax, with a random ±20% so that instances coming
// back together do not retry in step.
func (s *Sender) backoff(failed int) time.Duration {
	d := s.cfg.BackoffMin
	for i := 1; i < failed && d < s.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, s.cfg.BackoffMax)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
