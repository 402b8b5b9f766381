package grpcapi

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/contactguard/contactguard/incident-svc/internal/domain"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/identity"
	incidentv1 "github.com/contactguard/contactguard/proto/incident/v1"
)

// ts converts an optional proto timestamp.
func ts(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

// pts converts a time to a proto timestamp, nil when zero.
func pts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// enumName lower-cases an enum value's name without its prefix; the
// unspecified value gives "" (the domain reports it missing) and an
// unknown number gives a value the domain refuses by name.
func enumName(prefix string, names map[int32]string, v int32) string {
	return enumToDomain(prefix, names[v], v)
}

func (s *Server) incidentCall(ctx context.Context, name string, call func(id string) (domain.Incident, error)) (*incidentv1.Incident, error) {
	if _, err := identity.Caller(ctx); err != nil {
		return nil, err
	}
	id, err := parseName("name", name)
	if err != nil {
		return nil, err
	}
	inc, err := call(id)
	if err != nil {
		return nil, err
	}
	return incidentToProto(inc), nil
}

// UpdateIncident corrects the report's fields named in update_mask.
func (s *Server) UpdateIncident(ctx context.Context, req *incidentv1.UpdateIncidentRequest) (*incidentv1.Incident, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	in := req.GetIncident()
	if in == nil {
		return nil, apperr.Invalid("incident", "is required")
	}
	id, err := parseName("incident.name", in.GetName())
	if err != nil {
		return nil, err
	}
	inc, err := s.svc.Update(ctx, who, id, req.GetExpectedVersion(), reportFromProto(in), req.GetUpdateMask().GetPaths(), req.GetReason())
	if err != nil {
		return nil, err
	}
	return incidentToProto(inc), nil
}

// ReviewIncident records the manager review.
func (s *Server) ReviewIncident(ctx context.Context, req *incidentv1.ReviewIncidentRequest) (*incidentv1.Incident, error) {
	r := req.GetReview()
	if r == nil {
		return nil, apperr.Invalid("review", "is required")
	}
	return s.incidentCall(ctx, req.GetName(), func(id string) (domain.Incident, error) {
		who, _ := identity.Caller(ctx)
		return s.svc.Review(ctx, who, id, req.GetExpectedVersion(), domain.Review{
			UpdateRegister: r.GetUpdateRegister(), CorrespondenceUnacceptable: r.GetCorrespondenceUnacceptable(),
			Outcome: enumName("REVIEW_OUTCOME_", incidentv1.ReviewOutcome_name, int32(r.GetOutcome())),
			Reasons: r.GetReasons(), OpenInvestigation: r.GetOpenInvestigation(), InvestigationReference: r.GetInvestigationReference(),
			ProposedArrangements: r.GetProposedArrangements(),
		})
	})
}

// RecordPoliceDecision records the police decision for a physical threat.
func (s *Server) RecordPoliceDecision(ctx context.Context, req *incidentv1.RecordPoliceDecisionRequest) (*incidentv1.Incident, error) {
	d := req.GetDecision()
	if d == nil {
		return nil, apperr.Invalid("decision", "is required")
	}
	return s.incidentCall(ctx, req.GetName(), func(id string) (domain.Incident, error) {
		who, _ := identity.Caller(ctx)
		return s.svc.RecordPolice(ctx, who, id, req.GetExpectedVersion(), domain.PoliceDecision{
			Outcome:        enumName("OUTCOME_", incidentv1.PoliceDecision_Outcome_name, int32(d.GetOutcome())),
			CrimeReference: d.GetCrimeReference(), Reason: d.GetReason(), StaffViewsConsidered: d.GetStaffViewsConsidered(),
			ImpactOnOthersConsidered: d.GetImpactOnOthersConsidered(), ReportTime: ts(d.GetReportTime()),
		})
	})
}

// RequestWitnessStatement asks a witness for a statement (C44).
func (s *Server) RequestWitnessStatement(ctx context.Context, req *incidentv1.RequestWitnessStatementRequest) (*incidentv1.Incident, error) {
	return s.incidentCall(ctx, req.GetName(), func(id string) (domain.Incident, error) {
		who, _ := identity.Caller(ctx)
		var w *domain.Witness
		if pw := req.GetWitness(); pw != nil {
			w = &domain.Witness{Name: pw.GetName(), StaffID: pw.GetStaffId(), Contact: pw.GetContact()}
		}
		return s.svc.RequestWitness(ctx, who, id, req.GetExpectedVersion(), req.GetWitnessId(), w)
	})
}

// RecordWitnessStatement records a statement, or that the witness declined.
func (s *Server) RecordWitnessStatement(ctx context.Context, req *incidentv1.RecordWitnessStatementRequest) (*incidentv1.Incident, error) {
	return s.incidentCall(ctx, req.GetName(), func(id string) (domain.Incident, error) {
		who, _ := identity.Caller(ctx)
		return s.svc.RecordWitness(ctx, who, id, req.GetExpectedVersion(), domain.WitnessStatement{
			WitnessID: req.GetWitnessId(), Statement: req.GetStatement(), Evidence: req.GetEvidence(), DeclineReason: req.GetDeclineReason(),
		}, req.GetDeclined())
	})
}

// RecordRestorativeAction records a restorative action (C17-C21).
func (s *Server) RecordRestorativeAction(ctx context.Context, req *incidentv1.RecordRestorativeActionRequest) (*incidentv1.Incident, error) {
	a := req.GetAction()
	if a == nil {
		return nil, apperr.Invalid("action", "is required")
	}
	return s.incidentCall(ctx, req.GetName(), func(id string) (domain.Incident, error) {
		who, _ := identity.Caller(ctx)
		return s.svc.RecordRestorative(ctx, who, id, req.GetExpectedVersion(), domain.RestorativeAction{
			Kind:        enumName("RESTORATIVE_ACTION_KIND_", incidentv1.RestorativeActionKind_name, int32(a.GetKind())),
			Description: a.GetDescription(), Adviser: a.GetAdviser(), ActionTime: ts(a.GetActionTime()), ReengageTime: ts(a.GetReengageTime()),
		})
	})
}

// RecordCorrespondenceDecision decides on written correspondence (C35-C37).
func (s *Server) RecordCorrespondenceDecision(ctx context.Context, req *incidentv1.RecordCorrespondenceDecisionRequest) (*incidentv1.Incident, error) {
	d := req.GetDecision()
	if d == nil {
		return nil, apperr.Invalid("decision", "is required")
	}
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	out, err := s.incidentCall(ctx, req.GetName(), func(id string) (domain.Incident, error) {
		return s.svc.DecideCorrespondence(ctx, who, id, req.GetExpectedVersion(), domain.CorrespondenceDecision{
			Unacceptable: d.GetUnacceptable(), SenderInformed: d.GetSenderInformed(), InformedBy: d.GetInformedBy(),
			FromNonPersonalAccount: d.GetFromNonPersonalAccount(), Account: d.GetAccount(), WarningIssued: d.GetWarningIssued(),
			InformTime: ts(d.GetInformTime()), Reason: d.GetReason(),
		})
	})
	if err != nil || out.GetSubject() == "" {
		return out, err
	}
	n, err := s.svc.WarningCount(ctx, who, out.GetSubject())
	if err != nil {
		return nil, err
	}
	out.CorrespondenceDecision.SubjectWarningCount = int32(n)
	return out, nil
}

// RecordOnlineAction records an action on online material (C38-C40).
func (s *Server) RecordOnlineAction(ctx context.Context, req *incidentv1.RecordOnlineActionRequest) (*incidentv1.Incident, error) {
	a := req.GetAction()
	if a == nil {
		return nil, apperr.Invalid("action", "is required")
	}
	return s.incidentCall(ctx, req.GetName(), func(id string) (domain.Incident, error) {
		who, _ := identity.Caller(ctx)
		return s.svc.RecordOnline(ctx, who, id, req.GetExpectedVersion(), domain.OnlineAction{
			Kind:     enumName("ONLINE_ACTION_KIND_", incidentv1.OnlineActionKind_name, int32(a.GetKind())),
			Platform: a.GetPlatform(), Account: a.GetAccount(), PlatformReference: a.GetPlatformReference(), URL: a.GetUrl(),
			Note: a.GetNote(), ActionTime: ts(a.GetActionTime()),
		})
	})
}

// RecordStaffSupport records support for staff (C65-C70).
func (s *Server) RecordStaffSupport(ctx context.Context, req *incidentv1.RecordStaffSupportRequest) (*incidentv1.Incident, error) {
	sup := req.GetSupport()
	if sup == nil {
		return nil, apperr.Invalid("support", "is required")
	}
	return s.incidentCall(ctx, req.GetName(), func(id string) (domain.Incident, error) {
		who, _ := identity.Caller(ctx)
		return s.svc.RecordSupport(ctx, who, id, req.GetExpectedVersion(), domain.StaffSupport{
			Kind:    enumName("STAFF_SUPPORT_KIND_", incidentv1.StaffSupportKind_name, int32(sup.GetKind())),
			StaffID: sup.GetStaffId(), AgreedActions: sup.GetAgreedActions(), Note: sup.GetNote(), ActionTime: ts(sup.GetActionTime()),
			TimeAway: sup.GetTimeAway().AsDuration(), SeniorManager: sup.GetSeniorManager(), Accepted: sup.GetAccepted(),
		})
	})
}

// DecideOutsideContact decides whether contact outside the office is recorded (C54).
func (s *Server) DecideOutsideContact(ctx context.Context, req *incidentv1.DecideOutsideContactRequest) (*incidentv1.Incident, error) {
	d := req.GetDecision()
	if d == nil {
		return nil, apperr.Invalid("decision", "is required")
	}
	return s.incidentCall(ctx, req.GetName(), func(id string) (domain.Incident, error) {
		who, _ := identity.Caller(ctx)
		return s.svc.DecideOutsideContact(ctx, who, id, req.GetExpectedVersion(), domain.OutsideContactDecision{
			Recorded: d.GetRecorded(), Reason: d.GetReason(), ConflictsOfInterest: d.GetConflictsOfInterest(),
		})
	})
}

// CloseIncident closes an incident.
func (s *Server) CloseIncident(ctx context.Context, req *incidentv1.CloseIncidentRequest) (*incidentv1.Incident, error) {
	return s.incidentCall(ctx, req.GetName(), func(id string) (domain.Incident, error) {
		who, _ := identity.Caller(ctx)
		return s.svc.Close(ctx, who, id, req.GetExpectedVersion(), req.GetReason())
	})
}

// ListTimelineEvents returns the history of an incident, subject or case
// of staff named publicly: every recorded change with its actor and time
// (C73).
func (s *Server) ListTimelineEvents(ctx context.Context, req *incidentv1.ListTimelineEventsRequest) (*incidentv1.ListTimelineEventsResponse, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	parent := req.GetParent()
	switch {
	case strings.HasPrefix(parent, "subjects/"):
		return s.subjectTimeline(ctx, req)
	case strings.HasPrefix(parent, "publicNamings/"):
		events, err := s.publicNamingEvents(ctx, parent)
		if err != nil {
			return nil, err
		}
		return timelinePage(req, events, domain.NamingSummary)
	case strings.HasPrefix(parent, "incidents/"):
		id, err := parseName("parent", parent)
		if err != nil {
			return nil, err
		}
		events, err := s.svc.Timeline(ctx, who, id)
		if err != nil {
			return nil, err
		}
		return timelinePage(req, events, domain.Summary)
	}
	return nil, apperr.Invalid("parent", "must be an incident, subject or case name such as incidents/abc123, got %q", parent)
}

// timelinePage returns the page of events that req asks for.
func timelinePage(req *incidentv1.ListTimelineEventsRequest, events []eventlog.Event, summarize func(eventlog.Event) (string, string)) (*incidentv1.ListTimelineEventsResponse, error) {
	if req.GetPageSize() < 0 || req.GetPageSize() > 1000 {
		return nil, apperr.Invalid("page_size", "must be between 0 and 1000, got %d", req.GetPageSize())
	}
	size := int(req.GetPageSize())
	if size == 0 {
		size = 100
	}
	start := 0
	if t := req.GetPageToken(); t != "" {
		raw, derr := base64.RawURLEncoding.DecodeString(t)
		n, perr := strconv.Atoi(string(raw))
		if derr != nil || perr != nil || n < 0 {
			return nil, apperr.Invalid("page_token", "is not a token this service issued; start again without it")
		}
		start = n
	}
	resp := &incidentv1.ListTimelineEventsResponse{}
	end := min(start+size, len(events))
	for _, e := range events[min(start, len(events)):end] {
		summary, reason := summarize(e)
		resp.Events = append(resp.Events, &incidentv1.TimelineEvent{
			Name: req.GetParent() + "/events/" + strconv.FormatInt(e.Seq, 10), Sequence: e.Seq, Type: e.Type, Actor: e.Actor,
			EventTime: timestamppb.New(e.Time), Summary: summary, Reason: reason, PayloadJson: e.Payload, Hash: e.Hash,
		})
	}
	if end < len(events) {
		resp.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end)))
	}
	return resp, nil
}

// ListReviewQueue lists the incidents awaiting a decision.
func (s *Server) ListReviewQueue(ctx context.Context, req *incidentv1.ListReviewQueueRequest) (*incidentv1.ListReviewQueueResponse, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	task := enumName("REVIEW_TASK_", incidentv1.ReviewTask_name, int32(req.GetTask()))
	incidents, next, err := s.svc.ReviewQueue(ctx, who, task, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &incidentv1.ListReviewQueueResponse{NextPageToken: next}
	for _, inc := range incidents {
		p := incidentToProto(inc)
		resp.Items = append(resp.Items, &incidentv1.ReviewQueueItem{Incident: p, PendingTasks: p.GetPendingTasks(), WaitingSince: timestamppb.New(inc.UpdateTime)})
	}
	return resp, nil
}

// CountIncidents counts incidents by category and month.
func (s *Server) CountIncidents(ctx context.Context, req *incidentv1.CountIncidentsRequest) (*incidentv1.CountIncidentsResponse, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	counts, total, err := s.svc.Count(ctx, who, ts(req.GetStartTime()), ts(req.GetEndTime()), req.GetSubject())
	if err != nil {
		return nil, err
	}
	resp := &incidentv1.CountIncidentsResponse{Total: total}
	for _, c := range counts {
		resp.Counts = append(resp.Counts, &incidentv1.IncidentCount{
			Category: incidentv1.Category(enumFromDomain("CATEGORY_", c.Category, incidentv1.Category_value)), Month: c.Month, Count: c.Count,
		})
	}
	return resp, nil
}

// decisionsToProto fills the incident's recorded decisions.
func decisionsToProto(inc domain.Incident, out *incidentv1.Incident) {
	if r := inc.Review; r != nil {
		out.Review = &incidentv1.ManagerReview{
			UpdateRegister: r.UpdateRegister, CorrespondenceUnacceptable: r.CorrespondenceUnacceptable,
			Outcome: incidentv1.ReviewOutcome(enumFromDomain("REVIEW_OUTCOME_", r.Outcome, incidentv1.ReviewOutcome_value)),
			Reasons: r.Reasons, OpenInvestigation: r.OpenInvestigation, InvestigationReference: r.InvestigationReference,
			ProposedArrangements: r.ProposedArrangements, Reviewer: r.Reviewer, ReviewTime: pts(r.Time),
		}
	}
	if p := inc.Police; p != nil {
		out.PoliceDecision = &incidentv1.PoliceDecision{
			Outcome:        incidentv1.PoliceDecision_Outcome(enumFromDomain("OUTCOME_", p.Outcome, incidentv1.PoliceDecision_Outcome_value)),
			CrimeReference: p.CrimeReference, Reason: p.Reason, StaffViewsConsidered: p.StaffViewsConsidered,
			ImpactOnOthersConsidered: p.ImpactOnOthersConsidered, ReportTime: pts(p.ReportTime), DecidedBy: p.DecidedBy, DecideTime: pts(p.Time),
		}
	}
	for _, w := range inc.WitnessStatements {
		out.WitnessStatements = append(out.WitnessStatements, &incidentv1.WitnessStatement{
			WitnessId: w.WitnessID, State: incidentv1.WitnessStatement_State(enumFromDomain("STATE_", w.State, incidentv1.WitnessStatement_State_value)),
			Statement: w.Statement, Evidence: w.Evidence, RequestedBy: w.RequestedBy, RequestTime: pts(w.RequestTime),
			RecordedBy: w.RecordedBy, RecordTime: pts(w.RecordTime), DeclineReason: w.DeclineReason,
		})
	}
	for _, r := range inc.Restorative {
		out.RestorativeActions = append(out.RestorativeActions, &incidentv1.RestorativeAction{
			Kind:        incidentv1.RestorativeActionKind(enumFromDomain("RESTORATIVE_ACTION_KIND_", r.Kind, incidentv1.RestorativeActionKind_value)),
			Description: r.Description, Adviser: r.Adviser, ActionTime: pts(r.ActionTime), RecordedBy: r.RecordedBy,
			RecordTime: pts(r.RecordTime), ReengageTime: pts(r.ReengageTime),
		})
	}
	if c := inc.Correspondence; c != nil {
		out.CorrespondenceDecision = &incidentv1.CorrespondenceDecision{
			Unacceptable: c.Unacceptable, SenderInformed: c.SenderInformed, InformedBy: c.InformedBy,
			FromNonPersonalAccount: c.FromNonPersonalAccount, Account: c.Account, WarningIssued: c.WarningIssued,
			InformTime: pts(c.InformTime), Reason: c.Reason, DecidedBy: c.DecidedBy, DecideTime: pts(c.Time),
		}
	}
	for _, o := range inc.Online {
		out.OnlineActions = append(out.OnlineActions, &incidentv1.OnlineAction{
			Kind:     incidentv1.OnlineActionKind(enumFromDomain("ONLINE_ACTION_KIND_", o.Kind, incidentv1.OnlineActionKind_value)),
			Platform: o.Platform, Account: o.Account, PlatformReference: o.PlatformReference, Url: o.URL, Note: o.Note,
			ActionTime: pts(o.ActionTime), RecordedBy: o.RecordedBy, RecordTime: pts(o.RecordTime),
		})
	}
	for _, sp := range inc.Support {
		ps := &incidentv1.StaffSupportAction{
			Kind:    incidentv1.StaffSupportKind(enumFromDomain("STAFF_SUPPORT_KIND_", sp.Kind, incidentv1.StaffSupportKind_value)),
			StaffId: sp.StaffID, AgreedActions: sp.AgreedActions, Note: sp.Note, ActionTime: pts(sp.ActionTime),
			SeniorManager: sp.SeniorManager, RecordedBy: sp.RecordedBy, RecordTime: pts(sp.RecordTime), Accepted: sp.Accepted,
		}
		if sp.TimeAway > 0 {
			ps.TimeAway = durationpb.New(sp.TimeAway)
		}
		out.StaffSupport = append(out.StaffSupport, ps)
	}
	if o := inc.OutsideContact; o != nil {
		out.OutsideContactDecision = &incidentv1.OutsideContactDecision{
			Recorded: o.Recorded, Reason: o.Reason, ConflictsOfInterest: o.ConflictsOfInterest, DecidedBy: o.DecidedBy, DecideTime: pts(o.Time),
		}
	}
	if c := inc.Closure; c != nil {
		out.Closure = &incidentv1.Closure{Reason: c.Reason, ClosedBy: c.ClosedBy, CloseTime: pts(c.Time)}
	}
	for _, t := range inc.PendingTasks() {
		out.PendingTasks = append(out.PendingTasks, incidentv1.ReviewTask(enumFromDomain("REVIEW_TASK_", t, incidentv1.ReviewTask_value)))
	}
}
