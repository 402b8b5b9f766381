package store

import (
	"context"
	"encoding/base64"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/contactguard/contactguard/incident-svc/internal/app"
	"github.com/contactguard/contactguard/incident-svc/internal/domain"
	"github.com/contactguard/contactguard/platform/apperr"
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
	filter := bson.D{{Key: "_id", Value: c.ID}, {Key: "version", Value: bson.D{{Key: "$lt", Value: c.Version}}}}
	_, err := s.coll.ReplaceOne(ctx, filter, doc, options.Replace().SetUpsert(true))
	if mongox.IsDuplicateKey(err) {
		return nil // a newer version is already there
	}
	if err != nil {
		return fmt.Errorf("save public naming %s: %w", c.ID, err)
	}
	return nil
}

// Versions returns the stored version of every case.
func (s *PublicNamings) Versions(ctx context.Context) (map[string]int64, error) {
	cur, err := s.coll.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "version", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("public naming versions: %w", err)
	}
	var rows []struct {
		ID      string `bson:"_id"`
		Version int64  `bson:"version"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, fmt.Errorf("public naming versions: %w", err)
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.ID] = r.Version
	}
	return out, nil
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
	if q.PageToken != "" {
		after, err := base64.RawURLEncoding.DecodeString(q.PageToken)
		if err != nil || len(after) == 0 {
			return nil, "", apperr.Invalid("page_token", "is not a token this service issued; start again without it")
		}
		add("sort_key", bson.D{{Key: "$lt", Value: string(after)}})
	}
	opts := options.Find().SetSort(bson.D{{Key: "sort_key", Value: -1}}).SetLimit(int64(q.PageSize) + 1)
	cur, err := s.coll.Find(ctx, filter, opts)
	if err != nil {
		return nil, "", fmt.Errorf("list public namings: %w", err)
	}
	var docs []publicNamingDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, "", fmt.Errorf("list public namings: %w", err)
	}
	next := ""
	if len(docs) > q.PageSize {
		docs = docs[:q.PageSize]
		next = base64.RawURLEncoding.EncodeToString([]byte(docs[len(docs)-1].SortKey))
	}
	out := make([]domain.PublicNaming, len(docs))
	for i, d := range docs {
		out[i] = d.PublicNaming
	}
	return out, next, nil
}
