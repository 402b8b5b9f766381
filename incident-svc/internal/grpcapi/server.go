// Package grpcapi is incident-svc's transport: it maps the protobuf API to
// the use cases and back. Methods not built yet are left to the embedded
// Unimplemented server, which answers codes.Unimplemented.
package grpcapi

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/contactguard/contactguard/incident-svc/internal/app"
	"github.com/contactguard/contactguard/incident-svc/internal/domain"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/identity"
	incidentv1 "github.com/contactguard/contactguard/proto/incident/v1"
)

// Server implements incidentv1.IncidentServiceServer.
type Server struct {
	incidentv1.UnimplementedIncidentServiceServer
	svc      *app.Service
	subjects *app.Subjects // set by WithSubjects (subjects.go)
	// set by WithPublicNamings (public_naming.go)
	namings *app.PublicNamings
}

// New returns the server over svc.
func New(svc *app.Service) *Server { return &Server{svc: svc} }

var incidentName = regexp.MustCompile(`^incidents/([0-9a-z]{1,64})$`)

func parseName(field, name string) (string, error) {
	m := incidentName.FindStringSubmatch(name)
	if m == nil {
		return "", apperr.Invalid(field, "must be an incident name such as incidents/abc123, got %q", name)
	}
	return m[1], nil
}

// enumToDomain turns CATEGORY_ABUSE into "abuse"; the unspecified value
// becomes "" so the domain reports it as missing.
func enumToDomain(prefix, name string, value int32) string {
	if value == 0 {
		return ""
	}
	if name == "" {
		return fmt.Sprintf("unknown(%d)", value)
	}
	return strings.ToLower(strings.TrimPrefix(name, prefix))
}

func enumFromDomain(prefix, v string, values map[string]int32) int32 {
	return values[prefix+strings.ToUpper(v)]
}

func reportFromProto(in *incidentv1.Incident) domain.Report {
	r := domain.Report{
		Channel:        enumToDomain("CHANNEL_", in.GetChannel().String(), int32(in.GetChannel())),
		Location:       in.GetLocation(),
		Subject:        in.GetSubject(),
		StaffInvolved:  in.GetStaffInvolved(),
		Description:    in.GetDescription(),
		ZeroTolerance:  in.GetZeroTolerance(),
		PhysicalThreat: in.GetPhysicalThreat(),
		SourceURL:      in.GetSourceUrl(),
		Platform:       in.GetPlatform(),
		AimedAtThird:   in.GetAimedAtThirdParty(),
	}
	if in.GetOccurTime() != nil {
		r.OccurTime = in.GetOccurTime().AsTime()
	}
	for _, c := range in.GetCategories() {
		name := incidentv1.Category_name[int32(c)]
		d := enumToDomain("CATEGORY_", name, int32(c))
		if d == "" {
			d = "unspecified"
		}
		r.Categories = append(r.Categories, d)
	}
	for _, w := range in.GetWitnesses() {
		r.Witnesses = append(r.Witnesses, domain.Witness{Name: w.GetName(), StaffID: w.GetStaffId(), Contact: w.GetContact()})
	}
	if a := in.GetStaffActions(); a != nil {
		r.StaffActions = domain.StaffActions{
			WarningGiven: a.GetWarningGiven(), WarningNotGivenReason: a.GetWarningNotGivenReason(),
			CallPaused: a.GetCallPaused(), EndedRecordedOrStreamed: a.GetEndedRecordedOrStreamed(),
			StaffRemovedThemselves: a.GetStaffRemovedThemselves(), EndedDistressingContact: a.GetEndedDistressingContact(),
			ContactEnded: a.GetContactEnded(), Other: a.GetOther(),
		}
	}
	return r
}

func incidentToProto(inc domain.Incident) *incidentv1.Incident {
	out := &incidentv1.Incident{
		Name:              inc.Name(),
		Organization:      inc.Organization,
		Reference:         inc.Reference,
		Channel:           incidentv1.Channel(enumFromDomain("CHANNEL_", inc.Channel, incidentv1.Channel_value)),
		OccurTime:         timestamppb.New(inc.OccurTime),
		Location:          inc.Location,
		Subject:           inc.Subject,
		Reporter:          inc.Reporter,
		StaffInvolved:     inc.StaffInvolved,
		Description:       inc.Description,
		ZeroTolerance:     inc.ZeroTolerance,
		PhysicalThreat:    inc.PhysicalThreat,
		State:             incidentv1.Incident_State(enumFromDomain("STATE_", inc.State, incidentv1.Incident_State_value)),
		CreateTime:        timestamppb.New(inc.CreateTime),
		UpdateTime:        timestamppb.New(inc.UpdateTime),
		Version:           inc.Version,
		SourceUrl:         inc.SourceURL,
		Platform:          inc.Platform,
		AimedAtThirdParty: inc.AimedAtThird,
		StaffActions: &incidentv1.StaffActions{
			WarningGiven: inc.StaffActions.WarningGiven, WarningNotGivenReason: inc.StaffActions.WarningNotGivenReason,
			CallPaused: inc.StaffActions.CallPaused, EndedRecordedOrStreamed: inc.StaffActions.EndedRecordedOrStreamed,
			StaffRemovedThemselves: inc.StaffActions.StaffRemovedThemselves, EndedDistressingContact: inc.StaffActions.EndedDistressingContact,
			ContactEnded: inc.StaffActions.ContactEnded, Other: inc.StaffActions.Other,
		},
	}
	for _, c := range inc.Categories {
		out.Categories = append(out.Categories, incidentv1.Category(enumFromDomain("CATEGORY_", c, incidentv1.Category_value)))
	}
	for _, w := range inc.Witnesses {
		out.Witnesses = append(out.Witnesses, &incidentv1.Witness{Id: w.ID, Name: w.Name, StaffId: w.StaffID, Contact: w.Contact})
	}
	decisionsToProto(inc, out)
	return out
}

// CreateIncident records a report from the calling staff member.
func (s *Server) CreateIncident(ctx context.Context, req *incidentv1.CreateIncidentRequest) (*incidentv1.Incident, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	in := req.GetIncident()
	if in == nil {
		return nil, apperr.Invalid("incident", "is required")
	}
	if org := in.GetOrganization(); org != "" && org != who.Organization {
		return nil, apperr.Denied("incident.organization: you can only report incidents for your own organisation (%s)", who.Organization)
	}
	inc, err := s.svc.Report(ctx, who, reportFromProto(in), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return incidentToProto(inc), nil
}

// GetIncident returns one incident of the caller's organisation.
func (s *Server) GetIncident(ctx context.Context, req *incidentv1.GetIncidentRequest) (*incidentv1.Incident, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	inc, err := s.svc.Get(ctx, who, id)
	if err != nil {
		return nil, err
	}
	return incidentToProto(inc), nil
}

// ListIncidents returns a page of the caller's organisation's incidents.
func (s *Server) ListIncidents(ctx context.Context, req *incidentv1.ListIncidentsRequest) (*incidentv1.ListIncidentsResponse, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	q := app.Query{
		State:          enumToDomain("STATE_", req.GetState().String(), int32(req.GetState())),
		Category:       enumToDomain("CATEGORY_", req.GetCategory().String(), int32(req.GetCategory())),
		Channel:        enumToDomain("CHANNEL_", req.GetChannel().String(), int32(req.GetChannel())),
		Subject:        req.GetSubject(),
		StaffMember:    req.GetStaffMember(),
		ZeroTolerance:  req.GetZeroToleranceOnly(),
		PhysicalThreat: req.GetPhysicalThreatOnly(),
		PageSize:       int(req.GetPageSize()),
		PageToken:      req.GetPageToken(),
	}
	if req.GetStartTime() != nil {
		q.From = req.GetStartTime().AsTime()
	}
	if req.GetEndTime() != nil {
		q.To = req.GetEndTime().AsTime()
	}
	incidents, next, err := s.svc.List(ctx, who, q)
	if err != nil {
		return nil, err
	}
	resp := &incidentv1.ListIncidentsResponse{NextPageToken: next}
	for _, inc := range incidents {
		resp.Incidents = append(resp.Incidents, incidentToProto(inc))
	}
	return resp, nil
}
