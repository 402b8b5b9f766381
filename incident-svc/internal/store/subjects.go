package store

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/contactguard/contactguard/incident-svc/internal/app"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/mongox"
)

// Subjects is the read model of subjects.
type Subjects struct {
	coll *mongo.Collection
}

// NewSubjects returns the subjects read model in db.
func NewSubjects(db *mongo.Database) *Subjects {
	return &Subjects{coll: db.Collection("subjects")}
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
