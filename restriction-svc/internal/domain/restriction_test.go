package domain

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/directory"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/policy"
)

var now = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) // a Monday

func actor(t *testing.T, staffID string) Actor {
	t.Helper()
	m, ok := directory.Find(staffID)
	if !ok {
		t.Fatalf("no staff %s in the seed", staffID)
	}
	p, _ := policy.For(m.Organization)
	return Actor{Identity: identity.Identity{StaffID: m.ID, Organization: m.Organization, Roles: m.Roles}, Profile: p}
}

// aggregate is a restriction with its history, as the app layer keeps it.
type aggregate struct {
	t       *testing.T
	history []eventlog.Event
	r       Restriction
}

func (a *aggregate) apply(e eventlog.Event, err error) error {
	a.t.Helper()
	if err != nil {
		return err
	}
	r, err := Apply(a.r, e)
	if err != nil {
		a.t.Fatal(err)
	}
	a.history = append(a.history, e)
	a.r = r
	return nil
}

func (a *aggregate) must(e eventlog.Event, err error) {
	a.t.Helper()
	if err := a.apply(e, err); err != nil {
		a.t.Fatal(err)
	}
}

func proposal(rules ...Rule) Proposal {
	return Proposal{
		Subject: "subjects/s1", Rules: rules, Incidents: []string{"incidents/i1"},
		Behaviour: "Repeated abusive calls to the service centre.", Impact: "Staff distressed; other callers waited.",
	}
}

func proposed(t *testing.T, proposer string, rules ...Rule) *aggregate {
	t.Helper()
	a := &aggregate{t: t}
	p := actor(t, proposer)
	prop := proposal(rules...)
	if err := ValidateProposal("restriction", &prop, true); err != nil {
		t.Fatal(err)
	}
	a.must(Propose("r1", p.Profile.ReferencePrefix+"-R-2026-R1", "", nil, p, prop, now))
	return a
}

func decideInput() DecideInput {
	return DecideInput{Outcome: OutcomeImposed, Reasons: "Proportionate after warnings.", ReviewTime: now.AddDate(0, 3, 0), NoEndReason: "Until reviewed."}
}

// imposed returns a restriction proposed by a council officer and imposed
// by the council team leader (or by decider).
func imposed(t *testing.T, decider string, rules ...Rule) *aggregate {
	t.Helper()
	proposer := "hc-cso-1"
	if strings.HasPrefix(decider, "vb-") {
		proposer = "vb-staff-1"
	}
	a := proposed(t, proposer, rules...)
	a.must(a.r.Decide(a.history, actor(t, decider), decideInput(), now))
	return a
}

var automatedPhone = Rule{Kind: KindAutomatedService}

func wantKind(t *testing.T, err error, kind error, field string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error %v, want %v", err, kind)
	}
	if field == "" {
		return
	}
	var e *apperr.Error
	if !errors.As(err, &e) || e.Field != field {
		t.Fatalf("error %v names field %q, want %q", err, e.Field, field)
	}
}

// C24: a restriction is decided by a Supervisor, Team Leader or Manager
// (Council) or a line manager or member of the Senior Management Team
// (Board); others may propose but not decide.
func TestC24_DecidedOnlyByTheProfilesDecidingRole(t *testing.T) {
	tests := []struct {
		decider string
		allowed bool
	}{
		{"hc-tl-1", true}, {"hc-sup-1", true}, {"hc-mgr-1", true},
		{"hc-cso-1", false}, {"hc-sc-1", false}, {"hc-eco-1", false},
		{"vb-lm-1", true}, {"vb-smt-1", true},
		{"vb-staff-1", false}, {"vb-ass-1", true}, // the Assessor is in the Senior Management Team
		{"hc-ce-1", false}, // the Chief Executive decides complaints restrictions only (C64)
	}
	for _, tt := range tests {
		t.Run(tt.decider, func(t *testing.T) {
			proposer := "hc-cso-1"
			if strings.HasPrefix(tt.decider, "vb-") {
				proposer = "vb-staff-1"
			}
			a := proposed(t, proposer, automatedPhone)
			err := a.apply(a.r.Decide(a.history, actor(t, tt.decider), decideInput(), now))
			if tt.allowed {
				if err != nil {
					t.Fatal(err)
				}
				if a.r.State != StateActive || a.r.Decider() != tt.decider {
					t.Fatalf("state %s decider %s", a.r.State, a.r.Decider())
				}
				return
			}
			wantKind(t, err, apperr.ErrPermissionDenied, "")
		})
	}
}

// C24: proposals by others need the decision before they take effect.
func TestC24_AProposalDoesNotApplyUntilDecided(t *testing.T) {
	a := proposed(t, "hc-cso-1", automatedPhone)
	if Compile(a.r) != nil {
		t.Fatal("a proposal is compiled into the check")
	}
	a.must(a.r.Decide(a.history, actor(t, "hc-tl-1"), decideInput(), now))
	if Compile(a.r) == nil {
		t.Fatal("an imposed restriction is not in the check")
	}
	b := proposed(t, "hc-cso-1", automatedPhone)
	in := decideInput()
	in.Outcome = OutcomeRejected
	b.must(b.r.Decide(b.history, actor(t, "hc-tl-1"), in, now))
	if b.r.State != StateRejected || Compile(b.r) != nil {
		t.Fatalf("rejected proposal: state %s", b.r.State)
	}
}

// C24, C13, C15, C25: imposing needs evidence, the behaviour and impact, a
// review date or a reason for waiving review, and an end or a reason for none.
func TestC24_DecisionNeedsEvidenceJustificationReviewAndEnd(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Proposal, *DecideInput)
		field  string
	}{
		{"no incident or evidence", func(p *Proposal, _ *DecideInput) { p.Incidents = nil }, "incidents"},
		{"evidence alone is enough", func(p *Proposal, _ *DecideInput) { p.Incidents, p.Evidence = nil, []string{"evidence/e1"} }, ""},
		{"no behaviour", func(p *Proposal, _ *DecideInput) { p.Behaviour = "" }, "behaviour"},
		{"no impact", func(p *Proposal, _ *DecideInput) { p.Impact = " " }, "impact"},
		{"no review and no reason", func(_ *Proposal, in *DecideInput) { in.ReviewTime = time.Time{} }, "review_time"},
		{"review waived with reason", func(_ *Proposal, in *DecideInput) {
			in.ReviewTime, in.ReviewWaivedReason = time.Time{}, "To protect staff from violence."
		}, ""},
		{"review in the past", func(_ *Proposal, in *DecideInput) { in.ReviewTime = now.Add(-time.Hour) }, "review_time"},
		{"no end and no reason", func(_ *Proposal, in *DecideInput) { in.NoEndReason = "" }, "end_time"},
		{"end before start", func(_ *Proposal, in *DecideInput) {
			in.StartTime, in.EndTime, in.NoEndReason = now.Add(48*time.Hour), now.Add(24*time.Hour), ""
		}, "end_time"},
		{"start in the past", func(_ *Proposal, in *DecideInput) { in.StartTime = now.Add(-48 * time.Hour) }, "start_time"},
		{"negative review interval", func(_ *Proposal, in *DecideInput) { in.ReviewInterval = -time.Hour }, "review_interval"},
		{"no reasons", func(_ *Proposal, in *DecideInput) { in.Reasons = "" }, "reasons"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &aggregate{t: t}
			p := proposal(automatedPhone)
			in := decideInput()
			tt.change(&p, &in)
			a.must(Propose("r1", "HC-R-1", "", nil, actor(t, "hc-cso-1"), p, now))
			err := a.apply(a.r.Decide(a.history, actor(t, "hc-tl-1"), in, now))
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantKind(t, err, apperr.ErrInvalidArgument, tt.field)
		})
	}
}

// Invalid rules are refused, naming the field: unknown kind, negative
// limits, windows that end before they start, unparseable contact numbers.
func TestInvalidRulesNameTheField(t *testing.T) {
	tests := []struct {
		name  string
		rule  Rule
		field string
	}{
		{"no kind", Rule{}, "restriction.rules[0]"},
		{"unknown kind", Rule{Kind: "teleport"}, "restriction.rules[0]"},
		{"negative limit", Rule{Kind: KindVolumeLimit, MaxContacts: -1, Period: 7 * 24 * time.Hour}, "restriction.rules[0].volume_limit.max_contacts"},
		{"zero period", Rule{Kind: KindVolumeLimit, MaxContacts: 3}, "restriction.rules[0].volume_limit.period"},
		{"negative call duration", Rule{Kind: KindCallDurationLimit, MaxDuration: -time.Minute}, "restriction.rules[0].call_duration_limit.max_duration"},
		{"window ends before it starts", Rule{Kind: KindTimeWindows, Windows: []Window{{Start: "12:00", End: "10:00"}}}, "restriction.rules[0].time_windows.windows[0].end"},
		{"bad clock", Rule{Kind: KindTimeWindows, Windows: []Window{{Start: "9am", End: "10:00"}}}, "restriction.rules[0].time_windows.windows[0].start"},
		{"bad weekday", Rule{Kind: KindTimeWindows, Windows: []Window{{Days: []int{8}, Start: "09:00", End: "10:00"}}}, "restriction.rules[0].time_windows.windows[0].days[0]"},
		{"bad zone", Rule{Kind: KindTimeWindows, TimeZone: "Mars/Olympus", Windows: []Window{{Start: "09:00", End: "10:00"}}}, "restriction.rules[0].time_windows.time_zone"},
		{"unknown channel", Rule{Kind: KindChannelsOnly, Channels: []string{"pigeon"}}, "restriction.rules[0].channels_only.channels[0]"},
		{"no channels", Rule{Kind: KindChannelsOnly}, "restriction.rules[0].channels_only.channels"},
		{"unparseable phone", Rule{Kind: KindThirdPartyOnly, Representative: "A. Advocate", Contact: "call me maybe"}, "restriction.rules[0].third_party_only.contact"},
		{"no officer", Rule{Kind: KindNamedOfficer}, "restriction.rules[0].named_officer.staff_id"},
		{"no staff ids", Rule{Kind: KindStaffNoContact}, "restriction.rules[0].staff_no_contact.staff_ids"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := proposal(tt.rule)
			wantKind(t, ValidateProposal("restriction", &p, true), apperr.ErrInvalidArgument, tt.field)
		})
	}
	p := proposal()
	wantKind(t, ValidateProposal("restriction", &p, true), apperr.ErrInvalidArgument, "restriction.rules")
	p = proposal(automatedPhone)
	p.Subject = "bob"
	wantKind(t, ValidateProposal("restriction", &p, true), apperr.ErrInvalidArgument, "restriction.subject")
}

// C64: restricting the complaints process is decided only by the Chief
// Executive or Depute (Council), the Assessor or Depute Assessor (Board).
func TestC64_ComplaintsProcessRestrictedOnlyByTheProfilesRoles(t *testing.T) {
	complaints := Rule{Kind: KindComplaintsRestricted, Terms: "Complaints about the same matter are not investigated again."}
	tests := []struct {
		decider string
		allowed bool
	}{
		{"hc-tl-1", false}, {"hc-mgr-1", false}, {"hc-ce-1", true}, {"hc-dce-1", true},
		{"vb-lm-1", false}, {"vb-smt-1", false}, {"vb-ass-1", true}, {"vb-dass-1", true},
	}
	for _, tt := range tests {
		t.Run(tt.decider, func(t *testing.T) {
			proposer := "hc-cso-1"
			if strings.HasPrefix(tt.decider, "vb-") {
				proposer = "vb-staff-1"
			}
			a := proposed(t, proposer, complaints, automatedPhone)
			err := a.apply(a.r.Decide(a.history, actor(t, tt.decider), decideInput(), now))
			if tt.allowed != (err == nil) {
				t.Fatalf("allowed=%v, got %v", tt.allowed, err)
			}
			if !tt.allowed {
				wantKind(t, err, apperr.ErrPermissionDenied, "")
			}
		})
	}
	// Nor can a deciding manager add it by a variation.
	a := imposed(t, "hc-tl-1", automatedPhone)
	err := a.apply(a.r.Vary(a.history, actor(t, "hc-tl-1"), []Rule{complaints}, "Escalating complaints.", now))
	wantKind(t, err, apperr.ErrPermissionDenied, "")
}

// C24: the appeal goes to the Executive Chief Officer / Head of Service /
// Strategic Lead (Council) or the Assessor (Board); it is decided upheld,
// varied or lifted, with reasons, by someone who took no part in the decision.
func TestC24_AppealHeardByTheAppealRoleNeverByTheDecider(t *testing.T) {
	tests := []struct {
		name, decider, hearer string
		allowed               bool
	}{
		{"council executive chief officer", "hc-tl-1", "hc-eco-1", true},
		{"council head of service", "hc-tl-1", "hc-hos-1", true},
		{"council original decider", "hc-tl-1", "hc-tl-1", false},
		{"council manager is not an appeal role", "hc-tl-1", "hc-mgr-1", false},
		{"council head of service who decided it", "hc-hos-1", "hc-hos-1", false},
		{"board assessor", "vb-lm-1", "vb-ass-1", true},
		{"board depute assessor is not the appeal role", "vb-lm-1", "vb-dass-1", false},
		{"board original decider", "vb-lm-1", "vb-lm-1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := imposed(t, tt.decider, automatedPhone)
			lodger := "hc-cso-2"
			if strings.HasPrefix(tt.decider, "vb-") {
				lodger = "vb-staff-2"
			}
			a.must(a.r.LodgeAppeal(a.history, actor(t, lodger), "I was not abusive.", time.Time{}, now))
			if a.r.State != StateUnderAppeal {
				t.Fatalf("state %s", a.r.State)
			}
			err := a.apply(a.r.DecideAppeal(a.history, actor(t, tt.hearer), OutcomeUpheld, "The calls were abusive.", nil, now))
			if tt.allowed {
				if err != nil {
					t.Fatal(err)
				}
				if a.r.State != StateActive || a.r.Appeals[0].AppealOfficer != tt.hearer {
					t.Fatalf("after upheld appeal: %s, officer %s", a.r.State, a.r.Appeals[0].AppealOfficer)
				}
				return
			}
			wantKind(t, err, apperr.ErrPermissionDenied, "")
		})
	}
}

func TestC24_AppealAssignedToSomeoneWhoTookNoPartAndDecidedByThem(t *testing.T) {
	a := imposed(t, "hc-tl-1", automatedPhone)
	a.must(a.r.LodgeAppeal(a.history, actor(t, "hc-cso-2"), "Unfair.", time.Time{}, now))
	// The decider and the proposer took part.
	for _, officer := range []string{"hc-tl-1", "hc-cso-1"} {
		err := a.apply(a.r.AssignAppeal(a.history, actor(t, "hc-eco-1"), officer, now))
		wantKind(t, err, apperr.ErrFailedPrecondition, "")
	}
	// A customer service officer cannot assign.
	wantKind(t, a.apply(a.r.AssignAppeal(a.history, actor(t, "hc-cso-2"), "hc-eco-1", now)), apperr.ErrPermissionDenied, "")
	a.must(a.r.AssignAppeal(a.history, actor(t, "hc-tl-1"), "hc-hos-1", now))
	// Once assigned, another appeal officer may not decide it.
	wantKind(t, a.apply(a.r.DecideAppeal(a.history, actor(t, "hc-eco-1"), OutcomeLifted, "x", nil, now)), apperr.ErrPermissionDenied, "")
	// Varied needs the new rules.
	wantKind(t, a.apply(a.r.DecideAppeal(a.history, actor(t, "hc-hos-1"), OutcomeVaried, "Softer terms.", nil, now)), apperr.ErrInvalidArgument, "varied_rules")
	email := Rule{Kind: KindChannelsOnly, Channels: []string{Email}}
	a.must(a.r.DecideAppeal(a.history, actor(t, "hc-hos-1"), OutcomeVaried, "Softer terms.", []Rule{email}, now))
	if a.r.State != StateVaried || a.r.Rules[0].Kind != KindChannelsOnly {
		t.Fatalf("after varied appeal: %s %+v", a.r.State, a.r.Rules)
	}
	var p Payload
	_ = a.history[len(a.history)-1].Decode(&p)
	if p.Decider != "hc-tl-1" || p.AppealOfficer != "hc-hos-1" || p.Reference == "" || p.Subject != "subjects/s1" {
		t.Errorf("appeal_decided payload %+v", p)
	}
	// Lifted by appeal.
	b := imposed(t, "vb-lm-1", automatedPhone)
	b.must(b.r.LodgeAppeal(b.history, actor(t, "vb-staff-1"), "Unfair.", time.Time{}, now))
	b.must(b.r.DecideAppeal(b.history, actor(t, "vb-ass-1"), OutcomeLifted, "No longer needed.", nil, now))
	if b.r.State != StateLifted || Compile(b.r) != nil {
		t.Fatalf("after lifted appeal: %s", b.r.State)
	}
}

// C24 and the profile: an appeal must be lodged within the deadline (20
// working days by default).
func TestC24_AppealDeadlineIsTwentyWorkingDays(t *testing.T) {
	// Monday 23 November 2026 + 20 working days = Monday 21 December 2026,
	// or Tuesday 22 December when St Andrew's Day (Monday 30 November) is a
	// public holiday, as both profiles say.
	noHolidays := func(time.Time) bool { return false }
	if got, want := AppealDeadline(now, 20, noHolidays), time.Date(2026, 12, 21, 23, 59, 59, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("deadline without holidays %s, want %s", got, want)
	}
	council, _ := policy.For("highland-council")
	got := AppealDeadline(now, 20, council.IsPublicHoliday)
	want := time.Date(2026, 12, 22, 23, 59, 59, 0, time.UTC) // GMT in December
	if !got.Equal(want) {
		t.Fatalf("deadline %s, want %s", got, want)
	}
	// Over Christmas: Friday 18 December 2026 + 5 working days (21-24, then 29: 25 and 28 are holidays).
	if got, want := AppealDeadline(time.Date(2026, 12, 18, 10, 0, 0, 0, time.UTC), 5, council.IsPublicHoliday), time.Date(2026, 12, 29, 23, 59, 59, 0, time.UTC); !got.Equal(want) {
		t.Errorf("deadline over Christmas %s, want %s", got, want)
	}
	a := imposed(t, "hc-tl-1", automatedPhone)
	if !a.r.AppealDeadline.Equal(want) {
		t.Fatalf("restriction deadline %s", a.r.AppealDeadline)
	}
	late := want.Add(time.Hour)
	wantKind(t, a.apply(a.r.LodgeAppeal(a.history, actor(t, "hc-cso-1"), "Late.", late, late)), apperr.ErrFailedPrecondition, "")
	wantKind(t, a.apply(a.r.LodgeAppeal(a.history, actor(t, "hc-cso-1"), "", time.Time{}, now)), apperr.ErrInvalidArgument, "grounds")
	// Received in time, lodged later: accepted.
	a.must(a.r.LodgeAppeal(a.history, actor(t, "hc-cso-1"), "In time.", want.Add(-time.Hour), late))
}

// C25: reviews at set intervals, or waived with a recorded reason; an event
// when a review falls due, once per date.
func TestC25_ReviewsAndReviewsDue(t *testing.T) {
	a := imposed(t, "hc-tl-1", automatedPhone)
	p, _ := policy.For("highland-council")
	if _, ok, _ := a.r.ReviewDue(a.history, p, now); ok {
		t.Fatal("review due before its date")
	}
	later := a.r.NextReviewTime.Add(time.Minute)
	e, ok, err := a.r.ReviewDue(a.history, p, later)
	if !ok {
		t.Fatalf("review not due: %v", err)
	}
	a.must(e, err)
	if _, ok, _ := a.r.ReviewDue(a.history, p, later.Add(time.Hour)); ok {
		t.Fatal("review due recorded twice for one date")
	}
	// Only the deciding role reviews.
	wantKind(t, a.apply(a.r.Review(a.history, actor(t, "hc-cso-1"), ReviewInput{Outcome: OutcomeContinued, Reasons: "x", NextReviewTime: later.AddDate(0, 3, 0)}, later)), apperr.ErrPermissionDenied, "")
	wantKind(t, a.apply(a.r.Review(a.history, actor(t, "hc-sup-1"), ReviewInput{Outcome: OutcomeContinued, Reasons: "Still needed."}, later)), apperr.ErrInvalidArgument, "next_review_time")
	wantKind(t, a.apply(a.r.Review(a.history, actor(t, "hc-sup-1"), ReviewInput{Outcome: OutcomeContinued, Reasons: "Still needed.", NextReviewTime: now}, later)), apperr.ErrInvalidArgument, "next_review_time")
	a.must(a.r.Review(a.history, actor(t, "hc-sup-1"), ReviewInput{Outcome: OutcomeContinued, Reasons: "Still needed.", ReviewWaivedReason: "Violence: staff protected."}, later))
	if !a.r.NextReviewTime.IsZero() || a.r.ReviewWaivedReason == "" || len(a.r.Reviews) != 1 {
		t.Fatalf("after review: %+v", a.r.Reviews)
	}
	a.must(a.r.Review(a.history, actor(t, "hc-sup-1"), ReviewInput{Outcome: OutcomeLifted, Reasons: "Behaviour improved."}, later))
	if a.r.State != StateLifted {
		t.Fatalf("state %s", a.r.State)
	}
}

// C25 and the profile: whether a new incident restarts the review clock.
func TestC25_NewIncidentRestartsTheReviewClockOnlyWhereTheProfileSays(t *testing.T) {
	a := proposed(t, "hc-cso-1", automatedPhone)
	in := decideInput()
	in.ReviewTime, in.ReviewInterval = time.Time{}, 90*24*time.Hour
	a.must(a.r.Decide(a.history, actor(t, "hc-tl-1"), in, now))
	p, _ := policy.For("highland-council")
	later := now.AddDate(0, 1, 0)
	if _, ok, _ := a.r.RestartReview(a.history, p, "incidents/i2", later); ok {
		t.Fatal("the council profile does not restart the clock, but it restarted")
	}
	p.ReviewRestartsOnNewIncident = true
	e, ok, err := a.r.RestartReview(a.history, p, "incidents/i2", later)
	if !ok {
		t.Fatal(err)
	}
	a.must(e, err)
	if !a.r.NextReviewTime.Equal(later.Add(90 * 24 * time.Hour)) {
		t.Fatalf("next review %s", a.r.NextReviewTime)
	}
	if _, ok, _ := a.r.RestartReview(a.history, p, "incidents/i2", later.Add(time.Hour)); ok {
		t.Fatal("the same incident restarted the clock twice")
	}
}

// Lifecycle: vary and lift by the deciding role; expiry at the end time.
func TestLifecycleVaryLiftExpire(t *testing.T) {
	a := imposed(t, "hc-tl-1", automatedPhone)
	wantKind(t, a.apply(a.r.Vary(a.history, actor(t, "hc-tl-1"), nil, "x", now)), apperr.ErrInvalidArgument, "rules")
	a.must(a.r.Vary(a.history, actor(t, "hc-mgr-1"), []Rule{{Kind: KindChannelsOnly, Channels: []string{Email}}}, "Phone no longer used.", now))
	if a.r.State != StateVaried || len(a.r.Variations) != 1 {
		t.Fatalf("state %s", a.r.State)
	}
	wantKind(t, a.apply(a.r.LiftRestriction(a.history, actor(t, "hc-cso-1"), "x", now)), apperr.ErrPermissionDenied, "")
	a.must(a.r.LiftRestriction(a.history, actor(t, "hc-tl-1"), "Resolved.", now))
	if a.r.State != StateLifted || a.r.Lift.LiftedBy != "hc-tl-1" {
		t.Fatalf("state %s", a.r.State)
	}
	wantKind(t, a.apply(a.r.LiftRestriction(a.history, actor(t, "hc-tl-1"), "again", now)), apperr.ErrFailedPrecondition, "")

	b := proposed(t, "hc-cso-1", automatedPhone)
	in := decideInput()
	in.EndTime, in.NoEndReason = now.Add(24*time.Hour), ""
	b.must(b.r.Decide(b.history, actor(t, "hc-tl-1"), in, now))
	p, _ := policy.For("highland-council")
	if _, ok, _ := b.r.Expire(b.history, p, now); ok {
		t.Fatal("expired before its end")
	}
	e, ok, err := b.r.Expire(b.history, p, now.Add(25*time.Hour))
	if !ok {
		t.Fatal(err)
	}
	b.must(e, err)
	if b.r.State != StateExpired {
		t.Fatalf("state %s", b.r.State)
	}
	if _, ok := VerifyChain(b.history); !ok {
		t.Fatal("hash chain broken")
	}
}

// VerifyChain re-exports the event log check for the test above.
func VerifyChain(h []eventlog.Event) (string, bool) { return eventlog.VerifyChain(h) }

// C13, C71: the letter says what was decided and why, the arrangements, how
// long, when it will be reviewed, and how to appeal and by when.
func TestC71_DecisionLetterSaysWhatWhyHowLongReviewAndAppeal(t *testing.T) {
	for _, decider := range []string{"hc-tl-1", "vb-lm-1"} {
		t.Run(decider, func(t *testing.T) {
			a := imposed(t, decider, automatedPhone, Rule{Kind: KindVolumeLimit, Channel: Phone, MaxContacts: 3, Period: 7 * 24 * time.Hour})
			e, l, err := a.r.GenerateLetter(a.history, actor(t, decider), LetterDecision, SubjectInfo{DisplayName: "Jo Bloggs <script>"}, now)
			a.must(e, err)
			review, deadline := FormatDate(a.r.NextReviewTime), FormatDate(a.r.AppealDeadline)
			for _, want := range []string{"Dear Jo Bloggs", "Proportionate after warnings.", "Repeated abusive calls",
				"automated service", "up to 3 times a week", "no fixed end date", "Until reviewed.", review, deadline, a.r.Reference} {
				if !strings.Contains(l.Text, want) {
					t.Errorf("text lacks %q:\n%s", want, l.Text)
				}
				if !strings.Contains(l.HTML, strings.ReplaceAll(want, "<", "&lt;")) {
					t.Errorf("html lacks %q", want)
				}
			}
			if strings.Contains(l.HTML, "<script>") {
				t.Error("html does not escape the subject's name")
			}
			appealRole := map[string]string{"hc-tl-1": "executive chief officer", "vb-lm-1": "the assessor"}[decider]
			if !strings.Contains(l.Text, appealRole) {
				t.Errorf("letter does not name the appeal role %q", appealRole)
			}
			if len(a.r.Letters) != 1 || a.r.Letters[0].ID != "l1" || a.r.Letters[0].Text != l.Text {
				t.Errorf("letter not stored with the restriction: %+v", a.r.Letters)
			}
		})
	}
	a := proposed(t, "hc-cso-1", automatedPhone)
	_, _, err := a.r.GenerateLetter(a.history, actor(t, "hc-tl-1"), LetterDecision, SubjectInfo{}, now)
	wantKind(t, err, apperr.ErrFailedPrecondition, "")
	b := imposed(t, "hc-tl-1", automatedPhone)
	_, _, err = b.r.GenerateLetter(b.history, actor(t, "hc-tl-1"), "poem", SubjectInfo{}, now)
	wantKind(t, err, apperr.ErrInvalidArgument, "kind")
	_, _, err = b.r.GenerateLetter(b.history, actor(t, "hc-tl-1"), LetterAppealOutcome, SubjectInfo{}, now)
	wantKind(t, err, apperr.ErrFailedPrecondition, "")
}

// C13: if the subject is not told, the reason is recorded.
func TestC13_SubjectToldOrReasonRecorded(t *testing.T) {
	a := imposed(t, "hc-tl-1", automatedPhone)
	boss := actor(t, "hc-tl-1")
	wantKind(t, a.apply(a.r.RecordNotice(a.history, boss, Notice{Told: false}, now)), apperr.ErrInvalidArgument, "notice.not_told_reason")
	wantKind(t, a.apply(a.r.RecordNotice(a.history, boss, Notice{Told: true}, now)), apperr.ErrInvalidArgument, "notice.method")
	wantKind(t, a.apply(a.r.RecordNotice(a.history, boss, Notice{Told: true, Method: "email", Letter: "restrictions/r1/letters/l9"}, now)), apperr.ErrNotFound, "")
	a.must(a.r.RecordNotice(a.history, boss, Notice{Told: false, NotToldReason: "No safe address known."}, now))
	e, _, err := a.r.GenerateLetter(a.history, boss, LetterDecision, SubjectInfo{}, now)
	a.must(e, err)
	a.must(a.r.RecordNotice(a.history, boss, Notice{Told: true, Method: "letter_post", Letter: "restrictions/r1/letters/l1"}, now))
	if len(a.r.Notices) != 2 || a.r.Notices[1].RecordedBy != "hc-tl-1" {
		t.Fatalf("notices %+v", a.r.Notices)
	}
}

// C77: who was told is recorded; the decided event names who must be told
// by channel (Council: Service Centre for phone, online monitors for e-mail).
func TestC77_SharingRecordedAndDecisionSaysWhoMustBeTold(t *testing.T) {
	a := imposed(t, "hc-tl-1", automatedPhone, Rule{Kind: KindChannelsOnly, Channels: []string{Phone, PostLetter}})
	var p Payload
	_ = a.history[1].Decode(&p)
	if !strings.Contains(strings.Join(p.ShareWith, ","), "role:service_centre") || !strings.Contains(strings.Join(p.ShareWith, ","), "role:online_monitor") {
		t.Errorf("decided event share_with %v", p.ShareWith)
	}
	if p.Decider != "hc-tl-1" || p.Reference == "" || p.Subject == "" || len(p.Channels) == 0 || p.StaffInvolved == nil {
		t.Errorf("decided payload %+v", p)
	}
	wantKind(t, a.apply(a.r.RecordSharing(a.history, actor(t, "hc-tl-1"), Sharing{}, now)), apperr.ErrInvalidArgument, "sharing.staff_ids")
	a.must(a.r.RecordSharing(a.history, actor(t, "hc-tl-1"), Sharing{StaffIDs: []string{"hc-sc-1"}, Teams: []string{"Service Centre"}}, now))
	if len(a.r.Sharing) != 1 || a.r.Sharing[0].SharedBy != "hc-tl-1" {
		t.Fatalf("sharing %+v", a.r.Sharing)
	}
	b := imposed(t, "vb-lm-1", automatedPhone)
	var bp Payload
	_ = b.history[1].Decode(&bp)
	if len(bp.ShareWith) != 0 {
		t.Errorf("the board names no teams, got %v", bp.ShareWith)
	}
}

// C76: the marker holds the minimum needed to apply the restriction and
// none of the incident details.
func TestC76_MarkerHasInstructionsButNoIncidentDetails(t *testing.T) {
	a := imposed(t, "hc-tl-1", automatedPhone, Rule{Kind: KindChannelsOnly, Channels: []string{Email, Phone}}, Rule{Kind: KindWithholdStaffDetails})
	m := MarkerFor("subjects/s1", []Restriction{a.r}, now.Add(time.Minute))
	if !m.Restricted || !m.Withhold || len(m.AllowedChannels) != 2 || len(m.Restrictions) != 1 {
		t.Fatalf("marker %+v", m)
	}
	all := strings.Join(m.Instructions, "|")
	if !strings.Contains(all, "Route calls to the automated line") || !strings.Contains(all, "Contact only by: email, phone") {
		t.Errorf("instructions %v", m.Instructions)
	}
	for _, secret := range []string{a.r.Behaviour, a.r.Impact, "incidents/i1", a.r.Decision.Reasons} {
		if strings.Contains(all, secret) {
			t.Errorf("marker carries %q", secret)
		}
	}
	if MarkerFor("subjects/s1", []Restriction{a.r}, now.Add(-time.Hour)).Restricted {
		t.Error("marker restricted before the start")
	}
}

func TestOnlyAProposalIsEditedAndByTheRightPeople(t *testing.T) {
	a := proposed(t, "hc-cso-1", automatedPhone)
	wantKind(t, a.apply(a.r.Update(a.history, actor(t, "hc-cso-2"), Proposal{}, []string{"behaviour"}, now)), apperr.ErrPermissionDenied, "")
	a.must(a.r.Update(a.history, actor(t, "hc-cso-1"), Proposal{Behaviour: "More detail."}, []string{"behaviour"}, now))
	if a.r.Behaviour != "More detail." || len(a.r.Rules) != 1 {
		t.Fatalf("after update %+v", a.r.Proposal)
	}
	wantKind(t, a.apply(a.r.Update(a.history, actor(t, "hc-cso-1"), Proposal{}, []string{"subject"}, now)), apperr.ErrInvalidArgument, "update_mask")
	a.must(a.r.Decide(a.history, actor(t, "hc-tl-1"), decideInput(), now))
	wantKind(t, a.apply(a.r.Update(a.history, actor(t, "hc-tl-1"), Proposal{}, []string{"behaviour"}, now)), apperr.ErrFailedPrecondition, "")
	wantKind(t, a.apply(a.r.Decide(a.history, actor(t, "hc-tl-1"), decideInput(), now)), apperr.ErrFailedPrecondition, "")
}
