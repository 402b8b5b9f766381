package domain

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/directory"
	"github.com/contactguard/contactguard/platform/policy"
)

func actor(t *testing.T, staffID string) Actor {
	t.Helper()
	m, ok := directory.Find(staffID)
	if !ok {
		t.Fatalf("no staff %s", staffID)
	}
	p, _ := policy.For(m.Organization)
	return Actor{StaffID: m.ID, Roles: m.Roles, Profile: p}
}

func incidentOf(org, reporter string, edit func(*Incident)) Incident {
	inc := Incident{ID: "i1", Organization: org, Reference: "REF-1", Report: validReport(), Reporter: reporter, State: StateReported, Version: 1}
	inc.Subject = "subjects/s1"
	if edit != nil {
		edit(&inc)
	}
	return inc
}

func wantKind(t *testing.T, err, kind error) {
	t.Helper()
	if kind == nil {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	if !errors.Is(err, kind) {
		t.Fatalf("err = %v, want %v", err, kind)
	}
}

// C24, C31, C37 and policy-map section 7: who reviews an incident.
func TestC31_ManagerReviewByTheProfilesRoles(t *testing.T) {
	review := Review{Outcome: "active_management", Reasons: "Repeated abuse after two warnings."}
	tests := []struct {
		name, org, reporter, reviewer string
		want                          error
	}{
		{"council team leader reviews", "highland-council", "hc-cso-1", "hc-tl-1", nil},
		{"council supervisor reviews", "highland-council", "hc-cso-1", "hc-sup-1", nil},
		{"council officer may not", "highland-council", "hc-cso-1", "hc-cso-2", apperr.ErrPermissionDenied},
		{"board line manager reviews", "valuation-board", "vb-staff-1", "vb-lm-1", nil},
		{"board SMT reviews", "valuation-board", "vb-staff-1", "vb-smt-1", nil},
		{"board staff may not", "valuation-board", "vb-staff-1", "vb-staff-2", apperr.ErrPermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := DecideReview(incidentOf(tt.org, tt.reporter, nil), actor(t, tt.reviewer), review, now)
			wantKind(t, err, tt.want)
			if err == nil && (r.Reviewer != tt.reviewer || !r.Time.Equal(now)) {
				t.Errorf("review not attributed: %+v", r)
			}
		})
	}
}

func TestC31_ReviewNeedsOutcomeReasonsAndASubjectForActiveManagement(t *testing.T) {
	tl := actor(t, "hc-tl-1")
	_, err := DecideReview(incidentOf("highland-council", "hc-cso-1", nil), tl, Review{Reasons: "x"}, now)
	wantKind(t, err, apperr.ErrInvalidArgument)
	_, err = DecideReview(incidentOf("highland-council", "hc-cso-1", nil), tl, Review{Outcome: "banish", Reasons: "x"}, now)
	wantKind(t, err, apperr.ErrInvalidArgument)
	_, err = DecideReview(incidentOf("highland-council", "hc-cso-1", nil), tl, Review{Outcome: "no_further_action"}, now)
	wantKind(t, err, apperr.ErrInvalidArgument)
	noSubject := incidentOf("highland-council", "hc-cso-1", func(i *Incident) { i.Subject = "" })
	_, err = DecideReview(noSubject, tl, Review{Outcome: "active_management", Reasons: "x"}, now)
	wantKind(t, err, apperr.ErrFailedPrecondition)
	closed := incidentOf("highland-council", "hc-cso-1", func(i *Incident) { i.State = StateClosed })
	_, err = DecideReview(closed, tl, Review{Outcome: "no_further_action", Reasons: "x"}, now)
	wantKind(t, err, apperr.ErrFailedPrecondition)
}

// C41-C45: the police decision rule for a physical threat.
func TestC43_PoliceDecision(t *testing.T) {
	threat := func(org, reporter string, involved ...string) Incident {
		return incidentOf(org, reporter, func(i *Incident) { i.PhysicalThreat = true; i.StaffInvolved = involved })
	}
	notReported := PoliceDecision{Outcome: PoliceNotReported, Reason: "Caller apologised; staff member does not wish to report.", StaffViewsConsidered: true, ImpactOnOthersConsidered: true}
	tests := []struct {
		name   string
		inc    Incident
		by     string
		d      PoliceDecision
		want   error
		detail string
	}{
		{"C42 reported by anyone, with crime reference", threat("highland-council", "hc-cso-1"), "hc-cso-1", PoliceDecision{Outcome: PoliceReported, CrimeReference: "NH-1234-26"}, nil, ""},
		{"C42 reported needs the crime reference", threat("highland-council", "hc-cso-1"), "hc-cso-1", PoliceDecision{Outcome: PoliceReported}, apperr.ErrInvalidArgument, ""},
		{"C43 not reported by another manager (council)", threat("highland-council", "hc-cso-1"), "hc-tl-1", notReported, nil, ""},
		{"C43 not reported by another manager (board)", threat("valuation-board", "vb-staff-1"), "vb-smt-1", notReported, nil, ""},
		{"C43 not reported refused to the threatened manager (council)", threat("highland-council", "hc-tl-1"), "hc-tl-1", notReported, apperr.ErrPermissionDenied, ""},
		{"C43 not reported refused to a threatened manager involved (board)", threat("valuation-board", "vb-staff-1", "vb-lm-1"), "vb-lm-1", notReported, apperr.ErrPermissionDenied, ""},
		{"C43 not reported refused to staff", threat("highland-council", "hc-cso-1"), "hc-cso-2", notReported, apperr.ErrPermissionDenied, ""},
		{"C43 not reported needs a reason", threat("highland-council", "hc-cso-1"), "hc-tl-1", PoliceDecision{Outcome: PoliceNotReported, StaffViewsConsidered: true, ImpactOnOthersConsidered: true}, apperr.ErrInvalidArgument, ""},
		{"C43 not reported needs staff views considered", threat("highland-council", "hc-cso-1"), "hc-tl-1", PoliceDecision{Outcome: PoliceNotReported, Reason: "x", ImpactOnOthersConsidered: true}, apperr.ErrInvalidArgument, ""},
		{"C43 not reported needs impact on others considered", threat("highland-council", "hc-cso-1"), "hc-tl-1", PoliceDecision{Outcome: PoliceNotReported, Reason: "x", StaffViewsConsidered: true}, apperr.ErrInvalidArgument, ""},
		{"C45 staff reported themselves, no manager available", threat("highland-council", "hc-cso-1"), "hc-cso-1", PoliceDecision{Outcome: PoliceReportedByStaffNoManger}, nil, ""},
		{"C45 only the threatened staff record that", threat("highland-council", "hc-cso-1"), "hc-cso-2", PoliceDecision{Outcome: PoliceReportedByStaffNoManger}, apperr.ErrPermissionDenied, ""},
		{"C41 no decision without a physical threat", incidentOf("highland-council", "hc-cso-1", nil), "hc-tl-1", PoliceDecision{Outcome: PoliceReported, CrimeReference: "x"}, apperr.ErrFailedPrecondition, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := DecidePolice(tt.inc, actor(t, tt.by), tt.d, now)
			wantKind(t, err, tt.want)
			if err == nil && d.DecidedBy != tt.by {
				t.Errorf("decided_by = %q", d.DecidedBy)
			}
		})
	}
}

// C44: witnesses are asked to put the event on record.
func TestC44_WitnessStatements(t *testing.T) {
	inc := incidentOf("highland-council", "hc-cso-1", func(i *Incident) { i.Witnesses = []Witness{{ID: "w1", Name: "A visitor"}} })
	st, added, err := RequestWitness(inc, actor(t, "hc-cso-1"), "w1", nil, now)
	if err != nil || added != nil || st.State != "requested" {
		t.Fatalf("request = %+v %v %v", st, added, err)
	}
	_, _, err = RequestWitness(inc, actor(t, "hc-cso-2"), "w1", nil, now)
	wantKind(t, err, apperr.ErrPermissionDenied)
	_, _, err = RequestWitness(inc, actor(t, "hc-tl-1"), "w9", nil, now)
	wantKind(t, err, apperr.ErrNotFound)
	_, added, err = RequestWitness(inc, actor(t, "hc-tl-1"), "", &Witness{StaffID: "hc-sc-1"}, now)
	if err != nil || added == nil || added.ID != "w2" {
		t.Fatalf("new witness = %+v %v", added, err)
	}
	inc.WitnessStatements = []WitnessStatement{st}
	_, _, err = RequestWitness(inc, actor(t, "hc-tl-1"), "w1", nil, now)
	wantKind(t, err, apperr.ErrFailedPrecondition)
	rec, err := RecordWitness(inc, actor(t, "hc-tl-1"), WitnessStatement{WitnessID: "w1", Statement: "I heard shouting."}, false, now)
	if err != nil || rec.State != "recorded" || rec.RecordedBy != "hc-tl-1" {
		t.Fatalf("record = %+v %v", rec, err)
	}
	_, err = RecordWitness(inc, actor(t, "hc-tl-1"), WitnessStatement{WitnessID: "w1"}, false, now)
	wantKind(t, err, apperr.ErrInvalidArgument)
	_, err = RecordWitness(inc, actor(t, "hc-tl-1"), WitnessStatement{WitnessID: "w1"}, true, now)
	wantKind(t, err, apperr.ErrInvalidArgument)
	_, err = RecordWitness(incidentOf("highland-council", "hc-cso-1", nil), actor(t, "hc-tl-1"), WitnessStatement{WitnessID: "w1", Statement: "x"}, false, now)
	wantKind(t, err, apperr.ErrFailedPrecondition)
}

// C17-C21, C10: restorative actions; C20 advice is pseudonymised and names the adviser.
func TestC20_RestorativeActions(t *testing.T) {
	inc := incidentOf("valuation-board", "vb-staff-1", nil)
	a := actor(t, "vb-staff-1")
	tests := []struct {
		name string
		r    RestorativeAction
		want error
	}{
		{"C17 a break", RestorativeAction{Kind: "break"}, nil},
		{"C19 reasonable adjustment", RestorativeAction{Kind: "reasonable_adjustment", Description: "Large-print letters"}, nil},
		{"C20 pseudonymised advice names the adviser", RestorativeAction{Kind: "pseudonymised_advice", Adviser: "Mental health liaison"}, nil},
		{"C20 pseudonymised advice without adviser", RestorativeAction{Kind: "pseudonymised_advice"}, apperr.ErrInvalidArgument},
		{"C21 ending a circular conversation says when to re-engage", RestorativeAction{Kind: "end_circular_conversation", ReengageTime: now.Add(72 * time.Hour)}, nil},
		{"C21 without re-engagement", RestorativeAction{Kind: "end_circular_conversation"}, apperr.ErrInvalidArgument},
		{"C10 signposting", RestorativeAction{Kind: "signposting", Description: "Citizens Advice"}, nil},
		{"unknown kind", RestorativeAction{Kind: "scolding"}, apperr.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RecordRestorative(inc, a, tt.r, now)
			wantKind(t, err, tt.want)
		})
	}
}

// C35-C37: correspondence decided unacceptable by the profile's role; the
// sender informed by a manager or from a non-personal account.
func TestC37_CorrespondenceDecision(t *testing.T) {
	letter := func(org, reporter string) Incident {
		return incidentOf(org, reporter, func(i *Incident) { i.Channel = "letter" })
	}
	ok := CorrespondenceDecision{Unacceptable: true, Reason: "Abusive language about staff", SenderInformed: true, InformedBy: "hc-tl-1", WarningIssued: true}
	tests := []struct {
		name, org, by string
		d             CorrespondenceDecision
		want          error
	}{
		{"C37 council team leader decides and informs", "highland-council", "hc-tl-1", ok, nil},
		{"C37 council officer may not decide", "highland-council", "hc-cso-2", ok, apperr.ErrPermissionDenied},
		{"C37 board line manager decides", "valuation-board", "vb-lm-1", CorrespondenceDecision{Unacceptable: true, Reason: "x"}, nil},
		{"C37 board staff may not decide", "valuation-board", "vb-staff-2", CorrespondenceDecision{Unacceptable: true, Reason: "x"}, apperr.ErrPermissionDenied},
		{"C36 informed by someone else needs a non-personal account", "highland-council", "hc-tl-1",
			CorrespondenceDecision{Unacceptable: true, Reason: "x", SenderInformed: true, InformedBy: "hc-cso-1"}, apperr.ErrInvalidArgument},
		{"C36 informed from the non-personal mailbox", "highland-council", "hc-tl-1",
			CorrespondenceDecision{Unacceptable: true, Reason: "x", SenderInformed: true, InformedBy: "hc-cso-1", FromNonPersonalAccount: true, Account: "customer.services@highland.example.org"}, nil},
		{"no warning for acceptable correspondence", "highland-council", "hc-tl-1", CorrespondenceDecision{Reason: "x", WarningIssued: true}, apperr.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecideCorrespondence(letter(tt.org, "hc-cso-1"), actor(t, tt.by), tt.d, now)
			wantKind(t, err, tt.want)
		})
	}
}

// C38-C40: online actions.
func TestC39_OnlineActions(t *testing.T) {
	inc := incidentOf("highland-council", "hc-om-1", nil)
	a := actor(t, "hc-om-1")
	_, err := RecordOnline(inc, a, OnlineAction{Kind: "reported_to_platform", Platform: "Facebook", PlatformReference: "FB-998877"}, now)
	wantKind(t, err, nil)
	_, err = RecordOnline(inc, a, OnlineAction{Kind: "reported_to_platform", Platform: "Facebook"}, now)
	wantKind(t, err, apperr.ErrInvalidArgument)
	_, err = RecordOnline(inc, a, OnlineAction{Kind: "account_blocked", Platform: "X"}, now)
	wantKind(t, err, apperr.ErrInvalidArgument)
	_, err = RecordOnline(inc, a, OnlineAction{Kind: "other", URL: "javascript:alert(1)"}, now)
	wantKind(t, err, apperr.ErrInvalidArgument)
	// C40: direct online threats are handled as physical threats.
	_, err = RecordOnline(inc, a, OnlineAction{Kind: "treated_as_physical_threat"}, now)
	wantKind(t, err, apperr.ErrFailedPrecondition)
	threat := incidentOf("highland-council", "hc-om-1", func(i *Incident) { i.PhysicalThreat = true })
	_, err = RecordOnline(threat, a, OnlineAction{Kind: "treated_as_physical_threat"}, now)
	wantKind(t, err, nil)
}

// C65-C70: staff support.
func TestC68_StaffSupport(t *testing.T) {
	inc := incidentOf("highland-council", "hc-cso-1", func(i *Incident) { i.ZeroTolerance = true; i.StaffInvolved = []string{"hc-cso-2"} })
	tests := []struct {
		name, by string
		s        StaffSupport
		want     error
	}{
		{"C68 debrief by the manager with agreed actions", "hc-tl-1", StaffSupport{Kind: "debrief", StaffID: "hc-cso-1", AgreedActions: "Pair on calls for a week"}, nil},
		{"C68 debrief needs agreed actions", "hc-tl-1", StaffSupport{Kind: "debrief", StaffID: "hc-cso-1"}, apperr.ErrInvalidArgument},
		{"C68 debrief not recorded by a colleague", "hc-cso-2", StaffSupport{Kind: "debrief", StaffID: "hc-cso-1", AgreedActions: "x"}, apperr.ErrPermissionDenied},
		{"C69 employee assistance offered by the manager", "hc-tl-1", StaffSupport{Kind: "employee_assistance_offered", StaffID: "hc-cso-2"}, nil},
		{"C68 time away asked by the staff member", "hc-cso-1", StaffSupport{Kind: "time_away", StaffID: "hc-cso-1", TimeAway: 2 * time.Hour}, nil},
		{"C68 time away needs a duration", "hc-cso-1", StaffSupport{Kind: "time_away", StaffID: "hc-cso-1"}, apperr.ErrInvalidArgument},
		{"C68 no-contact request by the staff member", "hc-cso-2", StaffSupport{Kind: "no_contact_request", StaffID: "hc-cso-2"}, nil},
		{"C68 no-contact request not for someone else", "hc-cso-2", StaffSupport{Kind: "no_contact_request", StaffID: "hc-cso-1"}, apperr.ErrPermissionDenied},
		{"C70 senior manager correspondence names the manager", "hc-cso-1", StaffSupport{Kind: "senior_manager_correspondence", StaffID: "hc-cso-1", SeniorManager: "hc-hos-1"}, nil},
		{"C70 removal from the case", "hc-cso-1", StaffSupport{Kind: "removal_from_case", StaffID: "hc-cso-1"}, nil},
		{"support only for staff involved", "hc-tl-1", StaffSupport{Kind: "employee_assistance_offered", StaffID: "hc-sc-1"}, apperr.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RecordSupport(inc, actor(t, tt.by), tt.s, now)
			wantKind(t, err, tt.want)
		})
	}
}

// C54-C55: contact outside the office is decided by a manager.
func TestC54_OutsideContactDecision(t *testing.T) {
	outside := incidentOf("valuation-board", "vb-staff-1", func(i *Incident) { i.Categories = []string{"contact_outside_office"} })
	_, err := DecideOutsideContact(outside, actor(t, "vb-lm-1"), OutsideContactDecision{Recorded: true, Reason: "Approached at home", ConflictsOfInterest: []string{"Neighbour of the officer"}}, now)
	wantKind(t, err, nil)
	_, err = DecideOutsideContact(outside, actor(t, "vb-staff-1"), OutsideContactDecision{Recorded: true, Reason: "x"}, now)
	wantKind(t, err, apperr.ErrPermissionDenied)
	_, err = DecideOutsideContact(incidentOf("valuation-board", "vb-staff-1", nil), actor(t, "vb-lm-1"), OutsideContactDecision{Reason: "x"}, now)
	wantKind(t, err, apperr.ErrFailedPrecondition)
}

func TestPendingTasksFollowThePolicy(t *testing.T) {
	inc := incidentOf("highland-council", "hc-cso-1", func(i *Incident) {
		i.PhysicalThreat = true
		i.ZeroTolerance = true
		i.Categories = []string{"violence", "contact_outside_office"}
	})
	got := inc.PendingTasks()
	for _, want := range []string{TaskManagerReview, TaskPoliceDecision, TaskDebrief, TaskOutsideContactDecision} {
		if !slices.Contains(got, want) {
			t.Errorf("pending %v lacks %s", got, want)
		}
	}
	inc.Review = &Review{Outcome: "zero_tolerance"}
	inc.Police = &PoliceDecision{Outcome: PoliceReported}
	inc.Support = []StaffSupport{{Kind: "debrief"}}
	inc.OutsideContact = &OutsideContactDecision{}
	if got := inc.PendingTasks(); len(got) != 0 {
		t.Errorf("pending after decisions: %v", got)
	}
}

func TestApplyUpdateKeepsTheReportValid(t *testing.T) {
	inc := incidentOf("highland-council", "hc-cso-1", nil)
	patch := Report{Description: "Corrected: the caller swore twice.", Location: "ignored"}
	u, err := ApplyUpdate(inc, actor(t, "hc-cso-1"), patch, []string{"description"}, "typo", now)
	if err != nil || u.Report.Description != patch.Description || u.Report.Location != inc.Location {
		t.Fatalf("update = %+v, %v", u, err)
	}
	_, err = ApplyUpdate(inc, actor(t, "hc-cso-2"), patch, []string{"description"}, "typo", now)
	wantKind(t, err, apperr.ErrPermissionDenied)
	_, err = ApplyUpdate(inc, actor(t, "hc-cso-1"), patch, []string{"reporter"}, "typo", now)
	wantKind(t, err, apperr.ErrInvalidArgument)
	_, err = ApplyUpdate(inc, actor(t, "hc-cso-1"), patch, []string{"description"}, "", now)
	wantKind(t, err, apperr.ErrInvalidArgument)
	_, err = ApplyUpdate(inc, actor(t, "hc-cso-1"), Report{}, []string{"description"}, "clear it", now)
	wantKind(t, err, apperr.ErrInvalidArgument)
}
