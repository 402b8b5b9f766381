// Package store is incident-svc's MongoDB adapter: the read model of
// incidents (the event log itself is platform/eventlog).
package store

import (
	"context"
	"fmt"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/contactguard/contactguard/incident-svc/internal/app"
	"github.com/contactguard/contactguard/incident-svc/internal/domain"
	"github.com/contactguard/contactguard/platform/mongox"
)

// Incidents is the read model: one document per incident, replaced only
// by a writer holding a newer version.
type Incidents struct {
	coll *mongo.Collection
}

// NewIncidents returns the read model in db.
func NewIncidents(db *mongo.Database) *Incidents {
	return &Incidents{coll: db.Collection("incidents")}
}

// EnsureIndexes creates the indexes the queries use.
func (s *Incidents) EnsureIndexes(ctx context.Context) error {
	return mongox.EnsureIndexes(ctx, s.coll,
		mongo.IndexModel{Keys: bson.D{{Key: "organization", Value: 1}, {Key: "sort_key", Value: -1}}},
		mongo.IndexModel{Keys: bson.D{{Key: "reference", Value: 1}}},
		mongo.IndexModel{Keys: bson.D{{Key: "organization", Value: 1}, {Key: "has_pending", Value: 1}, {Key: "update_key", Value: 1}}},
	)
}

type incidentDoc struct {
	domain.Incident `bson:",inline"`
	// SortKey orders newest first and makes page tokens stable under inserts.
	SortKey string `bson:"sort_key"`
	// PendingTasks and HasPending serve the review queue; FerretDB cannot
	// query an empty array reliably, hence the flag.
	PendingTasks []string `bson:"pending_tasks"`
	HasPending   bool     `bson:"has_pending"`
	// UpdateKey orders the queue oldest first.
	UpdateKey string `bson:"update_key"`
}

func sortKey(inc domain.Incident) string {
	return fmt.Sprintf("%020d/%s", inc.CreateTime.UnixNano(), inc.ID)
}

// Save replaces the incident's document unless a newer version is stored.
func (s *Incidents) Save(ctx context.Context, inc domain.Incident) error {
	tasks := inc.PendingTasks()
	doc := incidentDoc{Incident: inc, SortKey: sortKey(inc), PendingTasks: tasks, HasPending: len(tasks) > 0,
		UpdateKey: fmt.Sprintf("%020d/%s", inc.UpdateTime.UnixNano(), inc.ID)}
	return mongox.ReplaceIfNewer(ctx, s.coll, inc.ID, inc.Version, doc)
}

// Versions returns the stored version of every incident.
func (s *Incidents) Versions(ctx context.Context) (map[string]int64, error) {
	return mongox.Versions(ctx, s.coll)
}

// List returns a page of incidents matching q, newest first, and the token
// of the next page ("" on the last).
func (s *Incidents) List(ctx context.Context, q app.Query) ([]domain.Incident, string, error) {
	if q.Organization == "" {
		// Deny by default: no query may cross organisations.
		return nil, "", fmt.Errorf("list incidents without an organisation")
	}
	filter := bson.D{{Key: "organization", Value: q.Organization}}
	add := func(key string, v any) { filter = append(filter, bson.E{Key: key, Value: v}) }
	if q.State != "" {
		add("state", q.State)
	}
	if q.Category != "" {
		add("categories", q.Category)
	}
	if q.Channel != "" {
		add("channel", q.Channel)
	}
	if q.Subject != "" {
		add("subject", q.Subject)
	}
	if q.ZeroTolerance {
		add("zero_tolerance", true)
	}
	if q.PhysicalThreat {
		add("physical_threat", true)
	}
	var people []bson.D
	for _, staff := range []string{q.VisibleTo, q.StaffMember} {
		if staff != "" {
			people = append(people, bson.D{{Key: "$or", Value: bson.A{
				bson.D{{Key: "reporter", Value: staff}}, bson.D{{Key: "staff_involved", Value: staff}},
			}}})
		}
	}
	if len(people) > 0 {
		add("$and", people)
	}
	if occur := mongox.TimeRange(q.From, q.To); occur != nil {
		add("occur_time", occur)
	}
	docs, next, err := mongox.FindNewestFirst(ctx, s.coll, filter, q.PageToken, q.PageSize, func(d incidentDoc) string { return d.SortKey })
	if err != nil {
		return nil, "", err
	}
	out := make([]domain.Incident, len(docs))
	for i, d := range docs {
		out[i] = d.Incident
	}
	return out, next, nil
}

// Queue returns incidents of org with decisions pending (optionally one
// task), oldest change first.
func (s *Incidents) Queue(ctx context.Context, org, task string, pageSize int, pageToken string) ([]domain.Incident, string, error) {
	filter := bson.D{{Key: "organization", Value: org}, {Key: "has_pending", Value: true}}
	if task != "" {
		filter = append(filter, bson.E{Key: "pending_tasks", Value: task})
	}
	if pageToken != "" {
		after, err := mongox.ParsePageToken(pageToken)
		if err != nil {
			return nil, "", err
		}
		filter = append(filter, bson.E{Key: "update_key", Value: bson.D{{Key: "$gt", Value: after}}})
	}
	cur, err := s.coll.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "update_key", Value: 1}}).SetLimit(int64(pageSize)+1))
	if err != nil {
		return nil, "", fmt.Errorf("review queue: %w", err)
	}
	var docs []incidentDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, "", fmt.Errorf("review queue: %w", err)
	}
	next := ""
	if len(docs) > pageSize {
		docs = docs[:pageSize]
		next = mongox.PageToken(docs[len(docs)-1].UpdateKey)
	}
	out := make([]domain.Incident, len(docs))
	for i, d := range docs {
		out[i] = d.Incident
	}
	return out, next, nil
}

// Count counts q's incidents by category and month of occurrence (an
// incident with two categories counts once in each) and in total.
// FerretDB's $group lacks the date operators, so the counting is done here
// over a projection of the two fields.
func (s *Incidents) Count(ctx context.Context, q app.Query) ([]app.CategoryMonth, int64, error) {
	filter := bson.D{{Key: "organization", Value: q.Organization}}
	if q.Subject != "" {
		filter = append(filter, bson.E{Key: "subject", Value: q.Subject})
	}
	if occur := mongox.TimeRange(q.From, q.To); occur != nil {
		filter = append(filter, bson.E{Key: "occur_time", Value: occur})
	}
	cur, err := s.coll.Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: "categories", Value: 1}, {Key: "occur_time", Value: 1}}))
	if err != nil {
		return nil, 0, fmt.Errorf("count incidents: %w", err)
	}
	defer cur.Close(ctx)
	counts := map[[2]string]int64{}
	var total int64
	for cur.Next(ctx) {
		var row struct {
			Categories []string  `bson:"categories"`
			OccurTime  time.Time `bson:"occur_time"`
		}
		if err := cur.Decode(&row); err != nil {
			return nil, 0, fmt.Errorf("count incidents: %w", err)
		}
		total++
		month := row.OccurTime.UTC().Format("2006-01")
		for _, c := range row.Categories {
			counts[[2]string{month, c}]++
		}
	}
	if err := cur.Err(); err != nil {
		return nil, 0, fmt.Errorf("count incidents: %w", err)
	}
	out := make([]app.CategoryMonth, 0, len(counts))
	for k, n := range counts {
		out = append(out, app.CategoryMonth{Month: k[0], Category: k[1], Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Month != out[j].Month {
			return out[i].Month < out[j].Month
		}
		return out[i].Category < out[j].Category
	})
	return out, total, nil
}

// SubjectTallies counts, for each of the organisation's subjects named,
// its incidents and those whose correspondence decision issued a warning
// (C37), in one pass over the incidents of those subjects.
func (s *Incidents) SubjectTallies(ctx context.Context, org string, subjects []string) (map[string]app.SubjectTally, error) {
	out := make(map[string]app.SubjectTally, len(subjects))
	if len(subjects) == 0 {
		return out, nil
	}
	cur, err := s.coll.Find(ctx, bson.D{{Key: "organization", Value: org}, {Key: "subject", Value: bson.D{{Key: "$in", Value: subjects}}}},
		options.Find().SetProjection(bson.D{{Key: "subject", Value: 1}, {Key: "correspondence.warning_issued", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("count incidents by subject: %w", err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var row struct {
			Subject        string `bson:"subject"`
			Correspondence struct {
				WarningIssued bool `bson:"warning_issued"`
			} `bson:"correspondence"`
		}
		if err := cur.Decode(&row); err != nil {
			return nil, fmt.Errorf("count incidents by subject: %w", err)
		}
		t := out[row.Subject]
		t.Incidents++
		if row.Correspondence.WarningIssued {
			t.Warnings++
		}
		out[row.Subject] = t
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("count incidents by subject: %w", err)
	}
	return out, nil
}
