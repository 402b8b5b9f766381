package grpcapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	incidentv1 "github.com/contactguard/contactguard/proto/incident/v1"
)

func TestReviewByTheProfilesRolesOnly(t *testing.T) {
	f := start(t)
	inc, err := f.client.CreateIncident(as(t, "hc-cso-1"), &incidentv1.CreateIncidentRequest{Incident: report("abuse on the phone")})
	if err != nil {
		t.Fatal(err)
	}
	review := &incidentv1.ManagerReview{Outcome: incidentv1.ReviewOutcome_REVIEW_OUTCOME_RESTORATIVE_APPROACH, Reasons: "First incident; offer a call-back slot.", UpdateRegister: true}
	_, err = f.client.ReviewIncident(as(t, "hc-cso-1"), &incidentv1.ReviewIncidentRequest{Name: inc.GetName(), Review: review})
	wantCode(t, err, codes.PermissionDenied)
	got, err := f.client.ReviewIncident(as(t, "hc-tl-1"), &incidentv1.ReviewIncidentRequest{Name: inc.GetName(), Review: review, ExpectedVersion: inc.GetVersion()})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetState() != incidentv1.Incident_STATE_REVIEWED || got.GetReview().GetReviewer() != "hc-tl-1" || got.GetVersion() != 2 {
		t.Errorf("after review: %v", got)
	}
	// A stale expected version is a conflict.
	_, err = f.client.ReviewIncident(as(t, "hc-tl-1"), &incidentv1.ReviewIncidentRequest{Name: inc.GetName(), Review: review, ExpectedVersion: 1})
	wantCode(t, err, codes.Aborted)
	// Active management needs a subject (C24).
	_, err = f.client.ReviewIncident(as(t, "hc-tl-1"), &incidentv1.ReviewIncidentRequest{Name: inc.GetName(), Review: &incidentv1.ManagerReview{
		Outcome: incidentv1.ReviewOutcome_REVIEW_OUTCOME_ACTIVE_MANAGEMENT, Reasons: "x"}})
	wantCode(t, err, codes.FailedPrecondition)
	// The event carries what restriction-svc and notify-svc need.
	events, err := f.events.Load(t.Context(), strings.TrimPrefix(inc.GetName(), "incidents/"))
	if err != nil || len(events) != 2 || events[1].Type != "incident.reviewed" {
		t.Fatalf("events = %v, %v", events, err)
	}
	var payload map[string]any
	_ = json.Unmarshal([]byte(events[1].Payload), &payload)
	if payload["outcome"] != "restorative_approach" || payload["reference"] != inc.GetReference() || payload["reviewer"] != "hc-tl-1" {
		t.Errorf("payload = %v", payload)
	}
}

func TestPoliceDecisionThroughTheAPI(t *testing.T) {
	f := start(t)
	in := report("Threatened to wait for the officer after work.")
	in.PhysicalThreat = true
	in.ZeroTolerance = true
	in.Categories = []incidentv1.Category{incidentv1.Category_CATEGORY_VIOLENCE}
	inc, err := f.client.CreateIncident(as(t, "hc-tl-1"), &incidentv1.CreateIncidentRequest{Incident: in})
	if err != nil {
		t.Fatal(err)
	}
	pending := fmt.Sprint(inc.GetPendingTasks())
	if !strings.Contains(pending, "POLICE_DECISION") || !strings.Contains(pending, "DEBRIEF") {
		t.Errorf("pending tasks = %s", pending)
	}
	notReported := &incidentv1.PoliceDecision{Outcome: incidentv1.PoliceDecision_OUTCOME_NOT_REPORTED, Reason: "Staff member does not wish to report.", StaffViewsConsidered: true, ImpactOnOthersConsidered: true}
	// The threatened team leader cannot decide alone not to report (C43).
	_, err = f.client.RecordPoliceDecision(as(t, "hc-tl-1"), &incidentv1.RecordPoliceDecisionRequest{Name: inc.GetName(), Decision: notReported})
	wantCode(t, err, codes.PermissionDenied)
	got, err := f.client.RecordPoliceDecision(as(t, "hc-mgr-1"), &incidentv1.RecordPoliceDecisionRequest{Name: inc.GetName(), Decision: notReported})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetPoliceDecision().GetDecidedBy() != "hc-mgr-1" || strings.Contains(fmt.Sprint(got.GetPendingTasks()), "POLICE") {
		t.Errorf("after decision: %v", got.GetPoliceDecision())
	}
	queue, err := f.client.ListReviewQueue(as(t, "hc-mgr-1"), &incidentv1.ListReviewQueueRequest{})
	if err != nil || len(queue.GetItems()) != 1 {
		t.Fatalf("queue = %v, %v", queue, err)
	}
	_, err = f.client.ListReviewQueue(as(t, "hc-cso-1"), &incidentv1.ListReviewQueueRequest{})
	wantCode(t, err, codes.PermissionDenied)
}

func TestRecordsAndTimeline(t *testing.T) {
	f := start(t)
	in := report("Letter with abusive language.")
	in.Channel = incidentv1.Channel_CHANNEL_LETTER
	in.Witnesses = []*incidentv1.Witness{{Name: "Post room clerk"}}
	inc, err := f.client.CreateIncident(as(t, "vb-staff-1"), &incidentv1.CreateIncidentRequest{Incident: in})
	if err != nil {
		t.Fatal(err)
	}
	name := inc.GetName()
	lm := as(t, "vb-lm-1")
	steps := []func() error{
		func() error {
			_, err := f.client.RequestWitnessStatement(lm, &incidentv1.RequestWitnessStatementRequest{Name: name, WitnessId: "w1"})
			return err
		},
		func() error {
			_, err := f.client.RecordWitnessStatement(lm, &incidentv1.RecordWitnessStatementRequest{Name: name, WitnessId: "w1", Statement: "I opened the letter."})
			return err
		},
		func() error {
			_, err := f.client.RecordRestorativeAction(lm, &incidentv1.RecordRestorativeActionRequest{Name: name, Action: &incidentv1.RestorativeAction{
				Kind: incidentv1.RestorativeActionKind_RESTORATIVE_ACTION_KIND_SIGNPOSTING, Description: "Citizens Advice"}})
			return err
		},
		func() error {
			_, err := f.client.RecordCorrespondenceDecision(lm, &incidentv1.RecordCorrespondenceDecisionRequest{Name: name, Decision: &incidentv1.CorrespondenceDecision{
				Unacceptable: true, Reason: "Abusive", SenderInformed: true, InformedBy: "vb-lm-1", WarningIssued: true}})
			return err
		},
		func() error {
			_, err := f.client.RecordOnlineAction(lm, &incidentv1.RecordOnlineActionRequest{Name: name, Action: &incidentv1.OnlineAction{
				Kind: incidentv1.OnlineActionKind_ONLINE_ACTION_KIND_CHANNELS_LIMITED, Note: "Email only"}})
			return err
		},
		func() error {
			_, err := f.client.RecordStaffSupport(lm, &incidentv1.RecordStaffSupportRequest{Name: name, Support: &incidentv1.StaffSupportAction{
				Kind: incidentv1.StaffSupportKind_STAFF_SUPPORT_KIND_EMPLOYEE_ASSISTANCE_OFFERED, StaffId: "vb-staff-1"}})
			return err
		},
		func() error {
			_, err := f.client.CloseIncident(lm, &incidentv1.CloseIncidentRequest{Name: name, Reason: "Dealt with"})
			return err
		},
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	_, err = f.client.RecordRestorativeAction(lm, &incidentv1.RecordRestorativeActionRequest{Name: name, Action: &incidentv1.RestorativeAction{
		Kind: incidentv1.RestorativeActionKind_RESTORATIVE_ACTION_KIND_BREAK}})
	wantCode(t, err, codes.FailedPrecondition)

	tl, err := f.client.ListTimelineEvents(as(t, "vb-staff-1"), &incidentv1.ListTimelineEventsRequest{Parent: name, PageSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	all := tl.GetEvents()
	for tl.GetNextPageToken() != "" {
		tl, err = f.client.ListTimelineEvents(as(t, "vb-staff-1"), &incidentv1.ListTimelineEventsRequest{Parent: name, PageSize: 5, PageToken: tl.GetNextPageToken()})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, tl.GetEvents()...)
	}
	if len(all) != 8 {
		t.Fatalf("timeline has %d entries, want 8", len(all))
	}
	for i, e := range all {
		if e.GetSequence() != int64(i+1) || e.GetActor() == "" || e.GetEventTime() == nil || e.GetSummary() == "" || e.GetHash() == "" {
			t.Errorf("entry %d incomplete: %v", i, e)
		}
	}
	if all[0].GetActor() != "vb-staff-1" || all[7].GetType() != "incident.closed" {
		t.Errorf("first %v last %v", all[0], all[7])
	}
	_, err = f.client.ListTimelineEvents(as(t, "hc-tl-1"), &incidentv1.ListTimelineEventsRequest{Parent: name})
	wantCode(t, err, codes.NotFound)
}

func TestCountsByCategoryAndMonth(t *testing.T) {
	f := start(t)
	for i, cats := range [][]incidentv1.Category{
		{incidentv1.Category_CATEGORY_ABUSE},
		{incidentv1.Category_CATEGORY_ABUSE, incidentv1.Category_CATEGORY_HARASSMENT},
	} {
		in := report(fmt.Sprintf("incident %d", i))
		in.Categories = cats
		in.OccurTime = timestamppb.New(time.Date(2026, 10, 5+i, 10, 0, 0, 0, time.UTC))
		if _, err := f.client.CreateIncident(as(t, "hc-cso-1"), &incidentv1.CreateIncidentRequest{Incident: in}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := f.client.CountIncidents(as(t, "hc-mgr-1"), &incidentv1.CountIncidentsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetTotal() != 2 || len(resp.GetCounts()) != 2 || resp.GetCounts()[0].GetMonth() != "2026-10" || resp.GetCounts()[0].GetCount() != 2 {
		t.Errorf("counts = %v", resp)
	}
	_, err = f.client.CountIncidents(as(t, "hc-cso-1"), &incidentv1.CountIncidentsRequest{})
	wantCode(t, err, codes.PermissionDenied)
}

// Fifty concurrent corrections of one incident: every acknowledged one is
// in the timeline afterwards; the others got a clear conflict.
func TestConcurrentUpdatesLoseNothingAcknowledged(t *testing.T) {
	f := start(t)
	ctx := as(t, "hc-cso-1")
	inc, err := f.client.CreateIncident(ctx, &incidentv1.CreateIncidentRequest{Incident: report("original")})
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, results[i] = f.client.UpdateIncident(ctx, &incidentv1.UpdateIncidentRequest{
				Incident:   &incidentv1.Incident{Name: inc.GetName(), Description: fmt.Sprintf("correction %02d", i)},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description"}}, Reason: "concurrency test",
			})
		})
	}
	wg.Wait()
	tl, err := f.client.ListTimelineEvents(ctx, &incidentv1.ListTimelineEventsRequest{Parent: inc.GetName(), PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	inTimeline := map[string]bool{}
	for _, e := range tl.GetEvents() {
		var p struct {
			Report struct {
				Description string `json:"description"`
			} `json:"report"`
		}
		_ = json.Unmarshal([]byte(e.GetPayloadJson()), &p)
		inTimeline[p.Report.Description] = true
	}
	acked := 0
	for i, err := range results {
		desc := fmt.Sprintf("correction %02d", i)
		switch status.Code(err) {
		case codes.OK:
			acked++
			if !inTimeline[desc] {
				t.Errorf("acknowledged %q is missing from the timeline", desc)
			}
		case codes.Aborted:
			if inTimeline[desc] {
				t.Errorf("%q was refused but is in the timeline", desc)
			}
		default:
			t.Errorf("update %d: %v (want OK or Aborted)", i, err)
		}
	}
	if acked == 0 || len(tl.GetEvents()) != acked+1 {
		t.Errorf("%d acknowledged, timeline has %d entries", acked, len(tl.GetEvents()))
	}
	t.Logf("%d of %d concurrent updates acknowledged, the rest refused as conflicts", acked, n)
}

// C54: contact outside the office is decided by a manager, with conflicts
// of interest noted; the decision clears the pending task.
func TestOutsideContactDecisionThroughTheAPI(t *testing.T) {
	f := start(t)
	in := report("Approached the officer at the supermarket about the case.")
	in.Channel = incidentv1.Channel_CHANNEL_OUTSIDE_OFFICE
	in.Categories = []incidentv1.Category{incidentv1.Category_CATEGORY_CONTACT_OUTSIDE_OFFICE}
	inc, err := f.client.CreateIncident(as(t, "vb-staff-1"), &incidentv1.CreateIncidentRequest{Incident: in})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fmt.Sprint(inc.GetPendingTasks()), "OUTSIDE_CONTACT_DECISION") {
		t.Fatalf("pending = %v", inc.GetPendingTasks())
	}
	decision := &incidentv1.OutsideContactDecision{Recorded: true, Reason: "Repeated approach outside work", ConflictsOfInterest: []string{"Lives on the same street"}}
	_, err = f.client.DecideOutsideContact(as(t, "vb-staff-1"), &incidentv1.DecideOutsideContactRequest{Name: inc.GetName(), Decision: decision})
	wantCode(t, err, codes.PermissionDenied)
	got, err := f.client.DecideOutsideContact(as(t, "vb-lm-1"), &incidentv1.DecideOutsideContactRequest{Name: inc.GetName(), Decision: decision})
	if err != nil {
		t.Fatal(err)
	}
	d := got.GetOutsideContactDecision()
	if !d.GetRecorded() || d.GetDecidedBy() != "vb-lm-1" || len(d.GetConflictsOfInterest()) != 1 || strings.Contains(fmt.Sprint(got.GetPendingTasks()), "OUTSIDE") {
		t.Errorf("after decision: %v", got)
	}
	_, err = f.client.DecideOutsideContact(as(t, "vb-lm-1"), &incidentv1.DecideOutsideContactRequest{Name: inc.GetName(), Decision: &incidentv1.OutsideContactDecision{Recorded: true}})
	wantCode(t, err, codes.InvalidArgument)
}
