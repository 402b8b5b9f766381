package delivery

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/contactguard/contactguard/notify-svc/internal/mail"
	"github.com/contactguard/contactguard/platform/lease"
)

// Sender sends due deliveries. One replica sends at a time (a lease), so a
// delivery is never attempted by two senders at once. The record says
// "sent" the moment the server accepts the message (mail.Message.Accepted),
// before the session closes; only a crash inside that write, a few
// milliseconds, would send it again after restart, with the same
// Message-ID so mail systems can recognise the repeat.
type Sender struct {
	Store       *Store
	Redis       *redis.Client
	LeaseKey    string
	Send        func(ctx context.Context, m mail.Message) error
	Logger      *slog.Logger
	MaxAttempts int           // then the delivery is dead
	RetryBase   time.Duration // first retry delay, doubled each attempt up to RetryMax
	RetryMax    time.Duration
	Wake        chan struct{} // a queued delivery wakes the sender at once
}

// Backoff returns the delay before retry number attempts (1 = first retry).
func Backoff(attempts int, base, ceiling time.Duration) time.Duration {
	d := base
	for i := 1; i < attempts && d < ceiling; i++ {
		d *= 2
	}
	return min(d, ceiling)
}

// Run sends until ctx ends.
func (s *Sender) Run(ctx context.Context) error {
	l := lease.New(s.Redis, s.LeaseKey, 15*time.Second)
	defer func() { _ = l.Release(context.WithoutCancel(ctx)) }()
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		held, err := l.Hold(ctx)
		if err != nil {
			s.Logger.Warn("sender cannot reach redis for its lease", "error", err)
		}
		if held {
			s.sendDue(ctx, l)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case <-s.Wake:
		}
	}
}

func (s *Sender) sendDue(ctx context.Context, l *lease.Lease) {
	for ctx.Err() == nil {
		due, err := s.Store.Due(ctx, time.Now(), 50)
		if err != nil {
			s.Logger.Warn("cannot read due deliveries", "error", err)
			return
		}
		if len(due) == 0 {
			return
		}
		for _, d := range due {
			// Renew before each attempt: a slow SMTP server must not let the
			// lease lapse mid-batch and a second replica send the same email.
			if held, err := l.Hold(ctx); err != nil || !held {
				return
			}
			s.attempt(ctx, d)
		}
	}
}

func (s *Sender) attempt(ctx context.Context, d Delivery) {
	now := time.Now()
	d.Attempts++
	d.UpdateTime = now
	recorded := false
	sent := d
	sent.Status, sent.SendTime, sent.LastError = StatusSent, now, ""
	record := func() {
		if err := s.Store.Update(context.WithoutCancel(ctx), sent); err != nil {
			s.Logger.Error("email sent but its status could not be recorded", "delivery", d.ID, "error", err)
			return
		}
		recorded = true
	}
	err := s.Send(ctx, mail.Message{From: d.From, To: d.RecipientEmail, Subject: d.Subject, Text: d.Text, HTML: d.HTML, MessageID: d.MessageID(), Accepted: record})
	switch {
	case err == nil:
		if !recorded {
			record()
		}
		s.Logger.Info("email sent", "delivery", d.ID, "event_type", d.EventType, "recipient", d.Recipient, "attempts", d.Attempts)
		return
	case mail.IsPermanent(err) || d.Attempts >= s.MaxAttempts:
		d.Status, d.LastError = StatusDead, err.Error()
		s.Logger.Error("email dead-lettered", "delivery", d.ID, "recipient", d.Recipient, "attempts", d.Attempts, "error", err)
	default:
		d.Status, d.LastError = StatusFailed, err.Error()
		d.NextAttemptTime = now.Add(Backoff(d.Attempts, s.RetryBase, s.RetryMax))
		s.Logger.Warn("email not sent, will retry", "delivery", d.ID, "attempts", d.Attempts, "next_attempt", d.NextAttemptTime, "error", err)
	}
	if err := s.Store.Update(context.WithoutCancel(ctx), d); err != nil {
		s.Logger.Error("cannot record delivery status", "delivery", d.ID, "status", d.Status, "error", err)
	}
}
