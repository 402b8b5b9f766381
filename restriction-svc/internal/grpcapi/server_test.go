package grpcapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	evidencev1 "github.com/contactguard/contactguard/proto/evidence/v1"
	incidentv1 "github.com/contactguard/contactguard/proto/incident/v1"
	restrictionv1 "github.com/contactguard/contactguard/proto/restriction/v1"
)

var (
	automated = &restrictionv1.Rule{Kind: &restrictionv1.Rule_AutomatedService{AutomatedService: &restrictionv1.AutomatedService{}}}
	week      = durationpb.New(7 * 24 * time.Hour)
	// A UK number written four ways: one normal form, +441463702000.
	numberForms = []string{"01463 702000", "+44 1463 702000", "01463702000", "+441463702000"}
)

func threeCallsAWeek() *restrictionv1.Rule {
	return &restrictionv1.Rule{Kind: &restrictionv1.Rule_VolumeLimit{VolumeLimit: &restrictionv1.VolumeLimit{
		Channel: restrictionv1.ContactChannel_CONTACT_CHANNEL_PHONE, MaxContacts: 3, Period: week,
	}}}
}

func propose(t *testing.T, r *replica, ctx context.Context, subject string, rules ...*restrictionv1.Rule) *restrictionv1.Restriction {
	t.Helper()
	out, err := r.client.CreateRestriction(ctx, &restrictionv1.CreateRestrictionRequest{Restriction: &restrictionv1.Restriction{
		Subject: subject, Rules: rules, Incidents: []string{"incidents/i1"},
		Behaviour: "Repeated abusive calls.", Impact: "Staff distressed.",
	}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func decideReq(name string) *restrictionv1.DecideRestrictionRequest {
	return &restrictionv1.DecideRestrictionRequest{
		Name: name, Outcome: restrictionv1.Decision_OUTCOME_IMPOSED, Reasons: "Proportionate after two warnings.",
		ReviewTime: timestamppb.New(time.Now().AddDate(0, 3, 0)), NoEndReason: "Until the review.",
	}
}

func check(t *testing.T, r *replica, ctx context.Context, ch restrictionv1.ContactChannel, identifier string) *restrictionv1.CheckContactResponse {
	t.Helper()
	resp, err := r.client.CheckContact(ctx, &restrictionv1.CheckContactRequest{Channel: ch, Identifier: identifier})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// An incident reviewed as active management proposes a restriction for its
// subject, once however often the event is delivered.
func TestIncidentReviewedAsActiveManagementProposesARestriction(t *testing.T) {
	f := start(t)
	subject := f.subject(t, "highland-council", "s1", [2]string{"phone", "+441463702000"})
	payload := map[string]any{"reference": "HC-2026-AAA", "reporter": "hc-cso-1", "outcome": "active_management", "subject": subject,
		"reviewer": "hc-tl-1", "staff_involved": []string{"hc-cso-1"}, "reasons": "Abusive calls twice this week."}
	e := f.publish(t, "highland-council", "inc1", "incident.reviewed", "hc-tl-1", payload)
	f.publishEvent(t, e) // delivered twice
	f.publish(t, "highland-council", "inc2", "incident.reviewed", "hc-tl-1", map[string]any{"outcome": "no_further_action", "subject": subject})
	var list *restrictionv1.ListRestrictionsResponse
	waitFor(t, 10*time.Second, func() bool {
		var err error
		list, err = f.a.client.ListRestrictions(as(t, "hc-tl-1"), &restrictionv1.ListRestrictionsRequest{Incident: "incidents/inc1"})
		return err == nil && len(list.GetRestrictions()) > 0
	})
	time.Sleep(300 * time.Millisecond) // let a duplicate show up, if it would
	all, err := f.a.client.ListRestrictions(as(t, "hc-tl-1"), &restrictionv1.ListRestrictionsRequest{Subject: subject})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.GetRestrictions()) != 1 {
		t.Fatalf("%d restrictions for the subject, want 1", len(all.GetRestrictions()))
	}
	r := all.GetRestrictions()[0]
	if r.GetState() != restrictionv1.Restriction_STATE_PROPOSED || r.GetProposedBy() != "hc-tl-1" || r.GetProposedFromIncident() != "incidents/inc1" ||
		r.GetBehaviour() != "Abusive calls twice this week." || !strings.HasPrefix(r.GetReference(), "HC-R-") {
		t.Fatalf("proposal %v", r)
	}
	// A proposal does not apply, and the decider sets the arrangements.
	if got := check(t, f.b, telephony(t, "highland-council"), restrictionv1.ContactChannel_CONTACT_CHANNEL_PHONE, "01463 702000"); got.GetTreatment() != restrictionv1.Treatment_TREATMENT_ALLOW {
		t.Fatalf("proposal applied: %v", got)
	}
	req := decideReq(r.GetName())
	_, err = f.a.client.DecideRestriction(as(t, "hc-tl-1"), req)
	wantField(t, err, "rules")
	req.Rules = []*restrictionv1.Rule{automated}
	_, err = f.a.client.DecideRestriction(as(t, "hc-tl-1"), req)
	wantField(t, err, "impact")
	req.Impact = "Staff distressed; other callers kept waiting."
	if _, err := f.a.client.DecideRestriction(as(t, "hc-tl-1"), req); err != nil {
		t.Fatal(err)
	}
	// Its events reach the restriction stream with the fields other services read.
	waitFor(t, 10*time.Second, func() bool {
		msgs, _ := f.rdb.XRange(context.Background(), f.prefix+":events:restriction", "-", "+").Result()
		for _, m := range msgs {
			if s, _ := m.Values["event"].(string); strings.Contains(s, `restriction.decided`) && strings.Contains(s, `\"decider\":\"hc-tl-1\"`) &&
				strings.Contains(s, `\"channels\":[\"phone\"]`) && strings.Contains(s, `\"staff_involved\":[\"hc-cso-1\"]`) {
				return true
			}
		}
		return false
	})
}

// A decision takes effect in the check within one second on every replica:
// decided on replica A, answered by replica B, for the number in any form.
func TestDecisionReachesEveryReplicaWithinOneSecond(t *testing.T) {
	f := start(t)
	subject := f.subject(t, "highland-council", "s2", [2]string{"phone", "01463 702000"}, [2]string{"email", "Jo@Example.org"})
	tel := telephony(t, "highland-council")
	for _, n := range numberForms {
		if got := check(t, f.b, tel, restrictionv1.ContactChannel_CONTACT_CHANNEL_PHONE, n); got.GetTreatment() != restrictionv1.Treatment_TREATMENT_ALLOW || got.GetDegraded() {
			t.Fatalf("before: %s -> %v", n, got)
		}
	}
	r := propose(t, f.a, as(t, "hc-cso-1"), subject, automated)
	decided := time.Now()
	if _, err := f.a.client.DecideRestriction(as(t, "hc-tl-1"), decideReq(r.GetName())); err != nil {
		t.Fatal(err)
	}
	for {
		got := check(t, f.b, tel, restrictionv1.ContactChannel_CONTACT_CHANNEL_PHONE, "+44 1463 702000")
		if got.GetTreatment() == restrictionv1.Treatment_TREATMENT_AUTOMATED_SERVICE {
			break
		}
		if time.Since(decided) > time.Second {
			t.Fatalf("replica B still answers %v one second after the decision", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("replica B applied the decision after %s", time.Since(decided).Round(time.Millisecond))
	for _, rep := range []*replica{f.a, f.b} {
		for _, n := range numberForms {
			if got := check(t, rep, tel, restrictionv1.ContactChannel_CONTACT_CHANNEL_PHONE, n); got.GetTreatment() != restrictionv1.Treatment_TREATMENT_AUTOMATED_SERVICE {
				t.Errorf("%s -> %v", n, got)
			}
		}
	}
	// E-mail from the same subject is not a phone call: allowed.
	if got := check(t, f.b, tel, restrictionv1.ContactChannel_CONTACT_CHANNEL_EMAIL, "jo@example.org"); got.GetTreatment() != restrictionv1.Treatment_TREATMENT_ALLOW {
		t.Errorf("email -> %v", got)
	}
	// Staff may check too; an unrestricted number is allowed.
	if got := check(t, f.b, as(t, "hc-sc-1"), restrictionv1.ContactChannel_CONTACT_CHANNEL_PHONE, "07700 900123"); got.GetTreatment() != restrictionv1.Treatment_TREATMENT_ALLOW {
		t.Errorf("unrestricted -> %v", got)
	}
	// Lifted on B: A allows again within a second.
	if _, err := f.b.client.LiftRestriction(as(t, "hc-sup-1"), &restrictionv1.LiftRestrictionRequest{Name: r.GetName(), Reasons: "Resolved."}); err != nil {
		t.Fatal(err)
	}
	lifted := time.Now()
	waitFor(t, time.Second, func() bool {
		return check(t, f.a, tel, restrictionv1.ContactChannel_CONTACT_CHANNEL_PHONE, "01463702000").GetTreatment() == restrictionv1.Treatment_TREATMENT_ALLOW
	})
	t.Logf("replica A applied the lift after %s", time.Since(lifted).Round(time.Millisecond))
	// A new replica loads the current state at start.
	c := f.replica(t, "c", false)
	if n, _ := c.index.Len(); n != 0 {
		t.Errorf("new replica holds %d restrictions in force, want 0", n)
	}
}

// "3 calls per week" refuses the 4th recorded call; a retried record with
// the same request id is counted once; another organisation's restriction
// never applies.
func TestVolumeLimitRefusesTheFourthCallAndStaysInItsOrganisation(t *testing.T) {
	f := start(t)
	subject := f.subject(t, "highland-council", "s3", [2]string{"phone", "07700 900456"})
	r := propose(t, f.a, as(t, "hc-cso-1"), subject, threeCallsAWeek())
	if _, err := f.a.client.DecideRestriction(as(t, "hc-tl-1"), decideReq(r.GetName())); err != nil {
		t.Fatal(err)
	}
	tel := telephony(t, "highland-council")
	waitFor(t, time.Second, func() bool { n, _ := f.b.index.Len(); return n == 1 })
	for i, id := range []string{"call-1", "call-2", "call-2", "call-3"} {
		got, err := f.b.client.RecordContact(tel, &restrictionv1.RecordContactRequest{
			Channel: restrictionv1.ContactChannel_CONTACT_CHANNEL_PHONE, Identifier: "+447700900456", RequestId: id,
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []int32{1, 2, 2, 3}[i]
		if !got.GetLimited() || got.GetMaxContacts() != 3 || got.GetCount() != want || got.GetLimitReached() != (want == 3) {
			t.Fatalf("record %d (%s): %v", i+1, id, got)
		}
		if i < 3 {
			if c := check(t, f.a, tel, restrictionv1.ContactChannel_CONTACT_CHANNEL_PHONE, "07700 900456"); c.GetTreatment() != restrictionv1.Treatment_TREATMENT_ALLOW {
				t.Fatalf("after %d calls: %v", want, c)
			}
		}
	}
	got := check(t, f.a, tel, restrictionv1.ContactChannel_CONTACT_CHANNEL_PHONE, "07700 900456")
	if got.GetTreatment() != restrictionv1.Treatment_TREATMENT_REFUSE_LIMIT_REACHED || got.GetNextAllowedTime() == nil {
		t.Fatalf("4th call: %v", got)
	}
	if next := got.GetNextAllowedTime().AsTime(); next.Weekday() != time.Monday || next.Before(time.Now()) {
		t.Errorf("next allowed %s, want next Monday", next)
	}
	// E-mail is not limited by a phone limit.
	if c := check(t, f.a, tel, restrictionv1.ContactChannel_CONTACT_CHANNEL_EMAIL, "someone@example.org"); c.GetTreatment() != restrictionv1.Treatment_TREATMENT_ALLOW {
		t.Errorf("email: %v", c)
	}
	// The board's telephony, same number: the council's restriction never applies.
	board := telephony(t, "valuation-board")
	if c := check(t, f.a, board, restrictionv1.ContactChannel_CONTACT_CHANNEL_PHONE, "07700 900456"); c.GetTreatment() != restrictionv1.Treatment_TREATMENT_ALLOW {
		t.Errorf("board: %v", c)
	}
	rec, err := f.a.client.RecordContact(board, &restrictionv1.RecordContactRequest{Channel: restrictionv1.ContactChannel_CONTACT_CHANNEL_PHONE, Identifier: "07700 900456"})
	if err != nil || rec.GetLimited() {
		t.Errorf("board record: %v %v", rec, err)
	}
	// Nor may the council's telephony ask about the board's contacts.
	_, err = f.a.client.CheckContact(tel, &restrictionv1.CheckContactRequest{Organization: "valuation-board", Channel: restrictionv1.ContactChannel_CONTACT_CHANNEL_PHONE, Identifier: "07700 900456"})
	wantCode(t, err, codes.PermissionDenied)
	// Nor read or list the board's restrictions.
	_, err = f.a.client.GetRestriction(as(t, "vb-lm-1"), &restrictionv1.GetRestrictionRequest{Name: r.GetName()})
	wantCode(t, err, codes.NotFound)
}

// Role telephony may only check and record; staff lifecycles are refused
// to it, and to the wrong staff roles.
func TestRolesAreEnforced(t *testing.T) {
	f := start(t)
	subject := f.subject(t, "highland-council", "s4", [2]string{"email", "x@example.org"})
	tel := telephony(t, "highland-council")
	_, err := f.a.client.CreateRestriction(tel, &restrictionv1.CreateRestrictionRequest{Restriction: &restrictionv1.Restriction{Subject: subject, Rules: []*restrictionv1.Rule{automated}}})
	wantCode(t, err, codes.PermissionDenied)
	r := propose(t, f.a, as(t, "hc-cso-1"), subject, automated)
	_, err = f.a.client.GetRestriction(tel, &restrictionv1.GetRestrictionRequest{Name: r.GetName()})
	wantCode(t, err, codes.PermissionDenied)
	_, err = f.a.client.DecideRestriction(as(t, "hc-cso-2"), decideReq(r.GetName()))
	wantCode(t, err, codes.PermissionDenied)
	_, err = f.a.client.GetRestriction(as(t, "hc-cso-2"), &restrictionv1.GetRestrictionRequest{Name: r.GetName()})
	wantCode(t, err, codes.PermissionDenied)
	_, err = f.a.client.CheckContact(context.Background(), &restrictionv1.CheckContactRequest{})
	wantCode(t, err, codes.Unauthenticated)
	// A concurrent change wins: the stale expected version is a conflict.
	_, err = f.a.client.DecideRestriction(as(t, "hc-tl-1"), func() *restrictionv1.DecideRestrictionRequest {
		req := decideReq(r.GetName())
		req.ExpectedVersion = 7
		return req
	}())
	wantCode(t, err, codes.Aborted)
}

// The whole lifecycle over gRPC: decide, letter, notice, sharing, marker,
// appeal heard by the appeal role and refused to the decider, review due
// list, timeline.
func TestLifecycleOverGRPC(t *testing.T) {
	f := start(t)
	subject := f.subject(t, "valuation-board", "s5", [2]string{"phone", "01851 703000"})
	r := propose(t, f.a, as(t, "vb-staff-1"), subject, automated,
		&restrictionv1.Rule{Kind: &restrictionv1.Rule_WithholdStaffDetails{WithholdStaffDetails: &restrictionv1.WithholdStaffDetails{}}})
	dec, err := f.a.client.DecideRestriction(as(t, "vb-lm-1"), decideReq(r.GetName()))
	if err != nil {
		t.Fatal(err)
	}
	if dec.GetState() != restrictionv1.Restriction_STATE_ACTIVE || dec.GetAppealDeadlineTime() == nil || dec.GetMarker().GetRestricted() != true {
		t.Fatalf("decided %v", dec)
	}
	letter, err := f.a.client.GenerateLetter(as(t, "vb-lm-1"), &restrictionv1.GenerateLetterRequest{Name: r.GetName(), Kind: restrictionv1.Letter_KIND_DECISION})
	if err != nil {
		t.Fatal(err)
	}
	london, _ := time.LoadLocation("Europe/London")
	for _, want := range []string{dec.GetNextReviewTime().AsTime().In(london).Format("2 January 2006"), dec.GetAppealDeadlineTime().AsTime().In(london).Format("2 January 2006"), "Jo Bloggs"} {
		if !strings.Contains(letter.GetText(), want) || !strings.Contains(letter.GetHtml(), want) {
			t.Errorf("letter lacks %q:\n%s", want, letter.GetText())
		}
	}
	got, err := f.a.client.GetLetter(as(t, "vb-smt-1"), &restrictionv1.GetLetterRequest{Name: letter.GetName()})
	if err != nil || got.GetText() != letter.GetText() {
		t.Fatalf("stored letter: %v %v", got, err)
	}
	if _, err := f.a.client.RecordSubjectNotice(as(t, "vb-lm-1"), &restrictionv1.RecordSubjectNoticeRequest{Name: r.GetName(), Notice: &restrictionv1.SubjectNotice{
		Told: true, Method: restrictionv1.SubjectNotice_METHOD_LETTER_POST, Letter: letter.GetName(),
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.client.RecordSharing(as(t, "vb-lm-1"), &restrictionv1.RecordSharingRequest{Name: r.GetName(), Sharing: &restrictionv1.SharingRecord{StaffIds: []string{"vb-staff-2"}}}); err != nil {
		t.Fatal(err)
	}
	marker, err := f.a.client.GetStaffMarker(as(t, "vb-staff-2"), &restrictionv1.GetStaffMarkerRequest{Name: subject + "/marker"})
	if err != nil || !marker.GetRestricted() || !marker.GetWithholdStaffDetails() || strings.Contains(strings.Join(marker.GetInstructions(), " "), "abusive") {
		t.Fatalf("marker %v %v", marker, err)
	}
	// The appeal: lodged by staff, heard by the Assessor, refused to the decider.
	if _, err := f.a.client.LodgeAppeal(as(t, "vb-staff-2"), &restrictionv1.LodgeAppealRequest{Name: r.GetName(), Grounds: "I only called about my valuation."}); err != nil {
		t.Fatal(err)
	}
	_, err = f.a.client.DecideAppeal(as(t, "vb-lm-1"), &restrictionv1.DecideAppealRequest{Name: r.GetName(), Outcome: restrictionv1.Appeal_OUTCOME_LIFTED, Reasons: "x"})
	wantCode(t, err, codes.PermissionDenied)
	if _, err := f.a.client.AssignAppeal(as(t, "vb-ass-1"), &restrictionv1.AssignAppealRequest{Name: r.GetName(), AppealOfficer: "vb-ass-1"}); err != nil {
		t.Fatal(err)
	}
	mine, err := f.a.client.ListRestrictions(as(t, "vb-ass-1"), &restrictionv1.ListRestrictionsRequest{AppealOfficer: "vb-ass-1"})
	if err != nil || len(mine.GetRestrictions()) != 1 {
		t.Fatalf("appeals of the assessor: %v %v", mine, err)
	}
	up, err := f.a.client.DecideAppeal(as(t, "vb-ass-1"), &restrictionv1.DecideAppealRequest{Name: r.GetName(), Outcome: restrictionv1.Appeal_OUTCOME_UPHELD, Reasons: "Calls were abusive."})
	if err != nil || up.GetState() != restrictionv1.Restriction_STATE_ACTIVE || up.GetAppeals()[0].GetOutcome() != restrictionv1.Appeal_OUTCOME_UPHELD {
		t.Fatalf("upheld: %v %v", up, err)
	}
	// The review due list.
	due, err := f.a.client.ListRestrictions(as(t, "vb-lm-1"), &restrictionv1.ListRestrictionsRequest{ReviewDueBefore: timestamppb.New(time.Now().AddDate(1, 0, 0))})
	if err != nil || len(due.GetRestrictions()) != 1 {
		t.Fatalf("due %v %v", due, err)
	}
	due, _ = f.a.client.ListRestrictions(as(t, "vb-lm-1"), &restrictionv1.ListRestrictionsRequest{ReviewDueBefore: timestamppb.New(time.Now())})
	if len(due.GetRestrictions()) != 0 {
		t.Fatalf("due now: %v", due)
	}
	// The scheduler records the review as due once its date has passed.
	f.a.svc.SetClock(func() time.Time { return time.Now().AddDate(0, 4, 0) })
	if err := f.a.svc.RunDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	events, err := f.a.client.ListRestrictionEvents(as(t, "vb-lm-1"), &restrictionv1.ListRestrictionEventsRequest{Parent: r.GetName(), PageSize: 3})
	if err != nil || len(events.GetEvents()) != 3 || events.GetNextPageToken() == "" {
		t.Fatalf("events page 1: %v %v", events, err)
	}
	var types []string
	for tok := ""; ; {
		page, err := f.a.client.ListRestrictionEvents(as(t, "vb-lm-1"), &restrictionv1.ListRestrictionEventsRequest{Parent: r.GetName(), PageSize: 3, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.GetEvents() {
			types = append(types, e.GetType())
		}
		if tok = page.GetNextPageToken(); tok == "" {
			break
		}
	}
	want := "restriction.proposed restriction.decided restriction.letter_generated restriction.notice_recorded restriction.shared " +
		"restriction.appeal_lodged restriction.appeal_assigned restriction.appeal_decided restriction.review_due"
	if strings.Join(types, " ") != want {
		t.Errorf("timeline %v", types)
	}
}

// Invalid input is InvalidArgument naming the field.
func TestInvalidInputNamesTheField(t *testing.T) {
	f := start(t)
	subject := f.subject(t, "highland-council", "s6", [2]string{"phone", "01463 702001"})
	ctx := as(t, "hc-tl-1")
	create := func(rules ...*restrictionv1.Rule) error {
		_, err := f.a.client.CreateRestriction(ctx, &restrictionv1.CreateRestrictionRequest{Restriction: &restrictionv1.Restriction{Subject: subject, Rules: rules, Incidents: []string{"incidents/i1"}}})
		return err
	}
	wantField(t, create(&restrictionv1.Rule{}), "restriction.rules[0]")
	wantField(t, create(&restrictionv1.Rule{Kind: &restrictionv1.Rule_VolumeLimit{VolumeLimit: &restrictionv1.VolumeLimit{MaxContacts: -3, Period: week}}}), "restriction.rules[0].volume_limit.max_contacts")
	wantField(t, create(&restrictionv1.Rule{Kind: &restrictionv1.Rule_ChannelsOnly{ChannelsOnly: &restrictionv1.ChannelsOnly{Channels: []restrictionv1.ContactChannel{42}}}}), "restriction.rules[0].channels_only.channels[0]")
	_, err := f.a.client.CreateRestriction(ctx, &restrictionv1.CreateRestrictionRequest{Restriction: &restrictionv1.Restriction{Subject: "subjects/nobody", Rules: []*restrictionv1.Rule{automated}}})
	wantCode(t, err, codes.NotFound)
	r := propose(t, f.a, ctx, subject, automated)
	end := decideReq(r.GetName())
	end.StartTime, end.EndTime, end.NoEndReason = timestamppb.New(time.Now().Add(48*time.Hour)), timestamppb.New(time.Now().Add(24*time.Hour)), ""
	_, err = f.a.client.DecideRestriction(ctx, end)
	wantField(t, err, "end_time")
	past := decideReq(r.GetName())
	past.ReviewTime = timestamppb.New(time.Now().Add(-time.Hour))
	_, err = f.a.client.DecideRestriction(ctx, past)
	wantField(t, err, "review_time")
	tel := telephony(t, "highland-council")
	_, err = f.a.client.CheckContact(tel, &restrictionv1.CheckContactRequest{Channel: restrictionv1.ContactChannel_CONTACT_CHANNEL_PHONE, Identifier: "call me maybe"})
	wantField(t, err, "identifier")
	_, err = f.a.client.CheckContact(tel, &restrictionv1.CheckContactRequest{Identifier: "01463 702001"})
	wantField(t, err, "channel")
	_, err = f.a.client.CheckContact(tel, &restrictionv1.CheckContactRequest{Channel: 77, Identifier: "01463 702001"})
	wantField(t, err, "channel")
	_, err = f.a.client.GetRestriction(ctx, &restrictionv1.GetRestrictionRequest{Name: "restrictions/UPPER"})
	wantField(t, err, "name")
	_, err = f.a.client.GetRestriction(ctx, &restrictionv1.GetRestrictionRequest{Name: "restrictions/doesnotexist"})
	wantCode(t, err, codes.NotFound)
	_, err = f.a.client.ListRestrictions(ctx, &restrictionv1.ListRestrictionsRequest{PageToken: "!!"})
	wantField(t, err, "page_token")
}

// The read model is rebuilt from the events after a crash between an
// append and its read-model update.
func TestRebuildRepairsTheReadModel(t *testing.T) {
	f := start(t)
	subject := f.subject(t, "highland-council", "s7")
	r := propose(t, f.a, as(t, "hc-cso-1"), subject, automated)
	ctx := context.Background()
	id := strings.TrimPrefix(r.GetName(), "restrictions/")
	if _, err := f.db.Collection("restrictions").DeleteMany(ctx, map[string]any{"_id": id}); err != nil {
		t.Fatal(err)
	}
	latest, _ := f.a.events.LatestSeqs(ctx)
	projected, _ := f.a.restr.Versions(ctx)
	if n, err := f.a.svc.Rebuild(ctx, latest, projected); err != nil || n != 1 {
		t.Fatalf("rebuild %d %v", n, err)
	}
	list, err := f.a.client.ListRestrictions(as(t, "hc-tl-1"), &restrictionv1.ListRestrictionsRequest{})
	if err != nil || len(list.GetRestrictions()) != 1 {
		t.Fatalf("after rebuild %v %v", list, err)
	}
	// Two saves raced and the older won: the scheduler's reconciliation
	// repairs the read model.
	if _, err := f.b.client.DecideRestriction(as(t, "hc-tl-1"), decideReq(r.GetName())); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Collection("restrictions").UpdateOne(ctx, map[string]any{"_id": id}, map[string]any{"$set": map[string]any{"version": 1, "state": "proposed"}}); err != nil {
		t.Fatal(err)
	}
	if n, err := f.a.svc.Reconcile(ctx); err != nil || n != 1 {
		t.Fatalf("reconcile %d %v", n, err)
	}
	list, _ = f.a.client.ListRestrictions(as(t, "hc-tl-1"), &restrictionv1.ListRestrictionsRequest{InForceOnly: true})
	if len(list.GetRestrictions()) != 1 {
		t.Fatalf("after reconcile %v", list)
	}
}

// The incidents and evidence staff cite must be records of their
// organisation that they may read: incident-svc and evidence-svc are asked
// as the caller. A refused citation records nothing.
func TestCitedRecordsAreCheckedWithTheirOwners(t *testing.T) {
	f := start(t)
	subject := f.subject(t, "highland-council", "s8", [2]string{"phone", "01463 702008"})
	f.incidents.add(&incidentv1.Incident{Name: "incidents/vb2", Organization: "valuation-board", Reference: "VB-2026-VB2", Reporter: "vb-staff-1"})
	f.evidence.add(&evidencev1.Evidence{Name: "evidence/e1", Organization: "highland-council", Uploader: "hc-cso-1"})
	f.evidence.add(&evidencev1.Evidence{Name: "evidence/e2", Organization: "highland-council", Uploader: "hc-sup-1"})
	create := func(ctx context.Context, incidents, evidence []string) (*restrictionv1.Restriction, error) {
		return f.a.client.CreateRestriction(ctx, &restrictionv1.CreateRestrictionRequest{Restriction: &restrictionv1.Restriction{
			Subject: subject, Rules: []*restrictionv1.Rule{automated}, Incidents: incidents, Evidence: evidence,
		}})
	}
	wantMessage := func(err error, code codes.Code, parts ...string) {
		t.Helper()
		st := wantCode(t, err, code)
		for _, p := range parts {
			if !strings.Contains(st.Message(), p) {
				t.Errorf("message %q lacks %q", st.Message(), p)
			}
		}
	}
	officer := as(t, "hc-cso-1")
	_, err := create(officer, []string{"incidents/i1", "incidents/doesnotexist"}, nil)
	wantMessage(err, codes.NotFound, "restriction.incidents: incidents/doesnotexist is not an incident of The Highland Council")
	_, err = create(as(t, "hc-tl-1"), []string{"incidents/vb2"}, nil)
	wantMessage(err, codes.NotFound, "restriction.incidents: incidents/vb2 is not an incident of The Highland Council")
	_, err = create(as(t, "hc-cso-2"), []string{"incidents/i1"}, nil)
	wantMessage(err, codes.PermissionDenied, "restriction.incidents:", "you may not read incidents/i1", "HC-2026-I1")
	_, err = create(officer, []string{"incidents/i1"}, []string{"evidence/e2"})
	wantMessage(err, codes.PermissionDenied, "restriction.evidence:", "you may not read evidence/e2")
	r, err := create(officer, []string{"incidents/i1"}, []string{"evidence/e1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.a.client.UpdateRestriction(officer, &restrictionv1.UpdateRestrictionRequest{
		Restriction: &restrictionv1.Restriction{Name: r.GetName(), Evidence: []string{"evidence/e1", "evidence/nope"}},
		UpdateMask:  &fieldmaskpb.FieldMask{Paths: []string{"evidence"}},
	})
	wantMessage(err, codes.NotFound, "restriction.evidence: evidence/nope is not an evidence item of The Highland Council")
	// incident-svc is down: nothing is recorded, and the message says who.
	f.stopIncidentService()
	_, err = create(officer, []string{"incidents/i1"}, nil)
	wantMessage(err, codes.Unavailable, "restriction.incidents:", "incident-svc", "try again")
	// Names already on the proposal are not asked about again.
	upd, err := f.a.client.UpdateRestriction(officer, &restrictionv1.UpdateRestrictionRequest{
		Restriction: &restrictionv1.Restriction{Name: r.GetName(), Incidents: []string{"incidents/i1"}, Behaviour: "Abusive calls."},
		UpdateMask:  &fieldmaskpb.FieldMask{Paths: []string{"incidents", "behaviour"}},
	})
	if err != nil || upd.GetVersion() != 2 {
		t.Fatalf("update citing what it cited: %v %v", upd, err)
	}
	all, err := f.a.client.ListRestrictions(as(t, "hc-tl-1"), &restrictionv1.ListRestrictionsRequest{Subject: subject})
	if err != nil || len(all.GetRestrictions()) != 1 {
		t.Fatalf("restrictions of the subject: %v %v", all, err)
	}
}
