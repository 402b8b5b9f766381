package domain

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/policy"
)

// AggregateType names restrictions in the event log.
const AggregateType = "restriction"

// Event types of a restriction (the stream "<prefix>:events:restriction").
const (
	EventProposed          = "restriction.proposed"
	EventUpdated           = "restriction.updated"
	EventDecided           = "restriction.decided"
	EventAppealLodged      = "restriction.appeal_lodged"
	EventAppealAssigned    = "restriction.appeal_assigned"
	EventAppealDecided     = "restriction.appeal_decided"
	EventReviewed          = "restriction.reviewed"
	EventVaried            = "restriction.varied"
	EventLifted            = "restriction.lifted"
	EventExpired           = "restriction.expired"
	EventReviewDue         = "restriction.review_due"
	EventReviewRescheduled = "restriction.review_rescheduled"
	EventLetterGenerated   = "restriction.letter_generated"
	EventNoticeRecorded    = "restriction.notice_recorded"
	EventShared            = "restriction.shared"
)

// States of a restriction.
const (
	StateProposed    = "proposed"
	StateActive      = "active"
	StateUnderAppeal = "under_appeal"
	StateVaried      = "varied"
	StateLifted      = "lifted"
	StateExpired     = "expired"
	StateRejected    = "rejected"
)

// InForceStates are the states in which a restriction applies (between its
// start and end times).
var InForceStates = []string{StateActive, StateUnderAppeal, StateVaried}

// Outcomes.
const (
	OutcomeImposed   = "imposed"
	OutcomeRejected  = "rejected"
	OutcomeUpheld    = "upheld"
	OutcomeVaried    = "varied"
	OutcomeLifted    = "lifted"
	OutcomeContinued = "continued"
)

// Appeal states.
const (
	AppealLodged   = "lodged"
	AppealAssigned = "assigned"
	AppealDecided  = "decided"
)

// DefaultAppealWorkingDays applies when a profile names no deadline.
const DefaultAppealWorkingDays = 20

var (
	subjectNamePattern = regexp.MustCompile(`^subjects/[A-Za-z0-9_-]{1,64}$`)
	incidentPattern    = regexp.MustCompile(`^incidents/[A-Za-z0-9_-]{1,64}$`)
	evidencePattern    = regexp.MustCompile(`^evidence/[A-Za-z0-9_-]{1,64}$`)
	clockSkew          = 5 * time.Minute
)

// Decision is the decision on a proposal.
type Decision struct {
	Outcome    string    `json:"outcome" bson:"outcome"`
	Reasons    string    `json:"reasons" bson:"reasons"`
	DecidedBy  string    `json:"decided_by" bson:"decided_by"`
	DecideTime time.Time `json:"decide_time" bson:"decide_time"`
}

// Appeal against a restriction (C24).
type Appeal struct {
	ID            string    `json:"id" bson:"id"`
	State         string    `json:"state" bson:"state"`
	Grounds       string    `json:"grounds" bson:"grounds"`
	LodgedBy      string    `json:"lodged_by" bson:"lodged_by"`
	LodgeTime     time.Time `json:"lodge_time" bson:"lodge_time"`
	ReceiveTime   time.Time `json:"receive_time" bson:"receive_time"`
	AppealOfficer string    `json:"appeal_officer,omitempty" bson:"appeal_officer"`
	AssignedBy    string    `json:"assigned_by,omitempty" bson:"assigned_by"`
	AssignTime    time.Time `json:"assign_time,omitzero" bson:"assign_time"`
	Outcome       string    `json:"outcome,omitempty" bson:"outcome"`
	Reasons       string    `json:"reasons,omitempty" bson:"reasons"`
	DecidedBy     string    `json:"decided_by,omitempty" bson:"decided_by"`
	DecideTime    time.Time `json:"decide_time,omitzero" bson:"decide_time"`
	VariedRules   []Rule    `json:"varied_rules,omitempty" bson:"varied_rules"`
	// StateBefore is the restriction's state when the appeal was lodged, to
	// return to when it is upheld.
	StateBefore string `json:"state_before" bson:"state_before"`
}

// Review of a restriction (C25).
type Review struct {
	Outcome            string    `json:"outcome" bson:"outcome"`
	Reasons            string    `json:"reasons" bson:"reasons"`
	ReviewedBy         string    `json:"reviewed_by" bson:"reviewed_by"`
	ReviewTime         time.Time `json:"review_time" bson:"review_time"`
	VariedRules        []Rule    `json:"varied_rules,omitempty" bson:"varied_rules"`
	NextReviewTime     time.Time `json:"next_review_time,omitzero" bson:"next_review_time"`
	ReviewWaivedReason string    `json:"review_waived_reason,omitempty" bson:"review_waived_reason"`
}

// Variation outside appeal and review.
type Variation struct {
	Rules    []Rule    `json:"rules" bson:"rules"`
	Reasons  string    `json:"reasons" bson:"reasons"`
	VariedBy string    `json:"varied_by" bson:"varied_by"`
	VaryTime time.Time `json:"vary_time" bson:"vary_time"`
}

// Lift records how a restriction was lifted.
type Lift struct {
	Reasons  string    `json:"reasons" bson:"reasons"`
	LiftedBy string    `json:"lifted_by" bson:"lifted_by"`
	LiftTime time.Time `json:"lift_time" bson:"lift_time"`
}

// Notice records how the subject was told, or why not (C13, C71).
type Notice struct {
	Told          bool      `json:"told" bson:"told"`
	Method        string    `json:"method,omitempty" bson:"method"`
	Letter        string    `json:"letter,omitempty" bson:"letter"`
	NotToldReason string    `json:"not_told_reason,omitempty" bson:"not_told_reason"`
	RecordedBy    string    `json:"recorded_by" bson:"recorded_by"`
	NoticeTime    time.Time `json:"notice_time" bson:"notice_time"`
}

// Sharing records who was told about a restriction (C77).
type Sharing struct {
	StaffIDs  []string  `json:"staff_ids,omitempty" bson:"staff_ids"`
	Teams     []string  `json:"teams,omitempty" bson:"teams"`
	Note      string    `json:"note,omitempty" bson:"note"`
	SharedBy  string    `json:"shared_by" bson:"shared_by"`
	ShareTime time.Time `json:"share_time" bson:"share_time"`
}

// Proposal is what a proposer (or an update of a proposal) gives.
type Proposal struct {
	Subject         string   `json:"subject" bson:"subject"`
	Rules           []Rule   `json:"rules" bson:"rules"`
	Incidents       []string `json:"incidents,omitempty" bson:"incidents"`
	Evidence        []string `json:"evidence,omitempty" bson:"evidence"`
	Behaviour       string   `json:"behaviour,omitempty" bson:"behaviour"`
	Impact          string   `json:"impact,omitempty" bson:"impact"`
	Proportionality string   `json:"proportionality,omitempty" bson:"proportionality"`
}

// Restriction is the current state of a restriction: a fold of its events.
type Restriction struct {
	ID                   string `bson:"_id"`
	Organization         string `bson:"organization"`
	Reference            string `bson:"reference"`
	Proposal             `bson:",inline"`
	State                string        `bson:"state"`
	ProposedBy           string        `bson:"proposed_by"`
	ProposeTime          time.Time     `bson:"propose_time"`
	ProposedFromIncident string        `bson:"proposed_from_incident"`
	StaffInvolved        []string      `bson:"staff_involved"`
	Decision             *Decision     `bson:"decision"`
	StartTime            time.Time     `bson:"start_time"`
	EndTime              time.Time     `bson:"end_time"`
	NoEndReason          string        `bson:"no_end_reason"`
	ReviewInterval       time.Duration `bson:"review_interval"`
	NextReviewTime       time.Time     `bson:"next_review_time"`
	ReviewWaivedReason   string        `bson:"review_waived_reason"`
	AppealDeadline       time.Time     `bson:"appeal_deadline"`
	Appeals              []Appeal      `bson:"appeals"`
	Reviews              []Review      `bson:"reviews"`
	Variations           []Variation   `bson:"variations"`
	Lift                 *Lift         `bson:"lift"`
	Notices              []Notice      `bson:"notices"`
	Sharing              []Sharing     `bson:"sharing"`
	Letters              []Letter      `bson:"-"`
	// ReviewDueNotified is the review date for which restriction.review_due
	// was recorded, so it is recorded once per date.
	ReviewDueNotified time.Time `bson:"review_due_notified"`
	// RestartedBy lists incidents that restarted the review clock.
	RestartedBy []string  `bson:"restarted_by"`
	CreateTime  time.Time `bson:"create_time"`
	UpdateTime  time.Time `bson:"update_time"`
	Version     int64     `bson:"version"`
}

// Name is the restriction's resource name.
func (r Restriction) Name() string { return "restrictions/" + r.ID }

// InForce reports whether the restriction's state makes it apply.
func (r Restriction) InForce() bool { return slices.Contains(InForceStates, r.State) }

// OpenAppeal returns the appeal not yet decided, if any.
func (r Restriction) OpenAppeal() (*Appeal, bool) {
	for i := range r.Appeals {
		if r.Appeals[i].State != AppealDecided {
			return &r.Appeals[i], true
		}
	}
	return nil, false
}

// Decider is the staff member who imposed the restriction, if decided.
func (r Restriction) Decider() string {
	if r.Decision == nil {
		return ""
	}
	return r.Decision.DecidedBy
}

// TookPartInDecision reports whether staffID proposed or decided the
// restriction: such a person may not hear its appeal (C24).
func (r Restriction) TookPartInDecision(staffID string) bool {
	return staffID == r.Decider() || staffID == r.ProposedBy
}

// AppealOfficers lists the officers assigned to its appeals.
func (r Restriction) AppealOfficers() []string {
	var out []string
	for _, a := range r.Appeals {
		if a.AppealOfficer != "" && !slices.Contains(out, a.AppealOfficer) {
			out = append(out, a.AppealOfficer)
		}
	}
	return out
}

// Payload is the data of every restriction event. Fields other services
// rely on (docs/development.md): reference, subject, state, channels,
// staff_involved, decider, appeal_officer.
type Payload struct {
	Reference     string   `json:"reference"`
	Subject       string   `json:"subject"`
	State         string   `json:"state"`
	Channels      []string `json:"channels"`
	StaffInvolved []string `json:"staff_involved"`
	Decider       string   `json:"decider,omitempty"`
	AppealOfficer string   `json:"appeal_officer,omitempty"`
	// ShareWith are the recipients the profile says must be told of a
	// decision, by affected channel (C77), e.g. "role:service_centre".
	ShareWith []string `json:"share_with,omitempty"`

	Proposal             *Proposal  `json:"proposal,omitempty"`
	ProposedFromIncident string     `json:"incident,omitempty"`
	Outcome              string     `json:"outcome,omitempty"`
	Reasons              string     `json:"reasons,omitempty"`
	Decision             *Decision  `json:"decision,omitempty"`
	StartTime            time.Time  `json:"start_time,omitzero"`
	EndTime              time.Time  `json:"end_time,omitzero"`
	NoEndReason          string     `json:"no_end_reason,omitempty"`
	ReviewInterval       int64      `json:"review_interval_seconds,omitempty"`
	NextReviewTime       time.Time  `json:"next_review_time,omitzero"`
	ReviewWaivedReason   string     `json:"review_waived_reason,omitempty"`
	AppealDeadline       time.Time  `json:"appeal_deadline,omitzero"`
	Rules                []Rule     `json:"rules,omitempty"`
	Appeal               *Appeal    `json:"appeal,omitempty"`
	Review               *Review    `json:"review,omitempty"`
	Variation            *Variation `json:"variation,omitempty"`
	Lift                 *Lift      `json:"lift,omitempty"`
	Letter               *Letter    `json:"letter,omitempty"`
	Notice               *Notice    `json:"notice,omitempty"`
	Sharing              *Sharing   `json:"sharing,omitempty"`
	DueTime              time.Time  `json:"due_time,omitzero"`
}

// Actor is who asks for a change: the verified identity and the profile of
// their organisation.
type Actor struct {
	identity.Identity
	Profile policy.Profile
}

// may reports whether the actor may take decision.
func (a Actor) may(decision string) bool { return a.Profile.Allows(decision, a.Roles) }

func (a Actor) rolesFor(decision string) string {
	return strings.ReplaceAll(strings.Join(a.Profile.RolesFor(decision), ", "), "_", " ")
}

// requireDecider checks that the actor may decide on a restriction with
// rules (C24), or, when the rules restrict the complaints process, that they
// hold the profile's role for that (C64).
func (a Actor) requireDecider(what string, rules ...[]Rule) error {
	for _, rs := range rules {
		if HasComplaintsRule(rs) {
			if !a.may(policy.RestrictComplaintsProcess) {
				return apperr.Denied("only the %s may %s a restriction of the complaints process in %s (C64)", a.rolesFor(policy.RestrictComplaintsProcess), what, a.Profile.Name)
			}
			return nil
		}
	}
	if !a.may(policy.DecideRestriction) {
		return apperr.Denied("only a %s may %s a restriction in %s (C24)", a.rolesFor(policy.DecideRestriction), what, a.Profile.Name)
	}
	return nil
}

// requireManager checks that the actor takes part in managing
// restrictions: deciding them, hearing appeals or restricting the
// complaints process. They write letters and record notices and sharing.
func (a Actor) requireManager(what string) error {
	if a.may(policy.DecideRestriction) || a.may(policy.HearAppeal) || a.may(policy.RestrictComplaintsProcess) {
		return nil
	}
	return apperr.Denied("only those who decide restrictions or hear appeals in %s may %s", a.Profile.Name, what)
}

// next builds the event that follows history for r.
func (r Restriction) next(history []eventlog.Event, typ string, actor string, now time.Time, p Payload) (eventlog.Event, error) {
	if p.Reference == "" {
		p.Reference = r.Reference
	}
	if p.Subject == "" {
		p.Subject = r.Subject
	}
	return eventlog.Next(history, eventlog.Change{
		AggregateType: AggregateType, AggregateID: r.ID, Type: typ,
		Organization: r.Organization, Actor: actor, Time: now, Data: p,
	})
}

// envelope fills the fields every event carries from the state the event
// leads to.
func envelope(after Restriction, profile policy.Profile) Payload {
	staff := append([]string(nil), after.StaffInvolved...)
	for _, s := range StaffNamed(after.Rules) {
		if !slices.Contains(staff, s) {
			staff = append(staff, s)
		}
	}
	p := Payload{
		Reference: after.Reference, Subject: after.Subject, State: after.State,
		Channels: AffectedChannels(after.Rules), StaffInvolved: staff, Decider: after.Decider(),
	}
	if staff == nil {
		p.StaffInvolved = []string{}
	}
	if a, ok := after.OpenAppeal(); ok {
		p.AppealOfficer = a.AppealOfficer
	} else if n := len(after.Appeals); n > 0 {
		p.AppealOfficer = after.Appeals[n-1].AppealOfficer
	}
	for _, c := range p.Channels {
		for _, rcp := range profile.RestrictionSharing[c] {
			if !slices.Contains(p.ShareWith, rcp) {
				p.ShareWith = append(p.ShareWith, rcp)
			}
		}
	}
	return p
}

// record validates the change by folding it onto r and returns the event.
func (r Restriction) record(history []eventlog.Event, typ, actor string, now time.Time, profile policy.Profile, fill func(*Payload)) (eventlog.Event, Restriction, error) {
	var p Payload
	fill(&p)
	// Fold once to learn the state after, then fill the envelope from it.
	probe, err := r.next(history, typ, actor, now, p)
	if err != nil {
		return eventlog.Event{}, Restriction{}, err
	}
	after, err := Apply(r, probe)
	if err != nil {
		return eventlog.Event{}, Restriction{}, err
	}
	env := envelope(after, profile)
	p.Reference, p.Subject, p.State, p.Channels, p.StaffInvolved = env.Reference, env.Subject, env.State, env.Channels, env.StaffInvolved
	p.Decider, p.AppealOfficer, p.ShareWith = env.Decider, env.AppealOfficer, env.ShareWith
	e, err := r.next(history, typ, actor, now, p)
	if err != nil {
		return eventlog.Event{}, Restriction{}, err
	}
	after, err = Apply(r, e)
	return e, after, err
}

// ValidateProposal checks a proposal as received (prefix: "restriction").
// rulesRequired is false only for proposals made by the system from an
// incident review, whose arrangements the decider sets.
func ValidateProposal(prefix string, p *Proposal, rulesRequired bool) error {
	field := func(n string) string { return prefix + "." + n }
	if !subjectNamePattern.MatchString(p.Subject) {
		return apperr.Invalid(field("subject"), "must be a subject name such as subjects/abc123, got %q", p.Subject)
	}
	if rulesRequired || len(p.Rules) > 0 {
		if err := ValidateRules(field("rules"), p.Rules); err != nil {
			return err
		}
	}
	return p.validateJustification(prefix)
}

func (p *Proposal) validateJustification(prefix string) error {
	field := func(n string) string {
		if prefix == "" {
			return n
		}
		return prefix + "." + n
	}
	p.Behaviour, p.Impact, p.Proportionality = strings.TrimSpace(p.Behaviour), strings.TrimSpace(p.Impact), strings.TrimSpace(p.Proportionality)
	for name, v := range map[string]string{"behaviour": p.Behaviour, "impact": p.Impact, "proportionality": p.Proportionality} {
		if err := maxLen(field(name), v, MaxText); err != nil {
			return err
		}
	}
	if err := validateNames(field("incidents"), p.Incidents, incidentPattern, "an incident name such as incidents/abc123"); err != nil {
		return err
	}
	return validateNames(field("evidence"), p.Evidence, evidencePattern, "an evidence name such as evidence/abc123")
}

func validateNames(field string, names []string, pattern *regexp.Regexp, what string) error {
	if len(names) > MaxPeople {
		return apperr.Invalid(field, "at most %d items", MaxPeople)
	}
	for i, n := range names {
		if !pattern.MatchString(n) {
			return apperr.Invalid(fmt.Sprintf("%s[%d]", field, i), "must be %s, got %q", what, n)
		}
		if slices.Contains(names[:i], n) {
			return apperr.Invalid(fmt.Sprintf("%s[%d]", field, i), "%s is listed twice", n)
		}
	}
	return nil
}

// Propose returns the first event of a new restriction (state proposed).
// Anyone may propose; it takes effect only once decided (C24). fromIncident
// is the incident whose review proposed it ("" for staff proposals).
func Propose(id, reference, fromIncident string, staffInvolved []string, actor Actor, p Proposal, now time.Time) (eventlog.Event, error) {
	r := Restriction{ID: id, Organization: actor.Organization, Reference: reference, StaffInvolved: staffInvolved}
	r.Subject = p.Subject
	e, _, err := r.record(nil, EventProposed, actor.StaffID, now, actor.Profile, func(pl *Payload) {
		pl.Proposal = &p
		pl.ProposedFromIncident = fromIncident
		pl.StaffInvolved = staffInvolved
	})
	return e, err
}

// Update changes a proposal's rules or justification; fields lists which
// (rules, incidents, evidence, behaviour, impact, proportionality).
func (r Restriction) Update(history []eventlog.Event, actor Actor, in Proposal, fields []string, now time.Time) (eventlog.Event, error) {
	if r.State != StateProposed {
		return eventlog.Event{}, apperr.Precondition("restriction %s is %s: only a proposal can be edited; an active restriction changes through :vary, :review or :decideAppeal", r.Reference, r.State)
	}
	if actor.StaffID != r.ProposedBy {
		if err := actor.requireDecider("change the proposal of", r.Rules, in.Rules); err != nil {
			return eventlog.Event{}, err
		}
	}
	p := r.Proposal
	for _, f := range fields {
		switch f {
		case "rules":
			p.Rules = in.Rules
			if err := ValidateRules("restriction.rules", p.Rules); err != nil {
				return eventlog.Event{}, err
			}
		case "incidents":
			p.Incidents = in.Incidents
		case "evidence":
			p.Evidence = in.Evidence
		case "behaviour":
			p.Behaviour = in.Behaviour
		case "impact":
			p.Impact = in.Impact
		case "proportionality":
			p.Proportionality = in.Proportionality
		default:
			return eventlog.Event{}, apperr.Invalid("update_mask", "field %q cannot be changed (rules, incidents, evidence, behaviour, impact, proportionality)", f)
		}
	}
	if err := p.validateJustification("restriction"); err != nil {
		return eventlog.Event{}, err
	}
	e, _, err := r.record(history, EventUpdated, actor.StaffID, now, actor.Profile, func(pl *Payload) { pl.Proposal = &p })
	return e, err
}

// DecideInput is a decision on a proposal (C24, C25).
type DecideInput struct {
	Outcome            string
	Reasons            string
	StartTime          time.Time
	EndTime            time.Time
	NoEndReason        string
	ReviewTime         time.Time
	ReviewInterval     time.Duration
	ReviewWaivedReason string
	// Overrides of the proposal, if given.
	Behaviour, Impact, Proportionality string
	Rules                              []Rule
}

// Decide imposes or rejects a proposal (C24). Imposing needs the profile's
// deciding role (C64: the complaints role for a complaints restriction), at
// least one linked incident or evidence item, the behaviour and its impact,
// a review date or a reason for waiving review (C25), and an end date or a
// reason for none.
func (r Restriction) Decide(history []eventlog.Event, actor Actor, in DecideInput, now time.Time) (eventlog.Event, error) {
	if r.State != StateProposed {
		return eventlog.Event{}, apperr.Precondition("restriction %s is already %s; only a proposal can be decided", r.Reference, r.State)
	}
	rules := r.Rules
	if len(in.Rules) > 0 {
		rules = in.Rules
	}
	if err := actor.requireDecider("decide", r.Rules, rules); err != nil {
		return eventlog.Event{}, err
	}
	in.Reasons = strings.TrimSpace(in.Reasons)
	if in.Reasons == "" {
		return eventlog.Event{}, apperr.Invalid("reasons", "give the reasons for the decision")
	}
	if err := maxLen("reasons", in.Reasons, MaxText); err != nil {
		return eventlog.Event{}, err
	}
	switch in.Outcome {
	case OutcomeRejected:
		e, _, err := r.record(history, EventDecided, actor.StaffID, now, actor.Profile, func(p *Payload) {
			p.Decision = &Decision{Outcome: OutcomeRejected, Reasons: in.Reasons, DecidedBy: actor.StaffID, DecideTime: now}
		})
		return e, err
	case OutcomeImposed:
	case "":
		return eventlog.Event{}, apperr.Invalid("outcome", "say whether the restriction is imposed or rejected")
	default:
		return eventlog.Event{}, apperr.Invalid("outcome", "unknown outcome %q", in.Outcome)
	}
	if len(in.Rules) > 0 {
		if err := ValidateRules("rules", in.Rules); err != nil {
			return eventlog.Event{}, err
		}
	} else if len(rules) == 0 {
		return eventlog.Event{}, apperr.Invalid("rules", "the proposal has no arrangements yet: give the rules to impose")
	}
	p := r.Proposal
	p.Rules = rules
	if in.Behaviour != "" {
		p.Behaviour = in.Behaviour
	}
	if in.Impact != "" {
		p.Impact = in.Impact
	}
	if in.Proportionality != "" {
		p.Proportionality = in.Proportionality
	}
	if err := p.validateJustification(""); err != nil {
		return eventlog.Event{}, err
	}
	if len(p.Incidents) == 0 && len(p.Evidence) == 0 {
		return eventlog.Event{}, apperr.Invalid("incidents", "a restriction must be supported by evidence: link at least one incident or evidence item (C24)")
	}
	if p.Behaviour == "" {
		return eventlog.Event{}, apperr.Invalid("behaviour", "state the behaviour that makes the restriction necessary (C13, C15)")
	}
	if p.Impact == "" {
		return eventlog.Event{}, apperr.Invalid("impact", "state the behaviour's impact on staff or the service (C13, C15)")
	}
	start := in.StartTime
	if start.IsZero() {
		start = now
	}
	if start.Before(now.Add(-clockSkew)) {
		return eventlog.Event{}, apperr.Invalid("start_time", "is in the past (%s); a restriction takes effect now or later", start.UTC().Format(time.RFC3339))
	}
	in.NoEndReason = strings.TrimSpace(in.NoEndReason)
	switch {
	case !in.EndTime.IsZero() && in.NoEndReason != "":
		return eventlog.Event{}, apperr.Invalid("no_end_reason", "give an end time or a reason for none, not both")
	case !in.EndTime.IsZero() && !in.EndTime.After(start):
		return eventlog.Event{}, apperr.Invalid("end_time", "must be after the start (%s), got %s", start.UTC().Format(time.RFC3339), in.EndTime.UTC().Format(time.RFC3339))
	case in.EndTime.IsZero() && in.NoEndReason == "":
		return eventlog.Event{}, apperr.Invalid("end_time", "give an end time, or a reason in no_end_reason why the restriction has none")
	}
	if err := maxLen("no_end_reason", in.NoEndReason, MaxText); err != nil {
		return eventlog.Event{}, err
	}
	if in.ReviewInterval < 0 {
		return eventlog.Event{}, apperr.Invalid("review_interval", "must not be negative, got %s", in.ReviewInterval)
	}
	next, waived, err := reviewSchedule("review_time", "review_waived_reason", in.ReviewTime, in.ReviewWaivedReason, in.ReviewInterval, now)
	if err != nil {
		return eventlog.Event{}, err
	}
	days := actor.Profile.AppealDeadlineWorkingDays
	if days <= 0 {
		days = DefaultAppealWorkingDays
	}
	e, _, err := r.record(history, EventDecided, actor.StaffID, now, actor.Profile, func(pl *Payload) {
		pl.Decision = &Decision{Outcome: OutcomeImposed, Reasons: in.Reasons, DecidedBy: actor.StaffID, DecideTime: now}
		pl.Proposal = &p
		pl.StartTime, pl.EndTime, pl.NoEndReason = start, in.EndTime, in.NoEndReason
		pl.ReviewInterval = int64(in.ReviewInterval / time.Second)
		pl.NextReviewTime, pl.ReviewWaivedReason = next, waived
		pl.AppealDeadline = AppealDeadline(now, days, actor.Profile.IsPublicHoliday)
	})
	return e, err
}

// reviewSchedule checks a next review date or a reason for waiving review
// (C25); without either, the interval (if any) gives the date.
func reviewSchedule(timeField, reasonField string, at time.Time, waived string, interval time.Duration, now time.Time) (time.Time, string, error) {
	waived = strings.TrimSpace(waived)
	if err := maxLen(reasonField, waived, MaxText); err != nil {
		return time.Time{}, "", err
	}
	switch {
	case !at.IsZero() && waived != "":
		return time.Time{}, "", apperr.Invalid(reasonField, "give a review date or a reason for waiving review, not both")
	case !at.IsZero() && !at.After(now):
		return time.Time{}, "", apperr.Invalid(timeField, "is in the past (%s); the review must be in the future", at.UTC().Format(time.RFC3339))
	case !at.IsZero():
		return at, "", nil
	case waived != "":
		return time.Time{}, waived, nil
	case interval > 0:
		return now.Add(interval), "", nil
	}
	return time.Time{}, "", apperr.Invalid(timeField, "give the date of the first review, or a reason in %s why review is waived (C25)", reasonField)
}

// AppealDeadline is the last moment to lodge an appeal: the end of the
// working day (Monday to Friday, Europe/London, not a public holiday) that
// is days working days after from.
func AppealDeadline(from time.Time, days int, isPublicHoliday func(time.Time) bool) time.Time {
	loc := london()
	d := from.In(loc)
	day := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
	for n := 0; n < days; {
		day = day.AddDate(0, 0, 1)
		if wd := day.Weekday(); wd != time.Saturday && wd != time.Sunday && !isPublicHoliday(day) {
			n++
		}
	}
	return day.AddDate(0, 0, 1).Add(-time.Second).UTC()
}

// london is the UK time zone, loaded once: the contact check's volume
// periods use it on every call, and LoadLocation reads the zone database.
var london = sync.OnceValue(func() *time.Location {
	loc, err := time.LoadLocation(DefaultTimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
})

// LodgeAppeal records an appeal lodged by staff on the subject's behalf
// (C24), received by the deadline.
func (r Restriction) LodgeAppeal(history []eventlog.Event, actor Actor, grounds string, receive, now time.Time) (eventlog.Event, error) {
	if r.State != StateActive && r.State != StateVaried {
		return eventlog.Event{}, apperr.Precondition("restriction %s is %s: only a restriction in force can be appealed", r.Reference, r.State)
	}
	grounds = strings.TrimSpace(grounds)
	if grounds == "" {
		return eventlog.Event{}, apperr.Invalid("grounds", "give the subject's grounds of appeal, as they gave them")
	}
	if err := maxLen("grounds", grounds, MaxText); err != nil {
		return eventlog.Event{}, err
	}
	if receive.IsZero() {
		receive = now
	}
	if receive.After(now.Add(clockSkew)) {
		return eventlog.Event{}, apperr.Invalid("receive_time", "is in the future")
	}
	if !r.AppealDeadline.IsZero() && receive.After(r.AppealDeadline) {
		return eventlog.Event{}, apperr.Precondition("the appeal was received after the deadline of %s", FormatDate(r.AppealDeadline))
	}
	e, _, err := r.record(history, EventAppealLodged, actor.StaffID, now, actor.Profile, func(p *Payload) {
		p.Appeal = &Appeal{
			ID: fmt.Sprintf("a%d", len(r.Appeals)+1), State: AppealLodged, Grounds: grounds,
			LodgedBy: actor.StaffID, LodgeTime: now, ReceiveTime: receive, StateBefore: r.State,
		}
	})
	return e, err
}

// AssignAppeal assigns the open appeal to an officer who took no part in the
// original decision (C24). Holders of the appeal role or of the deciding
// role may assign; the officer's own role is checked when they decide.
func (r Restriction) AssignAppeal(history []eventlog.Event, actor Actor, officer string, now time.Time) (eventlog.Event, error) {
	a, ok := r.OpenAppeal()
	if !ok || r.State != StateUnderAppeal {
		return eventlog.Event{}, apperr.Precondition("restriction %s has no open appeal", r.Reference)
	}
	if !actor.may(policy.HearAppeal) && !actor.may(policy.DecideRestriction) {
		return eventlog.Event{}, apperr.Denied("only a %s or a %s may assign an appeal in %s", actor.rolesFor(policy.HearAppeal), actor.rolesFor(policy.DecideRestriction), actor.Profile.Name)
	}
	if !staffIDPattern.MatchString(officer) {
		return eventlog.Event{}, apperr.Invalid("appeal_officer", "give the staff id of the appeal officer, got %q", officer)
	}
	if r.TookPartInDecision(officer) {
		return eventlog.Event{}, apperr.Precondition("appeal_officer: %s took part in the original decision and may not hear the appeal (C24)", officer)
	}
	e, _, err := r.record(history, EventAppealAssigned, actor.StaffID, now, actor.Profile, func(p *Payload) {
		b := *a
		b.State, b.AppealOfficer, b.AssignedBy, b.AssignTime = AppealAssigned, officer, actor.StaffID, now
		p.Appeal = &b
	})
	return e, err
}

// DecideAppeal records the appeal's outcome (upheld, varied, lifted) with
// reasons, by the profile's appeal role, someone who took no part in the
// original decision and, once assigned, only the assigned officer (C24).
func (r Restriction) DecideAppeal(history []eventlog.Event, actor Actor, outcome, reasons string, varied []Rule, now time.Time) (eventlog.Event, error) {
	a, ok := r.OpenAppeal()
	if !ok || r.State != StateUnderAppeal {
		return eventlog.Event{}, apperr.Precondition("restriction %s has no open appeal", r.Reference)
	}
	if !actor.may(policy.HearAppeal) {
		return eventlog.Event{}, apperr.Denied("only the %s may decide an appeal in %s (C24)", actor.rolesFor(policy.HearAppeal), actor.Profile.Name)
	}
	if r.TookPartInDecision(actor.StaffID) {
		return eventlog.Event{}, apperr.Denied("you took part in the original decision on %s, so you may not decide its appeal (C24)", r.Reference)
	}
	if a.AppealOfficer != "" && a.AppealOfficer != actor.StaffID {
		return eventlog.Event{}, apperr.Denied("the appeal on %s is assigned to %s", r.Reference, a.AppealOfficer)
	}
	reasons = strings.TrimSpace(reasons)
	if err := outcomeChecks(outcome, reasons, varied, "varied_rules", []string{OutcomeUpheld, OutcomeVaried, OutcomeLifted}); err != nil {
		return eventlog.Event{}, err
	}
	e, _, err := r.record(history, EventAppealDecided, actor.StaffID, now, actor.Profile, func(p *Payload) {
		b := *a
		if b.AppealOfficer == "" {
			b.AppealOfficer, b.AssignedBy, b.AssignTime = actor.StaffID, actor.StaffID, now
		}
		b.State, b.Outcome, b.Reasons, b.DecidedBy, b.DecideTime = AppealDecided, outcome, reasons, actor.StaffID, now
		if outcome == OutcomeVaried {
			b.VariedRules = varied
		}
		p.Appeal = &b
		p.Outcome = outcome
	})
	return e, err
}

func outcomeChecks(outcome, reasons string, varied []Rule, variedField string, allowed []string) error {
	if outcome == "" {
		return apperr.Invalid("outcome", "give the outcome (one of %s)", strings.Join(allowed, ", "))
	}
	if !slices.Contains(allowed, outcome) {
		return apperr.Invalid("outcome", "unknown outcome %q (one of %s)", outcome, strings.Join(allowed, ", "))
	}
	if reasons == "" {
		return apperr.Invalid("reasons", "give the reasons")
	}
	if err := maxLen("reasons", reasons, MaxText); err != nil {
		return err
	}
	if outcome == OutcomeVaried {
		return ValidateRules(variedField, varied)
	}
	if len(varied) > 0 {
		return apperr.Invalid(variedField, "rules are given only when the outcome is varied")
	}
	return nil
}

// ReviewInput is a review (C25).
type ReviewInput struct {
	Outcome            string
	Reasons            string
	VariedRules        []Rule
	NextReviewTime     time.Time
	ReviewWaivedReason string
}

// Review records a review by the deciding role: continue, vary or lift, and
// the next review date or the reason review is waived (C25).
func (r Restriction) Review(history []eventlog.Event, actor Actor, in ReviewInput, now time.Time) (eventlog.Event, error) {
	if r.State != StateActive && r.State != StateVaried {
		return eventlog.Event{}, apperr.Precondition("restriction %s is %s: only a restriction in force without an open appeal can be reviewed", r.Reference, r.State)
	}
	if err := actor.requireDecider("review", r.Rules, in.VariedRules); err != nil {
		return eventlog.Event{}, err
	}
	in.Reasons = strings.TrimSpace(in.Reasons)
	if err := outcomeChecks(in.Outcome, in.Reasons, in.VariedRules, "varied_rules", []string{OutcomeContinued, OutcomeVaried, OutcomeLifted}); err != nil {
		return eventlog.Event{}, err
	}
	rv := Review{Outcome: in.Outcome, Reasons: in.Reasons, ReviewedBy: actor.StaffID, ReviewTime: now}
	if in.Outcome == OutcomeVaried {
		rv.VariedRules = in.VariedRules
	}
	if in.Outcome != OutcomeLifted {
		next, waived, err := reviewSchedule("next_review_time", "review_waived_reason", in.NextReviewTime, in.ReviewWaivedReason, r.ReviewInterval, now)
		if err != nil {
			return eventlog.Event{}, err
		}
		rv.NextReviewTime, rv.ReviewWaivedReason = next, waived
	}
	e, _, err := r.record(history, EventReviewed, actor.StaffID, now, actor.Profile, func(p *Payload) {
		p.Review = &rv
		p.Outcome = in.Outcome
	})
	return e, err
}

// Vary changes the rules of a restriction in force (state varied).
func (r Restriction) Vary(history []eventlog.Event, actor Actor, rules []Rule, reasons string, now time.Time) (eventlog.Event, error) {
	if r.State != StateActive && r.State != StateVaried {
		return eventlog.Event{}, apperr.Precondition("restriction %s is %s: only a restriction in force without an open appeal can be varied", r.Reference, r.State)
	}
	if err := actor.requireDecider("vary", r.Rules, rules); err != nil {
		return eventlog.Event{}, err
	}
	if err := ValidateRules("rules", rules); err != nil {
		return eventlog.Event{}, err
	}
	reasons = strings.TrimSpace(reasons)
	if reasons == "" {
		return eventlog.Event{}, apperr.Invalid("reasons", "give the reasons for the variation")
	}
	if err := maxLen("reasons", reasons, MaxText); err != nil {
		return eventlog.Event{}, err
	}
	e, _, err := r.record(history, EventVaried, actor.StaffID, now, actor.Profile, func(p *Payload) {
		p.Variation = &Variation{Rules: rules, Reasons: reasons, VariedBy: actor.StaffID, VaryTime: now}
	})
	return e, err
}

// LiftRestriction lifts a restriction in force (state lifted).
func (r Restriction) LiftRestriction(history []eventlog.Event, actor Actor, reasons string, now time.Time) (eventlog.Event, error) {
	if !r.InForce() {
		return eventlog.Event{}, apperr.Precondition("restriction %s is %s, not in force", r.Reference, r.State)
	}
	if err := actor.requireDecider("lift", r.Rules); err != nil {
		return eventlog.Event{}, err
	}
	reasons = strings.TrimSpace(reasons)
	if reasons == "" {
		return eventlog.Event{}, apperr.Invalid("reasons", "give the reasons for lifting the restriction")
	}
	if err := maxLen("reasons", reasons, MaxText); err != nil {
		return eventlog.Event{}, err
	}
	e, _, err := r.record(history, EventLifted, actor.StaffID, now, actor.Profile, func(p *Payload) {
		p.Lift = &Lift{Reasons: reasons, LiftedBy: actor.StaffID, LiftTime: now}
	})
	return e, err
}

// Expire records that a restriction in force reached its end time.
func (r Restriction) Expire(history []eventlog.Event, profile policy.Profile, now time.Time) (eventlog.Event, bool, error) {
	if !r.InForce() || r.EndTime.IsZero() || r.EndTime.After(now) {
		return eventlog.Event{}, false, nil
	}
	e, _, err := r.record(history, EventExpired, "system", now, profile, func(*Payload) {})
	return e, err == nil, err
}

// ReviewDue records, once per review date, that a review has fallen due.
func (r Restriction) ReviewDue(history []eventlog.Event, profile policy.Profile, now time.Time) (eventlog.Event, bool, error) {
	if !r.InForce() || r.NextReviewTime.IsZero() || r.NextReviewTime.After(now) || r.ReviewDueNotified.Equal(r.NextReviewTime) {
		return eventlog.Event{}, false, nil
	}
	e, _, err := r.record(history, EventReviewDue, "system", now, profile, func(p *Payload) { p.DueTime = r.NextReviewTime })
	return e, err == nil, err
}

// RestartReview moves the next review to a full interval from now, when the
// profile says a new incident for the subject restarts the clock.
func (r Restriction) RestartReview(history []eventlog.Event, profile policy.Profile, incident string, now time.Time) (eventlog.Event, bool, error) {
	if !profile.ReviewRestartsOnNewIncident || !r.InForce() || r.ReviewInterval <= 0 || slices.Contains(r.RestartedBy, incident) {
		return eventlog.Event{}, false, nil
	}
	e, _, err := r.record(history, EventReviewRescheduled, "system", now, profile, func(p *Payload) {
		p.NextReviewTime = now.Add(r.ReviewInterval)
		p.ProposedFromIncident = incident
	})
	return e, err == nil, err
}

// Notice methods.
var NoticeMethods = []string{"letter_post", "email", "in_person", "phone", "via_representative"}

// RecordNotice records how the subject was told, or why not (C13, C71).
func (r Restriction) RecordNotice(history []eventlog.Event, actor Actor, n Notice, now time.Time) (eventlog.Event, error) {
	if r.Decision == nil || r.Decision.Outcome != OutcomeImposed {
		return eventlog.Event{}, apperr.Precondition("restriction %s has not been imposed; there is nothing to tell the subject yet", r.Reference)
	}
	if err := actor.requireManager("record how the subject was told"); err != nil {
		return eventlog.Event{}, err
	}
	n.NotToldReason = strings.TrimSpace(n.NotToldReason)
	if n.Told {
		if !slices.Contains(NoticeMethods, n.Method) {
			return eventlog.Event{}, apperr.Invalid("notice.method", "say how the subject was told (one of %s)", strings.Join(NoticeMethods, ", "))
		}
		if n.NotToldReason != "" {
			return eventlog.Event{}, apperr.Invalid("notice.not_told_reason", "the subject was told, so there is no reason for not telling them")
		}
		if n.Letter != "" && !slices.ContainsFunc(r.Letters, func(l Letter) bool { return r.Name()+"/letters/"+l.ID == n.Letter }) {
			return eventlog.Event{}, apperr.NotFound("notice.letter: %s is not a letter of %s", n.Letter, r.Reference)
		}
	} else {
		if n.NotToldReason == "" {
			return eventlog.Event{}, apperr.Invalid("notice.not_told_reason", "record why the subject was not told (C13)")
		}
		if n.Method != "" || n.Letter != "" {
			return eventlog.Event{}, apperr.Invalid("notice.method", "the subject was not told, so give no method or letter")
		}
	}
	if err := maxLen("notice.not_told_reason", n.NotToldReason, MaxText); err != nil {
		return eventlog.Event{}, err
	}
	if n.NoticeTime.IsZero() || n.NoticeTime.After(now.Add(clockSkew)) {
		n.NoticeTime = now
	}
	n.RecordedBy = actor.StaffID
	e, _, err := r.record(history, EventNoticeRecorded, actor.StaffID, now, actor.Profile, func(p *Payload) { p.Notice = &n })
	return e, err
}

// RecordSharing records who was told about the restriction (C77).
func (r Restriction) RecordSharing(history []eventlog.Event, actor Actor, s Sharing, now time.Time) (eventlog.Event, error) {
	if r.State == StateProposed || r.State == StateRejected {
		return eventlog.Event{}, apperr.Precondition("restriction %s is %s: share it once it is imposed", r.Reference, r.State)
	}
	if err := actor.requireManager("record who was told"); err != nil {
		return eventlog.Event{}, err
	}
	if len(s.StaffIDs) == 0 && len(s.Teams) == 0 {
		return eventlog.Event{}, apperr.Invalid("sharing.staff_ids", "name the staff or teams who were told")
	}
	if err := validateStaffIDs("sharing.staff_ids", s.StaffIDs); err != nil {
		return eventlog.Event{}, err
	}
	for i, t := range s.Teams {
		s.Teams[i] = strings.TrimSpace(t)
		if s.Teams[i] == "" {
			return eventlog.Event{}, apperr.Invalid(fmt.Sprintf("sharing.teams[%d]", i), "is empty")
		}
		if err := maxLen(fmt.Sprintf("sharing.teams[%d]", i), s.Teams[i], MaxShortText); err != nil {
			return eventlog.Event{}, err
		}
	}
	if err := maxLen("sharing.note", s.Note, MaxText); err != nil {
		return eventlog.Event{}, err
	}
	if s.ShareTime.IsZero() || s.ShareTime.After(now.Add(clockSkew)) {
		s.ShareTime = now
	}
	s.SharedBy = actor.StaffID
	e, _, err := r.record(history, EventShared, actor.StaffID, now, actor.Profile, func(p *Payload) { p.Sharing = &s })
	return e, err
}

// GenerateLetter renders a letter of the given kind to the subject and
// returns the event that stores it with the restriction (C13, C71).
func (r Restriction) GenerateLetter(history []eventlog.Event, actor Actor, kind string, subject SubjectInfo, now time.Time) (eventlog.Event, Letter, error) {
	if err := actor.requireManager("write letters to the subject"); err != nil {
		return eventlog.Event{}, Letter{}, err
	}
	l, err := RenderLetter(r, kind, subject, actor.Profile, now)
	if err != nil {
		return eventlog.Event{}, Letter{}, err
	}
	l.ID = fmt.Sprintf("l%d", len(r.Letters)+1)
	l.Creator = actor.StaffID
	e, _, err := r.record(history, EventLetterGenerated, actor.StaffID, now, actor.Profile, func(p *Payload) { p.Letter = &l })
	return e, l, err
}

// Fold rebuilds a restriction from its events.
func Fold(events []eventlog.Event) (Restriction, error) {
	var r Restriction
	for _, e := range events {
		var err error
		if r, err = Apply(r, e); err != nil {
			return Restriction{}, err
		}
	}
	return r, nil
}

// Apply returns r after event e.
func Apply(r Restriction, e eventlog.Event) (Restriction, error) {
	var p Payload
	if err := e.Decode(&p); err != nil {
		return Restriction{}, err
	}
	// Copy the slices the event changes, so r's history is never shared.
	r.Appeals = slices.Clone(r.Appeals)
	switch e.Type {
	case EventProposed:
		r = Restriction{
			ID: e.AggregateID, Organization: e.Organization, Reference: p.Reference, State: StateProposed,
			ProposedBy: e.Actor, ProposeTime: e.Time, ProposedFromIncident: p.ProposedFromIncident,
			StaffInvolved: p.StaffInvolved, CreateTime: e.Time,
		}
		if p.Proposal != nil {
			r.Proposal = *p.Proposal
		}
	case EventUpdated:
		if p.Proposal != nil {
			r.Proposal = *p.Proposal
		}
	case EventDecided:
		r.Decision = p.Decision
		if p.Decision != nil && p.Decision.Outcome == OutcomeRejected {
			r.State = StateRejected
			break
		}
		r.State = StateActive
		if p.Proposal != nil {
			r.Proposal = *p.Proposal
		}
		r.StartTime, r.EndTime, r.NoEndReason = p.StartTime, p.EndTime, p.NoEndReason
		r.ReviewInterval = time.Duration(p.ReviewInterval) * time.Second
		r.NextReviewTime, r.ReviewWaivedReason = p.NextReviewTime, p.ReviewWaivedReason
		r.AppealDeadline = p.AppealDeadline
	case EventAppealLodged:
		r.Appeals = append(r.Appeals, *p.Appeal)
		r.State = StateUnderAppeal
	case EventAppealAssigned, EventAppealDecided:
		i := slices.IndexFunc(r.Appeals, func(a Appeal) bool { return a.ID == p.Appeal.ID })
		if i < 0 {
			return Restriction{}, fmt.Errorf("restriction %s: event %s names unknown appeal %s", e.AggregateID, e.ID, p.Appeal.ID)
		}
		r.Appeals[i] = *p.Appeal
		if e.Type == EventAppealDecided {
			switch p.Appeal.Outcome {
			case OutcomeUpheld:
				r.State = p.Appeal.StateBefore
			case OutcomeVaried:
				r.State, r.Rules = StateVaried, p.Appeal.VariedRules
			case OutcomeLifted:
				r.State = StateLifted
			}
		}
	case EventReviewed:
		r.Reviews = append(slices.Clone(r.Reviews), *p.Review)
		switch p.Review.Outcome {
		case OutcomeVaried:
			r.State, r.Rules = StateVaried, p.Review.VariedRules
		case OutcomeLifted:
			r.State = StateLifted
		}
		if p.Review.Outcome != OutcomeLifted {
			r.NextReviewTime, r.ReviewWaivedReason = p.Review.NextReviewTime, p.Review.ReviewWaivedReason
		}
	case EventVaried:
		r.Variations = append(slices.Clone(r.Variations), *p.Variation)
		r.State, r.Rules = StateVaried, p.Variation.Rules
	case EventLifted:
		r.State, r.Lift = StateLifted, p.Lift
	case EventExpired:
		r.State = StateExpired
	case EventReviewDue:
		r.ReviewDueNotified = p.DueTime
	case EventReviewRescheduled:
		r.NextReviewTime = p.NextReviewTime
		r.RestartedBy = append(slices.Clone(r.RestartedBy), p.ProposedFromIncident)
	case EventLetterGenerated:
		l := *p.Letter
		l.CreateTime = e.Time
		r.Letters = append(slices.Clone(r.Letters), l)
	case EventNoticeRecorded:
		r.Notices = append(slices.Clone(r.Notices), *p.Notice)
	case EventShared:
		r.Sharing = append(slices.Clone(r.Sharing), *p.Sharing)
	default:
		return Restriction{}, fmt.Errorf("restriction %s: unknown event type %q", e.AggregateID, e.Type)
	}
	r.UpdateTime = e.Time
	r.Version = e.Seq
	return r, nil
}
