package main

import (
	"context"
	"os"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/contactguard/contactguard/evidence-svc/internal/app"
	"github.com/contactguard/contactguard/evidence-svc/internal/seal"
	"github.com/contactguard/contactguard/evidence-svc/internal/store"
	"github.com/contactguard/contactguard/platform/eventlog"
)

// parseKeys reads the master keys: EVIDENCE_MASTER_KEY (active, id
// EVIDENCE_MASTER_KEY_ID, default "k1") and EVIDENCE_MASTER_KEYS (other
// keys items may name: id=base64,...). The values are never logged or
// echoed in errors. See docs/adr/0006-evidence-encryption.md.
func parseKeys() (*seal.Keyring, error) {
	return seal.ParseKeyring(os.Getenv("EVIDENCE_MASTER_KEY"), os.Getenv("EVIDENCE_MASTER_KEY_ID"), os.Getenv("EVIDENCE_MASTER_KEYS"))
}

// stores are evidence-svc's collections in its database.
type stores struct {
	events        *eventlog.Store
	items         *store.Items
	content       *store.Content
	access        *store.AccessLog
	verifications *store.Verifications
}

func newStores(db *mongo.Database) stores {
	return stores{
		events:        eventlog.NewStore(db, "evidence_events"),
		items:         store.NewItems(db),
		content:       store.NewContent(db),
		access:        store.NewAccessLog(db),
		verifications: store.NewVerifications(db),
	}
}

func (s stores) ensureIndexes(ctx context.Context) error {
	for _, ensure := range []func(context.Context) error{s.events.EnsureIndexes, s.items.EnsureIndexes, s.content.EnsureIndexes, s.access.EnsureIndexes} {
		if err := ensure(ctx); err != nil {
			return err
		}
	}
	return nil
}

// service wires the use cases over the stores.
func (s stores) service(cfg app.Config, l app.Links) *app.Service {
	return app.New(cfg, s.events, s.items, s.content, s.access, s.verifications, l)
}

// rebuild repairs the read model after a crash between an append and its
// read-model update.
func (s stores) rebuild(ctx context.Context, uc *app.Service) (int, error) {
	latest, err := s.events.LatestSeqs(ctx)
	if err != nil {
		return 0, err
	}
	projected, err := s.items.Versions(ctx)
	if err != nil {
		return 0, err
	}
	return uc.Rebuild(ctx, latest, projected)
}
