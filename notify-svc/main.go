// Command notify-svc emails staff when the policy says so (policy-map.md
// sections 5 and 6). It consumes the other services' event streams, queues
// one delivery per (event, recipient) in MongoDB, and sends them through
// SMTP with retries; it owns the staff directory.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/contactguard/contactguard/notify-svc/internal/app"
	"github.com/contactguard/contactguard/notify-svc/internal/delivery"
	"github.com/contactguard/contactguard/notify-svc/internal/grpcapi"
	"github.com/contactguard/contactguard/notify-svc/internal/mail"
	"github.com/contactguard/contactguard/notify-svc/internal/staff"
	"github.com/contactguard/contactguard/platform/directory"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/svcmain"
	notifyv1 "github.com/contactguard/contactguard/proto/notify/v1"
)

// streams notify-svc consumes, by the service that writes them.
var streams = []string{"incident", "restriction"}

func main() {
	svc := svcmain.Load("notify", "127.0.0.1:9094", "127.0.0.1:9194")
	smtp := mail.Config{
		Addr:     svc.Env.Addr("SMTP_ADDR", ""),
		TLS:      svc.Env.OneOf("SMTP_TLS", "none", "none", "starttls", "tls"),
		Username: svc.Env.String("SMTP_USERNAME", ""),
		Password: svc.Env.String("SMTP_PASSWORD", ""),
		Timeout:  svc.Env.Duration("SMTP_TIMEOUT", 30*time.Second),
	}
	if smtp.Addr == "" {
		svc.Env.Required("SMTP_ADDR", "host:port of the SMTP server")
	}
	portalURL := svc.Env.URL("PORTAL_URL", "http://localhost:8080", "http", "https")
	maxAttempts := svc.Env.Int("NOTIFY_MAX_ATTEMPTS", 10, 1, 100)
	retryBase := svc.Env.Duration("NOTIFY_RETRY_BASE", 5*time.Second)
	retryMax := svc.Env.Duration("NOTIFY_RETRY_MAX", 10*time.Minute)
	seedDirectory := svc.Env.Bool("SEED_DIRECTORY", true)
	reminderAfter := svc.Env.Duration("NOTIFY_DEBRIEF_REMINDER_AFTER", 72*time.Hour)
	schedulerEvery := svc.Env.Duration("NOTIFY_SCHEDULER_EVERY", 30*time.Second)
	host, _ := os.Hostname()
	consumerName := svc.Env.String("CONSUMER_NAME", "notify-"+host)

	svc.Run(func(ctx context.Context, d *svcmain.Deps) ([]svcmain.Job, error) {
		staffStore := staff.NewStore(d.DB)
		deliveries := delivery.NewStore(d.DB)
		if err := staffStore.EnsureIndexes(ctx); err != nil {
			return nil, err
		}
		if err := deliveries.EnsureIndexes(ctx); err != nil {
			return nil, err
		}
		if seedDirectory {
			if err := staffStore.Upsert(ctx, directory.Seed()); err != nil {
				return nil, fmt.Errorf("seed the staff directory: %w", err)
			}
		}
		wake := make(chan struct{}, 1)
		notifyv1.RegisterNotifyServiceServer(d.Server.Server, grpcapi.New(staffStore, deliveries, wake))

		notifier := app.NewNotifier(staffStore, deliveries, portalURL, wake, d.Logger)
		reminders := app.NewReminders(d.DB, staffStore, deliveries, portalURL, reminderAfter, wake, d.Logger)
		if err := reminders.EnsureIndexes(ctx); err != nil {
			return nil, err
		}
		// Both handlers are idempotent, so an event handled again after a
		// failure of the second changes nothing in the first.
		handle := func(ctx context.Context, e eventlog.Event) error {
			if err := notifier.Handle(ctx, e); err != nil {
				return err
			}
			return reminders.Handle(ctx, e)
		}
		sender := &delivery.Sender{
			Store: deliveries, Redis: d.Redis, LeaseKey: d.Config.StreamPrefix + ":notify:sender-lease",
			Send:   func(ctx context.Context, m mail.Message) error { return mail.Send(ctx, smtp, m) },
			Logger: d.Logger, MaxAttempts: maxAttempts, RetryBase: retryBase, RetryMax: retryMax, Wake: wake,
		}
		jobs := []svcmain.Job{sender.Run, func(ctx context.Context) error {
			return reminders.Run(ctx, d.Redis, d.Config.StreamPrefix+":notify:scheduler-lease", schedulerEvery)
		}}
		for _, s := range streams {
			c := &eventlog.Consumer{
				Redis: d.Redis, Stream: d.Config.StreamPrefix + ":events:" + s, Group: "notify-svc",
				Name: consumerName, Handle: handle, Logger: d.Logger,
			}
			jobs = append(jobs, c.Run)
		}
		return jobs, nil
	})
}
