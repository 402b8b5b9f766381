package eventlog

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/mongox"
)

// Store keeps the events of one service in one collection.
type Store struct {
	coll     *mongo.Collection
	appended chan struct{}
}

// NewStore returns the store over collection name in db.
func NewStore(db *mongo.Database, name string) *Store {
	return &Store{coll: db.Collection(name), appended: make(chan struct{}, 1)}
}

// EnsureIndexes creates the indexes the store relies on. The _id already
// makes (aggregate id, sequence) unique; these serve reads.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	return mongox.EnsureIndexes(ctx, s.coll,
		mongo.IndexModel{Keys: bson.D{{Key: "aggregate_id", Value: 1}, {Key: "seq", Value: 1}}, Options: options.Index().SetUnique(true)},
		mongo.IndexModel{Keys: bson.D{{Key: "published", Value: 1}, {Key: "time", Value: 1}}},
	)
}

// Append records e. If another writer appended the same sequence first it
// returns an apperr conflict and nothing is written.
func (s *Store) Append(ctx context.Context, e Event) error {
	if _, err := s.coll.InsertOne(ctx, e); err != nil {
		if mongox.IsDuplicateKey(err) {
			return apperr.Conflict("%s %s was changed by someone else at the same time; reload it and try again", e.AggregateType, e.AggregateID)
		}
		return fmt.Errorf("append event %s: %w", e.ID, err)
	}
	select {
	case s.appended <- struct{}{}:
	default:
	}
	return nil
}

// Load returns the aggregate's events in order (empty if it has none).
func (s *Store) Load(ctx context.Context, aggregateID string) ([]Event, error) {
	cur, err := s.coll.Find(ctx, bson.D{{Key: "aggregate_id", Value: aggregateID}}, options.Find().SetSort(bson.D{{Key: "seq", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("load events of %s: %w", aggregateID, err)
	}
	var events []Event
	if err := cur.All(ctx, &events); err != nil {
		return nil, fmt.Errorf("load events of %s: %w", aggregateID, err)
	}
	return events, nil
}

// LatestSeqs returns each aggregate's highest sequence, for rebuilding read
// models that a crash left behind. FerretDB has no $max accumulator, so it
// reads the (aggregate id, sequence) pairs and keeps the maximum here.
func (s *Store) LatestSeqs(ctx context.Context) (map[string]int64, error) {
	cur, err := s.coll.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "aggregate_id", Value: 1}, {Key: "seq", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("latest sequences: %w", err)
	}
	defer cur.Close(ctx)
	out := map[string]int64{}
	for cur.Next(ctx) {
		var row struct {
			AggregateID string `bson:"aggregate_id"`
			Seq         int64  `bson:"seq"`
		}
		if err := cur.Decode(&row); err != nil {
			return nil, fmt.Errorf("latest sequences: %w", err)
		}
		out[row.AggregateID] = max(out[row.AggregateID], row.Seq)
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("latest sequences: %w", err)
	}
	return out, nil
}

func (s *Store) unpublished(ctx context.Context, limit int64) ([]Event, error) {
	cur, err := s.coll.Find(ctx, bson.D{{Key: "published", Value: false}},
		options.Find().SetSort(bson.D{{Key: "time", Value: 1}, {Key: "_id", Value: 1}}).SetLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("find unpublished events: %w", err)
	}
	var events []Event
	if err := cur.All(ctx, &events); err != nil {
		return nil, fmt.Errorf("find unpublished events: %w", err)
	}
	return events, nil
}

func (s *Store) markPublished(ctx context.Context, id string) error {
	if _, err := s.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "published", Value: true}}}}); err != nil {
		return fmt.Errorf("mark %s published: %w", id, err)
	}
	return nil
}

// markUnpublishedSince queues every event since t for publishing again.
func (s *Store) markUnpublishedSince(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.coll.UpdateMany(ctx, bson.D{{Key: "time", Value: bson.D{{Key: "$gte", Value: t}}}, {Key: "published", Value: true}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "published", Value: false}}}})
	if err != nil {
		return 0, fmt.Errorf("queue events for re-publishing: %w", err)
	}
	return res.ModifiedCount, nil
}
