package domain

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/directory"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/policy"
)

var pnNow = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

// pnCase is an open case in org naming staffMember (whose line manager
// in the seed is recorded), reported by reporter.
func pnCase(t *testing.T, staffMember, reporter string) []eventlog.Event {
	t.Helper()
	m, ok := directory.Find(staffMember)
	if !ok {
		t.Fatalf("no %s in the seed", staffMember)
	}
	r := NamingReport{StaffMember: staffMember, URL: "https://social.example/post/1", Platform: "facebook"}
	if err := r.Validate("public_naming"); err != nil {
		t.Fatal(err)
	}
	e, err := OpenPublicNaming("pn1", m.Organization, "X-PN-2026-PN0001", reporter, m.LineManagerID, r, pnNow.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return []eventlog.Event{e}
}

// pnActor returns staffID as the domain sees them on history's case.
func pnActor(t *testing.T, history []eventlog.Event, staffID string) (policy.Profile, NamingActor) {
	t.Helper()
	m, ok := directory.Find(staffID)
	if !ok {
		t.Fatalf("no %s in the seed", staffID)
	}
	c, err := FoldPublicNaming(history)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := policy.For(c.Organization)
	return p, NamingActor{StaffID: m.ID, Roles: m.Roles, LineManager: c.LineManager == m.ID}
}

// step records kind by staffID on history and returns the new history.
func pnStep(t *testing.T, history []eventlog.Event, staffID string, cmd StepCommand) ([]eventlog.Event, error) {
	t.Helper()
	p, a := pnActor(t, history, staffID)
	e, err := RecordNamingStep(history, p, a, cmd, pnNow)
	if err != nil {
		return history, err
	}
	return append(history, e), nil
}

func pnKind(k string) StepCommand { return StepCommand{Step: NamingStep{Kind: k}} }

func pnWant(t *testing.T, err, kind error) {
	t.Helper()
	if kind == nil {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	if !errors.Is(err, kind) {
		t.Fatalf("got %v, want %v", err, kind)
	}
}

func pnWantField(t *testing.T, err error, field string) {
	t.Helper()
	var e *apperr.Error
	if !errors.As(err, &e) || !errors.Is(err, apperr.ErrInvalidArgument) || e.Field != field {
		t.Fatalf("got %v, want invalid argument naming %s", err, field)
	}
}

type pnStepCase struct {
	name  string
	org   string // staff member named
	actor string
	cmd   StepCommand
	want  error
	field string // for invalid arguments
}

func pnRunSteps(t *testing.T, reporter map[string]string, tests []pnStepCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			history := pnCase(t, tt.org, reporter[tt.org])
			_, err := pnStep(t, history, tt.actor, tt.cmd)
			if tt.field != "" {
				pnWantField(t, err, tt.field)
				return
			}
			pnWant(t, err, tt.want)
		})
	}
}

// Council cases name hc-cso-2 (line manager hc-tl-1), found by the online
// monitor; board cases name vb-staff-1 (line manager vb-lm-1), found by a
// colleague.
var pnReporters = map[string]string{"hc-cso-2": "hc-om-1", "vb-staff-1": "vb-staff-2", "vb-smt-1": "vb-staff-2"}

// C78-C79: the case is shared with the staff member, their line manager,
// whoever found it and the people the profile names; nobody else.
func TestC79_CaseIsSharedNoWiderThanNeeded(t *testing.T) {
	tests := []struct {
		named, reader string
		want          bool
	}{
		{"hc-cso-2", "hc-cso-2", true},   // the staff member named
		{"hc-cso-2", "hc-tl-1", true},    // their line manager
		{"hc-cso-2", "hc-om-1", true},    // who reported it
		{"hc-cso-2", "hc-hop-1", true},   // Head of People
		{"hc-cso-2", "hc-cc-1", true},    // Corporate Communications
		{"hc-cso-2", "hc-cso-1", false},  // a colleague
		{"hc-cso-2", "hc-hos-1", false},  // senior management is not told at the council
		{"hc-cso-2", "hc-mgr-1", false},  // another manager
		{"hc-cso-2", "hc-aud-1", false},  // audit
		{"vb-staff-1", "vb-lm-1", true},  // line manager
		{"vb-staff-1", "vb-smt-1", true}, // Senior Management Team
		{"vb-staff-1", "vb-ass-1", true}, // the Assessor is in the SMT
		{"vb-staff-1", "vb-staff-2", true},
		{"vb-staff-1", "vb-admin-1", false},
	}
	for _, tt := range tests {
		history := pnCase(t, tt.named, pnReporters[tt.named])
		if tt.named == "vb-staff-1" && tt.reader == "vb-staff-2" {
			// vb-staff-2 reported it; a case reported by someone else is not theirs.
			other := pnCase(t, tt.named, "vb-lm-1")
			p, a := pnActor(t, other, tt.reader)
			c, _ := FoldPublicNaming(other)
			if c.MayRead(p, a) {
				t.Errorf("vb-staff-2 reads a case they did not report")
			}
		}
		p, a := pnActor(t, history, tt.reader)
		c, _ := FoldPublicNaming(history)
		if got := c.MayRead(p, a); got != tt.want {
			t.Errorf("%s reads case naming %s: %v, want %v", tt.reader, tt.named, got, tt.want)
		}
	}
	council, _ := policy.For("highland-council")
	board, _ := policy.For("valuation-board")
	if got := strings.Join(NamingRecipientRoles(council), ","); got != "head_of_people,corporate_communications" {
		t.Errorf("council recipient roles %s", got)
	}
	if got := strings.Join(NamingRecipientRoles(board), ","); got != "senior_management" {
		t.Errorf("board recipient roles %s", got)
	}
}

// C80: the line manager informs the member of staff in private; nobody else
// records it, and it is recorded once.
func TestC80_OnlyTheLineManagerInformsTheStaffMember(t *testing.T) {
	pnRunSteps(t, pnReporters, []pnStepCase{
		{"council line manager", "hc-cso-2", "hc-tl-1", pnKind(NamingStepStaffMemberInformed), nil, ""},
		{"council head of people", "hc-cso-2", "hc-hop-1", pnKind(NamingStepStaffMemberInformed), apperr.ErrPermissionDenied, ""},
		{"council reporter", "hc-cso-2", "hc-om-1", pnKind(NamingStepStaffMemberInformed), apperr.ErrPermissionDenied, ""},
		{"board line manager", "vb-staff-1", "vb-lm-1", pnKind(NamingStepStaffMemberInformed), nil, ""},
		{"board SMT", "vb-staff-1", "vb-smt-1", pnKind(NamingStepStaffMemberInformed), apperr.ErrPermissionDenied, ""},
	})
	history := pnCase(t, "hc-cso-2", "hc-om-1")
	history, err := pnStep(t, history, "hc-tl-1", pnKind(NamingStepStaffMemberInformed))
	pnWant(t, err, nil)
	_, err = pnStep(t, history, "hc-tl-1", pnKind(NamingStepStaffMemberInformed))
	pnWant(t, err, apperr.ErrFailedPrecondition)
}

// C81: the member of staff or others, including the line manager, report
// the post to the platform; its reference is recorded.
func TestC81_ReportedToThePlatformWithItsReference(t *testing.T) {
	withRef := StepCommand{Step: NamingStep{Kind: NamingStepReportedToPlatform, ExternalReference: "FB-123456"}}
	pnRunSteps(t, pnReporters, []pnStepCase{
		{"staff member", "hc-cso-2", "hc-cso-2", withRef, nil, ""},
		{"line manager", "hc-cso-2", "hc-tl-1", withRef, nil, ""},
		{"online monitor who found it", "hc-cso-2", "hc-om-1", withRef, nil, ""},
		{"board colleague who found it", "vb-staff-1", "vb-staff-2", withRef, nil, ""},
		{"no reference", "hc-cso-2", "hc-tl-1", pnKind(NamingStepReportedToPlatform), nil, "step.external_reference"},
		{"colleague without access", "hc-cso-2", "hc-cso-1", withRef, apperr.ErrPermissionDenied, ""},
	})
}

// C82: the editor or owner is asked to remove material by Corporate
// Communications (council) / a member of the Senior Management Team (board).
func TestC82_RemovalRequestedOnlyByTheProfilesRoles(t *testing.T) {
	req := StepCommand{Step: NamingStep{Kind: NamingStepRemovalRequested, Recipient: "editor, Local News Online"}}
	pnRunSteps(t, pnReporters, []pnStepCase{
		{"council corporate communications", "hc-cso-2", "hc-cc-1", req, nil, ""},
		{"council head of people", "hc-cso-2", "hc-hop-1", req, apperr.ErrPermissionDenied, ""},
		{"council line manager", "hc-cso-2", "hc-tl-1", req, apperr.ErrPermissionDenied, ""},
		{"council staff member", "hc-cso-2", "hc-cso-2", req, apperr.ErrPermissionDenied, ""},
		{"board SMT", "vb-staff-1", "vb-smt-1", req, nil, ""},
		{"board depute assessor (SMT)", "vb-staff-1", "vb-dass-1", req, nil, ""},
		{"board line manager", "vb-staff-1", "vb-lm-1", req, apperr.ErrPermissionDenied, ""},
		{"no recipient", "hc-cso-2", "hc-cc-1", pnKind(NamingStepRemovalRequested), nil, "step.recipient"},
	})
	// The material removed is recorded by anyone on the case.
	pnRunSteps(t, pnReporters, []pnStepCase{
		{"removed, by line manager", "hc-cso-2", "hc-tl-1", pnKind(NamingStepRemoved), nil, ""},
	})
}

// C83: defamation is the staff member's own civil matter; it is noted.
func TestC83_DefamationNotedAsTheStaffMembersCivilMatter(t *testing.T) {
	note := StepCommand{Step: NamingStep{Kind: NamingStepDefamationNoted, Note: "Advised they may seek civil recourse; the council cannot do this for them."}}
	pnRunSteps(t, pnReporters, []pnStepCase{
		{"council line manager", "hc-cso-2", "hc-tl-1", note, nil, ""},
		{"board SMT", "vb-staff-1", "vb-smt-1", note, nil, ""},
		{"not on the case", "hc-cso-2", "hc-cso-1", note, apperr.ErrPermissionDenied, ""},
	})
}

// C84: a possible hate crime is reported to the police by the staff member,
// or by their line manager on their behalf only if they agreed.
func TestC84_PoliceReportNeedsTheStaffMembersAgreement(t *testing.T) {
	agreed := StepCommand{Step: NamingStep{Kind: NamingStepReportedToPolice, StaffMemberAgreed: true, ExternalReference: "PS-20260310-0042"}}
	notAgreed := StepCommand{Step: NamingStep{Kind: NamingStepReportedToPolice}}
	pnRunSteps(t, pnReporters, []pnStepCase{
		{"council staff member themselves", "hc-cso-2", "hc-cso-2", notAgreed, nil, ""},
		{"council line manager with agreement", "hc-cso-2", "hc-tl-1", agreed, nil, ""},
		{"council line manager without agreement", "hc-cso-2", "hc-tl-1", notAgreed, nil, "step.staff_member_agreed"},
		{"council head of people", "hc-cso-2", "hc-hop-1", agreed, apperr.ErrPermissionDenied, ""},
		{"board line manager with agreement", "vb-staff-1", "vb-lm-1", agreed, nil, ""},
		{"board line manager without agreement", "vb-staff-1", "vb-lm-1", notAgreed, nil, "step.staff_member_agreed"},
		{"board SMT", "vb-staff-1", "vb-smt-1", agreed, apperr.ErrPermissionDenied, ""},
	})
	// The staff member's own report records their agreement.
	history, err := pnStep(t, pnCase(t, "hc-cso-2", "hc-om-1"), "hc-cso-2", notAgreed)
	pnWant(t, err, nil)
	c, _ := FoldPublicNaming(history)
	if s := c.Steps[0]; !s.StaffMemberAgreed || s.RecordedBy != "hc-cso-2" {
		t.Errorf("step = %+v", s)
	}
}

// C85: support is offered to the staff member, not recorded by them.
func TestC85_SupportOfferedToTheStaffMember(t *testing.T) {
	offer := StepCommand{Step: NamingStep{Kind: NamingStepSupportOffered, Note: "Informal discussion; EAP counselling offered."}}
	pnRunSteps(t, pnReporters, []pnStepCase{
		{"council line manager", "hc-cso-2", "hc-tl-1", offer, nil, ""},
		{"council head of people", "hc-cso-2", "hc-hop-1", offer, nil, ""},
		{"board line manager", "vb-staff-1", "vb-lm-1", offer, nil, ""},
		{"the staff member", "hc-cso-2", "hc-cso-2", offer, apperr.ErrPermissionDenied, ""},
	})
}

// C86: whether it goes on the personal record is for the individual and HR
// (council: head_of_people) / the Senior Management Team (board), recorded
// by them with the individual's agreement, once.
func TestC86_PersonalRecordDecidedByTheIndividualWithHROrSMT(t *testing.T) {
	decide := func(agreed bool, rec *NamingPersonalRecord) StepCommand {
		return StepCommand{Step: NamingStep{Kind: NamingStepPersonalRecordDecided, StaffMemberAgreed: agreed}, PersonalRecord: rec}
	}
	no := &NamingPersonalRecord{OnPersonalRecord: false, Reason: "The staff member prefers no record."}
	pnRunSteps(t, pnReporters, []pnStepCase{
		{"council head of people", "hc-cso-2", "hc-hop-1", decide(true, no), nil, ""},
		{"council corporate communications", "hc-cso-2", "hc-cc-1", decide(true, no), apperr.ErrPermissionDenied, ""},
		{"council line manager", "hc-cso-2", "hc-tl-1", decide(true, no), apperr.ErrPermissionDenied, ""},
		{"council staff member alone", "hc-cso-2", "hc-cso-2", decide(true, no), apperr.ErrPermissionDenied, ""},
		{"council without agreement", "hc-cso-2", "hc-hop-1", decide(false, no), nil, "step.staff_member_agreed"},
		{"council without the decision", "hc-cso-2", "hc-hop-1", decide(true, nil), nil, "personal_record_decision"},
		{"council decided with someone else", "hc-cso-2", "hc-hop-1", decide(true, &NamingPersonalRecord{DecidedWith: "hc-cc-1"}), nil, "personal_record_decision.decided_with"},
		{"board SMT", "vb-staff-1", "vb-smt-1", decide(true, no), nil, ""},
		{"board line manager", "vb-staff-1", "vb-lm-1", decide(true, no), apperr.ErrPermissionDenied, ""},
		// When an SMT member is the one named, another SMT member decides with them.
		{"board SMT member named, deciding alone", "vb-smt-1", "vb-smt-1", decide(true, no), apperr.ErrPermissionDenied, ""},
		{"board SMT member named, with the depute assessor", "vb-smt-1", "vb-dass-1", decide(true, no), nil, ""},
	})
	history := pnCase(t, "hc-cso-2", "hc-om-1")
	history, err := pnStep(t, history, "hc-hop-1", decide(true, &NamingPersonalRecord{OnPersonalRecord: true, Reason: " agreed "}))
	pnWant(t, err, nil)
	c, _ := FoldPublicNaming(history)
	if r := c.PersonalRecord; r == nil || !r.OnPersonalRecord || r.DecidedWith != "hc-hop-1" || r.RecordedBy != "hc-hop-1" || r.Reason != "agreed" || !r.DecideTime.Equal(pnNow) {
		t.Fatalf("decision = %+v", c.PersonalRecord)
	}
	_, err = pnStep(t, history, "hc-hop-1", decide(true, no))
	pnWant(t, err, apperr.ErrFailedPrecondition)
}

func TestClosedCaseTakesNoMoreSteps(t *testing.T) {
	history := pnCase(t, "hc-cso-2", "hc-om-1")
	_, err := pnStep(t, history, "hc-om-1", pnKind(NamingStepClosed))
	pnWant(t, err, apperr.ErrPermissionDenied) // the reporter does not close it
	history, err = pnStep(t, history, "hc-tl-1", pnKind(NamingStepClosed))
	pnWant(t, err, nil)
	c, _ := FoldPublicNaming(history)
	if c.State != PublicNamingClosed || c.Version != 2 {
		t.Fatalf("state %s version %d", c.State, c.Version)
	}
	_, err = pnStep(t, history, "hc-tl-1", pnKind(NamingStepSupportOffered))
	pnWant(t, err, apperr.ErrFailedPrecondition)
	// The board SMT closes board cases.
	_, err = pnStep(t, pnCase(t, "vb-staff-1", "vb-staff-2"), "vb-smt-1", pnKind(NamingStepClosed))
	pnWant(t, err, nil)
}

func TestStaleExpectedVersionIsAConflict(t *testing.T) {
	history := pnCase(t, "hc-cso-2", "hc-om-1")
	cmd := pnKind(NamingStepSupportOffered)
	cmd.ExpectedVersion = 1
	history, err := pnStep(t, history, "hc-tl-1", cmd)
	pnWant(t, err, nil)
	_, err = pnStep(t, history, "hc-hop-1", cmd) // still expects version 1
	pnWant(t, err, apperr.ErrConflict)
}

func TestStepValidationNamesTheField(t *testing.T) {
	tests := []struct {
		name  string
		cmd   StepCommand
		field string
	}{
		{"no kind", StepCommand{}, "step.kind"},
		{"unknown kind", pnKind("unknown(42)"), "step.kind"},
		{"future", StepCommand{Step: NamingStep{Kind: NamingStepSupportOffered, StepTime: pnNow.Add(time.Hour)}}, "step.step_time"},
		{"ancient", StepCommand{Step: NamingStep{Kind: NamingStepSupportOffered, StepTime: time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)}}, "step.step_time"},
		{"long note", StepCommand{Step: NamingStep{Kind: NamingStepSupportOffered, Note: strings.Repeat("n", MaxReason+1)}}, "step.note"},
		{"long reference", StepCommand{Step: NamingStep{Kind: NamingStepReportedToPlatform, ExternalReference: strings.Repeat("r", 101)}}, "step.external_reference"},
		{"long recipient", StepCommand{Step: NamingStep{Kind: NamingStepSupportOffered, Recipient: strings.Repeat("r", MaxShortText+1)}}, "step.recipient"},
		{"agreement on another step", StepCommand{Step: NamingStep{Kind: NamingStepSupportOffered, StaffMemberAgreed: true}}, "step.staff_member_agreed"},
		{"decision on another step", StepCommand{Step: NamingStep{Kind: NamingStepSupportOffered}, PersonalRecord: &NamingPersonalRecord{}}, "personal_record_decision"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pnStep(t, pnCase(t, "hc-cso-2", "hc-om-1"), "hc-tl-1", tt.cmd)
			pnWantField(t, err, tt.field)
		})
	}
	// A step time in the past is kept.
	when := pnNow.Add(-30 * time.Minute)
	history, err := pnStep(t, pnCase(t, "hc-cso-2", "hc-om-1"), "hc-tl-1", StepCommand{Step: NamingStep{Kind: NamingStepSupportOffered, StepTime: when}})
	pnWant(t, err, nil)
	c, _ := FoldPublicNaming(history)
	if !c.Steps[0].StepTime.Equal(when) || !c.Steps[0].RecordTime.Equal(pnNow) {
		t.Errorf("step %+v", c.Steps[0])
	}
}

func TestNamingReportValidationNamesTheField(t *testing.T) {
	ok := func() NamingReport {
		return NamingReport{StaffMember: "hc-cso-2", URL: "https://news.example/story?id=7", Platform: "local news site",
			Screenshots: []string{"evidence/abc123"}, Incident: "incidents/abc", Subject: "subjects/s1", Description: "Names the officer."}
	}
	good := ok()
	if err := good.Validate("public_naming"); err != nil {
		t.Fatalf("valid report refused: %v", err)
	}
	tests := []struct {
		name  string
		edit  func(*NamingReport)
		field string
	}{
		{"no staff member", func(r *NamingReport) { r.StaffMember = " " }, "public_naming.staff_member"},
		{"bad staff id", func(r *NamingReport) { r.StaffMember = "Morag Fraser" }, "public_naming.staff_member"},
		{"no url", func(r *NamingReport) { r.URL = "" }, "public_naming.url"},
		{"ftp url", func(r *NamingReport) { r.URL = "ftp://example.org/x" }, "public_naming.url"},
		{"javascript url", func(r *NamingReport) { r.URL = "javascript:alert(1)" }, "public_naming.url"},
		{"relative url", func(r *NamingReport) { r.URL = "/post/1" }, "public_naming.url"},
		{"no host", func(r *NamingReport) { r.URL = "https:///post" }, "public_naming.url"},
		{"credentials in url", func(r *NamingReport) { r.URL = "https://user:pw@example.org/" }, "public_naming.url"},
		{"space in url", func(r *NamingReport) { r.URL = "https://example.org/a b" }, "public_naming.url"},
		{"long url", func(r *NamingReport) { r.URL = "https://example.org/" + strings.Repeat("a", MaxNamingURL) }, "public_naming.url"},
		{"long platform", func(r *NamingReport) { r.Platform = strings.Repeat("p", MaxNamingPlatform+1) }, "public_naming.platform"},
		{"bad screenshot", func(r *NamingReport) { r.Screenshots = []string{"https://img.example/1.png"} }, "public_naming.screenshots[0]"},
		{"duplicate screenshot", func(r *NamingReport) { r.Screenshots = []string{"evidence/a", "evidence/a"} }, "public_naming.screenshots[1]"},
		{"too many screenshots", func(r *NamingReport) { r.Screenshots = make([]string, MaxNamingScreens+1) }, "public_naming.screenshots"},
		{"bad incident", func(r *NamingReport) { r.Incident = "incident/1" }, "public_naming.incident"},
		{"bad subject", func(r *NamingReport) { r.Subject = "bob" }, "public_naming.subject"},
		{"long description", func(r *NamingReport) { r.Description = strings.Repeat("d", MaxDescription+1) }, "public_naming.description"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok()
			tt.edit(&r)
			pnWantField(t, r.Validate("public_naming"), tt.field)
		})
	}
}

// The opening event is what notify-svc emails on: it names the reference,
// the staff member and the reporter, holds the link, and no material.
func TestOpeningEventPayload(t *testing.T) {
	history := pnCase(t, "hc-cso-2", "hc-om-1")
	e := history[0]
	if e.Type != "incident.staff_named_publicly" || e.AggregateType != "public_naming" || e.Organization != "highland-council" || e.Actor != "hc-om-1" {
		t.Fatalf("event %+v", e)
	}
	var payload map[string]any
	if err := json.Unmarshal([]byte(e.Payload), &payload); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"reference": "X-PN-2026-PN0001", "staff_member": "hc-cso-2", "reporter": "hc-om-1",
		"platform": "facebook", "url": "https://social.example/post/1", "line_manager": "hc-tl-1",
	} {
		if payload[k] != want {
			t.Errorf("payload %s = %v, want %s", k, payload[k], want)
		}
	}
	c, err := FoldPublicNaming(history)
	if err != nil || c.State != PublicNamingOpen || c.Version != 1 || c.Name() != "publicNamings/pn1" || !c.CreateTime.Equal(pnNow.Add(-time.Hour)) {
		t.Fatalf("case %+v, %v", c, err)
	}
	// An incident's events are not a case.
	inc := e
	inc.AggregateType = AggregateType
	if _, err := FoldPublicNaming([]eventlog.Event{inc}); err == nil {
		t.Error("folded an incident's event as a case")
	}
}

func TestNamingSummaryForTheTimeline(t *testing.T) {
	history := pnCase(t, "hc-cso-2", "hc-om-1")
	history, err := pnStep(t, history, "hc-tl-1", StepCommand{Step: NamingStep{Kind: NamingStepReportedToPolice, StaffMemberAgreed: true, Note: "Crime ref given."}})
	pnWant(t, err, nil)
	history, err = pnStep(t, history, "hc-hop-1", StepCommand{Step: NamingStep{Kind: NamingStepPersonalRecordDecided, StaffMemberAgreed: true},
		PersonalRecord: &NamingPersonalRecord{Reason: "Prefers not."}})
	pnWant(t, err, nil)
	want := [][2]string{
		{"Staff member named publicly: case opened for hc-cso-2", ""},
		{"Step: reported to police, with the staff member's agreement", "Crime ref given."},
		{"Personal record decision: not recorded on the personal record", "Prefers not."},
	}
	for i, e := range history {
		s, r := NamingSummary(e)
		if s != want[i][0] || r != want[i][1] {
			t.Errorf("event %d: %q, %q; want %q, %q", i+1, s, r, want[i][0], want[i][1])
		}
		if strings.Contains(s+r, "social.example") {
			t.Errorf("summary repeats the URL: %s", s)
		}
	}
}
