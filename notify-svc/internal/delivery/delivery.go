// Package delivery keeps one record per (event, recipient) email and sends
// them: the record's id is the pair, so an event handled twice queues one
// email, and the record's status says whether it went.
package delivery

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/mongox"
)

// Statuses of a delivery.
const (
	StatusQueued = "queued"
	StatusSent   = "sent"
	StatusFailed = "failed" // will be retried
	StatusDead   = "dead"   // gave up; an admin may retry it
)

// Delivery is one email to one recipient for one event.
type Delivery struct {
	ID              string    `bson:"_id"`
	Organization    string    `bson:"organization"`
	EventID         string    `bson:"event_id"`
	EventType       string    `bson:"event_type"`
	Reference       string    `bson:"reference"`
	Recipient       string    `bson:"recipient"` // staff id
	RecipientEmail  string    `bson:"recipient_email"`
	Cc              bool      `bson:"cc"`
	Reason          string    `bson:"reason"` // why this person is told
	From            string    `bson:"from"`
	Subject         string    `bson:"subject"`
	Text            string    `bson:"text"`
	HTML            string    `bson:"html"`
	Status          string    `bson:"status"`
	Attempts        int       `bson:"attempts"`
	LastError       string    `bson:"last_error"`
	NextAttemptTime time.Time `bson:"next_attempt_time"`
	CreateTime      time.Time `bson:"create_time"`
	UpdateTime      time.Time `bson:"update_time"`
	SendTime        time.Time `bson:"send_time,omitempty"`
}

// ID returns the delivery id of (event, recipient), safe in a resource
// name ("deliveries/{id}").
func ID(eventID, recipient string) string {
	return strings.NewReplacer("#", "-", "/", "-", " ", "-", ":", "-").Replace(eventID + "-" + recipient)
}

// MessageID is the email's Message-ID: the same for every attempt, so a
// mail system can recognise a resend.
func (d Delivery) MessageID() string {
	return fmt.Sprintf("%x@contactguard", []byte(d.ID))
}

// Store keeps deliveries in MongoDB.
type Store struct{ coll *mongo.Collection }

// NewStore returns the store in db.
func NewStore(db *mongo.Database) *Store { return &Store{coll: db.Collection("deliveries")} }

// EnsureIndexes creates the indexes the sender and the lists use.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	return mongox.EnsureIndexes(ctx, s.coll,
		mongo.IndexModel{Keys: bson.D{{Key: "status", Value: 1}, {Key: "next_attempt_time", Value: 1}}},
		mongo.IndexModel{Keys: bson.D{{Key: "organization", Value: 1}, {Key: "create_time", Value: -1}}},
	)
}

// Queue records d unless a delivery for the same (event, recipient)
// exists; it reports whether d is new.
func (s *Store) Queue(ctx context.Context, d Delivery) (bool, error) {
	if _, err := s.coll.InsertOne(ctx, d); err != nil {
		if mongox.IsDuplicateKey(err) {
			return false, nil
		}
		return false, fmt.Errorf("queue delivery %s: %w", d.ID, err)
	}
	return true, nil
}

// Due returns deliveries to attempt now, oldest first.
func (s *Store) Due(ctx context.Context, now time.Time, limit int64) ([]Delivery, error) {
	filter := bson.D{
		{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{StatusQueued, StatusFailed}}}},
		{Key: "next_attempt_time", Value: bson.D{{Key: "$lte", Value: now}}},
	}
	cur, err := s.coll.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "next_attempt_time", Value: 1}}).SetLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("find due deliveries: %w", err)
	}
	var out []Delivery
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("find due deliveries: %w", err)
	}
	return out, nil
}

// Update stores the delivery's new status fields. Only the sender that
// holds the sending lease calls it, so no two writers race on one record.
func (s *Store) Update(ctx context.Context, d Delivery) error {
	set := bson.D{
		{Key: "status", Value: d.Status}, {Key: "attempts", Value: d.Attempts}, {Key: "last_error", Value: d.LastError},
		{Key: "next_attempt_time", Value: d.NextAttemptTime}, {Key: "update_time", Value: d.UpdateTime}, {Key: "send_time", Value: d.SendTime},
	}
	if _, err := s.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.ID}}, bson.D{{Key: "$set", Value: set}}); err != nil {
		return fmt.Errorf("update delivery %s: %w", d.ID, err)
	}
	return nil
}

// Get returns the delivery id of org.
func (s *Store) Get(ctx context.Context, org, id string) (Delivery, error) {
	var d Delivery
	err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "organization", Value: org}}).Decode(&d)
	if mongox.IsNotFound(err) {
		return Delivery{}, apperr.NotFound("delivery %q not found", id)
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("find delivery %s: %w", id, err)
	}
	return d, nil
}

// Query selects deliveries of one organisation.
type Query struct {
	Organization string
	Status       string
	EventType    string
	Recipient    string
	EventID      string
	Reference    string
	Limit        int64
	Skip         int64
}

// List returns deliveries matching q, newest first.
func (s *Store) List(ctx context.Context, q Query) ([]Delivery, error) {
	if q.Organization == "" {
		return nil, fmt.Errorf("list deliveries without an organisation")
	}
	filter := bson.D{{Key: "organization", Value: q.Organization}}
	for k, v := range map[string]string{"status": q.Status, "event_type": q.EventType, "recipient": q.Recipient, "event_id": q.EventID, "reference": q.Reference} {
		if v != "" {
			filter = append(filter, bson.E{Key: k, Value: v})
		}
	}
	opts := options.Find().SetSort(bson.D{{Key: "create_time", Value: -1}, {Key: "_id", Value: 1}}).SetLimit(q.Limit).SetSkip(q.Skip)
	cur, err := s.coll.Find(ctx, filter, opts)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	var out []Delivery
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}

// Requeue puts a dead or failed delivery of org back in the queue for an
// immediate attempt, with a fresh attempt count; its last error stays
// visible until the next attempt.
func (s *Store) Requeue(ctx context.Context, org, id string, now time.Time) (Delivery, error) {
	d, err := s.Get(ctx, org, id)
	if err != nil {
		return Delivery{}, err
	}
	switch {
	case d.Status == StatusSent:
		return Delivery{}, apperr.Precondition("delivery %s was sent on %s; it is not sent again", id, d.SendTime.UTC().Format(time.RFC3339))
	case d.Status == StatusQueued:
		return d, nil
	case d.RecipientEmail == "":
		return Delivery{}, apperr.Precondition("delivery %s has no recipient (%s): fix the staff directory; the event's other emails were sent", id, d.LastError)
	}
	d.Status, d.Attempts, d.NextAttemptTime, d.UpdateTime = StatusQueued, 0, now, now
	if err := s.Update(ctx, d); err != nil {
		return Delivery{}, err
	}
	return d, nil
}
