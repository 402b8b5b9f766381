package domain

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/policy"
)

// Event types of the decisions and records made on an incident.
const (
	EventUpdated                  = "incident.updated"
	EventZeroTolerance            = "incident.zero_tolerance" // notification type only, see notify-svc
	EventReviewed                 = "incident.reviewed"
	EventPoliceDecisionRecorded   = "incident.police_decision_recorded"
	EventWitnessRequested         = "incident.witness_statement_requested"
	EventWitnessRecorded          = "incident.witness_statement_recorded"
	EventRestorativeRecorded      = "incident.restorative_action_recorded"
	EventCorrespondenceDecided    = "incident.correspondence_decided"
	EventOnlineActionRecorded     = "incident.online_action_recorded"
	EventStaffSupportRecorded     = "incident.staff_support_recorded"
	EventOutsideContactDecided    = "incident.outside_contact_decided"
	EventClosed                   = "incident.closed"
	EventDebriefDue               = "incident.debrief_due"
	EventPoliceDecisionNeeded     = "incident.police_decision_needed"
	reviewOutcomeActiveManagement = "active_management"
	reviewOutcomeZeroTolerance    = "zero_tolerance"
)

// Review outcomes (C31, C37).
var ReviewOutcomes = []string{"no_further_action", "restorative_approach", reviewOutcomeActiveManagement, reviewOutcomeZeroTolerance}

// Police decision outcomes (C41-C45).
const (
	PoliceReported                = "reported"
	PoliceNotReported             = "not_reported"
	PoliceReportedByStaffNoManger = "reported_by_staff_no_manager"
)

// Kinds of restorative action (C17-C21, C10), online action (C38-C40) and
// staff support (C65-C70).
var (
	RestorativeKinds  = []string{"break", "early_intervention", "reasonable_adjustment", "multi_disciplinary", "pseudonymised_advice", "end_circular_conversation", "signposting", "other"}
	OnlineActionKinds = []string{"account_blocked", "reported_to_platform", "channels_limited", "treated_as_physical_threat", "other"}
	SupportKinds      = []string{"debrief", "employee_assistance_offered", "time_away", "no_contact_request", "removal_from_case", "senior_manager_correspondence"}
)

// Pending tasks of an incident.
const (
	TaskManagerReview          = "manager_review"
	TaskPoliceDecision         = "police_decision"
	TaskWitnessStatement       = "witness_statement"
	TaskDebrief                = "debrief"
	TaskOutsideContactDecision = "outside_contact_decision"
)

// Review is the manager review (C31, C37, C24).
type Review struct {
	UpdateRegister             bool      `json:"update_register" bson:"update_register"`
	CorrespondenceUnacceptable bool      `json:"correspondence_unacceptable,omitempty" bson:"correspondence_unacceptable"`
	Outcome                    string    `json:"outcome" bson:"outcome"`
	Reasons                    string    `json:"reasons" bson:"reasons"`
	OpenInvestigation          bool      `json:"open_investigation,omitempty" bson:"open_investigation"`
	InvestigationReference     string    `json:"investigation_reference,omitempty" bson:"investigation_reference"`
	ProposedArrangements       string    `json:"proposed_arrangements,omitempty" bson:"proposed_arrangements"`
	Reviewer                   string    `json:"reviewer" bson:"reviewer"`
	Time                       time.Time `json:"time" bson:"time"`
}

// PoliceDecision is the decision on reporting a physical threat (C41-C45).
type PoliceDecision struct {
	Outcome                  string    `json:"outcome" bson:"outcome"`
	CrimeReference           string    `json:"crime_reference,omitempty" bson:"crime_reference"`
	Reason                   string    `json:"reason,omitempty" bson:"reason"`
	StaffViewsConsidered     bool      `json:"staff_views_considered,omitempty" bson:"staff_views_considered"`
	ImpactOnOthersConsidered bool      `json:"impact_on_others_considered,omitempty" bson:"impact_on_others_considered"`
	ReportTime               time.Time `json:"report_time,omitempty" bson:"report_time"`
	DecidedBy                string    `json:"decided_by" bson:"decided_by"`
	Time                     time.Time `json:"time" bson:"time"`
}

// WitnessStatement is a statement asked of a witness (C44).
type WitnessStatement struct {
	WitnessID     string    `json:"witness_id" bson:"witness_id"`
	State         string    `json:"state" bson:"state"` // requested, recorded, declined
	Statement     string    `json:"statement,omitempty" bson:"statement"`
	Evidence      string    `json:"evidence,omitempty" bson:"evidence"`
	RequestedBy   string    `json:"requested_by,omitempty" bson:"requested_by"`
	RequestTime   time.Time `json:"request_time,omitempty" bson:"request_time"`
	RecordedBy    string    `json:"recorded_by,omitempty" bson:"recorded_by"`
	RecordTime    time.Time `json:"record_time,omitempty" bson:"record_time"`
	DeclineReason string    `json:"decline_reason,omitempty" bson:"decline_reason"`
}

// RestorativeAction is an action tried before restricting contact (C17-C21).
type RestorativeAction struct {
	Kind         string    `json:"kind" bson:"kind"`
	Description  string    `json:"description,omitempty" bson:"description"`
	Adviser      string    `json:"adviser,omitempty" bson:"adviser"`
	ActionTime   time.Time `json:"action_time,omitempty" bson:"action_time"`
	ReengageTime time.Time `json:"reengage_time,omitempty" bson:"reengage_time"`
	RecordedBy   string    `json:"recorded_by" bson:"recorded_by"`
	RecordTime   time.Time `json:"record_time" bson:"record_time"`
}

// CorrespondenceDecision decides written correspondence unacceptable (C35-C37).
type CorrespondenceDecision struct {
	Unacceptable           bool      `json:"unacceptable" bson:"unacceptable"`
	SenderInformed         bool      `json:"sender_informed,omitempty" bson:"sender_informed"`
	InformedBy             string    `json:"informed_by,omitempty" bson:"informed_by"`
	FromNonPersonalAccount bool      `json:"from_non_personal_account,omitempty" bson:"from_non_personal_account"`
	Account                string    `json:"account,omitempty" bson:"account"`
	WarningIssued          bool      `json:"warning_issued,omitempty" bson:"warning_issued"`
	InformTime             time.Time `json:"inform_time,omitempty" bson:"inform_time"`
	Reason                 string    `json:"reason" bson:"reason"`
	DecidedBy              string    `json:"decided_by" bson:"decided_by"`
	Time                   time.Time `json:"time" bson:"time"`
}

// OnlineAction is an action on online material (C38-C40).
type OnlineAction struct {
	Kind              string    `json:"kind" bson:"kind"`
	Platform          string    `json:"platform,omitempty" bson:"platform"`
	Account           string    `json:"account,omitempty" bson:"account"`
	PlatformReference string    `json:"platform_reference,omitempty" bson:"platform_reference"`
	URL               string    `json:"url,omitempty" bson:"url"`
	Note              string    `json:"note,omitempty" bson:"note"`
	ActionTime        time.Time `json:"action_time,omitempty" bson:"action_time"`
	RecordedBy        string    `json:"recorded_by" bson:"recorded_by"`
	RecordTime        time.Time `json:"record_time" bson:"record_time"`
}

// StaffSupport is support given to or asked for by staff (C65-C70).
type StaffSupport struct {
	Kind          string        `json:"kind" bson:"kind"`
	StaffID       string        `json:"staff_id" bson:"staff_id"`
	AgreedActions string        `json:"agreed_actions,omitempty" bson:"agreed_actions"`
	Note          string        `json:"note,omitempty" bson:"note"`
	ActionTime    time.Time     `json:"action_time,omitempty" bson:"action_time"`
	TimeAway      time.Duration `json:"time_away,omitempty" bson:"time_away"`
	SeniorManager string        `json:"senior_manager,omitempty" bson:"senior_manager"`
	Accepted      bool          `json:"accepted,omitempty" bson:"accepted"`
	RecordedBy    string        `json:"recorded_by" bson:"recorded_by"`
	RecordTime    time.Time     `json:"record_time" bson:"record_time"`
}

// OutsideContactDecision is the manager's decision on contact outside the
// office (C54-C55).
type OutsideContactDecision struct {
	Recorded            bool      `json:"recorded" bson:"recorded"`
	Reason              string    `json:"reason" bson:"reason"`
	ConflictsOfInterest []string  `json:"conflicts_of_interest,omitempty" bson:"conflicts_of_interest"`
	DecidedBy           string    `json:"decided_by" bson:"decided_by"`
	Time                time.Time `json:"time" bson:"time"`
}

// Closure closes an incident.
type Closure struct {
	Reason   string    `json:"reason" bson:"reason"`
	ClosedBy string    `json:"closed_by" bson:"closed_by"`
	Time     time.Time `json:"time" bson:"time"`
}

// Actor is who takes a decision, with what the rules need to know of them.
type Actor struct {
	StaffID string
	Roles   []string
	Profile policy.Profile
}

func (a Actor) may(decision string) bool { return a.Profile.Allows(decision, a.Roles) }

func (a Actor) deny(decision, what string) error {
	return apperr.Denied("%s: in %s only %s may %s", a.Profile.Name, a.Profile.Name, strings.Join(a.Profile.RolesFor(decision), ", "), what)
}

// isManager says whether the actor reviews incidents (a manager in the
// policy's sense: supervisor, team leader or manager for the council; line
// manager or SMT for the board).
func (a Actor) isManager() bool { return a.may(policy.ReviewIncident) }

func (inc Incident) open() error {
	if inc.State == StateClosed {
		return apperr.Precondition("incident %s is closed; nothing more can be recorded on it", inc.Reference)
	}
	return nil
}

func required(field, v string, n int) error {
	if strings.TrimSpace(v) == "" {
		return apperr.Invalid(field, "is required")
	}
	return maxLen(field, v, n)
}

func optionalURL(field, v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return apperr.Invalid(field, "must be an http or https URL, got %q", v)
	}
	return maxLen(field, v, 2000)
}

func oneOf(field, v string, allowed []string) error {
	if v == "" {
		return apperr.Invalid(field, "is required (one of %s)", strings.Join(allowed, ", "))
	}
	if !slices.Contains(allowed, v) {
		return apperr.Invalid(field, "unknown value %q (one of %s)", v, strings.Join(allowed, ", "))
	}
	return nil
}

// DecideReview records the manager review (C31, C37; C24 for active
// management, which proposes a restriction). Only the profile's reviewers
// may decide; deciding that correspondence is unacceptable needs the
// profile's decide_correspondence_unacceptable role.
func DecideReview(inc Incident, a Actor, r Review, now time.Time) (Review, error) {
	if err := inc.open(); err != nil {
		return Review{}, err
	}
	if !a.may(policy.ReviewIncident) {
		return Review{}, a.deny(policy.ReviewIncident, "review an incident")
	}
	if r.CorrespondenceUnacceptable && !a.may(policy.DecideCorrespondenceUnacceptable) {
		return Review{}, a.deny(policy.DecideCorrespondenceUnacceptable, "decide that correspondence is unacceptable")
	}
	if err := oneOf("review.outcome", r.Outcome, ReviewOutcomes); err != nil {
		return Review{}, err
	}
	if err := required("review.reasons", r.Reasons, MaxReason); err != nil {
		return Review{}, err
	}
	if r.Outcome == reviewOutcomeActiveManagement && inc.Subject == "" {
		return Review{}, apperr.Precondition("active management restricts a customer's contact: link the incident to its subject first")
	}
	if r.InvestigationReference != "" && !r.OpenInvestigation {
		return Review{}, apperr.Invalid("review.investigation_reference", "is only for an opened Violence and Aggression investigation")
	}
	if err := maxLen("review.investigation_reference", r.InvestigationReference, MaxShortText); err != nil {
		return Review{}, err
	}
	if err := maxLen("review.proposed_arrangements", r.ProposedArrangements, MaxReason); err != nil {
		return Review{}, err
	}
	r.Reviewer, r.Time = a.StaffID, now
	return r, nil
}

// threatened reports whether staffID is a person threatened in the incident.
func (inc Incident) threatened(staffID string) bool { return inc.Involves(staffID) }

// DecidePolice records the police decision for a physical threat (C41-C45):
// normally reported, by anyone; not reported only by a manager who is not
// the person threatened, with the reason and the statement that the staff
// member's views and the impact on other staff were considered (C43); the
// threatened staff member may report it themselves when no manager is
// available (C45), recorded as such.
func DecidePolice(inc Incident, a Actor, d PoliceDecision, now time.Time) (PoliceDecision, error) {
	if err := inc.open(); err != nil {
		return PoliceDecision{}, err
	}
	if !inc.PhysicalThreat {
		return PoliceDecision{}, apperr.Precondition("incident %s is not marked as a physical threat: no police decision is needed (C41)", inc.Reference)
	}
	if err := oneOf("decision.outcome", d.Outcome, []string{PoliceReported, PoliceNotReported, PoliceReportedByStaffNoManger}); err != nil {
		return PoliceDecision{}, err
	}
	for field, v := range map[string]string{"decision.crime_reference": d.CrimeReference, "decision.reason": d.Reason} {
		if err := maxLen(field, v, MaxReason); err != nil {
			return PoliceDecision{}, err
		}
	}
	switch d.Outcome {
	case PoliceReported:
		if strings.TrimSpace(d.CrimeReference) == "" {
			return PoliceDecision{}, apperr.Invalid("decision.crime_reference", "give the police crime reference of the report")
		}
	case PoliceNotReported:
		if !a.may(policy.DecidePoliceNotReported) {
			return PoliceDecision{}, a.deny(policy.DecidePoliceNotReported, "decide not to report a physical threat to the police (C43)")
		}
		if inc.threatened(a.StaffID) {
			return PoliceDecision{}, apperr.Denied("a decision not to report a threat to the police cannot be taken by the person threatened (C43): another manager must take it")
		}
		if strings.TrimSpace(d.Reason) == "" {
			return PoliceDecision{}, apperr.Invalid("decision.reason", "record why the threat is not reported to the police (C43)")
		}
		if !d.StaffViewsConsidered {
			return PoliceDecision{}, apperr.Invalid("decision.staff_views_considered", "the staff member's views must be considered before deciding not to report (C43)")
		}
		if !d.ImpactOnOthersConsidered {
			return PoliceDecision{}, apperr.Invalid("decision.impact_on_others_considered", "the impact on other staff must be considered before deciding not to report (C43)")
		}
	case PoliceReportedByStaffNoManger:
		if !inc.threatened(a.StaffID) {
			return PoliceDecision{}, apperr.Denied("only the staff member threatened records that they reported to the police themselves because no manager was available (C45)")
		}
	}
	if !d.ReportTime.IsZero() && d.ReportTime.After(now.Add(futureTolerance)) {
		return PoliceDecision{}, apperr.Invalid("decision.report_time", "is in the future")
	}
	d.DecidedBy, d.Time = a.StaffID, now
	return d, nil
}

// RequestWitness asks a witness to put the event on record (C44). A new
// witness may be added with the request.
func RequestWitness(inc Incident, a Actor, witnessID string, w *Witness, now time.Time) (WitnessStatement, *Witness, error) {
	if err := inc.open(); err != nil {
		return WitnessStatement{}, nil, err
	}
	if !a.isManager() && inc.Reporter != a.StaffID {
		return WitnessStatement{}, nil, apperr.Denied("witness statements are requested by the reporter or a manager")
	}
	var added *Witness
	switch {
	case w != nil && witnessID != "":
		return WitnessStatement{}, nil, apperr.Invalid("witness_id", "give either an existing witness_id or a new witness, not both")
	case w != nil:
		if len(inc.Witnesses) >= MaxPeople {
			return WitnessStatement{}, nil, apperr.Invalid("witness", "at most %d witnesses", MaxPeople)
		}
		nw := *w
		nw.Name, nw.StaffID, nw.Contact = strings.TrimSpace(nw.Name), strings.TrimSpace(nw.StaffID), strings.TrimSpace(nw.Contact)
		if nw.Name == "" && nw.StaffID == "" {
			return WitnessStatement{}, nil, apperr.Invalid("witness.name", "give the witness's name or staff id")
		}
		if nw.StaffID != "" && !staffIDPattern.MatchString(nw.StaffID) {
			return WitnessStatement{}, nil, apperr.Invalid("witness.staff_id", "is not a staff id: %q", nw.StaffID)
		}
		if err := maxLen("witness.name", nw.Name, MaxShortText); err != nil {
			return WitnessStatement{}, nil, err
		}
		if err := maxLen("witness.contact", nw.Contact, MaxShortText); err != nil {
			return WitnessStatement{}, nil, err
		}
		nw.ID = "w" + itoa(len(inc.Witnesses)+1)
		witnessID, added = nw.ID, &nw
	case witnessID == "":
		return WitnessStatement{}, nil, apperr.Invalid("witness_id", "name the witness (w1, w2, ...) or give a new witness")
	default:
		if !slices.ContainsFunc(inc.Witnesses, func(w Witness) bool { return w.ID == witnessID }) {
			return WitnessStatement{}, nil, apperr.NotFound("witness %q is not a witness of incident %s", witnessID, inc.Reference)
		}
		if slices.ContainsFunc(inc.WitnessStatements, func(s WitnessStatement) bool { return s.WitnessID == witnessID && s.State == "requested" }) {
			return WitnessStatement{}, nil, apperr.Precondition("a statement from witness %s is already requested", witnessID)
		}
	}
	return WitnessStatement{WitnessID: witnessID, State: "requested", RequestedBy: a.StaffID, RequestTime: now}, added, nil
}

func itoa(n int) string {
	const digits = "0123456789"
	if n < 10 {
		return digits[n : n+1]
	}
	return itoa(n/10) + digits[n%10:n%10+1]
}

// RecordWitness records a requested statement, or that the witness declined.
func RecordWitness(inc Incident, a Actor, s WitnessStatement, declined bool, now time.Time) (WitnessStatement, error) {
	if err := inc.open(); err != nil {
		return WitnessStatement{}, err
	}
	i := slices.IndexFunc(inc.WitnessStatements, func(x WitnessStatement) bool { return x.WitnessID == s.WitnessID && x.State == "requested" })
	if i < 0 {
		return WitnessStatement{}, apperr.Precondition("no statement is requested from witness %q; request it first", s.WitnessID)
	}
	out := inc.WitnessStatements[i]
	if declined {
		if err := required("decline_reason", s.DeclineReason, MaxReason); err != nil {
			return WitnessStatement{}, err
		}
		out.State, out.DeclineReason = "declined", s.DeclineReason
	} else {
		if err := required("statement", s.Statement, MaxDescription); err != nil {
			return WitnessStatement{}, err
		}
		if s.Evidence != "" && !strings.HasPrefix(s.Evidence, "evidence/") {
			return WitnessStatement{}, apperr.Invalid("evidence", "must be an evidence name such as evidence/abc, got %q", s.Evidence)
		}
		out.State, out.Statement, out.Evidence = "recorded", s.Statement, s.Evidence
	}
	out.RecordedBy, out.RecordTime = a.StaffID, now
	return out, nil
}

// RecordRestorative records a restorative action (C17-C21, C10). Advice
// from an outside professional must be pseudonymised (C20): the adviser is
// named, the customer is not.
func RecordRestorative(inc Incident, a Actor, r RestorativeAction, now time.Time) (RestorativeAction, error) {
	if err := inc.open(); err != nil {
		return RestorativeAction{}, err
	}
	if err := oneOf("action.kind", r.Kind, RestorativeKinds); err != nil {
		return RestorativeAction{}, err
	}
	if err := maxLen("action.description", r.Description, MaxReason); err != nil {
		return RestorativeAction{}, err
	}
	if err := maxLen("action.adviser", r.Adviser, MaxShortText); err != nil {
		return RestorativeAction{}, err
	}
	if r.Kind == "pseudonymised_advice" && strings.TrimSpace(r.Adviser) == "" {
		return RestorativeAction{}, apperr.Invalid("action.adviser", "name the outside professional who gave the pseudonymised advice (C20)")
	}
	if r.Kind == "end_circular_conversation" && r.ReengageTime.IsZero() {
		return RestorativeAction{}, apperr.Invalid("action.reengage_time", "say when the conversation will be re-engaged (C21)")
	}
	if r.Kind == "other" && strings.TrimSpace(r.Description) == "" {
		return RestorativeAction{}, apperr.Invalid("action.description", "describe the action")
	}
	r.RecordedBy, r.RecordTime = a.StaffID, now
	return r, nil
}

// DecideCorrespondence decides whether written correspondence is
// unacceptable (C35-C37): only the profile's role decides; the sender is
// informed by a manager or from a non-personal account.
func DecideCorrespondence(inc Incident, a Actor, d CorrespondenceDecision, now time.Time) (CorrespondenceDecision, error) {
	if err := inc.open(); err != nil {
		return CorrespondenceDecision{}, err
	}
	if !a.may(policy.DecideCorrespondenceUnacceptable) {
		return CorrespondenceDecision{}, a.deny(policy.DecideCorrespondenceUnacceptable, "decide whether correspondence is unacceptable (C37)")
	}
	if err := required("decision.reason", d.Reason, MaxReason); err != nil {
		return CorrespondenceDecision{}, err
	}
	if err := maxLen("decision.account", d.Account, MaxShortText); err != nil {
		return CorrespondenceDecision{}, err
	}
	if (d.SenderInformed || d.WarningIssued) && !d.Unacceptable {
		return CorrespondenceDecision{}, apperr.Invalid("decision.unacceptable", "the sender is informed or warned only of correspondence decided unacceptable")
	}
	if d.SenderInformed {
		if d.InformedBy == "" {
			return CorrespondenceDecision{}, apperr.Invalid("decision.informed_by", "say who informed the sender")
		}
		if !staffIDPattern.MatchString(d.InformedBy) {
			return CorrespondenceDecision{}, apperr.Invalid("decision.informed_by", "is not a staff id: %q", d.InformedBy)
		}
		// C36: by a manager, or from a non-personal account.
		managerInformed := d.InformedBy == a.StaffID
		if !managerInformed && !d.FromNonPersonalAccount {
			return CorrespondenceDecision{}, apperr.Invalid("decision.from_non_personal_account", "the sender is informed by a manager or from a non-personal account (C36)")
		}
		if d.FromNonPersonalAccount && strings.TrimSpace(d.Account) == "" {
			return CorrespondenceDecision{}, apperr.Invalid("decision.account", "name the non-personal account the sender was informed from")
		}
	}
	d.DecidedBy, d.Time = a.StaffID, now
	return d, nil
}

// RecordOnline records an action on online material (C38-C40).
func RecordOnline(inc Incident, a Actor, o OnlineAction, now time.Time) (OnlineAction, error) {
	if err := inc.open(); err != nil {
		return OnlineAction{}, err
	}
	if err := oneOf("action.kind", o.Kind, OnlineActionKinds); err != nil {
		return OnlineAction{}, err
	}
	for field, v := range map[string]string{"action.platform": o.Platform, "action.account": o.Account, "action.platform_reference": o.PlatformReference} {
		if err := maxLen(field, v, MaxShortText); err != nil {
			return OnlineAction{}, err
		}
	}
	if err := maxLen("action.note", o.Note, MaxReason); err != nil {
		return OnlineAction{}, err
	}
	if err := optionalURL("action.url", o.URL); err != nil {
		return OnlineAction{}, err
	}
	switch o.Kind {
	case "account_blocked":
		if o.Platform == "" || o.Account == "" {
			return OnlineAction{}, apperr.Invalid("action.account", "name the platform and the account blocked (C38)")
		}
	case "reported_to_platform":
		if o.Platform == "" {
			return OnlineAction{}, apperr.Invalid("action.platform", "name the platform the content was reported to (C39)")
		}
		if o.PlatformReference == "" {
			return OnlineAction{}, apperr.Invalid("action.platform_reference", "give the platform's reference for the report (C39)")
		}
	case "treated_as_physical_threat":
		if !inc.PhysicalThreat {
			return OnlineAction{}, apperr.Precondition("mark the incident as a physical threat first: direct online threats are handled as physical threats (C40)")
		}
	}
	o.RecordedBy, o.RecordTime = a.StaffID, now
	return o, nil
}

// RecordSupport records support for staff (C65-C70). The debrief and the
// employee assistance offer are recorded by a manager; time away, a
// no-contact request, removal from the case and correspondence in a
// senior manager's name are asked by the staff member (or recorded for
// them by a manager).
func RecordSupport(inc Incident, a Actor, s StaffSupport, now time.Time) (StaffSupport, error) {
	if err := inc.open(); err != nil {
		return StaffSupport{}, err
	}
	if err := oneOf("support.kind", s.Kind, SupportKinds); err != nil {
		return StaffSupport{}, err
	}
	if !staffIDPattern.MatchString(s.StaffID) {
		return StaffSupport{}, apperr.Invalid("support.staff_id", "name the staff member supported (a staff id)")
	}
	if !inc.Involves(s.StaffID) && !slices.ContainsFunc(inc.Witnesses, func(w Witness) bool { return w.StaffID == s.StaffID }) {
		return StaffSupport{}, apperr.Invalid("support.staff_id", "%s was not involved in incident %s", s.StaffID, inc.Reference)
	}
	for field, v := range map[string]string{"support.agreed_actions": s.AgreedActions, "support.note": s.Note} {
		if err := maxLen(field, v, MaxReason); err != nil {
			return StaffSupport{}, err
		}
	}
	switch s.Kind {
	case "debrief", "employee_assistance_offered":
		if !a.isManager() {
			return StaffSupport{}, apperr.Denied("a debrief or an employee assistance offer is recorded by the staff member's manager (C68, C69)")
		}
		if s.Kind == "debrief" && strings.TrimSpace(s.AgreedActions) == "" {
			return StaffSupport{}, apperr.Invalid("support.agreed_actions", "note the actions agreed at the debrief (C68)")
		}
	default:
		if a.StaffID != s.StaffID && !a.isManager() {
			return StaffSupport{}, apperr.Denied("only the staff member or a manager records this request")
		}
		if s.Kind == "time_away" && s.TimeAway <= 0 {
			return StaffSupport{}, apperr.Invalid("support.time_away", "say how long the time away from contact is")
		}
		if s.Kind == "senior_manager_correspondence" && !staffIDPattern.MatchString(s.SeniorManager) {
			return StaffSupport{}, apperr.Invalid("support.senior_manager", "name the senior manager whose name correspondence goes out in (C70)")
		}
	}
	s.RecordedBy, s.RecordTime = a.StaffID, now
	return s, nil
}

// DecideOutsideContact records the manager's decision whether contact
// outside the office is recorded, with conflicts of interest (C54-C55).
func DecideOutsideContact(inc Incident, a Actor, d OutsideContactDecision, now time.Time) (OutsideContactDecision, error) {
	if err := inc.open(); err != nil {
		return OutsideContactDecision{}, err
	}
	if !a.isManager() {
		return OutsideContactDecision{}, a.deny(policy.ReviewIncident, "decide whether contact outside the office is recorded (C54)")
	}
	if !slices.Contains(inc.Categories, "contact_outside_office") && inc.Channel != "outside_office" {
		return OutsideContactDecision{}, apperr.Precondition("incident %s is not about contact outside the office", inc.Reference)
	}
	if err := required("decision.reason", d.Reason, MaxReason); err != nil {
		return OutsideContactDecision{}, err
	}
	if len(d.ConflictsOfInterest) > MaxPeople {
		return OutsideContactDecision{}, apperr.Invalid("decision.conflicts_of_interest", "at most %d entries", MaxPeople)
	}
	for i, c := range d.ConflictsOfInterest {
		if err := required("decision.conflicts_of_interest["+itoa(i)+"]", c, MaxReason); err != nil {
			return OutsideContactDecision{}, err
		}
	}
	d.DecidedBy, d.Time = a.StaffID, now
	return d, nil
}

// DecideClose closes an incident (a manager, with a reason).
func DecideClose(inc Incident, a Actor, reason string, now time.Time) (Closure, error) {
	if err := inc.open(); err != nil {
		return Closure{}, err
	}
	if !a.isManager() {
		return Closure{}, a.deny(policy.ReviewIncident, "close an incident")
	}
	if err := required("reason", reason, MaxReason); err != nil {
		return Closure{}, err
	}
	return Closure{Reason: reason, ClosedBy: a.StaffID, Time: now}, nil
}

// PendingTasks lists what is still to be decided on an incident.
func (inc Incident) PendingTasks() []string {
	if inc.State == StateClosed {
		return nil
	}
	var tasks []string
	if inc.Review == nil {
		tasks = append(tasks, TaskManagerReview)
	}
	if inc.PhysicalThreat && inc.Police == nil {
		tasks = append(tasks, TaskPoliceDecision)
	}
	if slices.ContainsFunc(inc.WitnessStatements, func(s WitnessStatement) bool { return s.State == "requested" }) {
		tasks = append(tasks, TaskWitnessStatement)
	}
	if inc.debriefDue() && !slices.ContainsFunc(inc.Support, func(s StaffSupport) bool { return s.Kind == "debrief" }) {
		tasks = append(tasks, TaskDebrief)
	}
	if (slices.Contains(inc.Categories, "contact_outside_office") || inc.Channel == "outside_office") && inc.OutsideContact == nil {
		tasks = append(tasks, TaskOutsideContactDecision)
	}
	return tasks
}

// debriefDue: after a zero-tolerance incident or active management, staff
// involved are encouraged to have a debrief with their line manager (C68).
func (inc Incident) debriefDue() bool {
	return inc.ZeroTolerance || inc.Review != nil && (inc.Review.Outcome == reviewOutcomeZeroTolerance || inc.Review.Outcome == reviewOutcomeActiveManagement)
}
