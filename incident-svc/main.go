// Command incident-svc keeps the incident register (policy-map.md sections
// 1, 2 and 6): it records incidents as events, serves them over gRPC and
// relays its events to the Redis stream "<prefix>:events:incident".
package main

import (
	"context"

	"github.com/contactguard/contactguard/incident-svc/internal/app"
	"github.com/contactguard/contactguard/incident-svc/internal/domain"
	"github.com/contactguard/contactguard/incident-svc/internal/grpcapi"
	"github.com/contactguard/contactguard/incident-svc/internal/store"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/svcmain"
	incidentv1 "github.com/contactguard/contactguard/proto/incident/v1"
)

func main() {
	svc := svcmain.Load("incident", "127.0.0.1:9091", "127.0.0.1:9191")
	notifyAddr := svc.Env.Addr("NOTIFY_ADDR", "127.0.0.1:9094") // the staff directory
	svc.Run(func(ctx context.Context, d *svcmain.Deps) ([]svcmain.Job, error) {
		events := eventlog.NewStore(d.DB, eventsCollection)
		incidents := store.NewIncidents(d.DB)
		subjects := store.NewSubjects(d.DB)
		if err := events.EnsureIndexes(ctx); err != nil {
			return nil, err
		}
		if err := incidents.EnsureIndexes(ctx); err != nil {
			return nil, err
		}
		if err := subjects.EnsureIndexes(ctx); err != nil {
			return nil, err
		}
		uc := app.New(events, incidents, subjects)
		subjectsUC := app.NewSubjects(events, subjects)
		if err := rebuild(ctx, d, incidents, uc, subjects, subjectsUC); err != nil {
			return nil, err
		}
		namings, err := setUpPublicNamings(ctx, d, events, notifyAddr)
		if err != nil {
			return nil, err
		}
		incidentv1.RegisterIncidentServiceServer(d.Server.Server, grpcapi.New(uc).WithSubjects(subjectsUC).WithPublicNamings(namings))
		relay := &eventlog.Relay{Store: events, Redis: d.Redis, Stream: d.Config.StreamPrefix + ":events:incident", Logger: d.Logger}
		return []svcmain.Job{relay.Run}, nil
	})
}

// eventsCollection holds the events of incidents and subjects alike.
const eventsCollection = "incident_events"

// rebuild repairs the read models after a crash between an append and its
// read-model update. Incidents and subjects share the event store, so each
// read model is rebuilt from its own aggregate type's events.
func rebuild(ctx context.Context, d *svcmain.Deps, incidents *store.Incidents, uc *app.Service, subjects *store.Subjects, subjectsUC *app.Subjects) error {
	byType, err := store.LatestSeqsByType(ctx, d.DB.Collection(eventsCollection))
	if err != nil {
		return err
	}
	projectedSubjects, err := subjects.SubjectVersions(ctx)
	if err != nil {
		return err
	}
	n, err := subjectsUC.Rebuild(ctx, byType[domain.SubjectAggregateType], projectedSubjects)
	if n > 0 {
		d.Logger.Warn("read model repaired from the event log", "subjects", n)
	}
	if err != nil {
		return err
	}
	latest := byType[domain.AggregateType]
	projected, err := incidents.Versions(ctx)
	if err != nil {
		return err
	}
	n, err = uc.Rebuild(ctx, latest, projected)
	if n > 0 {
		d.Logger.Warn("read model repaired from the event log", "incidents", n)
	}
	return err
}
