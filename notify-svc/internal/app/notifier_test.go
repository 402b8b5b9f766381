package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contactguard/contactguard/notify-svc/internal/delivery"
	"github.com/contactguard/contactguard/notify-svc/internal/staff"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/directory"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/policy"
)

// fakeDirectory is the seeded directory in memory, scoped by organisation
// like the real store.
type fakeDirectory struct {
	members []staff.Member
	err     error // returned by every call when set
}

func (f *fakeDirectory) Get(_ context.Context, org, id string) (staff.Member, error) {
	if f.err != nil {
		return staff.Member{}, f.err
	}
	for _, m := range f.members {
		if m.ID == id && m.Organization == org {
			return m, nil
		}
	}
	return staff.Member{}, apperr.NotFound("staff member %q not found", id)
}

func (f *fakeDirectory) WithRole(_ context.Context, org, role string) ([]staff.Member, error) {
	if f.err != nil {
		return nil, f.err
	}
	var out []staff.Member
	for _, m := range f.members {
		if m.Organization == org && slices.Contains(m.Roles, role) {
			out = append(out, m)
		}
	}
	return out, nil
}

// fakeDeliveries models the store's unique id: a second Queue of the same
// id keeps the first record and reports false.
type fakeDeliveries struct {
	mu   sync.Mutex
	byID map[string]delivery.Delivery
	err  error
}

func newFakeDeliveries() *fakeDeliveries {
	return &fakeDeliveries{byID: map[string]delivery.Delivery{}}
}

func (f *fakeDeliveries) Queue(_ context.Context, d delivery.Delivery) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false, f.err
	}
	if _, ok := f.byID[d.ID]; ok {
		return false, nil
	}
	f.byID[d.ID] = d
	return true, nil
}

func (f *fakeDeliveries) all() []delivery.Delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]delivery.Delivery, 0, len(f.byID))
	for _, d := range f.byID {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

const portal = "https://portal.example.org/"

var fixedNow = time.Date(2026, 3, 4, 10, 30, 0, 0, time.UTC)

type harness struct {
	n          *Notifier
	dir        *fakeDirectory
	deliveries *fakeDeliveries
	wake       chan struct{}
	logs       *bytes.Buffer
}

func newHarness() *harness {
	h := &harness{
		dir:        &fakeDirectory{members: directory.Seed()},
		deliveries: newFakeDeliveries(),
		wake:       make(chan struct{}, 1),
		logs:       &bytes.Buffer{},
	}
	h.n = NewNotifier(h.dir, h.deliveries, portal, h.wake, slog.New(slog.NewJSONHandler(h.logs, nil)))
	h.n.now = func() time.Time { return fixedNow }
	return h
}

// woken reports (and consumes) a wake signal.
func (h *harness) woken() bool {
	select {
	case <-h.wake:
		return true
	default:
		return false
	}
}

func event(t *testing.T, org, eventType, reporter string) eventlog.Event {
	t.Helper()
	e, err := eventlog.Next(nil, eventlog.Change{
		AggregateType: "incident", AggregateID: "abc", Type: eventType, Organization: org, Actor: reporter, Time: fixedNow,
		Data: map[string]any{"reference": "HC-2026-ABC123", "reporter": reporter, "description": "SECRET DESCRIPTION", "subject": "subjects/xyz"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestReportedIncidentEmailsTheReportersLineManagerOnce(t *testing.T) {
	tests := []struct {
		org, reporter, manager, email string
	}{
		{"highland-council", "hc-cso-1", "hc-tl-1", "isla.macleod@highland.example.org"},
		{"valuation-board", "vb-staff-1", "vb-lm-1", "mairi.nicolson@valuation.example.org"},
	}
	for _, tt := range tests {
		t.Run(tt.org, func(t *testing.T) {
			h := newHarness()
			e := event(t, tt.org, "incident.reported", tt.reporter)
			profile, _ := policy.For(tt.org)

			if err := h.n.Handle(context.Background(), e); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			got := h.deliveries.all()
			if len(got) != 1 {
				t.Fatalf("queued %d deliveries, want 1: %+v", len(got), got)
			}
			d := got[0]
			want := delivery.Delivery{
				ID: delivery.ID(e.ID, tt.manager), Organization: tt.org, EventID: e.ID, EventType: "incident.reported",
				Reference: "HC-2026-ABC123", Recipient: tt.manager, RecipientEmail: tt.email, Cc: false,
				From: profile.MailFrom, Status: delivery.StatusQueued, NextAttemptTime: fixedNow, CreateTime: fixedNow, UpdateTime: fixedNow,
			}
			d2 := d
			d2.Subject, d2.Text, d2.HTML, d2.Reason = "", "", "", ""
			if d2 != want {
				t.Errorf("delivery =\n%+v\nwant\n%+v", d2, want)
			}
			if !strings.Contains(d.Reason, "line manager") {
				t.Errorf("reason %q does not say why the recipient is told", d.Reason)
			}
			if !h.woken() {
				t.Error("queuing an email did not wake the sender")
			}

			link := "https://portal.example.org/incidents/abc"
			for part, body := range map[string]string{"subject": d.Subject, "text": d.Text, "html": d.HTML} {
				if !strings.Contains(body, "HC-2026-ABC123") {
					t.Errorf("%s lacks the reference: %q", part, body)
				}
				if part != "subject" && !strings.Contains(body, link) {
					t.Errorf("%s lacks the portal link %s: %q", part, link, body)
				}
				// Nothing else of the payload may leave in an email.
				for _, secret := range []string{"SECRET", "DESCRIPTION", "subjects/xyz", "xyz", tt.reporter} {
					if strings.Contains(body, secret) {
						t.Errorf("%s leaks %q from the event payload: %q", part, secret, body)
					}
				}
			}

			// The same event again (at-least-once delivery) queues nothing new
			// and does not wake the sender.
			if err := h.n.Handle(context.Background(), e); err != nil {
				t.Fatalf("second Handle: %v", err)
			}
			if again := h.deliveries.all(); len(again) != 1 || again[0] != d {
				t.Errorf("after handling the event twice: %+v", again)
			}
			if h.woken() {
				t.Error("an event handled twice woke the sender with nothing new")
			}
		})
	}
}

func TestUnresolvableRecipientIsRecordedAsDead(t *testing.T) {
	tests := []struct {
		name, org, reporter string
	}{
		{"reporter without a line manager (council)", "highland-council", "hc-ce-1"},
		{"reporter without a line manager (board)", "valuation-board", "vb-ass-1"},
		{"unknown reporter", "highland-council", "nobody-1"},
		{"no reporter in the payload", "highland-council", ""},
		{"reporter of the other organisation", "valuation-board", "hc-cso-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness()
			e := event(t, tt.org, "incident.reported", tt.reporter)
			for range 2 { // handled twice, recorded once
				if err := h.n.Handle(context.Background(), e); err != nil {
					t.Fatalf("Handle: %v", err)
				}
			}
			got := h.deliveries.all()
			if len(got) != 1 {
				t.Fatalf("queued %d deliveries, want one dead record: %+v", len(got), got)
			}
			d := got[0]
			if d.ID != delivery.ID(e.ID, "unresolved-1") || d.Status != delivery.StatusDead || d.Organization != tt.org ||
				d.EventID != e.ID || d.Reference != "HC-2026-ABC123" || d.RecipientEmail != "" {
				t.Errorf("dead record = %+v", d)
			}
			if !strings.Contains(d.LastError, "line manager of "+tt.reporter) {
				t.Errorf("last error %q does not say who could not be found", d.LastError)
			}
			if h.woken() {
				t.Error("a dead record woke the sender")
			}
		})
	}
}

func TestEventsWithoutAnEmailQueueNothing(t *testing.T) {
	tests := []struct {
		name  string
		event func(t *testing.T) eventlog.Event
		log   string // error logged, if the drop is worth an operator's attention
	}{
		{"event type without a rule", func(t *testing.T) eventlog.Event {
			return event(t, "highland-council", "incident.updated", "hc-cso-1")
		}, ""},
		{"organisation without a profile", func(t *testing.T) eventlog.Event {
			return event(t, "atlantis-council", "incident.reported", "hc-cso-1")
		}, "without a profile"},
		{"unreadable payload", func(t *testing.T) eventlog.Event {
			e := event(t, "highland-council", "incident.reported", "hc-cso-1")
			e.Payload = "{not json"
			return e
		}, "unreadable event payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness()
			if err := h.n.Handle(context.Background(), tt.event(t)); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if got := h.deliveries.all(); len(got) != 0 {
				t.Errorf("queued %+v", got)
			}
			if h.woken() {
				t.Error("woke the sender with nothing queued")
			}
			logged := h.logs.String()
			if tt.log == "" && logged != "" {
				t.Errorf("logged %s", logged)
			}
			if tt.log != "" && (!strings.Contains(logged, tt.log) || !strings.Contains(logged, `"level":"ERROR"`)) {
				t.Errorf("log %q does not hold an error %q", logged, tt.log)
			}
		})
	}
}

func TestStoreFailuresAreReturnedForRetry(t *testing.T) {
	boom := errors.New("connection reset")
	tests := []struct {
		name  string
		setup func(h *harness)
	}{
		{"directory fails", func(h *harness) { h.dir.err = boom }},
		{"queue fails", func(h *harness) { h.deliveries.err = boom }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness()
			tt.setup(h)
			err := h.n.Handle(context.Background(), event(t, "highland-council", "incident.reported", "hc-cso-1"))
			if !errors.Is(err, boom) {
				t.Fatalf("Handle = %v, want the store's error so the consumer retries", err)
			}
		})
	}
}

// The staff-named-publicly rules cannot be reached through Handle until a
// template exists; resolve is what will pick their recipients.
func TestRecipientsOfTheStaffNamedPubliclyRule(t *testing.T) {
	type who struct {
		id string
		cc bool
	}
	tests := []struct {
		name, org, reporter string
		want                []who
		unresolved          []string
	}{
		{"council: line manager, head of people, cc corporate communications", "highland-council", "hc-cso-1",
			[]who{{"hc-tl-1", false}, {"hc-hop-1", false}, {"hc-cc-1", true}}, nil},
		{"board: line manager and senior management", "valuation-board", "vb-staff-1",
			[]who{{"vb-lm-1", false}, {"vb-smt-1", false}, {"vb-dass-1", false}, {"vb-ass-1", false}}, nil},
		{"board: a line manager in senior management is told once", "valuation-board", "vb-lm-1",
			[]who{{"vb-smt-1", false}, {"vb-dass-1", false}, {"vb-ass-1", false}}, nil},
		{"council: missing line manager is unresolved, the roles still told", "highland-council", "hc-ce-1",
			[]who{{"hc-hop-1", false}, {"hc-cc-1", true}}, []string{"line manager of hc-ce-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness()
			profile, _ := policy.For(tt.org)
			rule, ok := profile.Notifications["incident.staff_named_publicly"]
			if !ok {
				t.Fatalf("%s has no staff_named_publicly rule", tt.org)
			}
			e := event(t, tt.org, "incident.staff_named_publicly", tt.reporter)
			got, unresolved, err := h.n.resolve(context.Background(), e, rule, eventFacts{Reference: "HC-2026-ABC123", Reporter: tt.reporter})
			if err != nil {
				t.Fatal(err)
			}
			var gotWho []who
			for _, r := range got {
				if r.member.Organization != tt.org {
					t.Errorf("recipient %s is of another organisation", r.member.ID)
				}
				if r.reason == "" {
					t.Errorf("recipient %s has no reason", r.member.ID)
				}
				gotWho = append(gotWho, who{r.member.ID, r.cc})
			}
			byID := func(w []who) func(i, j int) bool { return func(i, j int) bool { return w[i].id < w[j].id } }
			sort.Slice(gotWho, byID(gotWho))
			sort.Slice(tt.want, byID(tt.want))
			if fmt.Sprint(gotWho) != fmt.Sprint(tt.want) || fmt.Sprint(unresolved) != fmt.Sprint(tt.unresolved) {
				t.Errorf("recipients %v unresolved %q, want %v %q", gotWho, unresolved, tt.want, tt.unresolved)
			}
		})
	}
}

// C78-C80: for staff named publicly the named staff member's line manager
// is told, not the line manager of whoever found the material.
func TestStaffNamedPubliclyTellsTheNamedStaffMembersLineManager(t *testing.T) {
	h := newHarness()
	e, err := eventlog.Next(nil, eventlog.Change{
		AggregateType: "public_naming", AggregateID: "pn1", Type: "incident.staff_named_publicly", Organization: "highland-council",
		Actor: "hc-om-1", Time: fixedNow,
		Data: map[string]any{"reference": "HC-2026-PN0001", "reporter": "hc-om-1", "staff_member": "hc-cso-2", "url": "https://example.org/post/1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.n.Handle(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, d := range h.deliveries.all() {
		got[d.Recipient] = d.Cc
		for _, part := range []string{d.Subject, d.Text, d.HTML} {
			if strings.Contains(part, "example.org/post") {
				t.Errorf("the email carries the material's URL: %q", part)
			}
		}
	}
	for _, d := range h.deliveries.all() {
		if !strings.Contains(d.Text, portal+"publicNamings/pn1") {
			t.Errorf("link is not the case's resource name: %q", d.Text)
		}
	}
	// hc-cso-2's line manager is hc-tl-1; hc-om-1's is hc-tl-1 too, so check
	// the reason names the staff member concerned.
	if _, ok := got["hc-tl-1"]; !ok || len(got) != 3 || !got["hc-cc-1"] {
		t.Fatalf("recipients = %v, want hc-tl-1, hc-hop-1 and cc hc-cc-1", got)
	}
	for _, d := range h.deliveries.all() {
		if d.Recipient == "hc-tl-1" && !strings.Contains(d.Reason, "staff member concerned") {
			t.Errorf("line manager reason = %q", d.Reason)
		}
	}
}

func handlePayload(t *testing.T, h *harness, org, eventType string, data map[string]any) []delivery.Delivery {
	t.Helper()
	e, err := eventlog.Next(nil, eventlog.Change{AggregateType: "incident", AggregateID: "zz1", Type: eventType, Organization: org, Actor: "x", Time: fixedNow, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.n.Handle(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	return h.deliveries.all()
}

// policy-map section 5: a zero-tolerance or physical-threat report goes to
// the line manager and senior management, once each, with the police
// decision pending.
func TestZeroToleranceReportTellsLineManagerAndSeniorManagement(t *testing.T) {
	for _, tt := range []struct {
		org, reporter string
		want          []string
	}{
		{"highland-council", "hc-cso-1", []string{"hc-ce-1", "hc-dce-1", "hc-eco-1", "hc-hos-1", "hc-tl-1"}},
		{"valuation-board", "vb-staff-1", []string{"vb-ass-1", "vb-dass-1", "vb-lm-1", "vb-smt-1"}},
	} {
		h := newHarness()
		got := handlePayload(t, h, tt.org, "incident.reported", map[string]any{"reference": "R-1", "reporter": tt.reporter, "physical_threat": true, "description": "SECRET"})
		var ids []string
		for _, d := range got {
			ids = append(ids, d.Recipient)
			if d.EventType != "incident.zero_tolerance" || !strings.Contains(d.Text, "police decision") || strings.Contains(d.Text, "SECRET") {
				t.Errorf("%s: delivery %+v", tt.org, d)
			}
		}
		sort.Strings(ids)
		if fmt.Sprint(ids) != fmt.Sprint(tt.want) {
			t.Errorf("%s: recipients %v, want %v", tt.org, ids, tt.want)
		}
	}
}

// C68: after active management or zero tolerance the staff involved are
// told the review outcome and offered a debrief.
func TestReviewOutcomeTellsStaffInvolvedAndOffersDebrief(t *testing.T) {
	h := newHarness()
	got := handlePayload(t, h, "highland-council", "incident.reviewed", map[string]any{
		"reference": "R-2", "reporter": "hc-cso-1", "staff_involved": []string{"hc-cso-2"}, "outcome": "active_management", "reasons": "SECRET REASONS"})
	if len(got) != 2 {
		t.Fatalf("deliveries = %v", got)
	}
	for _, d := range got {
		if !strings.Contains(d.Text, "debrief") || !strings.Contains(d.Text, "active management") || strings.Contains(d.Text, "SECRET") {
			t.Errorf("text = %q", d.Text)
		}
	}
	h = newHarness()
	got = handlePayload(t, h, "valuation-board", "incident.reviewed", map[string]any{"reference": "R-3", "reporter": "vb-staff-1", "outcome": "no_further_action"})
	if len(got) != 1 || strings.Contains(got[0].Text, "debrief") {
		t.Errorf("no further action: %v", got)
	}
}

// policy-map section 5 and C77: restriction events reach those who must act.
func TestRestrictionEventsReachWhoMustAct(t *testing.T) {
	tests := []struct {
		name, org, eventType string
		data                 map[string]any
		want                 []string
	}{
		{"decided: the teams who apply it and staff involved", "highland-council", "restriction.decided",
			map[string]any{"reference": "HC-R-1", "decider": "hc-tl-1", "share_with": []string{"role:service_centre", "role:online_monitor"}, "staff_involved": []string{"hc-cso-1"}},
			[]string{"hc-cso-1", "hc-om-1", "hc-sc-1"}},
		{"review due: the decider", "valuation-board", "restriction.review_due",
			map[string]any{"reference": "VB-R-1", "decider": "vb-lm-1"}, []string{"vb-lm-1"}},
		{"appeal lodged, unassigned: the council's appeal roles", "highland-council", "restriction.appeal_lodged",
			map[string]any{"reference": "HC-R-2", "decider": "hc-tl-1"}, []string{"hc-eco-1", "hc-hos-1"}},
		{"appeal lodged, unassigned: the Assessor", "valuation-board", "restriction.appeal_lodged",
			map[string]any{"reference": "VB-R-2", "decider": "vb-lm-1"}, []string{"vb-ass-1"}},
		{"appeal assigned: the appeal officer", "highland-council", "restriction.appeal_assigned",
			map[string]any{"reference": "HC-R-3", "appeal_officer": "hc-hos-1"}, []string{"hc-hos-1"}},
		{"appeal decided: decider and staff involved", "valuation-board", "restriction.appeal_decided",
			map[string]any{"reference": "VB-R-3", "decider": "vb-lm-1", "appeal_officer": "vb-ass-1", "staff_involved": []string{"vb-staff-1"}},
			[]string{"vb-lm-1", "vb-staff-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness()
			tt.data["subject"] = "subjects/secret-subject"
			e, err := eventlog.Next(nil, eventlog.Change{AggregateType: "restriction", AggregateID: "r1", Type: tt.eventType, Organization: tt.org, Actor: "x", Time: fixedNow, Data: tt.data})
			if err != nil {
				t.Fatal(err)
			}
			if err := h.n.Handle(context.Background(), e); err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, d := range h.deliveries.all() {
				ids = append(ids, d.Recipient)
				if d.Status != delivery.StatusQueued || !strings.Contains(d.Text, portal+"restrictions/r1") || strings.Contains(d.Text, "secret-subject") {
					t.Errorf("delivery %+v", d)
				}
			}
			sort.Strings(ids)
			if fmt.Sprint(ids) != fmt.Sprint(tt.want) {
				t.Errorf("recipients %v, want %v", ids, tt.want)
			}
		})
	}
}
