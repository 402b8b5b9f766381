// Package domain holds the incident register's rules (policy-map.md
// sections 1, 2 and 6). It does no I/O: the application layer loads events,
// asks the domain for the next change, and appends it.
package domain

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/eventlog"
)

// AggregateType names incidents in the event log.
const AggregateType = "incident"

// Event types recorded for an incident.
const (
	EventReported = "incident.reported"
)

// Categories of unacceptable behaviour (C46-C64).
var Categories = []string{
	"violence", "abuse", "harassment", "contact_outside_office", "naming_staff_publicly",
	"demands_on_office", "levels_of_contact", "refusal_to_cooperate", "repeated_complaints",
}

// Channels through which behaviour happens (policy-map.md section 1).
var Channels = []string{
	"phone", "in_person", "letter", "email", "social_media", "online_form", "paper_form",
	"event", "training_session", "online_public_comment", "outside_office",
}

// States of an incident.
const (
	StateReported    = "reported"
	StateUnderReview = "under_review"
	StateReviewed    = "reviewed"
	StateClosed      = "closed"
)

// Limits on free text. The description is the minimum required (C76), so a
// generous page is enough; longer text belongs in an evidence item.
const (
	MaxDescription = 5000
	MaxShortText   = 300
	MaxReason      = 1000
	MaxPeople      = 50
	// Clock skew allowed between a reporter's device and the server.
	futureTolerance = 5 * time.Minute
)

var (
	staffIDPattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	subjectNameRegex = regexp.MustCompile(`^subjects/[A-Za-z0-9_-]{1,64}$`)
	earliest         = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Witness of an incident (C44).
type Witness struct {
	ID      string `json:"id" bson:"id"`
	Name    string `json:"name,omitempty" bson:"name"`
	StaffID string `json:"staff_id,omitempty" bson:"staff_id"`
	Contact string `json:"contact,omitempty" bson:"contact"`
}

// StaffActions records what staff did at the time (C31-C34, C66).
type StaffActions struct {
	WarningGiven            bool   `json:"warning_given,omitempty" bson:"warning_given"`
	WarningNotGivenReason   string `json:"warning_not_given_reason,omitempty" bson:"warning_not_given_reason"`
	CallPaused              bool   `json:"call_paused,omitempty" bson:"call_paused"`
	EndedRecordedOrStreamed bool   `json:"ended_recorded_or_streamed,omitempty" bson:"ended_recorded_or_streamed"`
	StaffRemovedThemselves  bool   `json:"staff_removed_themselves,omitempty" bson:"staff_removed_themselves"`
	EndedDistressingContact bool   `json:"ended_distressing_contact,omitempty" bson:"ended_distressing_contact"`
	ContactEnded            bool   `json:"contact_ended,omitempty" bson:"contact_ended"`
	Other                   string `json:"other,omitempty" bson:"other"`
}

// Report is what a staff member says happened.
type Report struct {
	Categories     []string     `json:"categories" bson:"categories"`
	Channel        string       `json:"channel" bson:"channel"`
	OccurTime      time.Time    `json:"occur_time" bson:"occur_time"`
	Location       string       `json:"location,omitempty" bson:"location"`
	Subject        string       `json:"subject,omitempty" bson:"subject"`
	StaffInvolved  []string     `json:"staff_involved,omitempty" bson:"staff_involved"`
	Witnesses      []Witness    `json:"witnesses,omitempty" bson:"witnesses"`
	Description    string       `json:"description" bson:"description"`
	StaffActions   StaffActions `json:"staff_actions" bson:"staff_actions"`
	ZeroTolerance  bool         `json:"zero_tolerance,omitempty" bson:"zero_tolerance"`
	PhysicalThreat bool         `json:"physical_threat,omitempty" bson:"physical_threat"`
	SourceURL      string       `json:"source_url,omitempty" bson:"source_url"`
	Platform       string       `json:"platform,omitempty" bson:"platform"`
	AimedAtThird   bool         `json:"aimed_at_third_party,omitempty" bson:"aimed_at_third_party"`
}

// Reported is the payload of EventReported.
type Reported struct {
	Report
	Reference string `json:"reference" bson:"reference"`
	Reporter  string `json:"reporter" bson:"reporter"`
}

// Incident is the current state of an incident: a fold of its events.
type Incident struct {
	ID           string `bson:"_id"`
	Organization string `bson:"organization"`
	Reference    string `bson:"reference"`
	Report       `bson:",inline"`
	Reporter     string    `bson:"reporter"`
	State        string    `bson:"state"`
	CreateTime   time.Time `bson:"create_time"`
	UpdateTime   time.Time `bson:"update_time"`
	Version      int64     `bson:"version"`

	Review            *Review                 `bson:"review,omitempty"`
	Police            *PoliceDecision         `bson:"police,omitempty"`
	WitnessStatements []WitnessStatement      `bson:"witness_statements,omitempty"`
	Restorative       []RestorativeAction     `bson:"restorative,omitempty"`
	Correspondence    *CorrespondenceDecision `bson:"correspondence,omitempty"`
	Online            []OnlineAction          `bson:"online,omitempty"`
	Support           []StaffSupport          `bson:"support,omitempty"`
	OutsideContact    *OutsideContactDecision `bson:"outside_contact,omitempty"`
	Closure           *Closure                `bson:"closure,omitempty"`
}

// Name is the incident's resource name.
func (i Incident) Name() string { return "incidents/" + i.ID }

// Involves reports whether staffID reported or was involved in the incident.
func (i Incident) Involves(staffID string) bool {
	return i.Reporter == staffID || slices.Contains(i.StaffInvolved, staffID)
}

// Validate checks a report as received at the edge, naming the field at
// fault (prefix is the path of the report in the request, e.g. "incident").
func (r *Report) Validate(prefix string, now time.Time) error {
	field := func(name string) string { return prefix + "." + name }
	r.Description = strings.TrimSpace(r.Description)
	r.Location = strings.TrimSpace(r.Location)

	if len(r.Categories) == 0 {
		return apperr.Invalid(field("categories"), "give at least one category of behaviour (one of %s)", strings.Join(Categories, ", "))
	}
	var cats []string
	for _, c := range r.Categories {
		if !slices.Contains(Categories, c) {
			return apperr.Invalid(field("categories"), "unknown category %q (one of %s)", c, strings.Join(Categories, ", "))
		}
		if !slices.Contains(cats, c) {
			cats = append(cats, c)
		}
	}
	r.Categories = cats
	if r.Channel == "" {
		return apperr.Invalid(field("channel"), "say through which channel it happened (one of %s)", strings.Join(Channels, ", "))
	}
	if !slices.Contains(Channels, r.Channel) {
		return apperr.Invalid(field("channel"), "unknown channel %q (one of %s)", r.Channel, strings.Join(Channels, ", "))
	}
	switch {
	case r.OccurTime.IsZero():
		return apperr.Invalid(field("occur_time"), "say when it happened")
	case r.OccurTime.After(now.Add(futureTolerance)):
		return apperr.Invalid(field("occur_time"), "is in the future (%s); give the time it happened", r.OccurTime.UTC().Format(time.RFC3339))
	case r.OccurTime.Before(earliest):
		return apperr.Invalid(field("occur_time"), "is before %d; check the date", earliest.Year())
	}
	if r.Description == "" {
		return apperr.Invalid(field("description"), "describe what happened, factually and briefly")
	}
	if err := maxLen(field("description"), r.Description, MaxDescription); err != nil {
		return err
	}
	for name, v := range map[string]string{"location": r.Location, "platform": r.Platform, "source_url": r.SourceURL} {
		if err := maxLen(field(name), v, MaxShortText); err != nil {
			return err
		}
	}
	if r.Subject != "" && !subjectNameRegex.MatchString(r.Subject) {
		return apperr.Invalid(field("subject"), "must be a subject name such as subjects/abc123, got %q", r.Subject)
	}
	if err := validateStaffIDs(field("staff_involved"), r.StaffInvolved); err != nil {
		return err
	}
	if len(r.Witnesses) > MaxPeople {
		return apperr.Invalid(field("witnesses"), "at most %d witnesses", MaxPeople)
	}
	for i := range r.Witnesses {
		w := &r.Witnesses[i]
		wf := fmt.Sprintf("%s[%d]", field("witnesses"), i)
		w.Name, w.StaffID, w.Contact = strings.TrimSpace(w.Name), strings.TrimSpace(w.StaffID), strings.TrimSpace(w.Contact)
		if w.Name == "" && w.StaffID == "" {
			return apperr.Invalid(wf+".name", "give the witness's name or staff id")
		}
		if w.StaffID != "" && !staffIDPattern.MatchString(w.StaffID) {
			return apperr.Invalid(wf+".staff_id", "is not a staff id: %q", w.StaffID)
		}
		if err := maxLen(wf+".name", w.Name, MaxShortText); err != nil {
			return err
		}
		if err := maxLen(wf+".contact", w.Contact, MaxShortText); err != nil {
			return err
		}
		w.ID = fmt.Sprintf("w%d", i+1)
	}
	return r.StaffActions.validate(field("staff_actions"))
}

func (a *StaffActions) validate(prefix string) error {
	a.WarningNotGivenReason = strings.TrimSpace(a.WarningNotGivenReason)
	if err := maxLen(prefix+".warning_not_given_reason", a.WarningNotGivenReason, MaxReason); err != nil {
		return err
	}
	if err := maxLen(prefix+".other", a.Other, MaxReason); err != nil {
		return err
	}
	ended := a.ContactEnded || a.EndedRecordedOrStreamed || a.EndedDistressingContact || a.StaffRemovedThemselves
	// C32: a warning comes before ending contact, unless it was unsafe or the
	// language extreme; then the reason is recorded.
	if ended && !a.WarningGiven && a.WarningNotGivenReason == "" {
		return apperr.Invalid(prefix+".warning_not_given_reason", "contact was ended without a warning: say why no warning was given (C32)")
	}
	if a.WarningGiven && a.WarningNotGivenReason != "" {
		return apperr.Invalid(prefix+".warning_not_given_reason", "a warning was given, so there is no reason for not giving one")
	}
	return nil
}

func validateStaffIDs(field string, ids []string) error {
	if len(ids) > MaxPeople {
		return apperr.Invalid(field, "at most %d staff members", MaxPeople)
	}
	for i, id := range ids {
		if !staffIDPattern.MatchString(id) {
			return apperr.Invalid(fmt.Sprintf("%s[%d]", field, i), "is not a staff id: %q", id)
		}
		if slices.Contains(ids[:i], id) {
			return apperr.Invalid(fmt.Sprintf("%s[%d]", field, i), "staff member %q is listed twice", id)
		}
	}
	return nil
}

func maxLen(field, v string, n int) error {
	if c := utf8.RuneCountInString(v); c > n {
		return apperr.Invalid(field, "is %d characters long; at most %d are allowed", c, n)
	}
	return nil
}

// ReportIncident returns the first event of a new incident.
func ReportIncident(id, org, reference, reporter string, r Report, now time.Time) (eventlog.Event, error) {
	return eventlog.Next(nil, eventlog.Change{
		AggregateType: AggregateType, AggregateID: id, Type: EventReported,
		Organization: org, Actor: reporter, Time: now,
		Data: Reported{Report: r, Reference: reference, Reporter: reporter},
	})
}

// Facts are carried in every incident event's payload, so consumers
// (notify-svc, restriction-svc) need nothing else to act on it.
type Facts struct {
	Reference     string   `json:"reference"`
	Reporter      string   `json:"reporter"`
	Subject       string   `json:"subject,omitempty"`
	StaffInvolved []string `json:"staff_involved,omitempty"`
}

// Facts returns the incident's facts for an event payload.
func (i Incident) Facts() Facts {
	return Facts{Reference: i.Reference, Reporter: i.Reporter, Subject: i.Subject, StaffInvolved: i.StaffInvolved}
}

// Payloads of the events after the report; each embeds Facts.
type (
	// Updated corrects the report; Report is the whole report after it.
	Updated struct {
		Facts
		Report        Report   `json:"report"`
		ChangedFields []string `json:"changed_fields"`
		Reason        string   `json:"reason"`
	}
	// Reviewed is the manager review.
	Reviewed struct {
		Facts
		Review
	}
	// PoliceDecided is the police decision.
	PoliceDecided struct {
		Facts
		PoliceDecision
	}
	// WitnessRequested asks a witness for a statement, perhaps adding them.
	WitnessRequested struct {
		Facts
		Statement WitnessStatement `json:"statement"`
		Witness   *Witness         `json:"witness,omitempty"`
	}
	// WitnessRecorded is a statement given or declined.
	WitnessRecorded struct {
		Facts
		Statement WitnessStatement `json:"statement"`
	}
	// RestorativeRecorded is a restorative action.
	RestorativeRecorded struct {
		Facts
		Action RestorativeAction `json:"action"`
	}
	// CorrespondenceDecided decides on correspondence.
	CorrespondenceDecided struct {
		Facts
		Decision CorrespondenceDecision `json:"decision"`
	}
	// OnlineRecorded is an action on online material.
	OnlineRecorded struct {
		Facts
		Action OnlineAction `json:"action"`
	}
	// SupportRecorded is staff support.
	SupportRecorded struct {
		Facts
		Support StaffSupport `json:"support"`
	}
	// OutsideContactDecided decides on contact outside the office.
	OutsideContactDecided struct {
		Facts
		Decision OutsideContactDecision `json:"decision"`
	}
	// Closed closes the incident.
	Closed struct {
		Facts
		Closure Closure `json:"closure"`
	}
)

// Fold rebuilds an incident from its events.
func Fold(events []eventlog.Event) (Incident, error) {
	var inc Incident
	for _, e := range events {
		if err := inc.apply(e); err != nil {
			return Incident{}, err
		}
		inc.UpdateTime = e.Time
		inc.Version = e.Seq
	}
	return inc, nil
}

func (inc *Incident) apply(e eventlog.Event) error {
	switch e.Type {
	case EventReported:
		var p Reported
		if err := e.Decode(&p); err != nil {
			return err
		}
		*inc = Incident{
			ID: e.AggregateID, Organization: e.Organization, Reference: p.Reference,
			Report: p.Report, Reporter: p.Reporter, State: StateReported, CreateTime: e.Time,
		}
	case EventUpdated:
		var p Updated
		if err := e.Decode(&p); err != nil {
			return err
		}
		inc.Report = p.Report
	case EventReviewed:
		var p Reviewed
		if err := e.Decode(&p); err != nil {
			return err
		}
		inc.Review = &p.Review
		inc.State = StateReviewed
	case EventPoliceDecisionRecorded:
		var p PoliceDecided
		if err := e.Decode(&p); err != nil {
			return err
		}
		inc.Police = &p.PoliceDecision
	case EventWitnessRequested:
		var p WitnessRequested
		if err := e.Decode(&p); err != nil {
			return err
		}
		if p.Witness != nil {
			inc.Witnesses = append(inc.Witnesses, *p.Witness)
		}
		inc.WitnessStatements = append(inc.WitnessStatements, p.Statement)
	case EventWitnessRecorded:
		var p WitnessRecorded
		if err := e.Decode(&p); err != nil {
			return err
		}
		for i := range inc.WitnessStatements {
			if inc.WitnessStatements[i].WitnessID == p.Statement.WitnessID && inc.WitnessStatements[i].State == "requested" {
				inc.WitnessStatements[i] = p.Statement
			}
		}
	case EventRestorativeRecorded:
		var p RestorativeRecorded
		if err := e.Decode(&p); err != nil {
			return err
		}
		inc.Restorative = append(inc.Restorative, p.Action)
	case EventCorrespondenceDecided:
		var p CorrespondenceDecided
		if err := e.Decode(&p); err != nil {
			return err
		}
		inc.Correspondence = &p.Decision
	case EventOnlineActionRecorded:
		var p OnlineRecorded
		if err := e.Decode(&p); err != nil {
			return err
		}
		inc.Online = append(inc.Online, p.Action)
	case EventStaffSupportRecorded:
		var p SupportRecorded
		if err := e.Decode(&p); err != nil {
			return err
		}
		inc.Support = append(inc.Support, p.Support)
	case EventOutsideContactDecided:
		var p OutsideContactDecided
		if err := e.Decode(&p); err != nil {
			return err
		}
		inc.OutsideContact = &p.Decision
	case EventClosed:
		var p Closed
		if err := e.Decode(&p); err != nil {
			return err
		}
		inc.Closure = &p.Closure
		inc.State = StateClosed
	default:
		return fmt.Errorf("incident %s: unknown event type %q", e.AggregateID, e.Type)
	}
	if inc.State == StateReported && e.Type != EventReported {
		inc.State = StateUnderReview
	}
	return nil
}
