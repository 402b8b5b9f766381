package grpcapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/contactguard/contactguard/incident-svc/internal/app"
	"github.com/contactguard/contactguard/incident-svc/internal/store"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/directory"
	"github.com/contactguard/contactguard/platform/eventlog"
	incidentv1 "github.com/contactguard/contactguard/proto/incident/v1"
)

// seedStaff is the staff directory of the tests: the seed notify-svc
// imports at start (production asks notify-svc, see internal/staffdir).
type seedStaff struct{}

func (seedStaff) Member(_ context.Context, org, id string) (app.StaffMember, error) {
	m, ok := directory.Find(id)
	if !ok || m.Organization != org {
		return app.StaffMember{}, apperr.NotFound("no staff member %s in %s", id, org)
	}
	return app.StaffMember{ID: m.ID, LineManager: m.LineManagerID}, nil
}

// publicNamingsFor wires the staff-named-publicly use cases as main.go does
// (start calls it).
func publicNamingsFor(t *testing.T, db *mongo.Database, events *eventlog.Store) *app.PublicNamings {
	t.Helper()
	namings := store.NewPublicNamings(db)
	for range 2 { // as at every restart
		if err := namings.EnsureIndexes(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return app.NewPublicNamings(events, namings, seedStaff{})
}

func namingReq(staffMember string) *incidentv1.CreatePublicNamingRequest {
	return &incidentv1.CreatePublicNamingRequest{PublicNaming: &incidentv1.PublicNaming{
		StaffMember: staffMember,
		Url:         "https://social.example/groups/local/posts/981",
		Platform:    "facebook",
		Screenshots: []string{"evidence/shot1", "evidence/shot2"},
		Description: "A post names the officer and criticises how she handled a housing enquiry.",
	}}
}

func createNaming(t *testing.T, f fixture, reporter, staffMember string) *incidentv1.PublicNaming {
	t.Helper()
	c, err := f.client.CreatePublicNaming(as(t, reporter), namingReq(staffMember))
	if err != nil {
		t.Fatalf("create as %s: %v", reporter, err)
	}
	return c
}

func recordStep(t *testing.T, f fixture, staffID string, name string, st *incidentv1.PublicNamingStep) (*incidentv1.PublicNaming, error) {
	t.Helper()
	return f.client.RecordPublicNamingStep(as(t, staffID), &incidentv1.RecordPublicNamingStepRequest{Name: name, Step: st})
}

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	st := wantCode(t, err, codes.InvalidArgument)
	if !strings.HasPrefix(st.Message(), field) {
		t.Errorf("message %q does not name %s", st.Message(), field)
	}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && br.GetFieldViolations()[0].GetField() == field {
			return
		}
	}
	if strings.Contains(field, ".") || field == "page_token" {
		t.Errorf("no BadRequest detail naming %s in %v", field, st.Details())
	}
}

func TestPublicNamingIsCreatedReadAndListed(t *testing.T) {
	f := start(t)
	// The online monitor finds a post naming a customer service officer.
	c := createNaming(t, f, "hc-om-1", "hc-cso-2")
	if !strings.HasPrefix(c.GetReference(), "HC-PN-") || !strings.HasPrefix(c.GetName(), "publicNamings/") ||
		c.GetOrganization() != "highland-council" || c.GetReporter() != "hc-om-1" || c.GetStaffMember() != "hc-cso-2" ||
		c.GetState() != incidentv1.PublicNaming_STATE_OPEN || c.GetVersion() != 1 || len(c.GetSteps()) != 0 ||
		c.GetUrl() != "https://social.example/groups/local/posts/981" || c.GetPlatform() != "facebook" || len(c.GetScreenshots()) != 2 {
		t.Fatalf("created %v", c)
	}

	// The event in the store is the one notify-svc emails on.
	id := strings.TrimPrefix(c.GetName(), "publicNamings/")
	events, err := f.events.Load(context.Background(), id)
	if err != nil || len(events) != 1 {
		t.Fatalf("events %v, %v", events, err)
	}
	e := events[0]
	if e.Type != "incident.staff_named_publicly" || e.AggregateType != "public_naming" || e.Organization != "highland-council" || e.Actor != "hc-om-1" {
		t.Fatalf("event %+v", e)
	}
	var payload map[string]any
	if err := json.Unmarshal([]byte(e.Payload), &payload); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"reference": c.GetReference(), "staff_member": "hc-cso-2", "reporter": "hc-om-1", "platform": "facebook",
		"url": "https://social.example/groups/local/posts/981", "line_manager": "hc-tl-1",
	} {
		if payload[k] != want {
			t.Errorf("payload %s = %v, want %q", k, payload[k], want)
		}
	}

	// C79: read by the named staff member, their line manager, the reporter,
	// Head of People and Corporate Communications; nobody else.
	for _, staff := range []string{"hc-cso-2", "hc-tl-1", "hc-om-1", "hc-hop-1", "hc-cc-1"} {
		got, err := f.client.GetPublicNaming(as(t, staff), &incidentv1.GetPublicNamingRequest{Name: c.GetName()})
		if err != nil || got.GetReference() != c.GetReference() || got.GetDescription() == "" {
			t.Errorf("%s reads %v, %v", staff, got, err)
		}
		list, err := f.client.ListPublicNamings(as(t, staff), &incidentv1.ListPublicNamingsRequest{})
		if err != nil || len(list.GetPublicNamings()) != 1 {
			t.Errorf("%s lists %v, %v", staff, list.GetPublicNamings(), err)
		}
	}
	for _, staff := range []string{"hc-cso-1", "hc-mgr-1", "hc-hos-1", "hc-aud-1", "hc-admin-1"} {
		_, err := f.client.GetPublicNaming(as(t, staff), &incidentv1.GetPublicNamingRequest{Name: c.GetName()})
		wantCode(t, err, codes.PermissionDenied)
		list, err := f.client.ListPublicNamings(as(t, staff), &incidentv1.ListPublicNamingsRequest{})
		if err != nil || len(list.GetPublicNamings()) != 0 {
			t.Errorf("%s lists %v, %v", staff, list.GetPublicNamings(), err)
		}
		_, err = recordStep(t, f, staff, c.GetName(), &incidentv1.PublicNamingStep{Kind: incidentv1.PublicNamingStepKind_PUBLIC_NAMING_STEP_KIND_REMOVED})
		wantCode(t, err, codes.PermissionDenied)
	}
}

func TestPublicNamingNeverCrossesOrganisations(t *testing.T) {
	f := start(t)
	c := createNaming(t, f, "hc-om-1", "hc-cso-2")
	board := createNaming(t, f, "vb-staff-2", "vb-staff-1")
	for _, staff := range []string{"vb-ass-1", "vb-smt-1", "vb-lm-1", "vb-admin-1"} {
		_, err := f.client.GetPublicNaming(as(t, staff), &incidentv1.GetPublicNamingRequest{Name: c.GetName()})
		wantCode(t, err, codes.NotFound)
		_, err = recordStep(t, f, staff, c.GetName(), &incidentv1.PublicNamingStep{
			Kind: incidentv1.PublicNamingStepKind_PUBLIC_NAMING_STEP_KIND_SUPPORT_OFFERED})
		wantCode(t, err, codes.NotFound)
		list, err := f.client.ListPublicNamings(as(t, staff), &incidentv1.ListPublicNamingsRequest{StaffMember: "hc-cso-2"})
		if err != nil || len(list.GetPublicNamings()) != 0 {
			t.Errorf("%s lists %v, %v", staff, list.GetPublicNamings(), err)
		}
	}
	for _, staff := range []string{"hc-hop-1", "hc-cc-1", "hc-ce-1"} {
		_, err := f.client.GetPublicNaming(as(t, staff), &incidentv1.GetPublicNamingRequest{Name: board.GetName()})
		wantCode(t, err, codes.NotFound)
	}
	list, err := f.client.ListPublicNamings(as(t, "vb-smt-1"), &incidentv1.ListPublicNamingsRequest{})
	if err != nil || len(list.GetPublicNamings()) != 1 || list.GetPublicNamings()[0].GetOrganization() != "valuation-board" ||
		!strings.HasPrefix(list.GetPublicNamings()[0].GetReference(), "VB-PN-") {
		t.Errorf("board SMT lists %v, %v", list.GetPublicNamings(), err)
	}
	// A case for another organisation, or naming its staff, is refused.
	req := namingReq("hc-cso-2")
	req.PublicNaming.Organization = "valuation-board"
	_, err = f.client.CreatePublicNaming(as(t, "hc-om-1"), req)
	wantCode(t, err, codes.PermissionDenied)
	_, err = f.client.CreatePublicNaming(as(t, "hc-om-1"), namingReq("vb-staff-1"))
	wantField(t, err, "public_naming.staff_member")
}

// The council's workflow, step by step, each by the role the policy names.
func TestRecordPublicNamingStepsCouncil(t *testing.T) {
	f := start(t)
	c := createNaming(t, f, "hc-om-1", "hc-cso-2")
	name := c.GetName()
	kind := func(k incidentv1.PublicNamingStepKind) *incidentv1.PublicNamingStep {
		return &incidentv1.PublicNamingStep{Kind: k}
	}
	const (
		informed  = incidentv1.PublicNamingStepKind_PUBLIC_NAMING_STEP_KIND_STAFF_MEMBER_INFORMED
		platform  = incidentv1.PublicNamingStepKind_PUBLIC_NAMING_STEP_KIND_REPORTED_TO_PLATFORM
		removal   = incidentv1.PublicNamingStepKind_PUBLIC_NAMING_STEP_KIND_REMOVAL_REQUESTED
		removed   = incidentv1.PublicNamingStepKind_PUBLIC_NAMING_STEP_KIND_REMOVED
		defamed   = incidentv1.PublicNamingStepKind_PUBLIC_NAMING_STEP_KIND_DEFAMATION_NOTED
		police    = incidentv1.PublicNamingStepKind_PUBLIC_NAMING_STEP_KIND_REPORTED_TO_POLICE
		support   = incidentv1.PublicNamingStepKind_PUBLIC_NAMING_STEP_KIND_SUPPORT_OFFERED
		personal  = incidentv1.PublicNamingStepKind_PUBLIC_NAMING_STEP_KIND_PERSONAL_RECORD_DECIDED
		closeCase = incidentv1.PublicNamingStepKind_PUBLIC_NAMING_STEP_KIND_CLOSED
	)

	// C80: only the line manager informs the staff member.
	_, err := recordStep(t, f, "hc-hop-1", name, kind(informed))
	wantCode(t, err, codes.PermissionDenied)
	informedAt := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Millisecond)
	got, err := recordStep(t, f, "hc-tl-1", name, &incidentv1.PublicNamingStep{Kind: informed, StepTime: timestamppb.New(informedAt), Note: "Told in private."})
	if err != nil {
		t.Fatal(err)
	}
	if s := got.GetSteps()[0]; got.GetVersion() != 2 || s.GetKind() != informed || s.GetRecordedBy() != "hc-tl-1" ||
		!s.GetStepTime().AsTime().Equal(informedAt) || s.GetRecordTime() == nil || s.GetNote() != "Told in private." {
		t.Fatalf("after C80: %v", got)
	}
	// C81: the staff member reports the post, with the platform's reference.
	_, err = recordStep(t, f, "hc-cso-2", name, kind(platform))
	wantField(t, err, "step.external_reference")
	if _, err := recordStep(t, f, "hc-cso-2", name, &incidentv1.PublicNamingStep{Kind: platform, ExternalReference: "FB-77123"}); err != nil {
		t.Fatal(err)
	}
	// C82: Corporate Communications asks the editor; Head of People may not.
	_, err = recordStep(t, f, "hc-hop-1", name, &incidentv1.PublicNamingStep{Kind: removal, Recipient: "editor"})
	wantCode(t, err, codes.PermissionDenied)
	if _, err := recordStep(t, f, "hc-cc-1", name, &incidentv1.PublicNamingStep{Kind: removal, Recipient: "editor, Highland Herald online"}); err != nil {
		t.Fatal(err)
	}
	if _, err := recordStep(t, f, "hc-cc-1", name, kind(removed)); err != nil {
		t.Fatal(err)
	}
	// C83
	if _, err := recordStep(t, f, "hc-tl-1", name, &incidentv1.PublicNamingStep{Kind: defamed, Note: "Own civil matter; advised."}); err != nil {
		t.Fatal(err)
	}
	// C84: the line manager reports on the staff member's behalf only with their agreement.
	_, err = recordStep(t, f, "hc-tl-1", name, kind(police))
	wantField(t, err, "step.staff_member_agreed")
	_, err = recordStep(t, f, "hc-hop-1", name, &incidentv1.PublicNamingStep{Kind: police, StaffMemberAgreed: true})
	wantCode(t, err, codes.PermissionDenied)
	if _, err := recordStep(t, f, "hc-tl-1", name, &incidentv1.PublicNamingStep{Kind: police, StaffMemberAgreed: true, ExternalReference: "PS-2026-1"}); err != nil {
		t.Fatal(err)
	}
	// C85
	if _, err := recordStep(t, f, "hc-tl-1", name, &incidentv1.PublicNamingStep{Kind: support, Note: "EAP offered."}); err != nil {
		t.Fatal(err)
	}
	// C86: the individual with HR (Head of People), with their agreement.
	decision := &incidentv1.PersonalRecordDecision{OnPersonalRecord: false, Reason: "Staff member prefers no record."}
	_, err = f.client.RecordPublicNamingStep(as(t, "hc-cc-1"), &incidentv1.RecordPublicNamingStepRequest{
		Name: name, Step: &incidentv1.PublicNamingStep{Kind: personal, StaffMemberAgreed: true}, PersonalRecordDecision: decision})
	wantCode(t, err, codes.PermissionDenied)
	_, err = f.client.RecordPublicNamingStep(as(t, "hc-hop-1"), &incidentv1.RecordPublicNamingStepRequest{
		Name: name, Step: &incidentv1.PublicNamingStep{Kind: personal}, PersonalRecordDecision: decision})
	wantField(t, err, "step.staff_member_agreed")
	_, err = f.client.RecordPublicNamingStep(as(t, "hc-hop-1"), &incidentv1.RecordPublicNamingStepRequest{
		Name: name, Step: &incidentv1.PublicNamingStep{Kind: personal, StaffMemberAgreed: true}})
	wantField(t, err, "personal_record_decision")
	got, err = f.client.RecordPublicNamingStep(as(t, "hc-hop-1"), &incidentv1.RecordPublicNamingStepRequest{
		Name: name, Step: &incidentv1.PublicNamingStep{Kind: personal, StaffMemberAgreed: true}, PersonalRecordDecision: decision})
	if err != nil {
		t.Fatal(err)
	}
	if d := got.GetPersonalRecordDecision(); d == nil || d.GetOnPersonalRecord() || d.GetDecidedWith() != "hc-hop-1" || d.GetRecordedBy() != "hc-hop-1" || d.GetDecideTime() == nil {
		t.Fatalf("decision %v", got.GetPersonalRecordDecision())
	}
	// Closed: no more steps.
	got, err = recordStep(t, f, "hc-tl-1", name, kind(closeCase))
	if err != nil || got.GetState() != incidentv1.PublicNaming_STATE_CLOSED {
		t.Fatalf("close: %v, %v", got, err)
	}
	_, err = recordStep(t, f, "hc-tl-1", name, kind(support))
	wantCode(t, err, codes.FailedPrecondition)

	// Every step is an event with who and when; the read model follows.
	id := strings.TrimPrefix(name, "publicNamings/")
	events, err := f.events.Load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	wantActors := []string{"hc-om-1", "hc-tl-1", "hc-cso-2", "hc-cc-1", "hc-cc-1", "hc-tl-1", "hc-tl-1", "hc-tl-1", "hc-hop-1", "hc-tl-1"}
	if len(events) != len(wantActors) || got.GetVersion() != int64(len(wantActors)) {
		t.Fatalf("%d events, version %d; want %d", len(events), got.GetVersion(), len(wantActors))
	}
	for i, e := range events {
		if e.Actor != wantActors[i] || e.AggregateType != "public_naming" {
			t.Errorf("event %d by %s (%s), want %s", i+1, e.Actor, e.AggregateType, wantActors[i])
		}
		if i > 0 && e.Type != "public_naming.step_recorded" {
			t.Errorf("event %d type %s", i+1, e.Type)
		}
	}
	if _, ok := eventlog.VerifyChain(events); !ok {
		t.Error("the case's event chain does not verify")
	}
	var police84 struct {
		Reference   string `json:"reference"`
		StaffMember string `json:"staff_member"`
		Step        struct {
			Kind              string `json:"kind"`
			StaffMemberAgreed bool   `json:"staff_member_agreed"`
			ExternalReference string `json:"external_reference"`
		} `json:"step"`
	}
	if err := events[6].Decode(&police84); err != nil {
		t.Fatal(err)
	}
	if police84.Step.Kind != "reported_to_police" || !police84.Step.StaffMemberAgreed || police84.StaffMember != "hc-cso-2" || police84.Reference != c.GetReference() {
		t.Errorf("police step payload %+v", police84)
	}
	closed, err := f.client.ListPublicNamings(as(t, "hc-hop-1"), &incidentv1.ListPublicNamingsRequest{State: incidentv1.PublicNaming_STATE_CLOSED})
	if err != nil || len(closed.GetPublicNamings()) != 1 || len(closed.GetPublicNamings()[0].GetSteps()) != 9 {
		t.Fatalf("closed cases %v, %v", closed.GetPublicNamings(), err)
	}
	open, err := f.client.ListPublicNamings(as(t, "hc-hop-1"), &incidentv1.ListPublicNamingsRequest{State: incidentv1.PublicNaming_STATE_OPEN})
	if err != nil || len(open.GetPublicNamings()) != 0 {
		t.Fatalf("open cases %v, %v", open.GetPublicNamings(), err)
	}
}

// The board's roles differ (C82, C86: the Senior Management Team).
func TestRecordPublicNamingStepsBoard(t *testing.T) {
	f := start(t)
	c := createNaming(t, f, "vb-staff-2", "vb-staff-1")
	removal := &incidentv1.PublicNamingStep{Kind: incidentv1.PublicNamingStepKind_PUBLIC_NAMING_STEP_KIND_REMOVAL_REQUESTED, Recipient: "website owner"}
	_, err := recordStep(t, f, "vb-lm-1", c.GetName(), removal)
	wantCode(t, err, codes.PermissionDenied)
	if _, err := recordStep(t, f, "vb-smt-1", c.GetName(), removal); err != nil {
		t.Fatal(err)
	}
	decide := func(staff string) error {
		_, err := f.client.RecordPublicNamingStep(as(t, staff), &incidentv1.RecordPublicNamingStepRequest{
			Name:                   c.GetName(),
			Step:                   &incidentv1.PublicNamingStep{Kind: incidentv1.PublicNamingStepKind_PUBLIC_NAMING_STEP_KIND_PERSONAL_RECORD_DECIDED, StaffMemberAgreed: true},
			PersonalRecordDecision: &incidentv1.PersonalRecordDecision{OnPersonalRecord: true, Reason: "Agreed with the staff member."},
		})
		return err
	}
	wantCode(t, decide("vb-lm-1"), codes.PermissionDenied)
	if err := decide("vb-smt-1"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, decide("vb-dass-1"), codes.FailedPrecondition) // decided once
}

// Optimistic concurrency: a stale expected_version is Aborted, and of many
// concurrent writers every acknowledged step is in the record.
func TestPublicNamingConcurrentSteps(t *testing.T) {
	f := start(t)
	c := createNaming(t, f, "hc-om-1", "hc-cso-2")
	support := &incidentv1.PublicNamingStep{Kind: incidentv1.PublicNamingStepKind_PUBLIC_NAMING_STEP_KIND_SUPPORT_OFFERED}
	if _, err := f.client.RecordPublicNamingStep(as(t, "hc-tl-1"), &incidentv1.RecordPublicNamingStepRequest{Name: c.GetName(), Step: support, ExpectedVersion: 1}); err != nil {
		t.Fatal(err)
	}
	_, err := f.client.RecordPublicNamingStep(as(t, "hc-hop-1"), &incidentv1.RecordPublicNamingStepRequest{Name: c.GetName(), Step: support, ExpectedVersion: 1})
	wantCode(t, err, codes.Aborted)

	const writers = 12
	ctxs := map[string]context.Context{"hc-tl-1": as(t, "hc-tl-1"), "hc-hop-1": as(t, "hc-hop-1")}
	var (
		wg           sync.WaitGroup
		mu           sync.Mutex
		acked, other int
		versions     = map[int64]bool{}
	)
	for i := range writers {
		staff := []string{"hc-tl-1", "hc-hop-1"}[i%2]
		wg.Go(func() {
			got, err := f.client.RecordPublicNamingStep(ctxs[staff], &incidentv1.RecordPublicNamingStepRequest{
				Name: c.GetName(), Step: &incidentv1.PublicNamingStep{Kind: support.Kind, Note: staff}, ExpectedVersion: 2})
			mu.Lock()
			defer mu.Unlock()
			switch status.Code(err) {
			case codes.OK:
				acked++
				versions[got.GetVersion()] = true
			case codes.Aborted:
			default:
				other++
				t.Errorf("writer: %v", err)
			}
		})
	}
	wg.Wait()
	if acked != 1 || other != 0 || !versions[3] {
		t.Fatalf("%d acknowledged writers with expected_version 2 (versions %v), want exactly 1", acked, versions)
	}
	// Without expected_version, racers that lose the append get Aborted too.
	acked = 0
	for i := range writers {
		staff := []string{"hc-tl-1", "hc-hop-1"}[i%2]
		wg.Go(func() {
			_, err := f.client.RecordPublicNamingStep(ctxs[staff], &incidentv1.RecordPublicNamingStepRequest{Name: c.GetName(), Step: support})
			mu.Lock()
			defer mu.Unlock()
			switch status.Code(err) {
			case codes.OK:
				acked++
			case codes.Aborted:
			default:
				t.Errorf("writer: %v", err)
			}
		})
	}
	wg.Wait()
	got, err := f.client.GetPublicNaming(as(t, "hc-tl-1"), &incidentv1.GetPublicNamingRequest{Name: c.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 + acked; acked == 0 || len(got.GetSteps()) != want-1 || got.GetVersion() != int64(want) {
		t.Fatalf("%d acknowledged; case has %d steps at version %d", acked, len(got.GetSteps()), got.GetVersion())
	}
}

func TestPublicNamingListPaginatesAndFilters(t *testing.T) {
	f := start(t)
	var refs []string
	for i := range 5 {
		staff := []string{"hc-cso-1", "hc-cso-2"}[i%2]
		refs = append(refs, createNaming(t, f, "hc-om-1", staff).GetReference())
	}
	var seen []string
	token := ""
	for range 10 {
		resp, err := f.client.ListPublicNamings(as(t, "hc-cc-1"), &incidentv1.ListPublicNamingsRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range resp.GetPublicNamings() {
			seen = append(seen, c.GetReference())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(seen) != 5 || seen[0] != refs[4] || seen[4] != refs[0] {
		t.Errorf("listed %v, want %v newest first", seen, refs)
	}
	byStaff, err := f.client.ListPublicNamings(as(t, "hc-hop-1"), &incidentv1.ListPublicNamingsRequest{StaffMember: "hc-cso-1"})
	if err != nil || len(byStaff.GetPublicNamings()) != 3 {
		t.Errorf("cases naming hc-cso-1: %d, %v", len(byStaff.GetPublicNamings()), err)
	}
	// The staff member named sees only the cases naming them.
	own, err := f.client.ListPublicNamings(as(t, "hc-cso-2"), &incidentv1.ListPublicNamingsRequest{})
	if err != nil || len(own.GetPublicNamings()) != 2 {
		t.Errorf("hc-cso-2 lists %d, %v", len(own.GetPublicNamings()), err)
	}
}

func TestRetriedPublicNamingWithRequestIDIsRecordedOnce(t *testing.T) {
	f := start(t)
	req := namingReq("hc-cso-2")
	req.RequestId = "form-7"
	a, err := f.client.CreatePublicNaming(as(t, "hc-om-1"), req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.client.CreatePublicNaming(as(t, "hc-om-1"), req)
	if err != nil || a.GetName() != b.GetName() {
		t.Fatalf("retry gave %s, %v; want %s", b.GetName(), err, a.GetName())
	}
	// The same request id for an incident is a different thing.
	inc, err := f.client.CreateIncident(as(t, "hc-om-1"), &incidentv1.CreateIncidentRequest{Incident: report("x"), RequestId: "form-7"})
	if err != nil || strings.TrimPrefix(inc.GetName(), "incidents/") == strings.TrimPrefix(a.GetName(), "publicNamings/") {
		t.Fatalf("incident %v, %v", inc.GetName(), err)
	}
	list, _ := f.client.ListPublicNamings(as(t, "hc-om-1"), &incidentv1.ListPublicNamingsRequest{})
	if len(list.GetPublicNamings()) != 1 {
		t.Errorf("%d cases", len(list.GetPublicNamings()))
	}
}

func TestPublicNamingLinksAnIncidentOfTheOrganisation(t *testing.T) {
	f := start(t)
	inc, err := f.client.CreateIncident(as(t, "hc-om-1"), &incidentv1.CreateIncidentRequest{Incident: report("Post naming an officer.")})
	if err != nil {
		t.Fatal(err)
	}
	req := namingReq("hc-cso-2")
	req.PublicNaming.Incident = inc.GetName()
	req.PublicNaming.IntentToRecord = true
	c, err := f.client.CreatePublicNaming(as(t, "hc-om-1"), req)
	if err != nil || c.GetIncident() != inc.GetName() || !c.GetIntentToRecord() {
		t.Fatalf("linked case %v, %v", c, err)
	}
	// Another organisation's incident is not linked.
	board, err := f.client.CreateIncident(as(t, "vb-staff-1"), &incidentv1.CreateIncidentRequest{Incident: report("board")})
	if err != nil {
		t.Fatal(err)
	}
	req.PublicNaming.Incident = board.GetName()
	_, err = f.client.CreatePublicNaming(as(t, "hc-om-1"), req)
	wantField(t, err, "public_naming.incident")
	// An incident is not a case, and a case is not an incident.
	_, err = f.client.GetPublicNaming(as(t, "hc-om-1"), &incidentv1.GetPublicNamingRequest{Name: "publicNamings/" + strings.TrimPrefix(inc.GetName(), "incidents/")})
	wantCode(t, err, codes.NotFound)
}

func TestPublicNamingBadRequestsNameTheField(t *testing.T) {
	f := start(t)
	ctx := as(t, "hc-om-1")
	edit := func(fn func(*incidentv1.PublicNaming)) *incidentv1.CreatePublicNamingRequest {
		r := namingReq("hc-cso-2")
		fn(r.PublicNaming)
		return r
	}
	creates := []struct {
		name  string
		req   *incidentv1.CreatePublicNamingRequest
		field string
	}{
		{"no case", &incidentv1.CreatePublicNamingRequest{}, "public_naming"},
		{"no staff member", edit(func(p *incidentv1.PublicNaming) { p.StaffMember = "" }), "public_naming.staff_member"},
		{"malformed staff id", edit(func(p *incidentv1.PublicNaming) { p.StaffMember = "Callum Ross" }), "public_naming.staff_member"},
		{"unknown staff id", edit(func(p *incidentv1.PublicNaming) { p.StaffMember = "hc-nobody-9" }), "public_naming.staff_member"},
		{"no url", edit(func(p *incidentv1.PublicNaming) { p.Url = "" }), "public_naming.url"},
		{"not http", edit(func(p *incidentv1.PublicNaming) { p.Url = "file:///etc/passwd" }), "public_naming.url"},
		{"long url", edit(func(p *incidentv1.PublicNaming) { p.Url = "https://x.example/" + strings.Repeat("a", 2100) }), "public_naming.url"},
		{"long platform", edit(func(p *incidentv1.PublicNaming) { p.Platform = strings.Repeat("p", 101) }), "public_naming.platform"},
		{"screenshot not evidence", edit(func(p *incidentv1.PublicNaming) { p.Screenshots = []string{"shot.png"} }), "public_naming.screenshots[0]"},
		{"bad incident", edit(func(p *incidentv1.PublicNaming) { p.Incident = "incidents/" }), "public_naming.incident"},
		{"unknown incident", edit(func(p *incidentv1.PublicNaming) { p.Incident = "incidents/nosuch" }), "public_naming.incident"},
		{"bad subject", edit(func(p *incidentv1.PublicNaming) { p.Subject = "subject/1" }), "public_naming.subject"},
		{"long description", edit(func(p *incidentv1.PublicNaming) { p.Description = strings.Repeat("d", 5001) }), "public_naming.description"},
		{"long request id", func() *incidentv1.CreatePublicNamingRequest {
			r := namingReq("hc-cso-2")
			r.RequestId = strings.Repeat("r", 101)
			return r
		}(), "request_id"},
	}
	for _, tt := range creates {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.client.CreatePublicNaming(ctx, tt.req)
			wantField(t, err, tt.field)
		})
	}
	c := createNaming(t, f, "hc-om-1", "hc-cso-2")
	steps := []struct {
		name  string
		req   *incidentv1.RecordPublicNamingStepRequest
		field string
	}{
		{"bad name", &incidentv1.RecordPublicNamingStepRequest{Name: "incidents/x"}, "name"},
		{"no step", &incidentv1.RecordPublicNamingStepRequest{Name: c.GetName()}, "step"},
		{"no kind", &incidentv1.RecordPublicNamingStepRequest{Name: c.GetName(), Step: &incidentv1.PublicNamingStep{}}, "step.kind"},
		{"unknown kind", &incidentv1.RecordPublicNamingStepRequest{Name: c.GetName(), Step: &incidentv1.PublicNamingStep{Kind: 42}}, "step.kind"},
		{"future step", &incidentv1.RecordPublicNamingStepRequest{Name: c.GetName(), Step: &incidentv1.PublicNamingStep{
			Kind: incidentv1.PublicNamingStepKind_PUBLIC_NAMING_STEP_KIND_REMOVED, StepTime: timestamppb.New(time.Now().Add(24 * time.Hour))}}, "step.step_time"},
		{"long note", &incidentv1.RecordPublicNamingStepRequest{Name: c.GetName(), Step: &incidentv1.PublicNamingStep{
			Kind: incidentv1.PublicNamingStepKind_PUBLIC_NAMING_STEP_KIND_REMOVED, Note: strings.Repeat("n", 1001)}}, "step.note"},
		{"negative version", &incidentv1.RecordPublicNamingStepRequest{Name: c.GetName(), ExpectedVersion: -1, Step: &incidentv1.PublicNamingStep{
			Kind: incidentv1.PublicNamingStepKind_PUBLIC_NAMING_STEP_KIND_REMOVED}}, "expected_version"},
	}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.client.RecordPublicNamingStep(ctx, tt.req)
			wantField(t, err, tt.field)
		})
	}
	_, err := f.client.GetPublicNaming(ctx, &incidentv1.GetPublicNamingRequest{Name: "publicNamings/"})
	wantField(t, err, "name")
	_, err = f.client.GetPublicNaming(ctx, &incidentv1.GetPublicNamingRequest{Name: "publicNamings/nosuchcase"})
	wantCode(t, err, codes.NotFound)
	_, err = f.client.RecordPublicNamingStep(ctx, &incidentv1.RecordPublicNamingStepRequest{Name: "publicNamings/nosuchcase",
		Step: &incidentv1.PublicNamingStep{Kind: incidentv1.PublicNamingStepKind_PUBLIC_NAMING_STEP_KIND_REMOVED}})
	wantCode(t, err, codes.NotFound)
	_, err = f.client.ListPublicNamings(ctx, &incidentv1.ListPublicNamingsRequest{PageToken: "!!!"})
	wantField(t, err, "page_token")
	_, err = f.client.ListPublicNamings(ctx, &incidentv1.ListPublicNamingsRequest{PageSize: 501})
	wantField(t, err, "page_size")
	_, err = f.client.ListPublicNamings(ctx, &incidentv1.ListPublicNamingsRequest{StaffMember: "Not An Id"})
	wantField(t, err, "staff_member")
	_, err = f.client.ListPublicNamings(ctx, &incidentv1.ListPublicNamingsRequest{State: 7})
	wantField(t, err, "state")
	_, err = f.client.ListPublicNamings(context.Background(), &incidentv1.ListPublicNamingsRequest{})
	wantCode(t, err, codes.Unauthenticated)
}

// A crash between the append and the read-model update leaves the list
// behind; Rebuild (run at start, main.go) repairs it from the events.
func TestPublicNamingRebuildRepairsTheReadModel(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	createNaming(t, f, "hc-om-1", "hc-cso-2")
	orphan, err := eventlog.Next(nil, eventlog.Change{
		AggregateType: "public_naming", AggregateID: "orphanpn", Type: "incident.staff_named_publicly", Organization: "highland-council",
		Actor: "hc-om-1", Time: time.Now(), Data: map[string]any{"reference": "HC-PN-2026-ORPHAN", "reporter": "hc-om-1",
			"staff_member": "hc-cso-2", "url": "https://x.example/1", "line_manager": "hc-tl-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.events.Append(ctx, orphan); err != nil {
		t.Fatal(err)
	}
	// Incidents in the same store are left to the incident read model.
	if _, err := f.client.CreateIncident(as(t, "hc-om-1"), &incidentv1.CreateIncidentRequest{Incident: report("not a case")}); err != nil {
		t.Fatal(err)
	}
	byType, err := store.LatestSeqsByType(ctx, f.db.Collection("incident_events"))
	if err != nil {
		t.Fatal(err)
	}
	namings := store.NewPublicNamings(f.db)
	projected, err := namings.Versions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	uc := app.NewPublicNamings(f.events, namings, seedStaff{})
	n, err := uc.Rebuild(ctx, byType["public_naming"], projected)
	if err != nil || n != 1 {
		t.Fatalf("Rebuild = %d, %v; want 1 repaired", n, err)
	}
	list, err := f.client.ListPublicNamings(as(t, "hc-tl-1"), &incidentv1.ListPublicNamingsRequest{})
	if err != nil || len(list.GetPublicNamings()) != 2 {
		t.Fatalf("after rebuild the line manager lists %v, %v", list.GetPublicNamings(), err)
	}
}
