// Command restriction-svc manages restrictions on a customer's contact
// ("active management", policy-map.md section 3) and answers the telephony
// system's real-time contact check from memory. It records restrictions as
// events, relays them to the Redis stream "<prefix>:events:restriction",
// consumes incident-svc's stream (subjects, reviews ending in active
// management) and keeps every replica's contact-check index current through
// a Redis pub/sub change feed. The incidents and evidence staff cite are
// checked with incident-svc and evidence-svc, as the caller. See
// docs/adr/0005-contact-check.md.
package main

import (
	"context"
	"fmt"
	"os"
	"time"
	_ "time/tzdata" // time windows name IANA zones; the static image has no zoneinfo

	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/lease"
	"github.com/contactguard/contactguard/platform/svcmain"
	restrictionv1 "github.com/contactguard/contactguard/proto/restriction/v1"
	"github.com/contactguard/contactguard/restriction-svc/internal/app"
	"github.com/contactguard/contactguard/restriction-svc/internal/domain"
	"github.com/contactguard/contactguard/restriction-svc/internal/grpcapi"
	"github.com/contactguard/contactguard/restriction-svc/internal/index"
	"github.com/contactguard/contactguard/restriction-svc/internal/links"
	"github.com/contactguard/contactguard/restriction-svc/internal/store"
)

func main() {
	svc := svcmain.Load("restriction", "127.0.0.1:9092", "127.0.0.1:9192")
	failMode := svc.Env.OneOf("CHECK_FAIL_MODE", domain.FailAllow, domain.FailAllow, domain.FailAutomated)
	storeTimeout := svc.Env.Duration("CHECK_STORE_TIMEOUT", 100*time.Millisecond)
	reloadEvery := svc.Env.Duration("INDEX_RELOAD_INTERVAL", 5*time.Minute)
	schedulerEvery := svc.Env.Duration("SCHEDULER_INTERVAL", time.Minute)
	host, _ := os.Hostname()
	consumerName := svc.Env.String("CONSUMER_NAME", "restriction-"+host)
	incidentAddr := svc.Env.Addr("INCIDENT_ADDR", "127.0.0.1:9091")
	evidenceAddr := svc.Env.Addr("EVIDENCE_ADDR", "127.0.0.1:9093")
	svc.MachineMethods = grpcapi.MachineMethods

	svc.Run(func(ctx context.Context, d *svcmain.Deps) ([]svcmain.Job, error) {
		events := eventlog.NewStore(d.DB, "restriction_events")
		restrictions := store.NewRestrictions(d.DB)
		subjects := store.NewSubjects(d.DB)
		for _, ensure := range []func(context.Context) error{events.EnsureIndexes, restrictions.EnsureIndexes} {
			if err := ensure(ctx); err != nil {
				return nil, err
			}
		}
		idx := index.New()
		feed := &store.Feed{
			Redis: d.Redis, Channel: d.Config.StreamPrefix + ":restriction:changes", Index: idx,
			Logger: d.Logger, ReloadEvery: reloadEvery,
			Load: func(ctx context.Context) ([]index.Entry, []index.Subject, error) {
				entries, err := restrictions.Entries(ctx)
				if err != nil {
					return nil, nil, err
				}
				subs, err := subjects.All(ctx)
				return entries, subs, err
			},
		}
		// Incidents and evidence cited by staff are checked with their
		// owners, as the caller; connections are lazy.
		cited, err := links.Dial(incidentAddr, evidenceAddr, 5*time.Second)
		if err != nil {
			return nil, err
		}
		uc := app.New(events, restrictions, idx, feed, cited)
		if err := rebuild(ctx, d, events, restrictions, uc); err != nil {
			return nil, err
		}
		// Load the index before serving: the check never answers from an
		// empty memory.
		if err := feed.Start(ctx); err != nil {
			return nil, err
		}
		checker := app.NewChecker(idx, store.NewCounters(d.Redis, d.Config.StreamPrefix), feed.Healthy, failMode, storeTimeout)
		restrictionv1.RegisterRestrictionServiceServer(d.Server.Server, grpcapi.New(uc, checker))

		relay := &eventlog.Relay{Store: events, Redis: d.Redis, Stream: d.Config.StreamPrefix + ":events:restriction", Logger: d.Logger}
		consumer := &eventlog.Consumer{
			Redis: d.Redis, Stream: d.Config.StreamPrefix + ":events:incident", Group: "restriction-svc",
			Name: consumerName, Handle: app.NewConsumer(uc, subjects, d.Logger).Handle, Logger: d.Logger,
		}
		scheduler := &app.Scheduler{
			Service: uc, Lease: lease.New(d.Redis, d.Config.StreamPrefix+":restriction:scheduler-lease", 2*schedulerEvery+10*time.Second),
			Interval: schedulerEvery, Logger: d.Logger,
		}
		d.Logger.Info("contact check configured", "fail_mode", failMode, "store_timeout", storeTimeout.String())
		d.Logger.Info("cited incidents and evidence are checked with their owners", "incident_addr", incidentAddr, "evidence_addr", evidenceAddr)
		closeLinks := func(ctx context.Context) error { <-ctx.Done(); cited.Close(); return nil }
		return []svcmain.Job{feed.Run, relay.Run, consumer.Run, scheduler.Run, closeLinks}, nil
	})
}

// rebuild repairs the read model after a crash between an append and its
// read-model update.
func rebuild(ctx context.Context, d *svcmain.Deps, events *eventlog.Store, restrictions *store.Restrictions, uc *app.Service) error {
	latest, err := events.LatestSeqs(ctx)
	if err != nil {
		return err
	}
	projected, err := restrictions.Versions(ctx)
	if err != nil {
		return err
	}
	n, err := uc.Rebuild(ctx, latest, projected)
	if n > 0 {
		d.Logger.Warn("read model repaired from the event log", "restrictions", n)
	}
	if err != nil {
		return fmt.Errorf("rebuild the read model: %w", err)
	}
	return nil
}
