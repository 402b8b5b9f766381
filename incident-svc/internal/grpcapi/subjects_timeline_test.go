package grpcapi

import (
	"context"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/contactguard/contactguard/incident-svc/internal/app"
	"github.com/contactguard/contactguard/incident-svc/internal/store"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/testenv"
	incidentv1 "github.com/contactguard/contactguard/proto/incident/v1"
)

// C73: a subject's history, page by page, for staff of its organisation
// only. subjectTimeline is what ListTimelineEvents serves "subjects/{id}"
// parents with, so it is tested here directly.
func TestSubjectTimeline(t *testing.T) {
	ctx := context.Background()
	db := testenv.Mongo(t)
	events := eventlog.NewStore(db, "incident_events")
	subjects := store.NewSubjects(db)
	if err := events.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if err := subjects.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	s := New(app.New(events, store.NewIncidents(db), subjects)).WithSubjects(app.NewSubjects(events, subjects))
	cso := identity.NewContext(ctx, identity.Identity{StaffID: "hc-cso-1", Organization: "highland-council", Roles: []string{"staff"}})
	tl := identity.NewContext(ctx, identity.Identity{StaffID: "hc-tl-1", Organization: "highland-council", Roles: []string{"staff", "team_leader"}})
	board := identity.NewContext(ctx, identity.Identity{StaffID: "vb-ass-1", Organization: "valuation-board", Roles: []string{"staff", "assessor"}})

	subj, err := s.CreateSubject(cso, &incidentv1.CreateSubjectRequest{Subject: &incidentv1.Subject{Kind: incidentv1.Subject_KIND_SERVICE_USER, DisplayName: "Jo Bloggs"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, need := range []string{"Large print", "Interpreter"} {
		_, err := s.UpdateSubject(tl, &incidentv1.UpdateSubjectRequest{
			Subject: &incidentv1.Subject{Name: subj.GetName(), SupportNeeds: []string{need}}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"support_needs"}},
			Reason: "told us on the phone",
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	first, err := s.subjectTimeline(cso, &incidentv1.ListTimelineEventsRequest{Parent: subj.GetName(), PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.GetEvents()) != 2 || first.GetNextPageToken() == "" {
		t.Fatalf("first page = %v", first)
	}
	e1, e2 := first.GetEvents()[0], first.GetEvents()[1]
	if e1.GetName() != subj.GetName()+"/events/1" || e1.GetType() != "subject.created" || e1.GetActor() != "hc-cso-1" || e1.GetHash() == "" ||
		e2.GetType() != "subject.updated" || e2.GetActor() != "hc-tl-1" || e2.GetReason() != "told us on the phone" ||
		!slices.Equal(e2.GetChangedFields(), []string{"support_needs"}) || e2.GetSummary() != "Subject updated by hc-tl-1: support_needs" {
		t.Errorf("events = %v", first.GetEvents())
	}
	second, err := s.subjectTimeline(cso, &incidentv1.ListTimelineEventsRequest{Parent: subj.GetName(), PageSize: 2, PageToken: first.GetNextPageToken()})
	if err != nil || len(second.GetEvents()) != 1 || second.GetEvents()[0].GetSequence() != 3 || second.GetNextPageToken() != "" {
		t.Fatalf("second page = %v, %v", second, err)
	}

	_, err = s.subjectTimeline(board, &incidentv1.ListTimelineEventsRequest{Parent: subj.GetName()})
	if st, _ := apperr.ToStatus(err); status.Code(st) != codes.NotFound {
		t.Errorf("another organisation: %v", err)
	}
	for _, req := range []*incidentv1.ListTimelineEventsRequest{
		{Parent: "subjects/"}, {Parent: subj.GetName(), PageSize: 501}, {Parent: subj.GetName(), PageToken: "!!"},
	} {
		_, err := s.subjectTimeline(cso, req)
		if st, _ := apperr.ToStatus(err); status.Code(st) != codes.InvalidArgument {
			t.Errorf("%v: %v", req, err)
		}
	}
}
