package grpcapi

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/contactguard/contactguard/incident-svc/internal/app"
	"github.com/contactguard/contactguard/incident-svc/internal/domain"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/identity"
	incidentv1 "github.com/contactguard/contactguard/proto/incident/v1"
)

// Staff named publicly (C78-C86): the RPCs over app.PublicNamings.

// WithPublicNamings gives the server the staff-named-publicly use cases and
// returns it.
func (s *Server) WithPublicNamings(namings *app.PublicNamings) *Server {
	s.namings = namings
	return s
}

func (s *Server) namingUseCases() (*app.PublicNamings, error) {
	if s.namings == nil {
		return nil, status.Error(codes.Unimplemented, "staff-named-publicly cases are not served by this server")
	}
	return s.namings, nil
}

var publicNamingName = regexp.MustCompile(`^publicNamings/([0-9a-z]{1,64})$`)

func parseNamingName(field, name string) (string, error) {
	m := publicNamingName.FindStringSubmatch(name)
	if m == nil {
		return "", apperr.Invalid(field, "must be a case name such as publicNamings/abc123, got %q", name)
	}
	return m[1], nil
}

const stepKindPrefix = "PUBLIC_NAMING_STEP_KIND_"

func stepKindToDomain(k incidentv1.PublicNamingStepKind) string {
	if k == incidentv1.PublicNamingStepKind_PUBLIC_NAMING_STEP_KIND_UNSPECIFIED {
		return ""
	}
	name, ok := incidentv1.PublicNamingStepKind_name[int32(k)]
	if !ok {
		return fmt.Sprintf("unknown(%d)", int32(k))
	}
	return strings.ToLower(strings.TrimPrefix(name, stepKindPrefix))
}

func stepKindFromDomain(kind string) incidentv1.PublicNamingStepKind {
	return incidentv1.PublicNamingStepKind(incidentv1.PublicNamingStepKind_value[stepKindPrefix+strings.ToUpper(kind)])
}

func namingStateToDomain(st incidentv1.PublicNaming_State) string {
	switch st {
	case incidentv1.PublicNaming_STATE_UNSPECIFIED:
		return ""
	case incidentv1.PublicNaming_STATE_OPEN:
		return domain.PublicNamingOpen
	case incidentv1.PublicNaming_STATE_CLOSED:
		return domain.PublicNamingClosed
	}
	return fmt.Sprintf("unknown(%d)", int32(st))
}

func publicNamingToProto(c domain.PublicNaming) *incidentv1.PublicNaming {
	out := &incidentv1.PublicNaming{
		Name:           c.Name(),
		Organization:   c.Organization,
		Reference:      c.Reference,
		StaffMember:    c.StaffMember,
		Url:            c.URL,
		Platform:       c.Platform,
		Screenshots:    c.Screenshots,
		Incident:       c.Incident,
		Subject:        c.Subject,
		Description:    c.Description,
		Reporter:       c.Reporter,
		State:          incidentv1.PublicNaming_STATE_OPEN,
		CreateTime:     timestamppb.New(c.CreateTime),
		UpdateTime:     timestamppb.New(c.UpdateTime),
		Version:        c.Version,
		IntentToRecord: c.IntentToRecord,
	}
	if c.State == domain.PublicNamingClosed {
		out.State = incidentv1.PublicNaming_STATE_CLOSED
	}
	for _, s := range c.Steps {
		out.Steps = append(out.Steps, &incidentv1.PublicNamingStep{
			Kind:              stepKindFromDomain(s.Kind),
			StepTime:          timestamppb.New(s.StepTime),
			Note:              s.Note,
			ExternalReference: s.ExternalReference,
			Recipient:         s.Recipient,
			StaffMemberAgreed: s.StaffMemberAgreed,
			RecordedBy:        s.RecordedBy,
			RecordTime:        timestamppb.New(s.RecordTime),
		})
	}
	if r := c.PersonalRecord; r != nil {
		out.PersonalRecordDecision = &incidentv1.PersonalRecordDecision{
			OnPersonalRecord: r.OnPersonalRecord, DecidedWith: r.DecidedWith, Reason: r.Reason,
			RecordedBy: r.RecordedBy, DecideTime: timestamppb.New(r.DecideTime),
		}
	}
	return out
}

// CreatePublicNaming opens a case reported by the caller (C78).
func (s *Server) CreatePublicNaming(ctx context.Context, req *incidentv1.CreatePublicNamingRequest) (*incidentv1.PublicNaming, error) {
	uc, err := s.namingUseCases()
	if err != nil {
		return nil, err
	}
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	in := req.GetPublicNaming()
	if in == nil {
		return nil, apperr.Invalid("public_naming", "is required")
	}
	if org := in.GetOrganization(); org != "" && org != who.Organization {
		return nil, apperr.Denied("public_naming.organization: you can only record cases for your own organisation (%s)", who.Organization)
	}
	r := domain.NamingReport{
		StaffMember:    in.GetStaffMember(),
		URL:            in.GetUrl(),
		Platform:       in.GetPlatform(),
		Screenshots:    in.GetScreenshots(),
		Incident:       in.GetIncident(),
		Subject:        in.GetSubject(),
		Description:    in.GetDescription(),
		IntentToRecord: in.GetIntentToRecord(),
	}
	c, err := uc.Create(ctx, who, r, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return publicNamingToProto(c), nil
}

// GetPublicNaming returns one case the caller may read.
func (s *Server) GetPublicNaming(ctx context.Context, req *incidentv1.GetPublicNamingRequest) (*incidentv1.PublicNaming, error) {
	uc, err := s.namingUseCases()
	if err != nil {
		return nil, err
	}
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseNamingName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	c, err := uc.Get(ctx, who, id)
	if err != nil {
		return nil, err
	}
	return publicNamingToProto(c), nil
}

// ListPublicNamings returns a page of the cases the caller may read.
func (s *Server) ListPublicNamings(ctx context.Context, req *incidentv1.ListPublicNamingsRequest) (*incidentv1.ListPublicNamingsResponse, error) {
	uc, err := s.namingUseCases()
	if err != nil {
		return nil, err
	}
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	cases, next, err := uc.List(ctx, who, app.NamingQuery{
		State:       namingStateToDomain(req.GetState()),
		StaffMember: req.GetStaffMember(),
		PageSize:    int(req.GetPageSize()),
		PageToken:   req.GetPageToken(),
	})
	if err != nil {
		return nil, err
	}
	resp := &incidentv1.ListPublicNamingsResponse{NextPageToken: next}
	for _, c := range cases {
		resp.PublicNamings = append(resp.PublicNamings, publicNamingToProto(c))
	}
	return resp, nil
}

// RecordPublicNamingStep records one step of the workflow (C80-C86).
func (s *Server) RecordPublicNamingStep(ctx context.Context, req *incidentv1.RecordPublicNamingStepRequest) (*incidentv1.PublicNaming, error) {
	uc, err := s.namingUseCases()
	if err != nil {
		return nil, err
	}
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseNamingName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	in := req.GetStep()
	if in == nil {
		return nil, apperr.Invalid("step", "is required")
	}
	cmd := domain.StepCommand{
		Step: domain.NamingStep{
			Kind:              stepKindToDomain(in.GetKind()),
			Note:              in.GetNote(),
			ExternalReference: in.GetExternalReference(),
			Recipient:         in.GetRecipient(),
			StaffMemberAgreed: in.GetStaffMemberAgreed(),
		},
		ExpectedVersion: req.GetExpectedVersion(),
	}
	if in.GetStepTime() != nil {
		if err := in.GetStepTime().CheckValid(); err != nil {
			return nil, apperr.Invalid("step.step_time", "is not a valid time")
		}
		cmd.Step.StepTime = in.GetStepTime().AsTime()
	}
	if d := req.GetPersonalRecordDecision(); d != nil {
		cmd.PersonalRecord = &domain.NamingPersonalRecord{OnPersonalRecord: d.GetOnPersonalRecord(), DecidedWith: d.GetDecidedWith(), Reason: d.GetReason()}
	}
	c, err := uc.RecordStep(ctx, who, id, cmd)
	if err != nil {
		return nil, err
	}
	return publicNamingToProto(c), nil
}

// publicNamingEvents returns the events of the case parent
// ("publicNamings/{id}") for ListTimelineEvents, to those who may read the
// case (NotFound for another organisation's). domain.NamingSummary
// summarises each.
func (s *Server) publicNamingEvents(ctx context.Context, parent string) ([]eventlog.Event, error) {
	uc, err := s.namingUseCases()
	if err != nil {
		return nil, err
	}
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseNamingName("parent", parent)
	if err != nil {
		return nil, err
	}
	return uc.Events(ctx, who, id)
}
