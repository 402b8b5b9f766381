package domain

// Staff named publicly (policy-map.md section 6, C78-C86): a case of its own,
// separate from incidents, with the steps the policy lists. Who may record
// which step comes from the organisation's policy profile and from the
// case itself (the staff member named, their line manager, the reporter).

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/policy"
)

// PublicNamingAggregateType names staff-named-publicly cases in the event
// log (the incident service's event store, relayed on the incident stream).
const PublicNamingAggregateType = "public_naming"

// Event types of a case. EventStaffNamedPublicly opens it and is what
// notify-svc emails on (docs/development.md).
const (
	EventStaffNamedPublicly = "incident.staff_named_publicly"
	EventPublicNamingStep   = "public_naming.step_recorded"
)

// States of a case.
const (
	PublicNamingOpen   = "open"
	PublicNamingClosed = "closed"
)

// Kinds of step (C80-C86).
const (
	NamingStepStaffMemberInformed   = "staff_member_informed"   // C80
	NamingStepReportedToPlatform    = "reported_to_platform"    // C81
	NamingStepRemovalRequested      = "removal_requested"       // C82
	NamingStepRemoved               = "removed"                 // C82
	NamingStepDefamationNoted       = "defamation_noted"        // C83
	NamingStepReportedToPolice      = "reported_to_police"      // C84
	NamingStepSupportOffered        = "support_offered"         // C85
	NamingStepPersonalRecordDecided = "personal_record_decided" // C86
	NamingStepClosed                = "closed"
)

// NamingStepKinds lists the kinds of step in workflow order.
var NamingStepKinds = []string{
	NamingStepStaffMemberInformed, NamingStepReportedToPlatform, NamingStepRemovalRequested, NamingStepRemoved,
	NamingStepDefamationNoted, NamingStepReportedToPolice, NamingStepSupportOffered, NamingStepPersonalRecordDecided,
	NamingStepClosed,
}

// Limits of a case's fields.
const (
	MaxNamingURL        = 2048
	MaxNamingPlatform   = 100
	MaxNamingScreens    = 20
	MaxNamingExternalRe = 100
)

var (
	evidenceNameRegex = regexp.MustCompile(`^evidence/[A-Za-z0-9_-]{1,64}$`)
	incidentNameRegex = regexp.MustCompile(`^incidents/[0-9a-z]{1,64}$`)
)

// NamingReport is what the person who found the material records.
type NamingReport struct {
	StaffMember    string   `json:"staff_member" bson:"staff_member"`
	URL            string   `json:"url" bson:"url"`
	Platform       string   `json:"platform,omitempty" bson:"platform"`
	Screenshots    []string `json:"screenshots,omitempty" bson:"screenshots"` // "evidence/{id}", held by evidence-svc
	Incident       string   `json:"incident,omitempty" bson:"incident"`
	Subject        string   `json:"subject,omitempty" bson:"subject"`
	Description    string   `json:"description,omitempty" bson:"description"`
	IntentToRecord bool     `json:"intent_to_record,omitempty" bson:"intent_to_record"` // C57
}

// Validate checks and normalises the report, naming the field at fault
// (prefix is its path in the request, e.g. "public_naming"). Whether the
// staff member exists is for the staff directory (notify-svc) to say.
func (r *NamingReport) Validate(prefix string) error {
	field := func(name string) string { return prefix + "." + name }
	r.StaffMember = strings.TrimSpace(r.StaffMember)
	r.URL = strings.TrimSpace(r.URL)
	r.Platform = strings.TrimSpace(r.Platform)
	r.Description = strings.TrimSpace(r.Description)

	if r.StaffMember == "" {
		return apperr.Invalid(field("staff_member"), "give the staff id of the member of staff named")
	}
	if !staffIDPattern.MatchString(r.StaffMember) {
		return apperr.Invalid(field("staff_member"), "is not a staff id: %q", r.StaffMember)
	}
	if err := validateNamingURL(field("url"), r.URL); err != nil {
		return err
	}
	if err := maxLen(field("platform"), r.Platform, MaxNamingPlatform); err != nil {
		return err
	}
	if len(r.Screenshots) > MaxNamingScreens {
		return apperr.Invalid(field("screenshots"), "at most %d screenshots; put more in one evidence item", MaxNamingScreens)
	}
	for i, s := range r.Screenshots {
		if !evidenceNameRegex.MatchString(s) {
			return apperr.Invalid(fmt.Sprintf("%s[%d]", field("screenshots"), i), "must be an evidence name such as evidence/abc123, got %q", s)
		}
		if slices.Contains(r.Screenshots[:i], s) {
			return apperr.Invalid(fmt.Sprintf("%s[%d]", field("screenshots"), i), "%s is listed twice", s)
		}
	}
	if r.Incident != "" && !incidentNameRegex.MatchString(r.Incident) {
		return apperr.Invalid(field("incident"), "must be an incident name such as incidents/abc123, got %q", r.Incident)
	}
	if r.Subject != "" && !subjectNameRegex.MatchString(r.Subject) {
		return apperr.Invalid(field("subject"), "must be a subject name such as subjects/abc123, got %q", r.Subject)
	}
	return maxLen(field("description"), r.Description, MaxDescription)
}

// IsStaffID reports whether s is shaped like a staff id.
func IsStaffID(s string) bool { return staffIDPattern.MatchString(s) }

func validateNamingURL(field, raw string) error {
	if raw == "" {
		return apperr.Invalid(field, "give the address (http or https) where the material was published")
	}
	if err := maxLen(field, raw, MaxNamingURL); err != nil {
		return err
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || strings.ContainsAny(raw, " \t\r\n"):
		return apperr.Invalid(field, "is not a web address: %q", raw)
	case u.Scheme != "http" && u.Scheme != "https":
		return apperr.Invalid(field, "must be an http or https address, got %q", raw)
	case u.Host == "":
		return apperr.Invalid(field, "has no host: %q", raw)
	case u.User != nil:
		return apperr.Invalid(field, "must not carry a user name or password")
	}
	return nil
}

// NamingStep is one recorded step of a case.
type NamingStep struct {
	Kind              string    `json:"kind" bson:"kind"`
	StepTime          time.Time `json:"step_time" bson:"step_time"`
	Note              string    `json:"note,omitempty" bson:"note"`
	ExternalReference string    `json:"external_reference,omitempty" bson:"external_reference"`
	Recipient         string    `json:"recipient,omitempty" bson:"recipient"`
	StaffMemberAgreed bool      `json:"staff_member_agreed,omitempty" bson:"staff_member_agreed"`
	// Set from the event (actor and time), not from the request.
	RecordedBy string    `json:"-" bson:"recorded_by"`
	RecordTime time.Time `json:"-" bson:"record_time"`
}

// NamingPersonalRecord is the decision whether the matter goes on the staff
// member's personal record (C86).
type NamingPersonalRecord struct {
	OnPersonalRecord bool   `json:"on_personal_record" bson:"on_personal_record"`
	DecidedWith      string `json:"decided_with" bson:"decided_with"`
	Reason           string `json:"reason,omitempty" bson:"reason"`
	// Set from the event.
	RecordedBy string    `json:"-" bson:"recorded_by"`
	DecideTime time.Time `json:"-" bson:"decide_time"`
}

// PublicNamingOpened is the payload of EventStaffNamedPublicly. It holds
// the URL but never the material itself; notify-svc sends only the
// reference and a link.
type PublicNamingOpened struct {
	NamingReport
	Reference string `json:"reference"`
	Reporter  string `json:"reporter"`
	// LineManager of the staff member named when the case was opened, from
	// the staff directory.
	LineManager string `json:"line_manager,omitempty"`
}

// PublicNamingStepRecorded is the payload of EventPublicNamingStep.
type PublicNamingStepRecorded struct {
	Reference      string                `json:"reference"`
	StaffMember    string                `json:"staff_member"`
	Step           NamingStep            `json:"step"`
	PersonalRecord *NamingPersonalRecord `json:"personal_record_decision,omitempty"`
}

// PublicNaming is the current state of a case: a fold of its events.
type PublicNaming struct {
	ID             string `bson:"_id"`
	Organization   string `bson:"organization"`
	Reference      string `bson:"reference"`
	NamingReport   `bson:",inline"`
	Reporter       string                `bson:"reporter"`
	LineManager    string                `bson:"line_manager"`
	State          string                `bson:"state"`
	Steps          []NamingStep          `bson:"steps"`
	PersonalRecord *NamingPersonalRecord `bson:"personal_record,omitempty"`
	CreateTime     time.Time             `bson:"create_time"`
	UpdateTime     time.Time             `bson:"update_time"`
	Version        int64                 `bson:"version"`
}

// Name is the case's resource name.
func (c PublicNaming) Name() string { return "publicNamings/" + c.ID }

// HasStep reports whether a step of kind was recorded.
func (c PublicNaming) HasStep(kind string) bool {
	return slices.ContainsFunc(c.Steps, func(s NamingStep) bool { return s.Kind == kind })
}

// NamingActor is who acts on a case, with the one fact the domain cannot
// know by itself: whether they are the named staff member's line manager
// (the application asks the staff directory).
type NamingActor struct {
	StaffID     string
	Roles       []string
	LineManager bool
}

// NamingRecipientRoles are the roles that, besides the line manager, are
// told of a case and may read every case of their organisation: the roles
// the profile emails for it (Head of People and Corporate Communications at
// the council, the Senior Management Team at the board, C78) and the roles
// it gives the decisions of the flow (C82, C86).
func NamingRecipientRoles(p policy.Profile) []string {
	var roles []string
	add := func(r string) {
		if r != "" && !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	rule := p.Notifications[EventStaffNamedPublicly]
	for _, spec := range slices.Concat(rule.To, rule.Cc) {
		if r, ok := strings.CutPrefix(spec, "role:"); ok {
			add(r)
		}
	}
	for _, d := range []string{policy.RequestMaterialRemoval, policy.PersonalRecordDecision} {
		for _, r := range p.RolesFor(d) {
			add(r)
		}
	}
	return roles
}

// SeesAllNamings reports whether a holds one of the recipient roles.
func SeesAllNamings(p policy.Profile, a NamingActor) bool {
	return hasAny(a.Roles, NamingRecipientRoles(p))
}

func hasAny(have, want []string) bool {
	return slices.ContainsFunc(want, func(r string) bool { return slices.Contains(have, r) })
}

// MayRead says whether a may read the case (C79: no wider than needed):
// the staff member named, their line manager, whoever reported it and the
// profile's recipients. Nobody else.
func (c PublicNaming) MayRead(p policy.Profile, a NamingActor) bool {
	return a.StaffID == c.StaffMember || a.StaffID == c.Reporter || a.LineManager || SeesAllNamings(p, a)
}

// OpenPublicNaming returns the first event of a new case.
func OpenPublicNaming(id, org, reference, reporter, lineManager string, r NamingReport, now time.Time) (eventlog.Event, error) {
	return eventlog.Next(nil, eventlog.Change{
		AggregateType: PublicNamingAggregateType, AggregateID: id, Type: EventStaffNamedPublicly,
		Organization: org, Actor: reporter, Time: now,
		Data: PublicNamingOpened{NamingReport: r, Reference: reference, Reporter: reporter, LineManager: lineManager},
	})
}

// StepCommand is a request to record a step.
type StepCommand struct {
	Step           NamingStep
	PersonalRecord *NamingPersonalRecord
	// ExpectedVersion, when not 0, must be the case's current version.
	ExpectedVersion int64
}

// RecordNamingStep checks a step against the policy and returns the event
// that records it. history is the case's events in order.
func RecordNamingStep(history []eventlog.Event, p policy.Profile, a NamingActor, cmd StepCommand, now time.Time) (eventlog.Event, error) {
	c, err := FoldPublicNaming(history)
	if err != nil {
		return eventlog.Event{}, err
	}
	if !c.MayRead(p, a) {
		return eventlog.Event{}, apperr.Denied("only the staff member named, their line manager, whoever reported it and the people the policy names may act on case %s (C79)", c.Reference)
	}
	if cmd.ExpectedVersion != 0 && cmd.ExpectedVersion != c.Version {
		return eventlog.Event{}, apperr.Conflict("case %s is at version %d, not %d: someone else changed it; reload it and try again", c.Reference, c.Version, cmd.ExpectedVersion)
	}
	step, rec, err := c.checkStep(p, a, cmd, now)
	if err != nil {
		return eventlog.Event{}, err
	}
	return eventlog.Next(history, eventlog.Change{
		AggregateType: PublicNamingAggregateType, AggregateID: c.ID, Type: EventPublicNamingStep,
		Organization: c.Organization, Actor: a.StaffID, Time: now,
		Data: PublicNamingStepRecorded{Reference: c.Reference, StaffMember: c.StaffMember, Step: step, PersonalRecord: rec},
	})
}

func (c PublicNaming) checkStep(p policy.Profile, a NamingActor, cmd StepCommand, now time.Time) (NamingStep, *NamingPersonalRecord, error) {
	s := cmd.Step
	s.Note = strings.TrimSpace(s.Note)
	s.ExternalReference = strings.TrimSpace(s.ExternalReference)
	s.Recipient = strings.TrimSpace(s.Recipient)
	s.RecordedBy, s.RecordTime = "", time.Time{}

	if s.Kind == "" {
		return s, nil, apperr.Invalid("step.kind", "say which step was taken (one of %s)", strings.Join(NamingStepKinds, ", "))
	}
	if !slices.Contains(NamingStepKinds, s.Kind) {
		return s, nil, apperr.Invalid("step.kind", "unknown step %q (one of %s)", s.Kind, strings.Join(NamingStepKinds, ", "))
	}
	switch {
	case s.StepTime.IsZero():
		s.StepTime = now
	case s.StepTime.After(now.Add(futureTolerance)):
		return s, nil, apperr.Invalid("step.step_time", "is in the future (%s); give the time the step was taken", s.StepTime.UTC().Format(time.RFC3339))
	case s.StepTime.Before(earliest):
		return s, nil, apperr.Invalid("step.step_time", "is before %d; check the date", earliest.Year())
	}
	s.StepTime = s.StepTime.UTC().Truncate(time.Millisecond)
	if err := maxLen("step.note", s.Note, MaxReason); err != nil {
		return s, nil, err
	}
	if err := maxLen("step.external_reference", s.ExternalReference, MaxNamingExternalRe); err != nil {
		return s, nil, err
	}
	if err := maxLen("step.recipient", s.Recipient, MaxShortText); err != nil {
		return s, nil, err
	}
	if s.StaffMemberAgreed && s.Kind != NamingStepReportedToPolice && s.Kind != NamingStepPersonalRecordDecided {
		return s, nil, apperr.Invalid("step.staff_member_agreed", "is recorded only for %s (C84) and %s (C86)", NamingStepReportedToPolice, NamingStepPersonalRecordDecided)
	}
	if cmd.PersonalRecord != nil && s.Kind != NamingStepPersonalRecordDecided {
		return s, nil, apperr.Invalid("personal_record_decision", "is given only with a %s step", NamingStepPersonalRecordDecided)
	}
	if c.State == PublicNamingClosed {
		return s, nil, apperr.Precondition("case %s is closed; open a new case for new material", c.Reference)
	}
	named := a.StaffID == c.StaffMember

	switch s.Kind {
	case NamingStepStaffMemberInformed:
		// C80: the line manager tells the member of staff in private.
		if !a.LineManager {
			return s, nil, apperr.Denied("only the line manager of %s informs them of the material, in private (C80)", c.StaffMember)
		}
		if c.HasStep(NamingStepStaffMemberInformed) {
			return s, nil, apperr.Precondition("case %s already records that the staff member was informed", c.Reference)
		}
	case NamingStepReportedToPlatform:
		// C81: the member of staff or others, including the line manager.
		if s.ExternalReference == "" {
			return s, nil, apperr.Invalid("step.external_reference", "give the platform's reference for the report (C81)")
		}
	case NamingStepRemovalRequested:
		// C82: the roles the profile names contact the editor or owner.
		if !p.Allows(policy.RequestMaterialRemoval, a.Roles) {
			return s, nil, apperr.Denied("at %s, removal of material is requested by %s (C82)", p.Name, strings.Join(p.RolesFor(policy.RequestMaterialRemoval), " or "))
		}
		if s.Recipient == "" {
			return s, nil, apperr.Invalid("step.recipient", "say to whom the request was sent (website owner or editor, C82)")
		}
	case NamingStepReportedToPolice:
		// C84: by the member of staff, or by their line manager on their
		// behalf if the member of staff agreed.
		switch {
		case named:
			s.StaffMemberAgreed = true
		case a.LineManager:
			if !s.StaffMemberAgreed {
				return s, nil, apperr.Invalid("step.staff_member_agreed", "a line manager reports to the police on the staff member's behalf only if they agreed: record their agreement (C84)")
			}
		default:
			return s, nil, apperr.Denied("a possible hate crime is reported to the police by %s or by their line manager on their behalf (C84)", c.StaffMember)
		}
	case NamingStepSupportOffered:
		// C85: support is offered to the member of staff, not by them.
		if named {
			return s, nil, apperr.Denied("support is offered to the staff member named by their line manager or the people the policy names (C85)")
		}
	case NamingStepPersonalRecordDecided:
		rec, err := c.checkPersonalRecord(p, a, s, cmd.PersonalRecord)
		return s, rec, err
	case NamingStepClosed:
		if !a.LineManager && !SeesAllNamings(p, a) {
			return s, nil, apperr.Denied("case %s is closed by the staff member's line manager or %s", c.Reference, strings.Join(NamingRecipientRoles(p), ", "))
		}
	}
	return s, nil, nil
}

// checkPersonalRecord applies C86: the affected individual decides with HR
// (council) / the Senior Management Team (board); the HR or SMT participant
// records it with the individual's agreement.
func (c PublicNaming) checkPersonalRecord(p policy.Profile, a NamingActor, s NamingStep, rec *NamingPersonalRecord) (*NamingPersonalRecord, error) {
	roles := strings.Join(p.RolesFor(policy.PersonalRecordDecision), " or ")
	if !p.Allows(policy.PersonalRecordDecision, a.Roles) {
		return nil, apperr.Denied("at %s, whether it goes on the staff member's personal record is decided by the individual with %s, who records it (C86)", p.Name, roles)
	}
	if a.StaffID == c.StaffMember {
		return nil, apperr.Denied("the decision is made by the individual together with another member of %s, who records it (C86)", roles)
	}
	if rec == nil {
		return nil, apperr.Invalid("personal_record_decision", "give the decision: whether it goes on the personal record, and why (C86)")
	}
	if !s.StaffMemberAgreed {
		return nil, apperr.Invalid("step.staff_member_agreed", "the decision is the individual's together with %s: record that %s agreed (C86)", roles, c.StaffMember)
	}
	if c.PersonalRecord != nil {
		return nil, apperr.Precondition("case %s already records the personal-record decision", c.Reference)
	}
	out := *rec
	out.Reason = strings.TrimSpace(out.Reason)
	out.DecidedWith = strings.TrimSpace(out.DecidedWith)
	out.RecordedBy, out.DecideTime = "", time.Time{}
	if out.DecidedWith == "" {
		out.DecidedWith = a.StaffID
	}
	if out.DecidedWith != a.StaffID {
		return nil, apperr.Invalid("personal_record_decision.decided_with", "the %s participant records the decision themselves: leave it empty or give your own staff id", roles)
	}
	if err := maxLen("personal_record_decision.reason", out.Reason, MaxReason); err != nil {
		return nil, err
	}
	return &out, nil
}

// FoldPublicNaming rebuilds a case from its events.
func FoldPublicNaming(events []eventlog.Event) (PublicNaming, error) {
	var c PublicNaming
	for _, e := range events {
		if e.AggregateType != PublicNamingAggregateType {
			return PublicNaming{}, fmt.Errorf("public naming %s: event %s is of a %s", e.AggregateID, e.ID, e.AggregateType)
		}
		switch e.Type {
		case EventStaffNamedPublicly:
			var p PublicNamingOpened
			if err := e.Decode(&p); err != nil {
				return PublicNaming{}, err
			}
			c = PublicNaming{
				ID: e.AggregateID, Organization: e.Organization, Reference: p.Reference, NamingReport: p.NamingReport,
				Reporter: p.Reporter, LineManager: p.LineManager, State: PublicNamingOpen, CreateTime: e.Time,
			}
		case EventPublicNamingStep:
			var p PublicNamingStepRecorded
			if err := e.Decode(&p); err != nil {
				return PublicNaming{}, err
			}
			step := p.Step
			step.RecordedBy, step.RecordTime = e.Actor, e.Time
			c.Steps = append(c.Steps, step)
			if p.PersonalRecord != nil {
				rec := *p.PersonalRecord
				rec.RecordedBy, rec.DecideTime = e.Actor, e.Time
				c.PersonalRecord = &rec
			}
			if step.Kind == NamingStepClosed {
				c.State = PublicNamingClosed
			}
		default:
			return PublicNaming{}, fmt.Errorf("public naming %s: unknown event type %q", e.AggregateID, e.Type)
		}
		c.UpdateTime = e.Time
		c.Version = e.Seq
	}
	return c, nil
}

// NamingSummary is the one-line, human summary of a case's event for its
// timeline, and the reason or note recorded with it. It never repeats the
// URL or the material.
func NamingSummary(e eventlog.Event) (summary, reason string) {
	switch e.Type {
	case EventStaffNamedPublicly:
		var p PublicNamingOpened
		_ = e.Decode(&p)
		return "Staff member named publicly: case opened for " + p.StaffMember, ""
	case EventPublicNamingStep:
		var p PublicNamingStepRecorded
		_ = e.Decode(&p)
		human := strings.ReplaceAll(p.Step.Kind, "_", " ")
		if r := p.PersonalRecord; r != nil {
			if r.OnPersonalRecord {
				return "Personal record decision: recorded on the personal record", r.Reason
			}
			return "Personal record decision: not recorded on the personal record", r.Reason
		}
		if p.Step.Kind == NamingStepReportedToPolice {
			human += ", with the staff member's agreement"
		}
		return "Step: " + human, p.Step.Note
	}
	return strings.ReplaceAll(e.Type, "_", " "), ""
}
