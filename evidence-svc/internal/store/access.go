package store

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/contactguard/contactguard/evidence-svc/internal/app"
	"github.com/contactguard/contactguard/evidence-svc/internal/domain"
	"github.com/contactguard/contactguard/platform/mongox"
)

// AccessLog keeps access records, insert-only.
type AccessLog struct {
	coll *mongo.Collection
}

// NewAccessLog returns the access log in db.
func NewAccessLog(db *mongo.Database) *AccessLog {
	return &AccessLog{coll: db.Collection("evidence_access")}
}

// EnsureIndexes creates the indexes the queries use.
func (s *AccessLog) EnsureIndexes(ctx context.Context) error {
	return mongox.EnsureIndexes(ctx, s.coll,
		mongo.IndexModel{Keys: bson.D{{Key: "organization", Value: 1}, {Key: "sort_key", Value: -1}}},
		mongo.IndexModel{Keys: bson.D{{Key: "evidence", Value: 1}, {Key: "sort_key", Value: -1}}},
	)
}

type accessDoc struct {
	domain.AccessRecord `bson:",inline"`
	SortKey             string `bson:"sort_key"`
}

// Record inserts records.
func (s *AccessLog) Record(ctx context.Context, recs ...domain.AccessRecord) error {
	if len(recs) == 0 {
		return nil
	}
	docs := make([]any, len(recs))
	for i, r := range recs {
		docs[i] = accessDoc{AccessRecord: r, SortKey: sortKey(r.Time, r.ID)}
	}
	if _, err := s.coll.InsertMany(ctx, docs); err != nil {
		return fmt.Errorf("insert access records: %w", err)
	}
	return nil
}

// List returns a page of records matching q, newest first.
func (s *AccessLog) List(ctx context.Context, q app.AccessQuery) ([]domain.AccessRecord, string, error) {
	if q.Organization == "" {
		return nil, "", fmt.Errorf("list access records without an organisation")
	}
	filter := bson.D{{Key: "organization", Value: q.Organization}}
	add := func(key string, v any) { filter = append(filter, bson.E{Key: key, Value: v}) }
	if q.Evidence != "" {
		add("evidence", q.Evidence)
	}
	if q.Actor != "" {
		add("actor", q.Actor)
	}
	if when := mongox.TimeRange(q.From, q.To); when != nil {
		add("time", when)
	}
	docs, next, err := mongox.FindNewestFirst(ctx, s.coll, filter, q.PageToken, q.PageSize, func(d accessDoc) string { return d.SortKey })
	if err != nil {
		return nil, "", err
	}
	out := make([]domain.AccessRecord, len(docs))
	for i, d := range docs {
		out[i] = d.AccessRecord
	}
	return out, next, nil
}

// Verifications keeps the last verification of each item: one document per
// item, replaced whole by each verification (concurrent verifications each
// write a complete result; the last one stays).
type Verifications struct {
	coll *mongo.Collection
}

// NewVerifications returns the verification results in db.
func NewVerifications(db *mongo.Database) *Verifications {
	return &Verifications{coll: db.Collection("evidence_verifications")}
}

// Save replaces the item's last verification.
func (s *Verifications) Save(ctx context.Context, v domain.Verification) error {
	_, err := s.coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: v.Evidence}}, v, options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("save verification of %s: %w", v.Evidence, err)
	}
	return nil
}

// Get returns the last verification of each of ids that has one.
func (s *Verifications) Get(ctx context.Context, ids []string) (map[string]domain.Verification, error) {
	out := map[string]domain.Verification{}
	if len(ids) == 0 {
		return out, nil
	}
	filter := bson.D{{Key: "_id", Value: ids[0]}}
	if len(ids) > 1 {
		filter = bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}
	}
	cur, err := s.coll.Find(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("get verifications: %w", err)
	}
	var docs []domain.Verification
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("get verifications: %w", err)
	}
	for _, d := range docs {
		out[d.Evidence] = d
	}
	return out, nil
}
