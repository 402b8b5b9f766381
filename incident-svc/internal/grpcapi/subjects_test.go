package grpcapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/contactguard/contactguard/incident-svc/internal/store"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/testenv"
	incidentv1 "github.com/contactguard/contactguard/proto/incident/v1"
)

func subjPhone(v string) *incidentv1.ContactIdentifier {
	return &incidentv1.ContactIdentifier{Type: incidentv1.ContactIdentifier_TYPE_PHONE, Value: v}
}

func subjEmail(v string) *incidentv1.ContactIdentifier {
	return &incidentv1.ContactIdentifier{Type: incidentv1.ContactIdentifier_TYPE_EMAIL, Value: v}
}

func subjPerson(name string, ids ...*incidentv1.ContactIdentifier) *incidentv1.Subject {
	return &incidentv1.Subject{Kind: incidentv1.Subject_KIND_SERVICE_USER, DisplayName: name, Identifiers: ids}
}

func subjCreate(t *testing.T, f fixture, staff string, in *incidentv1.Subject) *incidentv1.Subject {
	t.Helper()
	s, err := f.client.CreateSubject(as(t, staff), &incidentv1.CreateSubjectRequest{Subject: in})
	if err != nil {
		t.Fatalf("create subject %q as %s: %v", in.GetDisplayName(), staff, err)
	}
	return s
}

// wantField checks err is InvalidArgument naming field, in the message and
// in a BadRequest detail.
func subjWantField(t *testing.T, err error, field string) {
	t.Helper()
	st := wantCode(t, err, codes.InvalidArgument)
	if !strings.HasPrefix(st.Message(), field+":") && st.Message() != field {
		t.Errorf("message %q does not name %s", st.Message(), field)
	}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && br.GetFieldViolations()[0].GetField() == field {
			return
		}
	}
	t.Errorf("no BadRequest detail naming %s in %q", field, st.Message())
}

func subjNames(subjects []*incidentv1.Subject) []string {
	var out []string
	for _, s := range subjects {
		out = append(out, s.GetDisplayName())
	}
	return out
}

// C8.2, C19: a subject with identifiers, a representative and adjustments
// is recorded once and seen by any staff member of the organisation.
func TestCreateAndGetSubject(t *testing.T) {
	f := start(t)
	in := subjPerson("Jo Bloggs", subjPhone("01463 702000"), subjEmail("Jo.Bloggs@Example.ORG"),
		&incidentv1.ContactIdentifier{Type: incidentv1.ContactIdentifier_TYPE_SOCIAL_HANDLE, Value: "@JoB", Platform: "X", Label: "personal"},
		&incidentv1.ContactIdentifier{Type: incidentv1.ContactIdentifier_TYPE_POSTAL_ADDRESS, Value: "1 High Street\n Inverness"})
	in.GivenName, in.FamilyName, in.OtherNames = "Jo", "Bloggs", []string{"Joanne Bloggs"}
	in.Representative = &incidentv1.Representative{
		Kind: incidentv1.Representative_KIND_ADVOCATE, DisplayName: "Highland Advocacy", Relationship: "advocacy service",
		Identifiers: []*incidentv1.ContactIdentifier{subjPhone("+44 1463 233000")},
	}
	in.ReasonableAdjustments = []string{"Letters in large print"}
	in.SupportNeeds = []string{"Hard of hearing: speak clearly, offer a callback"}
	created, err := f.client.CreateSubject(as(t, "hc-cso-1"), &incidentv1.CreateSubjectRequest{Subject: in})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.GetName(), "subjects/") || created.GetOrganization() != "highland-council" ||
		created.GetCreator() != "hc-cso-1" || created.GetVersion() != 1 || created.GetCreateTime() == nil {
		t.Fatalf("created = %v", created)
	}
	ids := created.GetIdentifiers()
	wantNorm := []string{"+441463702000", "jo.bloggs@example.org", "x:job", "1 high street inverness"}
	for i, id := range ids {
		if id.GetNormalized() != wantNorm[i] {
			t.Errorf("identifiers[%d] normalised to %q, want %q", i, id.GetNormalized(), wantNorm[i])
		}
	}
	if ids[0].GetValue() != "01463 702000" || ids[2].GetPlatform() != "x" || ids[2].GetLabel() != "personal" {
		t.Errorf("identifiers as entered not kept: %v", ids)
	}
	// Front-line staff who did not record the subject see the
	// representative and the adjustments (C8.2, C19).
	got, err := f.client.GetSubject(as(t, "hc-cso-2"), &incidentv1.GetSubjectRequest{Name: created.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	rep := got.GetRepresentative()
	if rep.GetDisplayName() != "Highland Advocacy" || rep.GetKind() != incidentv1.Representative_KIND_ADVOCATE ||
		rep.GetIdentifiers()[0].GetNormalized() != "+441463233000" || rep.GetRelationship() != "advocacy service" ||
		!slices.Equal(got.GetReasonableAdjustments(), in.ReasonableAdjustments) || !slices.Equal(got.GetSupportNeeds(), in.SupportNeeds) ||
		got.GetOtherNames()[0] != "Joanne Bloggs" || got.GetGivenName() != "Jo" {
		t.Errorf("got = %v", got)
	}
	// No incident names the subject yet (TestSubjectCountsIncidentsAndWarnings).
	if got.GetIncidentCount() != 0 || got.GetWarningCount() != 0 {
		t.Errorf("counts = %d, %d", got.GetIncidentCount(), got.GetWarningCount())
	}
	// A representative recorded as another subject takes its name.
	linked := subjPerson("Sam Bloggs")
	linked.Representative = &incidentv1.Representative{Subject: created.GetName()}
	l := subjCreate(t, f, "hc-cso-2", linked)
	if l.GetRepresentative().GetDisplayName() != "Jo Bloggs" || l.GetRepresentative().GetKind() != incidentv1.Representative_KIND_REPRESENTATIVE {
		t.Errorf("linked representative = %v", l.GetRepresentative())
	}
}

func TestSubjectsNeverCrossOrganisations(t *testing.T) {
	f := start(t)
	council := subjCreate(t, f, "hc-cso-1", subjPerson("Jo Bloggs", subjPhone("01463 702000")))
	board := subjCreate(t, f, "vb-staff-1", subjPerson("Jo Bloggs (board)", subjPhone("01463 702000")))
	for _, staff := range []string{"vb-staff-1", "vb-ass-1", "vb-admin-1"} {
		_, err := f.client.GetSubject(as(t, staff), &incidentv1.GetSubjectRequest{Name: council.GetName()})
		wantCode(t, err, codes.NotFound)
		_, err = f.client.UpdateSubject(as(t, staff), &incidentv1.UpdateSubjectRequest{
			Subject: &incidentv1.Subject{Name: council.GetName(), DisplayName: "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
		})
		wantCode(t, err, codes.NotFound)
		found, err := f.client.LookupSubjects(as(t, staff), &incidentv1.LookupSubjectsRequest{Identifier: "01463 702000"})
		if err != nil || len(found.GetSubjects()) != 1 || found.GetSubjects()[0].GetName() != board.GetName() {
			t.Errorf("%s looks up %v, %v; want only the board's subject", staff, subjNames(found.GetSubjects()), err)
		}
		list, err := f.client.ListSubjects(as(t, staff), &incidentv1.ListSubjectsRequest{})
		if err != nil || len(list.GetSubjects()) != 1 || list.GetSubjects()[0].GetOrganization() != "valuation-board" {
			t.Errorf("%s lists %v, %v", staff, subjNames(list.GetSubjects()), err)
		}
	}
	// A council subject as representative of a board subject is unknown to the board.
	in := subjPerson("Someone")
	in.Representative = &incidentv1.Representative{Subject: council.GetName()}
	_, err := f.client.CreateSubject(as(t, "vb-staff-1"), &incidentv1.CreateSubjectRequest{Subject: in})
	subjWantField(t, err, "subject.representative.subject")
	// Recording a subject for another organisation is refused.
	other := subjPerson("Elsewhere")
	other.Organization = "valuation-board"
	_, err = f.client.CreateSubject(as(t, "hc-cso-1"), &incidentv1.CreateSubjectRequest{Subject: other})
	wantCode(t, err, codes.PermissionDenied)
	// An incident's name is not a subject's, even in the right organisation.
	inc, err := f.client.CreateIncident(as(t, "hc-cso-1"), &incidentv1.CreateIncidentRequest{Incident: report("x")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.client.GetSubject(as(t, "hc-cso-1"), &incidentv1.GetSubjectRequest{Name: "subjects/" + strings.TrimPrefix(inc.GetName(), "incidents/")})
	wantCode(t, err, codes.NotFound)
}

// The same number written the ways people write it finds the same subject.
func TestLookupSubjectsByAnyFormOfIdentifier(t *testing.T) {
	f := start(t)
	jo := subjCreate(t, f, "hc-cso-1", subjPerson("Jo Bloggs", subjPhone("01463 702000"), subjEmail("Jo.Bloggs@Example.ORG"),
		&incidentv1.ContactIdentifier{Type: incidentv1.ContactIdentifier_TYPE_SOCIAL_HANDLE, Value: "@JoB", Platform: "x"}))
	subjCreate(t, f, "hc-cso-1", subjPerson("Someone Else", subjPhone("07700 900123")))
	ctx := as(t, "hc-sc-1")
	phoneType := incidentv1.ContactIdentifier_TYPE_PHONE
	tests := []struct {
		identifier string
		typ        incidentv1.ContactIdentifier_Type
	}{
		{"01463 702000", 0},
		{"01463702000", 0},
		{"+44 1463 702000", 0},
		{"+441463702000", 0},
		{"0044 1463 702000", 0},
		{"(01463) 702-000", phoneType},
		{"+44 1463 702000", phoneType},
		{"JO.BLOGGS@example.org", 0},
		{"jo.bloggs@example.org", incidentv1.ContactIdentifier_TYPE_EMAIL},
		{"@job", 0},
		{"X:@JoB", incidentv1.ContactIdentifier_TYPE_SOCIAL_HANDLE},
	}
	for _, tt := range tests {
		resp, err := f.client.LookupSubjects(ctx, &incidentv1.LookupSubjectsRequest{Identifier: tt.identifier, Type: tt.typ})
		if err != nil {
			t.Errorf("lookup %q: %v", tt.identifier, err)
			continue
		}
		if len(resp.GetSubjects()) != 1 || resp.GetSubjects()[0].GetName() != jo.GetName() {
			t.Errorf("lookup %q (%v) found %v, want Jo Bloggs", tt.identifier, tt.typ, subjNames(resp.GetSubjects()))
		}
	}
	// Asked as a social media handle, a phone number matches nothing.
	resp, err := f.client.LookupSubjects(ctx, &incidentv1.LookupSubjectsRequest{Identifier: "01463702000", Type: incidentv1.ContactIdentifier_TYPE_SOCIAL_HANDLE})
	if err != nil || len(resp.GetSubjects()) != 0 {
		t.Errorf("01463702000 as a handle: %v, %v", subjNames(resp.GetSubjects()), err)
	}
	resp, err = f.client.LookupSubjects(ctx, &incidentv1.LookupSubjectsRequest{Identifier: "01463 999999"})
	if err != nil || len(resp.GetSubjects()) != 0 {
		t.Errorf("unknown number: %v, %v", subjNames(resp.GetSubjects()), err)
	}
	_, err = f.client.LookupSubjects(ctx, &incidentv1.LookupSubjectsRequest{Identifier: "call me", Type: phoneType})
	subjWantField(t, err, "identifier")
	_, err = f.client.LookupSubjects(ctx, &incidentv1.LookupSubjectsRequest{Identifier: "  "})
	subjWantField(t, err, "identifier")
	_, err = f.client.LookupSubjects(ctx, &incidentv1.LookupSubjectsRequest{Identifier: strings.Repeat("1", 321)})
	subjWantField(t, err, "identifier")
	_, err = f.client.LookupSubjects(ctx, &incidentv1.LookupSubjectsRequest{Identifier: "x", Type: 42})
	subjWantField(t, err, "type")
}

func TestListSubjectsPaginatesByNameWithFilters(t *testing.T) {
	f := start(t)
	for _, n := range []string{"Bob Smith", "anna Jones", "Ann", "ann  b", "Zoe", "Annabel Lee", "Ánna Ó"} {
		subjCreate(t, f, "hc-cso-1", subjPerson(n))
	}
	org := subjPerson("Highland Housing Association")
	org.Kind = incidentv1.Subject_KIND_ORGANISATION
	subjCreate(t, f, "hc-cso-1", org)
	subjCreate(t, f, "vb-staff-1", subjPerson("Ann (board)"))
	ctx := as(t, "hc-cso-2")

	var all []string
	token := ""
	for range 10 {
		resp, err := f.client.ListSubjects(ctx, &incidentv1.ListSubjectsRequest{PageSize: 3, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, subjNames(resp.GetSubjects())...)
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	want := []string{"Ann", "ann b", "anna Jones", "Annabel Lee", "Bob Smith", "Highland Housing Association", "Zoe", "Ánna Ó"}
	if !slices.Equal(all, want) {
		t.Errorf("listed %q, want %q", all, want)
	}
	prefixes := []struct {
		prefix string
		want   []string
	}{
		{"an", []string{"Ann", "ann b", "anna Jones", "Annabel Lee"}},
		{"ANN ", []string{"ann b"}},
		{"Anna", []string{"anna Jones", "Annabel Lee"}},
		{"ánna", []string{"Ánna Ó"}},
		{"x", nil},
	}
	for _, p := range prefixes {
		resp, err := f.client.ListSubjects(ctx, &incidentv1.ListSubjectsRequest{NamePrefix: p.prefix})
		if err != nil || !slices.Equal(subjNames(resp.GetSubjects()), p.want) {
			t.Errorf("prefix %q: %q, %v; want %q", p.prefix, subjNames(resp.GetSubjects()), err, p.want)
		}
	}
	// A prefix across pages.
	first, err := f.client.ListSubjects(ctx, &incidentv1.ListSubjectsRequest{NamePrefix: "an", PageSize: 3})
	if err != nil || first.GetNextPageToken() == "" {
		t.Fatalf("first page %v, %v", first, err)
	}
	second, err := f.client.ListSubjects(ctx, &incidentv1.ListSubjectsRequest{NamePrefix: "an", PageSize: 3, PageToken: first.GetNextPageToken()})
	if err != nil || !slices.Equal(subjNames(second.GetSubjects()), []string{"Annabel Lee"}) || second.GetNextPageToken() != "" {
		t.Errorf("second page %v, %v", subjNames(second.GetSubjects()), err)
	}
	orgs, err := f.client.ListSubjects(ctx, &incidentv1.ListSubjectsRequest{Kind: incidentv1.Subject_KIND_ORGANISATION})
	if err != nil || !slices.Equal(subjNames(orgs.GetSubjects()), []string{"Highland Housing Association"}) {
		t.Errorf("organisations: %v, %v", subjNames(orgs.GetSubjects()), err)
	}
	_, err = f.client.ListSubjects(ctx, &incidentv1.ListSubjectsRequest{PageToken: "!!!"})
	subjWantField(t, err, "page_token")
	_, err = f.client.ListSubjects(ctx, &incidentv1.ListSubjectsRequest{PageSize: 501})
	subjWantField(t, err, "page_size")
	_, err = f.client.ListSubjects(ctx, &incidentv1.ListSubjectsRequest{NamePrefix: strings.Repeat("a", 201)})
	subjWantField(t, err, "name_prefix")
	_, err = f.client.ListSubjects(ctx, &incidentv1.ListSubjectsRequest{Kind: 42})
	subjWantField(t, err, "kind")
}

func TestUpdateSubject(t *testing.T) {
	f := start(t)
	jo := subjCreate(t, f, "hc-cso-1", subjPerson("Jo Bloggs", subjPhone("01463 702000")))
	ctx := as(t, "hc-cso-2")
	update := func(in *incidentv1.Subject, expected int64, paths ...string) (*incidentv1.Subject, error) {
		in.Name = jo.GetName()
		return f.client.UpdateSubject(ctx, &incidentv1.UpdateSubjectRequest{
			Subject: in, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}, ExpectedVersion: expected, Reason: "called to update details",
		})
	}
	updated, err := update(&incidentv1.Subject{
		DisplayName: "Joanne Bloggs", Identifiers: []*incidentv1.ContactIdentifier{subjPhone("07700 900123")},
		ReasonableAdjustments: []string{"Prefers e-mail"}, FamilyName: "not in the mask",
	}, 1, "display_name", "identifiers", "reasonable_adjustments")
	if err != nil {
		t.Fatal(err)
	}
	if updated.GetVersion() != 2 || updated.GetDisplayName() != "Joanne Bloggs" || updated.GetFamilyName() != "" ||
		updated.GetIdentifiers()[0].GetNormalized() != "+447700900123" || updated.GetCreator() != "hc-cso-1" ||
		updated.GetKind() != incidentv1.Subject_KIND_SERVICE_USER {
		t.Errorf("updated = %v", updated)
	}
	// The read model follows: found by the new number, not the old; listed by the new name.
	found, _ := f.client.LookupSubjects(ctx, &incidentv1.LookupSubjectsRequest{Identifier: "+447700900123"})
	old, _ := f.client.LookupSubjects(ctx, &incidentv1.LookupSubjectsRequest{Identifier: "01463 702000"})
	list, _ := f.client.ListSubjects(ctx, &incidentv1.ListSubjectsRequest{NamePrefix: "joanne"})
	if len(found.GetSubjects()) != 1 || len(old.GetSubjects()) != 0 || len(list.GetSubjects()) != 1 {
		t.Errorf("after update: new number %v, old number %v, by name %v", subjNames(found.GetSubjects()), subjNames(old.GetSubjects()), subjNames(list.GetSubjects()))
	}

	// expected_version of a version since superseded: Aborted (409 over REST).
	_, err = update(&incidentv1.Subject{DisplayName: "Stale"}, 1, "display_name")
	st := wantCode(t, err, codes.Aborted)
	if !strings.Contains(st.Message(), "version 2") {
		t.Errorf("message %q does not say the current version", st.Message())
	}
	// Nothing to change: no new version.
	same, err := update(&incidentv1.Subject{DisplayName: "Joanne  Bloggs "}, 2, "display_name")
	if err != nil || same.GetVersion() != 2 {
		t.Errorf("no-op update: %v, %v", same.GetVersion(), err)
	}
	// Removing the representative and clearing a list.
	withRep, err := update(&incidentv1.Subject{Representative: &incidentv1.Representative{DisplayName: "Sam"}}, 0, "representative")
	if err != nil || withRep.GetRepresentative().GetDisplayName() != "Sam" {
		t.Fatalf("add representative: %v, %v", withRep, err)
	}
	// The whole subject sent back, with the mask grpc-gateway derives from
	// a PATCH body: output-only fields are ignored, a field within the
	// representative is changed alone.
	withRep.Representative.DisplayName = "Samuel"
	withRep.Representative.Relationship = "son"
	renamed, err := update(withRep, 0, "name", "organization", "version", "create_time", "creator", "representative.display_name")
	if err != nil || renamed.GetRepresentative().GetDisplayName() != "Samuel" || renamed.GetRepresentative().GetRelationship() != "" || renamed.GetVersion() != 4 {
		t.Fatalf("renamed representative: %v, %v", renamed, err)
	}
	cleared, err := update(&incidentv1.Subject{}, 0, "representative", "reasonable_adjustments")
	if err != nil || cleared.GetRepresentative() != nil || len(cleared.GetReasonableAdjustments()) != 0 || cleared.GetVersion() != 5 {
		t.Errorf("cleared = %v, %v", cleared, err)
	}

	bad := []struct {
		name  string
		in    *incidentv1.Subject
		paths []string
		field string
	}{
		{"unknown path", &incidentv1.Subject{}, []string{"colour"}, "update_mask"},
		{"unknown representative path", &incidentv1.Subject{}, []string{"representative.colour"}, "update_mask"},
		{"no mask", &incidentv1.Subject{DisplayName: "x"}, nil, "update_mask"},
		{"malformed phone", &incidentv1.Subject{Identifiers: []*incidentv1.ContactIdentifier{subjPhone("call me")}}, []string{"identifiers"}, "subject.identifiers[0].value"},
		{"empty display name", &incidentv1.Subject{}, []string{"display_name"}, "subject.display_name"},
		{"over-long support need", &incidentv1.Subject{SupportNeeds: []string{strings.Repeat("n", 501)}}, []string{"support_needs"}, "subject.support_needs[0]"},
		{"own representative", &incidentv1.Subject{Representative: &incidentv1.Representative{Subject: jo.GetName()}}, []string{"representative"}, "subject.representative.subject"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := update(tt.in, 0, tt.paths...)
			subjWantField(t, err, tt.field)
		})
	}
	_, err = f.client.UpdateSubject(ctx, &incidentv1.UpdateSubjectRequest{
		Subject: jo, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}, Reason: strings.Repeat("r", 1001),
	})
	subjWantField(t, err, "reason")
	_, err = f.client.UpdateSubject(ctx, &incidentv1.UpdateSubjectRequest{Subject: &incidentv1.Subject{Name: "nope"}})
	subjWantField(t, err, "subject.name")
	_, err = f.client.UpdateSubject(ctx, &incidentv1.UpdateSubjectRequest{
		Subject: &incidentv1.Subject{Name: "subjects/missing", DisplayName: "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}},
	})
	wantCode(t, err, codes.NotFound)
}

// 20 staff change one subject at once from the same version: one wins, the
// rest get Aborted, and the history holds exactly the acknowledged changes.
func TestConcurrentSubjectUpdates(t *testing.T) {
	f := start(t)
	jo := subjCreate(t, f, "hc-cso-1", subjPerson("Jo Bloggs"))
	const n = 20
	var ackedNeeds []string
	for _, expected := range []int64{1, 0} {
		var wg sync.WaitGroup
		var mu sync.Mutex
		acked, aborted := 0, 0
		for i := range n {
			wg.Go(func() {
				need := fmt.Sprintf("need %d/%d", expected, i)
				_, err := f.client.UpdateSubject(as(t, "hc-cso-2"), &incidentv1.UpdateSubjectRequest{
					Subject:    &incidentv1.Subject{Name: jo.GetName(), SupportNeeds: []string{need}},
					UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"support_needs"}}, ExpectedVersion: expected,
				})
				mu.Lock()
				defer mu.Unlock()
				switch status.Code(err) {
				case codes.OK:
					acked++
					ackedNeeds = append(ackedNeeds, need)
				case codes.Aborted:
					aborted++
				default:
					t.Errorf("update: %v", err)
				}
			})
		}
		wg.Wait()
		if acked+aborted != n || acked < 1 || (expected == 1 && acked != 1) {
			t.Errorf("expected_version %d: %d acknowledged, %d aborted", expected, acked, aborted)
		}
		t.Logf("expected_version %d: %d acknowledged, %d aborted", expected, acked, aborted)
	}
	events, err := f.events.Load(context.Background(), strings.TrimPrefix(jo.GetName(), "subjects/"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := eventlog.VerifyChain(events); !ok {
		t.Error("history broken")
	}
	if len(events) != 1+len(ackedNeeds) {
		t.Errorf("%d events for %d acknowledged updates", len(events), len(ackedNeeds))
	}
	for _, need := range ackedNeeds {
		if !slices.ContainsFunc(events, func(e eventlog.Event) bool { return strings.Contains(e.Payload, `"`+need+`"`) }) {
			t.Errorf("acknowledged %q is not in the history", need)
		}
	}
	got, err := f.client.GetSubject(as(t, "hc-cso-1"), &incidentv1.GetSubjectRequest{Name: jo.GetName()})
	if err != nil || got.GetVersion() != int64(len(events)) {
		t.Errorf("version %d after %d events (%v)", got.GetVersion(), len(events), err)
	}
	listed, err := f.client.ListSubjects(as(t, "hc-cso-1"), &incidentv1.ListSubjectsRequest{})
	if err != nil || listed.GetSubjects()[0].GetVersion() != int64(len(events)) {
		t.Errorf("read model at version %d after %d events (%v)", listed.GetSubjects()[0].GetVersion(), len(events), err)
	}
}

// Section 1: the council records a child in an education setting as a
// subject but refuses their incidents, naming the Promoting Positive
// Relationships framework; the board's policy does not exclude them.
func TestChildInEducationSettingIncidentRefusedByTheCouncilOnly(t *testing.T) {
	f := start(t)
	child := subjPerson("Pupil A")
	child.ChildInEducationSetting = true
	hcChild := subjCreate(t, f, "hc-cso-1", child)
	vbChild := subjCreate(t, f, "vb-staff-1", child)
	if !hcChild.GetChildInEducationSetting() {
		t.Fatal("flag not recorded")
	}
	in := report("Shouted at the counter.")
	in.Subject = hcChild.GetName()
	_, err := f.client.CreateIncident(as(t, "hc-cso-1"), &incidentv1.CreateIncidentRequest{Incident: in})
	subjWantField(t, err, "incident.subject")
	if !strings.Contains(status.Convert(err).Message(), "Promoting Positive Relationships") {
		t.Errorf("refusal %q does not name the framework", status.Convert(err).Message())
	}
	in.Subject = vbChild.GetName()
	if _, err := f.client.CreateIncident(as(t, "vb-staff-1"), &incidentv1.CreateIncidentRequest{Incident: in}); err != nil {
		t.Errorf("board refused: %v", err)
	}
	// Once the flag is corrected, the council records the incident.
	_, err = f.client.UpdateSubject(as(t, "hc-tl-1"), &incidentv1.UpdateSubjectRequest{
		Subject: &incidentv1.Subject{Name: hcChild.GetName()}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"child_in_education_setting"}},
		Reason: "left school; an adult service user now",
	})
	if err != nil {
		t.Fatal(err)
	}
	in.Subject = hcChild.GetName()
	if _, err := f.client.CreateIncident(as(t, "hc-cso-1"), &incidentv1.CreateIncidentRequest{Incident: in}); err != nil {
		t.Errorf("after correction: %v", err)
	}
}

// Section 7: elected members are the council's internal customers; the
// board's policy does not mention them.
func TestElectedMembersOnlyWhereTheProfileCoversThem(t *testing.T) {
	f := start(t)
	member := subjPerson("Cllr Morrison")
	member.Kind = incidentv1.Subject_KIND_ELECTED_MEMBER
	subjCreate(t, f, "hc-cso-1", member)
	_, err := f.client.CreateSubject(as(t, "vb-staff-1"), &incidentv1.CreateSubjectRequest{Subject: member})
	subjWantField(t, err, "subject.kind")
	s := subjCreate(t, f, "vb-staff-1", subjPerson("Cllr Morrison"))
	_, err = f.client.UpdateSubject(as(t, "vb-staff-1"), &incidentv1.UpdateSubjectRequest{
		Subject: &incidentv1.Subject{Name: s.GetName(), Kind: incidentv1.Subject_KIND_ELECTED_MEMBER}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"kind"}},
	})
	subjWantField(t, err, "subject.kind")
}

func TestBadSubjectsAreInvalidArgumentNamingTheField(t *testing.T) {
	f := start(t)
	ctx := as(t, "hc-cso-1")
	long := strings.Repeat("a", 201)
	tests := []struct {
		name  string
		in    *incidentv1.Subject
		reqID string
		field string
	}{
		{"no subject", nil, "", "subject"},
		{"no kind", &incidentv1.Subject{DisplayName: "x"}, "", "subject.kind"},
		{"unknown kind", &incidentv1.Subject{Kind: 42, DisplayName: "x"}, "", "subject.kind"},
		{"no name", subjPerson(""), "", "subject.display_name"},
		{"over-long name", subjPerson(long), "", "subject.display_name"},
		{"over-long given name", &incidentv1.Subject{Kind: 1, DisplayName: "x", GivenName: long}, "", "subject.given_name"},
		{"malformed phone", subjPerson("x", subjPhone("call me")), "", "subject.identifiers[0].value"},
		{"malformed second phone", subjPerson("x", subjPhone("01463 702000"), subjPhone("12")), "", "subject.identifiers[1].value"},
		{"malformed email", subjPerson("x", subjEmail("jo@localhost")), "", "subject.identifiers[0].value"},
		{"identifier without type", subjPerson("x", &incidentv1.ContactIdentifier{Value: "01463 702000"}), "", "subject.identifiers[0].type"},
		{"over-long request id", subjPerson("x"), strings.Repeat("r", 101), "request_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.client.CreateSubject(ctx, &incidentv1.CreateSubjectRequest{Subject: tt.in, RequestId: tt.reqID})
			subjWantField(t, err, tt.field)
		})
	}
	_, err := f.client.GetSubject(ctx, &incidentv1.GetSubjectRequest{Name: "incidents/x"})
	subjWantField(t, err, "name")
	_, err = f.client.GetSubject(ctx, &incidentv1.GetSubjectRequest{Name: "subjects/nobody"})
	wantCode(t, err, codes.NotFound)
	_, err = f.client.GetSubject(context.Background(), &incidentv1.GetSubjectRequest{Name: "subjects/nobody"})
	wantCode(t, err, codes.Unauthenticated)
	// An identity without the staff role (a machine client) is refused.
	codec := identity.Codec{Key: identityKey, Audience: identity.AudienceServices, TTL: time.Minute}
	tok, err := codec.Sign(identity.Identity{StaffID: "telephony", Organization: "highland-council", Roles: []string{"telephony"}})
	if err != nil {
		t.Fatal(err)
	}
	machine := metadata.AppendToOutgoingContext(context.Background(), identity.MetadataKey, tok)
	_, err = f.client.LookupSubjects(machine, &incidentv1.LookupSubjectsRequest{Identifier: "01463 702000"})
	wantCode(t, err, codes.PermissionDenied)
}

func TestRetriedCreateSubjectIsRecordedOnce(t *testing.T) {
	f := start(t)
	ctx := as(t, "hc-cso-1")
	req := &incidentv1.CreateSubjectRequest{Subject: subjPerson("Jo Bloggs"), RequestId: "form-7"}
	a, err := f.client.CreateSubject(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.client.CreateSubject(ctx, req)
	if err != nil || a.GetName() != b.GetName() {
		t.Fatalf("retry: %v, %v", b.GetName(), err)
	}
	// The same request id for an incident is a different record.
	if _, err := f.client.CreateIncident(ctx, &incidentv1.CreateIncidentRequest{Incident: report("x"), RequestId: "form-7"}); err != nil {
		t.Fatal(err)
	}
	list, _ := f.client.ListSubjects(ctx, &incidentv1.ListSubjectsRequest{})
	if len(list.GetSubjects()) != 1 {
		t.Errorf("%d subjects", len(list.GetSubjects()))
	}
}

// C73 and the event contract (docs/development.md): every change is an
// event in the service's event store, relayed on the incident stream, with
// the payload restriction-svc reads.
func TestSubjectEventsAreRecordedAndRelayed(t *testing.T) {
	f := start(t)
	in := subjPerson("Jo Bloggs", subjPhone("01463 702000"), subjEmail("Jo@Example.org"))
	created := subjCreate(t, f, "hc-cso-1", in)
	_, err := f.client.UpdateSubject(as(t, "hc-cso-2"), &incidentv1.UpdateSubjectRequest{
		Subject: &incidentv1.Subject{Name: created.GetName(), Representative: &incidentv1.Representative{
			DisplayName: "Sam Bloggs", Identifiers: []*incidentv1.ContactIdentifier{subjPhone("+44 7700 900123")},
		}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"representative"}}, Reason: "son nominated", ExpectedVersion: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimPrefix(created.GetName(), "subjects/")
	events, err := f.events.Load(context.Background(), id)
	if err != nil || len(events) != 2 {
		t.Fatalf("events %v, %v", events, err)
	}
	type ident struct{ Kind, Value string }
	type payload struct {
		Name           string  `json:"name"`
		Kind           string  `json:"kind"`
		DisplayName    string  `json:"display_name"`
		Identifiers    []ident `json:"identifiers"`
		Representative *struct {
			Name        string  `json:"name"`
			Identifiers []ident `json:"identifiers"`
		} `json:"representative"`
		ChangedFields []string `json:"changed_fields"`
		Reason        string   `json:"reason"`
	}
	var p1, p2 payload
	if err := json.Unmarshal([]byte(events[0].Payload), &p1); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(events[1].Payload), &p2); err != nil {
		t.Fatal(err)
	}
	e1, e2 := events[0], events[1]
	if e1.Type != "subject.created" || e1.AggregateType != "subject" || e1.Actor != "hc-cso-1" || e1.Organization != "highland-council" ||
		p1.Name != created.GetName() || p1.Kind != "service_user" || p1.DisplayName != "Jo Bloggs" ||
		!slices.Equal(p1.Identifiers, []ident{{"phone", "+441463702000"}, {"email", "jo@example.org"}}) || p1.Representative != nil {
		t.Errorf("created event %+v payload %s", e1, e1.Payload)
	}
	if e2.Type != "subject.updated" || e2.Actor != "hc-cso-2" || e2.Seq != 2 || p2.Name != created.GetName() ||
		p2.Representative == nil || p2.Representative.Name != "Sam Bloggs" ||
		!slices.Equal(p2.Representative.Identifiers, []ident{{"phone", "+447700900123"}}) ||
		len(p2.Identifiers) != 2 || !slices.Equal(p2.ChangedFields, []string{"representative"}) || p2.Reason != "son nominated" {
		t.Errorf("updated event %+v payload %s", e2, e2.Payload)
	}

	// The service's relay puts them on the incident stream.
	rdb, prefix := testenv.Redis(t)
	stream := prefix + ":events:incident"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	relay := &eventlog.Relay{Store: f.events, Redis: rdb, Stream: stream, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Interval: 50 * time.Millisecond}
	go func() { _ = relay.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		msgs, err := rdb.XRange(ctx, stream, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, m := range msgs {
			var e eventlog.Event
			raw, _ := m.Values["event"].(string)
			if json.Unmarshal([]byte(raw), &e) == nil && e.AggregateID == id {
				types = append(types, e.Type)
			}
		}
		if slices.Equal(types, []string{"subject.created", "subject.updated"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream holds %v", types)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A crash between appending a subject's event and updating the read model
// is repaired at start; incidents and subjects in one event store are each
// rebuilt into their own read model.
func TestRebuildRepairsTheSubjectsReadModel(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	subjCreate(t, f, "hc-cso-1", subjPerson("Listed"))
	if _, err := f.client.CreateIncident(as(t, "hc-cso-1"), &incidentv1.CreateIncidentRequest{Incident: report("x")}); err != nil {
		t.Fatal(err)
	}
	orphan, err := eventlog.Next(nil, eventlog.Change{
		AggregateType: "subject", AggregateID: "orphan1", Type: "subject.created", Organization: "highland-council",
		Actor: "hc-cso-1", Time: time.Now(), Data: map[string]any{"name": "subjects/orphan1", "kind": "service_user",
			"display_name": "Lost Subject", "identifiers": []map[string]string{{"kind": "phone", "value": "+441463111111"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.events.Append(ctx, orphan); err != nil {
		t.Fatal(err)
	}
	byType, err := store.LatestSeqsByType(ctx, f.db.Collection("incident_events"))
	if err != nil {
		t.Fatal(err)
	}
	if len(byType["subject"]) != 2 || len(byType["incident"]) != 1 {
		t.Fatalf("by type: %v", byType)
	}
	projected, err := f.subjects.SubjectVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n, err := f.subjectUC.Rebuild(ctx, byType["subject"], projected)
	if err != nil || n != 1 {
		t.Fatalf("Rebuild = %d, %v; want 1 repaired", n, err)
	}
	if n, err := f.svc.Rebuild(ctx, byType["incident"], map[string]int64{}); err != nil || n != 1 {
		t.Fatalf("incident Rebuild = %d, %v", n, err)
	}
	found, err := f.client.LookupSubjects(as(t, "hc-cso-1"), &incidentv1.LookupSubjectsRequest{Identifier: "01463 111111"})
	if err != nil || !slices.Equal(subjNames(found.GetSubjects()), []string{"Lost Subject"}) {
		t.Fatalf("after rebuild: %v, %v", subjNames(found.GetSubjects()), err)
	}
}

// A subject's counts come from the register: its incidents and the
// warnings given about its correspondence (C37), in its own organisation.
func TestSubjectCountsIncidentsAndWarnings(t *testing.T) {
	f := start(t)
	subj := subjCreate(t, f, "hc-cso-1", subjPerson("Pat Caller", subjPhone("01463 711111")))
	other := subjCreate(t, f, "hc-cso-1", subjPerson("Someone Else", subjPhone("01463 722222")))
	var names []string
	for _, s := range []string{subj.GetName(), subj.GetName(), other.GetName()} {
		in := report("Shouted at the officer on the phone.")
		in.Subject = s
		inc, err := f.client.CreateIncident(as(t, "hc-cso-1"), &incidentv1.CreateIncidentRequest{Incident: in})
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, inc.GetName())
	}
	_, err := f.client.RecordCorrespondenceDecision(as(t, "hc-tl-1"), &incidentv1.RecordCorrespondenceDecisionRequest{Name: names[0], Decision: &incidentv1.CorrespondenceDecision{
		Unacceptable: true, Reason: "Abusive letters", SenderInformed: true, InformedBy: "hc-tl-1", WarningIssued: true}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.client.GetSubject(as(t, "hc-cso-2"), &incidentv1.GetSubjectRequest{Name: subj.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetIncidentCount() != 2 || got.GetWarningCount() != 1 {
		t.Errorf("get: counts = %d incidents, %d warnings; want 2, 1", got.GetIncidentCount(), got.GetWarningCount())
	}
	found, err := f.client.LookupSubjects(as(t, "hc-cso-2"), &incidentv1.LookupSubjectsRequest{Identifier: "+44 1463 711111"})
	if err != nil || len(found.GetSubjects()) != 1 {
		t.Fatalf("lookup = %v, %v", found, err)
	}
	if s := found.GetSubjects()[0]; s.GetIncidentCount() != 2 || s.GetWarningCount() != 1 {
		t.Errorf("lookup: counts = %d, %d; want 2, 1", s.GetIncidentCount(), s.GetWarningCount())
	}
	list, err := f.client.ListSubjects(as(t, "hc-cso-2"), &incidentv1.ListSubjectsRequest{PageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list.GetSubjects() {
		want := map[string]int32{subj.GetName(): 2, other.GetName(): 1}[s.GetName()]
		if s.GetIncidentCount() != want {
			t.Errorf("list: %s has %d incidents, want %d", s.GetName(), s.GetIncidentCount(), want)
		}
	}
}
