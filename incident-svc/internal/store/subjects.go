package store

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/contactguard/contactguard/incident-svc/internal/app"
	"github.com/contactguard/contactguard/incident-svc/internal/domain"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/mongox"
)

// Subjects is the read model of subjects: one document per subject,
// replaced only by a writer holding a newer version.
//
// FerretDB returns nothing for $elemMatch on arrays of subdocuments, so the
// identifiers are also kept as a flat array of lookup keys
// (identifier_keys: ["phone:+441463702000", "email:jo@example.org"]); and
// rather than a $regex, a name prefix is a range on a lower-cased key.
type Subjects struct {
	coll *mongo.Collection
}

// NewSubjects returns the subjects read model in db.
func NewSubjects(db *mongo.Database) *Subjects {
	return &Subjects{coll: db.Collection("subjects")}
}

// EnsureIndexes creates the indexes the queries use.
func (s *Subjects) EnsureIndexes(ctx context.Context) error {
	return mongox.EnsureIndexes(ctx, s.coll,
		mongo.IndexModel{Keys: bson.D{{Key: "organization", Value: 1}, {Key: "sort_key", Value: 1}}},
		mongo.IndexModel{Keys: bson.D{{Key: "organization", Value: 1}, {Key: "identifier_keys", Value: 1}}},
		mongo.IndexModel{Keys: bson.D{{Key: "name", Value: 1}}},
	)
}

type subjectDoc struct {
	domain.Subject `bson:",inline"`
	// Name ("subjects/{id}") and organization, kind and
	// child_in_education_setting (in Subject) are what FindSubject reads.
	Name           string   `bson:"name"`
	IdentifierKeys []string `bson:"identifier_keys"`
	// SearchName is the display name lower-cased with its spaces
	// collapsed; SortKey is it and the id, ordering lists by name with a
	// stable page token.
	SearchName string `bson:"search_name"`
	SortKey    string `bson:"sort_key"`
}

// sortSeparator sorts before every character a search name holds (it has
// no control characters), so "ann" sorts before "ann b".
const sortSeparator = "\x1f"

// SearchName is the form of a name that name prefixes are matched against.
func SearchName(name string) string {
	name = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, name)
	return strings.ToLower(strings.Join(strings.Fields(name), " "))
}

// searchPrefix is the form of a name prefix: as SearchName, but a space
// at the end is kept ("ann " finds "Ann Bloggs", not "Anna").
func searchPrefix(prefix string) string {
	p := SearchName(prefix)
	if p != "" && strings.TrimRightFunc(prefix, unicode.IsSpace) != prefix {
		p += " "
	}
	return p
}

// SaveSubject replaces the subject's document unless a newer version is
// stored.
func (s *Subjects) SaveSubject(ctx context.Context, subj domain.Subject) error {
	search := SearchName(subj.DisplayName)
	keys := subj.IdentifierKeys()
	if keys == nil {
		keys = []string{}
	}
	doc := subjectDoc{Subject: subj, Name: subj.Name(), IdentifierKeys: keys, SearchName: search, SortKey: search + sortSeparator + subj.ID}
	return mongox.ReplaceIfNewer(ctx, s.coll, subj.ID, subj.Version, doc)
}

// FindSubject returns what reporting needs to know of subject name of org.
func (s *Subjects) FindSubject(ctx context.Context, org, name string) (app.SubjectFacts, error) {
	var doc struct {
		Kind                    string `bson:"kind"`
		ChildInEducationSetting bool   `bson:"child_in_education_setting"`
	}
	err := s.coll.FindOne(ctx, bson.D{{Key: "name", Value: name}, {Key: "organization", Value: org}}).Decode(&doc)
	if mongox.IsNotFound(err) {
		return app.SubjectFacts{}, apperr.NotFound("incident.subject: %s is not a subject of your organisation", name)
	}
	if err != nil {
		return app.SubjectFacts{}, fmt.Errorf("find subject %s: %w", name, err)
	}
	return app.SubjectFacts{Kind: doc.Kind, ChildInEducationSetting: doc.ChildInEducationSetting}, nil
}

// SubjectVersions returns the stored version of every subject.
func (s *Subjects) SubjectVersions(ctx context.Context) (map[string]int64, error) {
	return mongox.Versions(ctx, s.coll)
}

// ListSubjects returns a page of subjects matching q, by name, and the
// token of the next page ("" on the last).
func (s *Subjects) ListSubjects(ctx context.Context, q app.SubjectQuery) ([]domain.Subject, string, error) {
	if q.Organization == "" {
		// Deny by default: no query may cross organisations.
		return nil, "", fmt.Errorf("list subjects without an organisation")
	}
	filter := bson.D{{Key: "organization", Value: q.Organization}}
	if q.Kind != "" {
		filter = append(filter, bson.E{Key: "kind", Value: q.Kind})
	}
	var rng bson.D
	if prefix := searchPrefix(q.NamePrefix); prefix != "" {
		// Every key starting with prefix lies in [prefix, prefix+U+10FFFF).
		rng = append(rng, bson.E{Key: "$gte", Value: prefix}, bson.E{Key: "$lt", Value: prefix + "\U0010FFFF"})
	}
	if q.PageToken != "" {
		after, err := mongox.ParsePageToken(q.PageToken)
		if err != nil {
			return nil, "", err
		}
		rng = append(rng, bson.E{Key: "$gt", Value: after})
	}
	if len(rng) > 0 {
		filter = append(filter, bson.E{Key: "sort_key", Value: rng})
	}
	opts := options.Find().SetSort(bson.D{{Key: "sort_key", Value: 1}}).SetLimit(int64(q.PageSize) + 1)
	docs, err := s.find(ctx, filter, opts)
	if err != nil {
		return nil, "", fmt.Errorf("list subjects: %w", err)
	}
	next := ""
	if len(docs) > q.PageSize {
		docs = docs[:q.PageSize]
		next = mongox.PageToken(docs[len(docs)-1].SortKey)
	}
	return subjects(docs), next, nil
}

// LookupSubjects returns org's subjects having any of keys, by name.
func (s *Subjects) LookupSubjects(ctx context.Context, org string, keys []string, limit int) ([]domain.Subject, error) {
	if org == "" {
		return nil, fmt.Errorf("look up subjects without an organisation")
	}
	filter := bson.D{
		{Key: "organization", Value: org},
		{Key: "identifier_keys", Value: bson.D{{Key: "$in", Value: keys}}},
	}
	docs, err := s.find(ctx, filter, options.Find().SetSort(bson.D{{Key: "sort_key", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("look up subjects: %w", err)
	}
	return subjects(docs), nil
}

func (s *Subjects) find(ctx context.Context, filter bson.D, opts *options.FindOptionsBuilder) ([]subjectDoc, error) {
	cur, err := s.coll.Find(ctx, filter, opts)
	if err != nil {
		return nil, err
	}
	var docs []subjectDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	return docs, nil
}

func subjects(docs []subjectDoc) []domain.Subject {
	out := make([]domain.Subject, len(docs))
	for i, d := range docs {
		out[i] = d.Subject
	}
	return out
}

// LatestSeqsByType returns, per aggregate type, each aggregate's highest
// sequence in the event collection events, so that each read model is
// rebuilt from its own aggregates only (subjects and incidents share one
// event store).
func LatestSeqsByType(ctx context.Context, events *mongo.Collection) (map[string]map[string]int64, error) {
	cur, err := events.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{
		{Key: "aggregate_type", Value: 1}, {Key: "aggregate_id", Value: 1}, {Key: "seq", Value: 1},
	}))
	if err != nil {
		return nil, fmt.Errorf("latest sequences: %w", err)
	}
	defer cur.Close(ctx)
	out := map[string]map[string]int64{}
	for cur.Next(ctx) {
		var row struct {
			AggregateType string `bson:"aggregate_type"`
			AggregateID   string `bson:"aggregate_id"`
			Seq           int64  `bson:"seq"`
		}
		if err := cur.Decode(&row); err != nil {
			return nil, fmt.Errorf("latest sequences: %w", err)
		}
		if out[row.AggregateType] == nil {
			out[row.AggregateType] = map[string]int64{}
		}
		out[row.AggregateType][row.AggregateID] = max(out[row.AggregateType][row.AggregateID], row.Seq)
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("latest sequences: %w", err)
	}
	return out, nil
}
