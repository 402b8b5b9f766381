package main

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/contactguard/contactguard/incident-svc/internal/app"
	"github.com/contactguard/contactguard/incident-svc/internal/domain"
	"github.com/contactguard/contactguard/incident-svc/internal/staffdir"
	"github.com/contactguard/contactguard/incident-svc/internal/store"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/svcmain"
	notifyv1 "github.com/contactguard/contactguard/proto/notify/v1"
)

// setUpPublicNamings wires the staff-named-publicly cases (C78-C86): their
// read model, the staff directory they ask (notify-svc at notifyAddr, for
// the named staff member's line manager) and the repair of the read model
// from the shared event store.
func setUpPublicNamings(ctx context.Context, d *svcmain.Deps, events *eventlog.Store, notifyAddr string) (*app.PublicNamings, error) {
	namings := store.NewPublicNamings(d.DB)
	if err := namings.EnsureIndexes(ctx); err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(notifyAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("NOTIFY_ADDR %s: %w", notifyAddr, err)
	}
	context.AfterFunc(ctx, func() { _ = conn.Close() })
	dir := staffdir.New(notifyv1.NewNotifyServiceClient(conn), identity.Codec{Key: d.Config.IdentityKey, Audience: identity.AudienceServices})
	dir.Logger = d.Logger
	uc := app.NewPublicNamings(events, namings, dir)

	byType, err := store.LatestSeqsByType(ctx, d.DB.Collection(eventsCollection))
	if err != nil {
		return nil, err
	}
	projected, err := namings.Versions(ctx)
	if err != nil {
		return nil, err
	}
	n, err := uc.Rebuild(ctx, byType[domain.PublicNamingAggregateType], projected)
	if n > 0 {
		d.Logger.Warn("read model repaired from the event log", "public_namings", n)
	}
	return uc, err
}
