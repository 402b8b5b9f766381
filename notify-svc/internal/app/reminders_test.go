package app

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/contactguard/contactguard/notify-svc/internal/delivery"
	"github.com/contactguard/contactguard/platform/directory"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/testenv"
)

func incidentEvent(t *testing.T, history []eventlog.Event, typ string, at time.Time, data map[string]any) eventlog.Event {
	t.Helper()
	e, err := eventlog.Next(history, eventlog.Change{AggregateType: "incident", AggregateID: "inc1", Type: typ, Organization: "highland-council", Actor: "hc-tl-1", Time: at, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// C68, C69: after active management each staff member involved is
// reminded of the debrief and the employee assistance programme, unless
// their debrief is recorded first; a scheduler run twice sends once.
func TestC68_DebriefRemindersAreScheduledAndCancelled(t *testing.T) {
	ctx := context.Background()
	db := testenv.Mongo(t)
	deliveries := delivery.NewStore(db)
	wake := make(chan struct{}, 1)
	r := NewReminders(db, &fakeDirectory{members: directory.Seed()}, deliveries, "https://portal.example.org", 72*time.Hour, wake, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := r.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	reported := incidentEvent(t, nil, "incident.reported", t0, map[string]any{"reference": "HC-2026-REM001", "reporter": "hc-cso-1"})
	reviewed := incidentEvent(t, []eventlog.Event{reported}, "incident.reviewed", t0.Add(time.Hour), map[string]any{
		"reference": "HC-2026-REM001", "reporter": "hc-cso-1", "staff_involved": []string{"hc-cso-2"}, "outcome": "active_management"})
	debrief := incidentEvent(t, []eventlog.Event{reported, reviewed}, "incident.staff_support_recorded", t0.Add(2*time.Hour), map[string]any{
		"reference": "HC-2026-REM001", "reporter": "hc-cso-1", "support": map[string]any{"kind": "debrief", "staff_id": "hc-cso-2"}})
	for _, e := range []eventlog.Event{reported, reviewed, reviewed, debrief} { // reviewed twice: at-least-once delivery
		if err := r.Handle(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// Not yet due: nothing is sent.
	r.now = func() time.Time { return t0.Add(24 * time.Hour) }
	if err := r.sendDue(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := deliveries.List(ctx, delivery.Query{Organization: "highland-council", Limit: 10}); len(got) != 0 {
		t.Fatalf("sent before due: %v", got)
	}
	// Due: only the staff member without a recorded debrief is reminded, once.
	r.now = func() time.Time { return t0.Add(80 * time.Hour) }
	for range 2 {
		if err := r.sendDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got, err := deliveries.List(ctx, delivery.Query{Organization: "highland-council", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Recipient != "hc-cso-1" || got[0].EventType != "incident.debrief_reminder" {
		t.Fatalf("reminders = %+v", got)
	}
	if !strings.Contains(got[0].Text, "employee assistance") || !strings.Contains(got[0].Text, "HC-2026-REM001") {
		t.Errorf("text = %q", got[0].Text)
	}
}
