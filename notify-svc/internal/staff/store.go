// Package staff is notify-svc's staff directory: who is whose line manager,
// who holds which role, and where to email them.
package staff

import (
	"context"
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/directory"
	"github.com/contactguard/contactguard/platform/mongox"
)

// Member is one person in the directory.
type Member = directory.StaffMember

// Store keeps the directory in MongoDB, one document per staff member.
type Store struct{ coll *mongo.Collection }

// NewStore returns the directory in db.
func NewStore(db *mongo.Database) *Store { return &Store{coll: db.Collection("staff")} }

// EnsureIndexes creates the indexes lookups use.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	return mongox.EnsureIndexes(ctx, s.coll,
		mongo.IndexModel{Keys: bson.D{{Key: "organization", Value: 1}, {Key: "roles", Value: 1}}},
	)
}

// Upsert writes members by id: an import run twice updates, never
// duplicates.
func (s *Store) Upsert(ctx context.Context, members []Member) error {
	for _, m := range members {
		if _, err := s.coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: m.ID}}, m, options.Replace().SetUpsert(true)); err != nil {
			return fmt.Errorf("save staff member %s: %w", m.ID, err)
		}
	}
	return nil
}

// Get returns the member with id in org.
func (s *Store) Get(ctx context.Context, org, id string) (Member, error) {
	var m Member
	err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "organization", Value: org}}).Decode(&m)
	if mongox.IsNotFound(err) {
		return Member{}, apperr.NotFound("staff member %q not found", id)
	}
	if err != nil {
		return Member{}, fmt.Errorf("find staff member %s: %w", id, err)
	}
	return m, nil
}

// WithRole returns the members of org holding role.
func (s *Store) WithRole(ctx context.Context, org, role string) ([]Member, error) {
	return s.List(ctx, org, bson.D{{Key: "roles", Value: role}})
}

// List returns the members of org matching extra (sorted by id).
func (s *Store) List(ctx context.Context, org string, extra bson.D) ([]Member, error) {
	filter := append(bson.D{{Key: "organization", Value: org}}, extra...)
	cur, err := s.coll.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("list staff: %w", err)
	}
	var out []Member
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("list staff: %w", err)
	}
	return out, nil
}

// ImportResult counts what an import changed.
type ImportResult struct{ Created, Updated, Unchanged int }

// Import writes members of org: new ones are created, changed ones
// replaced, identical ones left alone. Run it again and it changes
// nothing. Everything is checked before the first write: members come
// from ParseCSV, and an id held by another organisation refuses the whole
// import, so a bad file applies nothing.
func (s *Store) Import(ctx context.Context, org string, members []Member) (ImportResult, error) {
	ids := make(bson.A, 0, len(members))
	for _, m := range members {
		if m.Organization != org {
			return ImportResult{}, fmt.Errorf("import %s into %s: organisation %s", m.ID, org, m.Organization)
		}
		ids = append(ids, m.ID)
	}
	cur, err := s.coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	if err != nil {
		return ImportResult{}, fmt.Errorf("import: read the directory: %w", err)
	}
	var existing []Member
	if err := cur.All(ctx, &existing); err != nil {
		return ImportResult{}, fmt.Errorf("import: read the directory: %w", err)
	}
	current := map[string]Member{}
	for _, m := range existing {
		if m.Organization != org {
			return ImportResult{}, apperr.Invalid("csv", "staff id %s belongs to another organisation; nothing was imported", m.ID)
		}
		current[m.ID] = m
	}
	var res ImportResult
	for _, m := range members {
		old, ok := current[m.ID]
		switch {
		case ok && sameMember(old, m):
			res.Unchanged++
			continue
		case ok:
			res.Updated++
		default:
			res.Created++
		}
		if err := s.Upsert(ctx, []Member{m}); err != nil {
			return res, err
		}
	}
	return res, nil
}

func sameMember(a, b Member) bool {
	return a.ID == b.ID && a.Organization == b.Organization && a.Name == b.Name && a.Email == b.Email &&
		a.LineManagerID == b.LineManagerID && a.Team == b.Team && slices.Equal(a.Roles, b.Roles)
}
