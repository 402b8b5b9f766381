// Package store is evidence-svc's MongoDB adapter: the read model of items,
// the access log, the last verification of each item, and the sealed
// content in GridFS (the event log itself is platform/eventlog).
package store

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/contactguard/contactguard/evidence-svc/internal/app"
	"github.com/contactguard/contactguard/evidence-svc/internal/domain"
	"github.com/contactguard/contactguard/platform/mongox"
)

// Items is the read model: one document per item, replaced only by a
// writer holding a newer version.
type Items struct {
	coll *mongo.Collection
}

// NewItems returns the read model in db.
func NewItems(db *mongo.Database) *Items { return &Items{coll: db.Collection("evidence")} }

// EnsureIndexes creates the indexes the queries use.
func (s *Items) EnsureIndexes(ctx context.Context) error {
	return mongox.EnsureIndexes(ctx, s.coll,
		mongo.IndexModel{Keys: bson.D{{Key: "organization", Value: 1}, {Key: "sort_key", Value: -1}}},
		mongo.IndexModel{Keys: bson.D{{Key: "incident", Value: 1}}},
		mongo.IndexModel{Keys: bson.D{{Key: "state", Value: 1}, {Key: "delete_after", Value: 1}}},
	)
}

type itemDoc struct {
	domain.Item `bson:",inline"`
	// SortKey orders newest first and makes page tokens stable under inserts.
	SortKey string `bson:"sort_key"`
}

func sortKey(t time.Time, id string) string { return fmt.Sprintf("%020d/%s", t.UnixNano(), id) }

// Save replaces the item's document unless a newer version is stored.
func (s *Items) Save(ctx context.Context, it domain.Item) error {
	return mongox.ReplaceIfNewer(ctx, s.coll, it.ID, it.Version, itemDoc{Item: it, SortKey: sortKey(it.CreateTime, it.ID)})
}

// Versions returns the stored version of every item.
func (s *Items) Versions(ctx context.Context) (map[string]int64, error) {
	return mongox.Versions(ctx, s.coll)
}

// List returns a page of items matching q, newest first, and the token of
// the next page ("" on the last). An empty organisation lists every
// organisation's items (the verify command only).
func (s *Items) List(ctx context.Context, q app.Query) ([]domain.Item, string, error) {
	filter := bson.D{}
	add := func(key string, v any) { filter = append(filter, bson.E{Key: key, Value: v}) }
	if q.Organization != "" {
		add("organization", q.Organization)
	}
	for key, v := range map[string]string{"incident": q.Incident, "restriction": q.Restriction, "public_naming": q.PublicNaming, "kind": q.Kind, "state": q.State} {
		if v != "" {
			add(key, v)
		}
	}
	if v := q.Visible; v != nil {
		var clauses bson.A
		if v.Uploader != "" {
			clauses = append(clauses, bson.D{{Key: "uploader", Value: v.Uploader}})
		}
		for key, names := range map[string][]string{"incident": v.Incidents, "restriction": v.Restrictions, "public_naming": v.PublicNamings} {
			if len(names) > 0 {
				clauses = append(clauses, bson.D{{Key: key, Value: bson.D{{Key: "$in", Value: names}}}})
			}
		}
		if len(clauses) == 0 {
			return nil, "", nil // deny by default: nothing visible
		}
		add("$or", clauses)
	}
	docs, next, err := mongox.FindNewestFirst(ctx, s.coll, filter, q.PageToken, q.PageSize, func(d itemDoc) string { return d.SortKey })
	if err != nil {
		return nil, "", err
	}
	out := make([]domain.Item, len(docs))
	for i, d := range docs {
		out[i] = d.Item
	}
	return out, next, nil
}

// Due returns items marked for deletion whose delete_after has passed.
func (s *Items) Due(ctx context.Context, now time.Time, limit int) ([]domain.Item, error) {
	filter := bson.D{{Key: "state", Value: domain.StateMarkedForDeletion}, {Key: "delete_after", Value: bson.D{{Key: "$lte", Value: now}}}}
	cur, err := s.coll.Find(ctx, filter, options.Find().SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("due evidence: %w", err)
	}
	var docs []itemDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("due evidence: %w", err)
	}
	out := make([]domain.Item, len(docs))
	for i, d := range docs {
		out[i] = d.Item
	}
	return out, nil
}

// DeletedFileIDs returns file id -> item id of every tombstone.
func (s *Items) DeletedFileIDs(ctx context.Context) (map[string]string, error) {
	cur, err := s.coll.Find(ctx, bson.D{{Key: "state", Value: domain.StateDeleted}}, options.Find().SetProjection(bson.D{{Key: "file_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("deleted evidence: %w", err)
	}
	var rows []struct {
		ID     string `bson:"_id"`
		FileID string `bson:"file_id"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, fmt.Errorf("deleted evidence: %w", err)
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.FileID] = r.ID
	}
	return out, nil
}
