// Package store holds restriction-svc's adapters: the MongoDB read model of
// restrictions and the copy of subjects (the event log itself is
// platform/eventlog), the Redis contact counters, and the Redis change feed
// that keeps every replica's contact-check index current.
package store

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/contactguard/contactguard/platform/mongox"
	"github.com/contactguard/contactguard/restriction-svc/internal/app"
	"github.com/contactguard/contactguard/restriction-svc/internal/domain"
	"github.com/contactguard/contactguard/restriction-svc/internal/index"
)

// Restrictions is the read model: one document per restriction, replaced
// only by a writer holding a newer version.
type Restrictions struct {
	coll *mongo.Collection
}

// NewRestrictions returns the read model in db.
func NewRestrictions(db *mongo.Database) *Restrictions {
	return &Restrictions{coll: db.Collection("restrictions")}
}

// EnsureIndexes creates the indexes the queries use, one at a time.
func (s *Restrictions) EnsureIndexes(ctx context.Context) error {
	return mongox.EnsureIndexes(ctx, s.coll,
		mongo.IndexModel{Keys: bson.D{{Key: "organization", Value: 1}, {Key: "sort_key", Value: -1}}},
		mongo.IndexModel{Keys: bson.D{{Key: "organization", Value: 1}, {Key: "subject", Value: 1}}},
		mongo.IndexModel{Keys: bson.D{{Key: "state", Value: 1}}},
	)
}

type restrictionDoc struct {
	domain.Restriction `bson:",inline"`
	// SortKey orders newest first and keeps page tokens stable under inserts.
	SortKey        string   `bson:"sort_key"`
	AppealOfficers []string `bson:"appeal_officers"`
}

// epoch is earlier than any time the service records; unset times are
// stored as the zero time, which is before it.
var epoch = time.Unix(0, 0).UTC()

// Save replaces the restriction's document unless a newer version is stored.
func (s *Restrictions) Save(ctx context.Context, r domain.Restriction) error {
	doc := restrictionDoc{Restriction: r, SortKey: fmt.Sprintf("%020d/%s", r.CreateTime.UnixNano(), r.ID), AppealOfficers: r.AppealOfficers()}
	return mongox.ReplaceIfNewer(ctx, s.coll, r.ID, r.Version, doc)
}

// Versions returns the stored version of every restriction.
func (s *Restrictions) Versions(ctx context.Context) (map[string]int64, error) {
	return mongox.Versions(ctx, s.coll)
}

func inForce() bson.D {
	return bson.D{{Key: "$in", Value: bson.A{domain.StateActive, domain.StateUnderAppeal, domain.StateVaried}}}
}

// List returns a page of restrictions matching q, newest first, and the
// token of the next page ("" on the last).
func (s *Restrictions) List(ctx context.Context, q app.Query) ([]domain.Restriction, string, error) {
	if q.Organization == "" {
		// Deny by default: no query may cross organisations.
		return nil, "", fmt.Errorf("list restrictions without an organisation")
	}
	filter := bson.D{{Key: "organization", Value: q.Organization}}
	add := func(key string, v any) { filter = append(filter, bson.E{Key: key, Value: v}) }
	switch {
	case q.State != "":
		add("state", q.State)
	case q.InForceOnly || !q.ReviewDueBefore.IsZero():
		add("state", inForce())
	}
	if q.Subject != "" {
		add("subject", q.Subject)
	}
	if q.Incident != "" {
		add("incidents", q.Incident)
	}
	if q.AppealOfficer != "" {
		add("appeal_officers", q.AppealOfficer)
	}
	if !q.ReviewDueBefore.IsZero() {
		add("next_review_time", bson.D{{Key: "$gt", Value: epoch}, {Key: "$lt", Value: q.ReviewDueBefore}})
	}
	if q.VisibleTo != "" {
		add("$or", bson.A{bson.D{{Key: "proposed_by", Value: q.VisibleTo}}, bson.D{{Key: "appeal_officers", Value: q.VisibleTo}}})
	}
	docs, next, err := mongox.FindNewestFirst(ctx, s.coll, filter, q.PageToken, q.PageSize, func(d restrictionDoc) string { return d.SortKey })
	if err != nil {
		return nil, "", err
	}
	out := make([]domain.Restriction, len(docs))
	for i, d := range docs {
		out[i] = d.Restriction
	}
	return out, next, nil
}

func (s *Restrictions) find(ctx context.Context, filter bson.D, opts *options.FindOptionsBuilder) ([]restrictionDoc, error) {
	cur, err := s.coll.Find(ctx, filter, opts)
	if err != nil {
		return nil, fmt.Errorf("find restrictions: %w", err)
	}
	var docs []restrictionDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("find restrictions: %w", err)
	}
	return docs, nil
}

func restrictionsOf(docs []restrictionDoc) []domain.Restriction {
	out := make([]domain.Restriction, len(docs))
	for i, d := range docs {
		out[i] = d.Restriction
	}
	return out
}

// Due returns the restrictions in force (any organisation) whose end or
// next review time has come: the scheduler's work.
func (s *Restrictions) Due(ctx context.Context, now time.Time) ([]domain.Restriction, error) {
	window := bson.D{{Key: "$gt", Value: epoch}, {Key: "$lte", Value: now}}
	docs, err := s.find(ctx, bson.D{
		{Key: "state", Value: inForce()},
		{Key: "$or", Value: bson.A{bson.D{{Key: "end_time", Value: window}}, bson.D{{Key: "next_review_time", Value: window}}}},
	}, options.Find().SetLimit(1000))
	if err != nil {
		return nil, err
	}
	return restrictionsOf(docs), nil
}

// InForceFor returns the subject's restrictions in force in org.
func (s *Restrictions) InForceFor(ctx context.Context, org, subject string) ([]domain.Restriction, error) {
	docs, err := s.find(ctx, bson.D{{Key: "organization", Value: org}, {Key: "subject", Value: subject}, {Key: "state", Value: inForce()}}, options.Find())
	if err != nil {
		return nil, err
	}
	return restrictionsOf(docs), nil
}

// Entries returns the index entry of every restriction, including those no
// longer in force (their versions keep a late change message from bringing
// them back).
func (s *Restrictions) Entries(ctx context.Context) ([]index.Entry, error) {
	cur, err := s.coll.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{
		{Key: "organization", Value: 1}, {Key: "subject", Value: 1}, {Key: "version", Value: 1}, {Key: "state", Value: 1},
		{Key: "rules", Value: 1}, {Key: "start_time", Value: 1}, {Key: "end_time", Value: 1},
	}))
	if err != nil {
		return nil, fmt.Errorf("load restrictions: %w", err)
	}
	defer cur.Close(ctx)
	var out []index.Entry
	for cur.Next(ctx) {
		var d domain.Restriction
		if err := cur.Decode(&d); err != nil {
			return nil, fmt.Errorf("load restrictions: %w", err)
		}
		out = append(out, index.EntryOf(d))
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("load restrictions: %w", err)
	}
	return out, nil
}

// Subjects is restriction-svc's copy of subjects' identifiers, from
// incident-svc's subject events.
type Subjects struct {
	coll *mongo.Collection
}

// NewSubjects returns the subject copy in db.
func NewSubjects(db *mongo.Database) *Subjects {
	return &Subjects{coll: db.Collection("subjects")}
}

type subjectDoc struct {
	ID            string `bson:"_id"`
	index.Subject `bson:",inline"`
}

// Save stores the subject unless a newer version is stored.
func (s *Subjects) Save(ctx context.Context, sub index.Subject) error {
	id := sub.Organization + "/" + sub.Name
	return mongox.ReplaceIfNewer(ctx, s.coll, id, sub.Version, subjectDoc{ID: id, Subject: sub})
}

// All returns every subject.
func (s *Subjects) All(ctx context.Context) ([]index.Subject, error) {
	cur, err := s.coll.Find(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("load subjects: %w", err)
	}
	var docs []subjectDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("load subjects: %w", err)
	}
	out := make([]index.Subject, len(docs))
	for i, d := range docs {
		out[i] = d.Subject
	}
	return out, nil
}
