package store

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/contactguard/contactguard/incident-svc/internal/app"
	"github.com/contactguard/contactguard/incident-svc/internal/domain"
	"github.com/contactguard/contactguard/platform/mongox"
)

// PublicNamings is the read model of staff-named-publicly cases: one
// document per case, replaced only by a writer holding a newer version.
// The cases' events are in the service's event store.
type PublicNamings struct {
	coll *mongo.Collection
}

// NewPublicNamings returns the read model in db.
func NewPublicNamings(db *mongo.Database) *PublicNamings {
	return &PublicNamings{coll: db.Collection("public_namings")}
}

// EnsureIndexes creates the indexes the queries use.
func (s *PublicNamings) EnsureIndexes(ctx context.Context) error {
	return mongox.EnsureIndexes(ctx, s.coll,
		mongo.IndexModel{Keys: bson.D{{Key: "organization", Value: 1}, {Key: "sort_key", Value: -1}}},
		mongo.IndexModel{Keys: bson.D{{Key: "organization", Value: 1}, {Key: "staff_member", Value: 1}}},
		mongo.IndexModel{Keys: bson.D{{Key: "reference", Value: 1}}},
	)
}

type publicNamingDoc struct {
	domain.PublicNaming `bson:",inline"`
	// SortKey orders newest first and makes page tokens stable under inserts.
	SortKey string `bson:"sort_key"`
}

// Save replaces the case's document unless a newer version is stored.
func (s *PublicNamings) Save(ctx context.Context, c domain.PublicNaming) error {
	doc := publicNamingDoc{PublicNaming: c, SortKey: fmt.Sprintf("%020d/%s", c.CreateTime.UnixNano(), c.ID)}
	return mongox.ReplaceIfNewer(ctx, s.coll, c.ID, c.Version, doc)
}

// Versions returns the stored version of every case.
func (s *PublicNamings) Versions(ctx context.Context) (map[string]int64, error) {
	return mongox.Versions(ctx, s.coll)
}

// List returns a page of cases matching q, newest first, and the token of
// the next page ("" on the last).
func (s *PublicNamings) List(ctx context.Context, q app.NamingQuery) ([]domain.PublicNaming, string, error) {
	if q.Organization == "" {
		// Deny by default: no query may cross organisations.
		return nil, "", fmt.Errorf("list public namings without an organisation")
	}
	filter := bson.D{{Key: "organization", Value: q.Organization}}
	add := func(key string, v any) { filter = append(filter, bson.E{Key: key, Value: v}) }
	if q.State != "" {
		add("state", q.State)
	}
	if q.StaffMember != "" {
		add("staff_member", q.StaffMember)
	}
	if q.VisibleTo != "" {
		add("$or", bson.A{
			bson.D{{Key: "staff_member", Value: q.VisibleTo}},
			bson.D{{Key: "reporter", Value: q.VisibleTo}},
			bson.D{{Key: "line_manager", Value: q.VisibleTo}},
		})
	}
	docs, next, err := mongox.FindNewestFirst(ctx, s.coll, filter, q.PageToken, q.PageSize, func(d publicNamingDoc) string { return d.SortKey })
	if err != nil {
		return nil, "", err
	}
	out := make([]domain.PublicNaming, len(docs))
	for i, d := range docs {
		out[i] = d.PublicNaming
	}
	return out, next, nil
}
