// Command incident-svc keeps the incident register (policy-map.md sections
// 1, 2 and 6): it records incidents as events, serves them over gRPC and
// relays its events to the Redis stream "<prefix>:events:incident".
package main

import (
	"context"

	"github.com/contactguard/contactguard/incident-svc/internal/app"
	"github.com/contactguard/contactguard/incident-svc/internal/grpcapi"
	"github.com/contactguard/contactguard/incident-svc/internal/store"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/svcmain"
	incidentv1 "github.com/contactguard/contactguard/proto/incident/v1"
)

func main() {
	svc := svcmain.Load("incident", "127.0.0.1:9091", "127.0.0.1:9191")
	svc.Run(func(ctx context.Context, d *svcmain.Deps) ([]svcmain.Job, error) {
		events := eventlog.NewStore(d.DB, "incident_events")
		incidents := store.NewIncidents(d.DB)
		if err := events.EnsureIndexes(ctx); err != nil {
			return nil, err
		}
		if err := incidents.EnsureIndexes(ctx); err != nil {
			return nil, err
		}
		uc := app.New(events, incidents, store.NewSubjects(d.DB))
		if err := rebuild(ctx, d, events, incidents, uc); err != nil {
			return nil, err
		}
		incidentv1.RegisterIncidentServiceServer(d.Server.Server, grpcapi.New(uc))
		relay := &eventlog.Relay{Store: events, Redis: d.Redis, Stream: d.Config.StreamPrefix + ":events:incident", Logger: d.Logger}
		return []svcmain.Job{relay.Run}, nil
	})
}

// rebuild repairs the read model after a crash between an append and its
// read-model update.
func rebuild(ctx context.Context, d *svcmain.Deps, events *eventlog.Store, incidents *store.Incidents, uc *app.Service) error {
	latest, err := events.LatestSeqs(ctx)
	if err != nil {
		return err
	}
	projected, err := incidents.Versions(ctx)
	if err != nil {
		return err
	}
	n, err := uc.Rebuild(ctx, latest, projected)
	if n > 0 {
		d.Logger.Warn("read model repaired from the event log", "incidents", n)
	}
	return err
}
