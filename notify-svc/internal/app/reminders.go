package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/contactguard/contactguard/notify-svc/internal/delivery"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/lease"
	"github.com/contactguard/contactguard/platform/mongox"
	"github.com/contactguard/contactguard/platform/policy"

	"github.com/redis/go-redis/v9"
)

// Reminder states.
const (
	reminderPending   = "pending"
	reminderSent      = "sent"
	reminderCancelled = "cancelled"
)

// reminder is a time-based notification: after a zero-tolerance incident
// or active management, each staff member involved is reminded of the
// debrief and the employee assistance programme (C68, C69) unless their
// debrief has been recorded by then.
type reminder struct {
	ID           string    `bson:"_id"` // <incident id>-debrief-<staff id>
	Organization string    `bson:"organization"`
	IncidentID   string    `bson:"incident_id"`
	Reference    string    `bson:"reference"`
	StaffID      string    `bson:"staff_id"`
	DueTime      time.Time `bson:"due_time"`
	State        string    `bson:"state"`
}

// Reminders plans reminders from events and sends them when due.
type Reminders struct {
	coll       *mongo.Collection
	dir        Directory
	deliveries Deliveries
	portalURL  string
	after      time.Duration
	wake       chan<- struct{}
	logger     *slog.Logger
	now        func() time.Time
}

// NewReminders returns the planner and scheduler; after is how long after
// the event a reminder falls due.
func NewReminders(db *mongo.Database, dir Directory, deliveries Deliveries, portalURL string, after time.Duration, wake chan<- struct{}, logger *slog.Logger) *Reminders {
	return &Reminders{coll: db.Collection("reminders"), dir: dir, deliveries: deliveries, portalURL: strings.TrimSuffix(portalURL, "/"),
		after: after, wake: wake, logger: logger, now: time.Now}
}

// EnsureIndexes creates the index the scheduler uses.
func (r *Reminders) EnsureIndexes(ctx context.Context) error {
	return mongox.EnsureIndexes(ctx, r.coll, mongo.IndexModel{Keys: bson.D{{Key: "state", Value: 1}, {Key: "due_time", Value: 1}}})
}

// Handle plans or cancels reminders for an event; idempotent by the
// reminder's id.
func (r *Reminders) Handle(ctx context.Context, e eventlog.Event) error {
	if e.AggregateType != "incident" {
		return nil
	}
	var p struct {
		eventFacts
		Support struct {
			Kind    string `json:"kind"`
			StaffID string `json:"staff_id"`
		} `json:"support"`
	}
	if err := e.Decode(&p); err != nil {
		return nil // the notifier logs unreadable payloads
	}
	switch {
	case e.Type == "incident.reported" && p.ZeroTolerance,
		e.Type == "incident.reviewed" && (p.Outcome == "zero_tolerance" || p.Outcome == "active_management"):
		for _, staffID := range append([]string{p.Reporter}, p.StaffInvolved...) {
			rem := reminder{
				ID: e.AggregateID + "-debrief-" + staffID, Organization: e.Organization, IncidentID: e.AggregateID,
				Reference: p.Reference, StaffID: staffID, DueTime: e.Time.Add(r.after), State: reminderPending,
			}
			if _, err := r.coll.InsertOne(ctx, rem); err != nil && !mongox.IsDuplicateKey(err) {
				return fmt.Errorf("plan reminder %s: %w", rem.ID, err)
			}
		}
	case e.Type == "incident.staff_support_recorded" && p.Support.Kind == "debrief":
		_, err := r.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: e.AggregateID + "-debrief-" + p.Support.StaffID}, {Key: "state", Value: reminderPending}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "state", Value: reminderCancelled}}}})
		if err != nil {
			return fmt.Errorf("cancel reminder: %w", err)
		}
	}
	return nil
}

// Run sends due reminders until ctx ends; one replica at a time (a lease).
func (r *Reminders) Run(ctx context.Context, rdb *redis.Client, leaseKey string, every time.Duration) error {
	l := lease.New(rdb, leaseKey, 3*every)
	defer func() { _ = l.Release(context.WithoutCancel(ctx)) }()
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		if held, err := l.Hold(ctx); err != nil {
			r.logger.Warn("scheduler cannot reach redis for its lease", "error", err)
		} else if held {
			if err := r.sendDue(ctx); err != nil {
				r.logger.Warn("scheduler run failed, will retry", "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

func (r *Reminders) sendDue(ctx context.Context) error {
	now := r.now()
	cur, err := r.coll.Find(ctx, bson.D{{Key: "state", Value: reminderPending}, {Key: "due_time", Value: bson.D{{Key: "$lte", Value: now}}}},
		options.Find().SetSort(bson.D{{Key: "due_time", Value: 1}}).SetLimit(200))
	if err != nil {
		return fmt.Errorf("find due reminders: %w", err)
	}
	var due []reminder
	if err := cur.All(ctx, &due); err != nil {
		return fmt.Errorf("find due reminders: %w", err)
	}
	for _, rem := range due {
		if err := r.send(ctx, rem, now); err != nil {
			return err
		}
		if _, err := r.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: rem.ID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "state", Value: reminderSent}}}}); err != nil {
			return fmt.Errorf("mark reminder %s: %w", rem.ID, err)
		}
	}
	return nil
}

// send queues the reminder's email; the delivery id makes a second run
// after a crash queue nothing new.
func (r *Reminders) send(ctx context.Context, rem reminder, now time.Time) error {
	profile, ok := policy.For(rem.Organization)
	if !ok {
		return nil
	}
	const kind = "incident.debrief_reminder"
	d := delivery.Delivery{
		ID: delivery.ID("reminder-"+rem.ID, rem.StaffID), Organization: rem.Organization, EventID: "reminder:" + rem.ID, EventType: kind,
		Reference: rem.Reference, Recipient: rem.StaffID, Reason: "you were involved in the incident",
		From: profile.MailFrom, Status: delivery.StatusQueued, NextAttemptTime: now, CreateTime: now, UpdateTime: now,
	}
	m, err := r.dir.Get(ctx, rem.Organization, rem.StaffID)
	switch {
	case errors.Is(err, apperr.ErrNotFound):
		d.Status, d.LastError = delivery.StatusDead, "no recipient in the staff directory for: staff member "+rem.StaffID
	case err != nil:
		return err
	default:
		d.RecipientEmail = m.Email
		d.Subject, d.Text, d.HTML, err = templates[kind].render(message{
			Organization: profile.Name, RecipientName: m.Name, Reference: rem.Reference, Reason: d.Reason,
			Link: r.portalURL + "/incidents/" + rem.IncidentID,
		})
		if err != nil {
			return err
		}
	}
	if _, err := r.deliveries.Queue(ctx, d); err != nil {
		return err
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return nil
}
