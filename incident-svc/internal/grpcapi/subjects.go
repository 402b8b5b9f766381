package grpcapi

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/contactguard/contactguard/incident-svc/internal/app"
	"github.com/contactguard/contactguard/incident-svc/internal/domain"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/contactid"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/identity"
	incidentv1 "github.com/contactguard/contactguard/proto/incident/v1"
)

// WithSubjects gives the server the subject use cases and returns it.
func (s *Server) WithSubjects(subjects *app.Subjects) *Server {
	s.subjects = subjects
	return s
}

func (s *Server) subjectUseCases() (*app.Subjects, error) {
	if s.subjects == nil {
		return nil, status.Error(codes.Unimplemented, "subjects are not served by this server")
	}
	return s.subjects, nil
}

func parseSubjectName(field, name string) (string, error) {
	id, ok := strings.CutPrefix(name, "subjects/")
	if !ok || !domain.ValidSubjectID(id) {
		return "", apperr.Invalid(field, "must be a subject name such as subjects/abc123, got %q", name)
	}
	return id, nil
}

var identifierKinds = map[incidentv1.ContactIdentifier_Type]string{
	incidentv1.ContactIdentifier_TYPE_PHONE:          contactid.Phone,
	incidentv1.ContactIdentifier_TYPE_EMAIL:          contactid.Email,
	incidentv1.ContactIdentifier_TYPE_SOCIAL_HANDLE:  contactid.Social,
	incidentv1.ContactIdentifier_TYPE_POSTAL_ADDRESS: contactid.Postal,
}

func identifierKind(t incidentv1.ContactIdentifier_Type) string {
	if t == incidentv1.ContactIdentifier_TYPE_UNSPECIFIED {
		return ""
	}
	if k, ok := identifierKinds[t]; ok {
		return k
	}
	return fmt.Sprintf("unknown(%d)", int32(t))
}

func identifierType(kind string) incidentv1.ContactIdentifier_Type {
	for t, k := range identifierKinds {
		if k == kind {
			return t
		}
	}
	return incidentv1.ContactIdentifier_TYPE_UNSPECIFIED
}

func identifiersFromProto(in []*incidentv1.ContactIdentifier) []domain.Identifier {
	var out []domain.Identifier
	for _, id := range in {
		out = append(out, domain.Identifier{
			Kind: identifierKind(id.GetType()), Entered: id.GetValue(), Platform: id.GetPlatform(), Label: id.GetLabel(),
		})
	}
	return out
}

func identifiersToProto(in []domain.Identifier) []*incidentv1.ContactIdentifier {
	var out []*incidentv1.ContactIdentifier
	for _, id := range in {
		entered := id.Entered
		if entered == "" {
			entered = id.Value
		}
		out = append(out, &incidentv1.ContactIdentifier{
			Type: identifierType(id.Kind), Value: entered, Normalized: id.Value, Platform: id.Platform, Label: id.Label,
		})
	}
	return out
}

func subjectFromProto(in *incidentv1.Subject) domain.SubjectDetails {
	d := domain.SubjectDetails{
		Kind:                    enumToDomain("KIND_", in.GetKind().String(), int32(in.GetKind())),
		DisplayName:             in.GetDisplayName(),
		GivenName:               in.GetGivenName(),
		FamilyName:              in.GetFamilyName(),
		OtherNames:              in.GetOtherNames(),
		Identifiers:             identifiersFromProto(in.GetIdentifiers()),
		ReasonableAdjustments:   in.GetReasonableAdjustments(),
		SupportNeeds:            in.GetSupportNeeds(),
		ChildInEducationSetting: in.GetChildInEducationSetting(),
	}
	if r := in.GetRepresentative(); r != nil {
		d.Representative = &domain.Representative{
			Kind:         enumToDomain("KIND_", r.GetKind().String(), int32(r.GetKind())),
			Name:         r.GetDisplayName(),
			Subject:      r.GetSubject(),
			Identifiers:  identifiersFromProto(r.GetIdentifiers()),
			Relationship: r.GetRelationship(),
		}
	}
	return d
}

func subjectToProto(subj domain.Subject) *incidentv1.Subject {
	out := &incidentv1.Subject{
		Name:                    subj.Name(),
		Organization:            subj.Organization,
		Kind:                    incidentv1.Subject_Kind(enumFromDomain("KIND_", subj.Kind, incidentv1.Subject_Kind_value)),
		DisplayName:             subj.DisplayName,
		GivenName:               subj.GivenName,
		FamilyName:              subj.FamilyName,
		OtherNames:              subj.OtherNames,
		Identifiers:             identifiersToProto(subj.Identifiers),
		ReasonableAdjustments:   subj.ReasonableAdjustments,
		SupportNeeds:            subj.SupportNeeds,
		ChildInEducationSetting: subj.ChildInEducationSetting,
		CreateTime:              timestamppb.New(subj.CreateTime),
		UpdateTime:              timestamppb.New(subj.UpdateTime),
		Version:                 subj.Version,
		Creator:                 subj.Creator,
		// IncidentCount and WarningCount are filled by withTallies.
	}
	if r := subj.Representative; r != nil {
		out.Representative = &incidentv1.Representative{
			Kind:         incidentv1.Representative_Kind(enumFromDomain("KIND_", r.Kind, incidentv1.Representative_Kind_value)),
			DisplayName:  r.Name,
			Subject:      r.Subject,
			Identifiers:  identifiersToProto(r.Identifiers),
			Relationship: r.Relationship,
		}
	}
	return out
}

// withTallies fills each subject's incident and warning counts from the
// register, in one query for the whole list.
func (s *Server) withTallies(ctx context.Context, who identity.Identity, subjects ...*incidentv1.Subject) error {
	names := make([]string, len(subjects))
	for i, subj := range subjects {
		names[i] = subj.GetName()
	}
	tallies, err := s.svc.SubjectTallies(ctx, who, names)
	if err != nil {
		return err
	}
	for _, subj := range subjects {
		t := tallies[subj.GetName()]
		subj.IncidentCount, subj.WarningCount = int32(t.Incidents), int32(t.Warnings)
	}
	return nil
}

// CreateSubject records a subject of the caller's organisation.
func (s *Server) CreateSubject(ctx context.Context, req *incidentv1.CreateSubjectRequest) (*incidentv1.Subject, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	uc, err := s.subjectUseCases()
	if err != nil {
		return nil, err
	}
	in := req.GetSubject()
	if in == nil {
		return nil, apperr.Invalid("subject", "is required")
	}
	if in.GetOrganization() != "" && in.GetOrganization() != who.Organization {
		return nil, apperr.Denied("you may record subjects only for your own organisation (%s)", who.Organization)
	}
	subj, err := uc.Create(ctx, who, subjectFromProto(in), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return subjectToProto(subj), nil
}

// GetSubject returns one subject of the caller's organisation.
func (s *Server) GetSubject(ctx context.Context, req *incidentv1.GetSubjectRequest) (*incidentv1.Subject, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	uc, err := s.subjectUseCases()
	if err != nil {
		return nil, err
	}
	id, err := parseSubjectName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	subj, err := uc.Get(ctx, who, id)
	if err != nil {
		return nil, err
	}
	out := subjectToProto(subj)
	if err := s.withTallies(ctx, who, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ListSubjects returns a page of the caller's organisation's subjects, by name.
func (s *Server) ListSubjects(ctx context.Context, req *incidentv1.ListSubjectsRequest) (*incidentv1.ListSubjectsResponse, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	uc, err := s.subjectUseCases()
	if err != nil {
		return nil, err
	}
	list, next, err := uc.List(ctx, who, app.SubjectQuery{
		Kind:       enumToDomain("KIND_", req.GetKind().String(), int32(req.GetKind())),
		NamePrefix: req.GetNamePrefix(),
		PageSize:   int(req.GetPageSize()),
		PageToken:  req.GetPageToken(),
	})
	if err != nil {
		return nil, err
	}
	resp := &incidentv1.ListSubjectsResponse{NextPageToken: next}
	for _, subj := range list {
		resp.Subjects = append(resp.Subjects, subjectToProto(subj))
	}
	if err := s.withTallies(ctx, who, resp.Subjects...); err != nil {
		return nil, err
	}
	return resp, nil
}

// UpdateSubject changes the fields named in update_mask.
func (s *Server) UpdateSubject(ctx context.Context, req *incidentv1.UpdateSubjectRequest) (*incidentv1.Subject, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	uc, err := s.subjectUseCases()
	if err != nil {
		return nil, err
	}
	in := req.GetSubject()
	if in == nil {
		return nil, apperr.Invalid("subject", "is required")
	}
	id, err := parseSubjectName("subject.name", in.GetName())
	if err != nil {
		return nil, err
	}
	subj, err := uc.Update(ctx, who, id, subjectFromProto(in), req.GetUpdateMask().GetPaths(), req.GetExpectedVersion(), req.GetReason())
	if err != nil {
		return nil, err
	}
	out := subjectToProto(subj)
	if err := s.withTallies(ctx, who, out); err != nil {
		return nil, err
	}
	return out, nil
}

// LookupSubjects finds the caller's organisation's subjects by any identifier.
func (s *Server) LookupSubjects(ctx context.Context, req *incidentv1.LookupSubjectsRequest) (*incidentv1.LookupSubjectsResponse, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	uc, err := s.subjectUseCases()
	if err != nil {
		return nil, err
	}
	kind := identifierKind(req.GetType())
	if strings.HasPrefix(kind, "unknown") {
		return nil, apperr.Invalid("type", "unknown type of identifier %d", int32(req.GetType()))
	}
	list, err := uc.Lookup(ctx, who, req.GetIdentifier(), kind)
	if err != nil {
		return nil, err
	}
	resp := &incidentv1.LookupSubjectsResponse{}
	for _, subj := range list {
		resp.Subjects = append(resp.Subjects, subjectToProto(subj))
	}
	if err := s.withTallies(ctx, who, resp.Subjects...); err != nil {
		return nil, err
	}
	return resp, nil
}

// subjectTimeline returns a page of a subject's events (its history,
// C73), oldest first: ListTimelineEvents serves "subjects/{id}" parents
// with it. The page token is the base64 of the last sequence returned,
// which for a gapless history is the same as an offset.
func (s *Server) subjectTimeline(ctx context.Context, req *incidentv1.ListTimelineEventsRequest) (*incidentv1.ListTimelineEventsResponse, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	uc, err := s.subjectUseCases()
	if err != nil {
		return nil, err
	}
	id, err := parseSubjectName("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0 || size > 500:
		return nil, apperr.Invalid("page_size", "must be between 0 and 500, got %d", size)
	case size == 0:
		size = 50
	}
	var after int64
	if tok := req.GetPageToken(); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err == nil {
			after, err = strconv.ParseInt(string(raw), 10, 64)
		}
		if err != nil || after < 1 {
			return nil, apperr.Invalid("page_token", "is not a token this service issued; start again without it")
		}
	}
	events, err := uc.Timeline(ctx, who, id)
	if err != nil {
		return nil, err
	}
	resp := &incidentv1.ListTimelineEventsResponse{}
	for _, e := range events {
		if e.Seq <= after {
			continue
		}
		if len(resp.Events) == size {
			resp.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(after, 10)))
			break
		}
		te, err := subjectTimelineEvent(req.GetParent(), e)
		if err != nil {
			return nil, err
		}
		resp.Events = append(resp.Events, te)
		after = e.Seq
	}
	return resp, nil
}

func subjectTimelineEvent(parent string, e eventlog.Event) (*incidentv1.TimelineEvent, error) {
	var p domain.SubjectRecord
	if err := e.Decode(&p); err != nil {
		return nil, err
	}
	summary := "Subject recorded by " + e.Actor
	if e.Type == domain.EventSubjectUpdated {
		summary = fmt.Sprintf("Subject updated by %s: %s", e.Actor, strings.Join(p.ChangedFields, ", "))
	}
	return &incidentv1.TimelineEvent{
		Name:          fmt.Sprintf("%s/events/%d", parent, e.Seq),
		Sequence:      e.Seq,
		Type:          e.Type,
		Actor:         e.Actor,
		EventTime:     timestamppb.New(e.Time),
		Summary:       summary,
		Reason:        p.Reason,
		ChangedFields: p.ChangedFields,
		PayloadJson:   e.Payload,
		Hash:          e.Hash,
	}, nil
}
