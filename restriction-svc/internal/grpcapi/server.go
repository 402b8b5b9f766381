// Package grpcapi is restriction-svc's transport: it maps the protobuf API
// to the use cases and back.
package grpcapi

import (
	"context"
	"encoding/base64"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/identity"
	restrictionv1 "github.com/contactguard/contactguard/proto/restriction/v1"
	"github.com/contactguard/contactguard/restriction-svc/internal/app"
	"github.com/contactguard/contactguard/restriction-svc/internal/domain"
)

// Server implements restrictionv1.RestrictionServiceServer.
type Server struct {
	restrictionv1.UnimplementedRestrictionServiceServer
	svc   *app.Service
	check *app.Checker
}

// MachineMethods are the only methods a machine client (the telephony
// system) may call; the shared interceptor refuses it everything else.
var MachineMethods = []string{restrictionv1.RestrictionService_CheckContact_FullMethodName, restrictionv1.RestrictionService_RecordContact_FullMethodName}

// New returns the server over the use cases.
func New(svc *app.Service, check *app.Checker) *Server { return &Server{svc: svc, check: check} }

var (
	restrictionName = regexp.MustCompile(`^restrictions/([0-9a-z]{1,64})$`)
	letterName      = regexp.MustCompile(`^restrictions/([0-9a-z]{1,64})/letters/(l[0-9]{1,6})$`)
	markerName      = regexp.MustCompile(`^(subjects/[A-Za-z0-9_-]{1,64})/marker$`)
)

func parseName(field, name string) (string, error) {
	m := restrictionName.FindStringSubmatch(name)
	if m == nil {
		return "", apperr.Invalid(field, "must be a restriction name such as restrictions/abc123, got %q", name)
	}
	return m[1], nil
}

// enumToDomain turns CONTACT_CHANNEL_PHONE into "phone"; the unspecified
// value becomes "" so the domain reports it as missing.
func enumToDomain(prefix, name string, value int32) string {
	if value == 0 {
		return ""
	}
	if name == "" || name == strconv.Itoa(int(value)) {
		return fmt.Sprintf("unknown(%d)", value)
	}
	return strings.ToLower(strings.TrimPrefix(name, prefix))
}

func enumFromDomain(prefix, v string, values map[string]int32) int32 {
	return values[prefix+strings.ToUpper(v)]
}

func channelToDomain(c restrictionv1.ContactChannel) string {
	return enumToDomain("CONTACT_CHANNEL_", c.String(), int32(c))
}

func channelsToDomain(cs []restrictionv1.ContactChannel) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		d := channelToDomain(c)
		if d == "" {
			d = "unspecified"
		}
		out = append(out, d)
	}
	return out
}

func channelFromDomain(c string) restrictionv1.ContactChannel {
	return restrictionv1.ContactChannel(enumFromDomain("CONTACT_CHANNEL_", c, restrictionv1.ContactChannel_value))
}

func channelsFromDomain(cs []string) []restrictionv1.ContactChannel {
	out := make([]restrictionv1.ContactChannel, 0, len(cs))
	for _, c := range cs {
		out = append(out, channelFromDomain(c))
	}
	return out
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func timeOf(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

func durOf(d *durationpb.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return d.AsDuration()
}

func dur(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}

func rulesToDomain(in []*restrictionv1.Rule) []domain.Rule {
	out := make([]domain.Rule, 0, len(in))
	for _, r := range in {
		out = append(out, ruleToDomain(r))
	}
	return out
}

func ruleToDomain(r *restrictionv1.Rule) domain.Rule {
	switch k := r.GetKind().(type) {
	case *restrictionv1.Rule_ChannelsOnly:
		return domain.Rule{Kind: domain.KindChannelsOnly, Channels: channelsToDomain(k.ChannelsOnly.GetChannels())}
	case *restrictionv1.Rule_NamedOfficer:
		return domain.Rule{Kind: domain.KindNamedOfficer, StaffID: k.NamedOfficer.GetStaffId()}
	case *restrictionv1.Rule_WithholdStaffDetails:
		return domain.Rule{Kind: domain.KindWithholdStaffDetails}
	case *restrictionv1.Rule_ThirdPartyOnly:
		return domain.Rule{Kind: domain.KindThirdPartyOnly, Representative: k.ThirdPartyOnly.GetRepresentative(), Contact: k.ThirdPartyOnly.GetContact()}
	case *restrictionv1.Rule_AutomatedService:
		return domain.Rule{Kind: domain.KindAutomatedService, Channels: channelsToDomain(k.AutomatedService.GetChannels())}
	case *restrictionv1.Rule_VolumeLimit:
		return domain.Rule{
			Kind: domain.KindVolumeLimit, Channel: channelToDomain(k.VolumeLimit.GetChannel()),
			MaxContacts: int(k.VolumeLimit.GetMaxContacts()), Period: durOf(k.VolumeLimit.GetPeriod()),
		}
	case *restrictionv1.Rule_CallDurationLimit:
		return domain.Rule{Kind: domain.KindCallDurationLimit, MaxDuration: durOf(k.CallDurationLimit.GetMaxDuration())}
	case *restrictionv1.Rule_TimeWindows:
		out := domain.Rule{Kind: domain.KindTimeWindows, TimeZone: k.TimeWindows.GetTimeZone(), Channels: channelsToDomain(k.TimeWindows.GetChannels())}
		for _, w := range k.TimeWindows.GetWindows() {
			dw := domain.Window{Start: w.GetStart(), End: w.GetEnd()}
			for _, d := range w.GetDays() {
				dw.Days = append(dw.Days, int(d))
			}
			out.Windows = append(out.Windows, dw)
		}
		return out
	case *restrictionv1.Rule_ComplaintsRestricted:
		return domain.Rule{Kind: domain.KindComplaintsRestricted, Terms: k.ComplaintsRestricted.GetTerms()}
	case *restrictionv1.Rule_StaffNoContact:
		return domain.Rule{Kind: domain.KindStaffNoContact, StaffIDs: k.StaffNoContact.GetStaffIds()}
	}
	return domain.Rule{}
}

func rulesToProto(in []domain.Rule) []*restrictionv1.Rule {
	out := make([]*restrictionv1.Rule, 0, len(in))
	for _, r := range in {
		out = append(out, ruleToProto(r))
	}
	return out
}

func ruleToProto(r domain.Rule) *restrictionv1.Rule {
	switch r.Kind {
	case domain.KindChannelsOnly:
		return &restrictionv1.Rule{Kind: &restrictionv1.Rule_ChannelsOnly{ChannelsOnly: &restrictionv1.ChannelsOnly{Channels: channelsFromDomain(r.Channels)}}}
	case domain.KindNamedOfficer:
		return &restrictionv1.Rule{Kind: &restrictionv1.Rule_NamedOfficer{NamedOfficer: &restrictionv1.NamedOfficer{StaffId: r.StaffID}}}
	case domain.KindWithholdStaffDetails:
		return &restrictionv1.Rule{Kind: &restrictionv1.Rule_WithholdStaffDetails{WithholdStaffDetails: &restrictionv1.WithholdStaffDetails{}}}
	case domain.KindThirdPartyOnly:
		return &restrictionv1.Rule{Kind: &restrictionv1.Rule_ThirdPartyOnly{ThirdPartyOnly: &restrictionv1.ThirdPartyOnly{Representative: r.Representative, Contact: r.Contact}}}
	case domain.KindAutomatedService:
		return &restrictionv1.Rule{Kind: &restrictionv1.Rule_AutomatedService{AutomatedService: &restrictionv1.AutomatedService{Channels: channelsFromDomain(r.Channels)}}}
	case domain.KindVolumeLimit:
		return &restrictionv1.Rule{Kind: &restrictionv1.Rule_VolumeLimit{VolumeLimit: &restrictionv1.VolumeLimit{
			Channel: channelFromDomain(r.Channel), MaxContacts: int32(r.MaxContacts), Period: dur(r.Period),
		}}}
	case domain.KindCallDurationLimit:
		return &restrictionv1.Rule{Kind: &restrictionv1.Rule_CallDurationLimit{CallDurationLimit: &restrictionv1.CallDurationLimit{MaxDuration: dur(r.MaxDuration)}}}
	case domain.KindTimeWindows:
		tw := &restrictionv1.TimeWindows{TimeZone: r.TimeZone, Channels: channelsFromDomain(r.Channels)}
		for _, w := range r.Windows {
			pw := &restrictionv1.TimeWindow{Start: w.Start, End: w.End}
			for _, d := range w.Days {
				pw.Days = append(pw.Days, restrictionv1.Weekday(d))
			}
			tw.Windows = append(tw.Windows, pw)
		}
		return &restrictionv1.Rule{Kind: &restrictionv1.Rule_TimeWindows{TimeWindows: tw}}
	case domain.KindComplaintsRestricted:
		return &restrictionv1.Rule{Kind: &restrictionv1.Rule_ComplaintsRestricted{ComplaintsRestricted: &restrictionv1.ComplaintsRestricted{Terms: r.Terms}}}
	case domain.KindStaffNoContact:
		return &restrictionv1.Rule{Kind: &restrictionv1.Rule_StaffNoContact{StaffNoContact: &restrictionv1.StaffNoContact{StaffIds: r.StaffIDs}}}
	}
	return &restrictionv1.Rule{}
}

func markerToProto(m domain.Marker) *restrictionv1.StaffMarker {
	return &restrictionv1.StaffMarker{
		Subject: m.Subject, Restricted: m.Restricted, Instructions: m.Instructions,
		AllowedChannels: channelsFromDomain(m.AllowedChannels), NamedOfficer: m.NamedOfficer,
		Representative: m.Representative, WithholdStaffDetails: m.Withhold, Restrictions: m.Restrictions,
	}
}

func restrictionToProto(v app.View) *restrictionv1.Restriction {
	r := v.Restriction
	out := &restrictionv1.Restriction{
		Name: r.Name(), Organization: r.Organization, Reference: r.Reference, Subject: r.Subject,
		State: restrictionv1.Restriction_State(enumFromDomain("STATE_", r.State, restrictionv1.Restriction_State_value)),
		Rules: rulesToProto(r.Rules), Incidents: r.Incidents, Evidence: r.Evidence,
		Behaviour: r.Behaviour, Impact: r.Impact, Proportionality: r.Proportionality,
		ProposedBy: r.ProposedBy, ProposeTime: ts(r.ProposeTime),
		StartTime: ts(r.StartTime), EndTime: ts(r.EndTime), NoEndReason: r.NoEndReason,
		ReviewInterval: dur(r.ReviewInterval), NextReviewTime: ts(r.NextReviewTime), ReviewWaivedReason: r.ReviewWaivedReason,
		AppealDeadlineTime: ts(r.AppealDeadline),
		Marker:             markerToProto(domain.MarkerFor(r.Subject, []domain.Restriction{r}, time.Now())),
		CreateTime:         ts(r.CreateTime), UpdateTime: ts(r.UpdateTime), Version: r.Version,
		ProposedFromIncident: r.ProposedFromIncident,
	}
	if d := r.Decision; d != nil {
		out.Decision = &restrictionv1.Decision{
			Outcome: restrictionv1.Decision_Outcome(enumFromDomain("OUTCOME_", d.Outcome, restrictionv1.Decision_Outcome_value)),
			Reasons: d.Reasons, DecidedBy: d.DecidedBy, DecideTime: ts(d.DecideTime),
		}
	}
	for _, a := range r.Appeals {
		out.Appeals = append(out.Appeals, &restrictionv1.Appeal{
			Id: a.ID, State: restrictionv1.Appeal_State(enumFromDomain("STATE_", a.State, restrictionv1.Appeal_State_value)),
			Grounds: a.Grounds, LodgedBy: a.LodgedBy, LodgeTime: ts(a.LodgeTime), ReceiveTime: ts(a.ReceiveTime),
			AppealOfficer: a.AppealOfficer, AssignedBy: a.AssignedBy, AssignTime: ts(a.AssignTime),
			Outcome: restrictionv1.Appeal_Outcome(enumFromDomain("OUTCOME_", a.Outcome, restrictionv1.Appeal_Outcome_value)),
			Reasons: a.Reasons, DecidedBy: a.DecidedBy, DecideTime: ts(a.DecideTime), VariedRules: rulesToProto(a.VariedRules),
		})
	}
	for _, rv := range r.Reviews {
		out.Reviews = append(out.Reviews, &restrictionv1.Review{
			Outcome: restrictionv1.Review_Outcome(enumFromDomain("OUTCOME_", rv.Outcome, restrictionv1.Review_Outcome_value)),
			Reasons: rv.Reasons, ReviewedBy: rv.ReviewedBy, ReviewTime: ts(rv.ReviewTime), VariedRules: rulesToProto(rv.VariedRules),
			NextReviewTime: ts(rv.NextReviewTime), ReviewWaivedReason: rv.ReviewWaivedReason,
		})
	}
	for _, va := range r.Variations {
		out.Variations = append(out.Variations, &restrictionv1.Variation{Rules: rulesToProto(va.Rules), Reasons: va.Reasons, VariedBy: va.VariedBy, VaryTime: ts(va.VaryTime)})
	}
	if l := r.Lift; l != nil {
		out.Lift = &restrictionv1.Lift{Reasons: l.Reasons, LiftedBy: l.LiftedBy, LiftTime: ts(l.LiftTime)}
	}
	for _, n := range r.Notices {
		out.Notices = append(out.Notices, &restrictionv1.SubjectNotice{
			Told: n.Told, Method: restrictionv1.SubjectNotice_Method(enumFromDomain("METHOD_", n.Method, restrictionv1.SubjectNotice_Method_value)),
			Letter: n.Letter, NotToldReason: n.NotToldReason, RecordedBy: n.RecordedBy, NoticeTime: ts(n.NoticeTime),
		})
	}
	for _, s := range r.Sharing {
		out.Sharing = append(out.Sharing, &restrictionv1.SharingRecord{StaffIds: s.StaffIDs, Teams: s.Teams, Note: s.Note, SharedBy: s.SharedBy, ShareTime: ts(s.ShareTime)})
	}
	return out
}

func letterToProto(restriction string, l domain.Letter) *restrictionv1.Letter {
	return &restrictionv1.Letter{
		Name:        restriction + "/letters/" + l.ID,
		Kind:        restrictionv1.Letter_Kind(enumFromDomain("KIND_", l.Kind, restrictionv1.Letter_Kind_value)),
		SubjectLine: l.SubjectLine, Html: l.HTML, Text: l.Text, Creator: l.Creator,
		CreateTime: ts(l.CreateTime), RestrictionVersion: l.RestrictionVersion,
	}
}

func proposalOf(in *restrictionv1.Restriction) domain.Proposal {
	return domain.Proposal{
		Subject: in.GetSubject(), Rules: rulesToDomain(in.GetRules()), Incidents: in.GetIncidents(), Evidence: in.GetEvidence(),
		Behaviour: in.GetBehaviour(), Impact: in.GetImpact(), Proportionality: in.GetProportionality(),
	}
}

// CreateRestriction records a proposal.
func (s *Server) CreateRestriction(ctx context.Context, req *restrictionv1.CreateRestrictionRequest) (*restrictionv1.Restriction, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	in := req.GetRestriction()
	if in == nil {
		return nil, apperr.Invalid("restriction", "is required")
	}
	if org := in.GetOrganization(); org != "" && org != who.Organization {
		return nil, apperr.Denied("restriction.organization: you can only propose restrictions for your own organisation (%s)", who.Organization)
	}
	v, err := s.svc.Create(ctx, who, proposalOf(in), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return restrictionToProto(v), nil
}

// GetRestriction returns one restriction.
func (s *Server) GetRestriction(ctx context.Context, req *restrictionv1.GetRestrictionRequest) (*restrictionv1.Restriction, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	v, err := s.svc.Get(ctx, who, id)
	if err != nil {
		return nil, err
	}
	return restrictionToProto(v), nil
}

// ListRestrictions returns a page of restrictions; with review_due_before,
// the reviews due.
func (s *Server) ListRestrictions(ctx context.Context, req *restrictionv1.ListRestrictionsRequest) (*restrictionv1.ListRestrictionsResponse, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	q := app.Query{
		State:   enumToDomain("STATE_", req.GetState().String(), int32(req.GetState())),
		Subject: req.GetSubject(), Incident: req.GetIncident(), ReviewDueBefore: timeOf(req.GetReviewDueBefore()),
		InForceOnly: req.GetInForceOnly(), AppealOfficer: req.GetAppealOfficer(),
		PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(),
	}
	rs, next, err := s.svc.List(ctx, who, q)
	if err != nil {
		return nil, err
	}
	resp := &restrictionv1.ListRestrictionsResponse{NextPageToken: next}
	for _, r := range rs {
		resp.Restrictions = append(resp.Restrictions, restrictionToProto(app.View{Restriction: r, Full: true}))
	}
	return resp, nil
}

// UpdateRestriction changes a proposal.
func (s *Server) UpdateRestriction(ctx context.Context, req *restrictionv1.UpdateRestrictionRequest) (*restrictionv1.Restriction, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	in := req.GetRestriction()
	if in == nil {
		return nil, apperr.Invalid("restriction", "is required")
	}
	id, err := parseName("restriction.name", in.GetName())
	if err != nil {
		return nil, err
	}
	fields := req.GetUpdateMask().GetPaths()
	if len(fields) == 0 {
		fields = []string{"rules", "incidents", "evidence", "behaviour", "impact", "proportionality"}
	}
	v, err := s.svc.Update(ctx, who, id, proposalOf(in), fields, req.GetExpectedVersion())
	if err != nil {
		return nil, err
	}
	return restrictionToProto(v), nil
}

// DecideRestriction imposes or rejects a proposal.
func (s *Server) DecideRestriction(ctx context.Context, req *restrictionv1.DecideRestrictionRequest) (*restrictionv1.Restriction, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	in := domain.DecideInput{
		Outcome: enumToDomain("OUTCOME_", req.GetOutcome().String(), int32(req.GetOutcome())), Reasons: req.GetReasons(),
		StartTime: timeOf(req.GetStartTime()), EndTime: timeOf(req.GetEndTime()), NoEndReason: req.GetNoEndReason(),
		ReviewTime: timeOf(req.GetReviewTime()), ReviewInterval: durOf(req.GetReviewInterval()), ReviewWaivedReason: req.GetReviewWaivedReason(),
		Behaviour: req.GetBehaviour(), Impact: req.GetImpact(), Proportionality: req.GetProportionality(),
		Rules: rulesToDomain(req.GetRules()),
	}
	v, err := s.svc.Decide(ctx, who, id, in, req.GetExpectedVersion())
	if err != nil {
		return nil, err
	}
	return restrictionToProto(v), nil
}

// LodgeAppeal lodges an appeal on the subject's behalf.
func (s *Server) LodgeAppeal(ctx context.Context, req *restrictionv1.LodgeAppealRequest) (*restrictionv1.Restriction, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	v, err := s.svc.LodgeAppeal(ctx, who, id, req.GetGrounds(), timeOf(req.GetReceiveTime()), req.GetExpectedVersion())
	if err != nil {
		return nil, err
	}
	return restrictionToProto(v), nil
}

// AssignAppeal assigns the open appeal.
func (s *Server) AssignAppeal(ctx context.Context, req *restrictionv1.AssignAppealRequest) (*restrictionv1.Restriction, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	v, err := s.svc.AssignAppeal(ctx, who, id, req.GetAppealOfficer(), req.GetExpectedVersion())
	if err != nil {
		return nil, err
	}
	return restrictionToProto(v), nil
}

// DecideAppeal decides the open appeal.
func (s *Server) DecideAppeal(ctx context.Context, req *restrictionv1.DecideAppealRequest) (*restrictionv1.Restriction, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	outcome := enumToDomain("OUTCOME_", req.GetOutcome().String(), int32(req.GetOutcome()))
	v, err := s.svc.DecideAppeal(ctx, who, id, outcome, req.GetReasons(), rulesToDomain(req.GetVariedRules()), req.GetExpectedVersion())
	if err != nil {
		return nil, err
	}
	return restrictionToProto(v), nil
}

// ReviewRestriction records a review.
func (s *Server) ReviewRestriction(ctx context.Context, req *restrictionv1.ReviewRestrictionRequest) (*restrictionv1.Restriction, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	in := domain.ReviewInput{
		Outcome: enumToDomain("OUTCOME_", req.GetOutcome().String(), int32(req.GetOutcome())), Reasons: req.GetReasons(),
		VariedRules: rulesToDomain(req.GetVariedRules()), NextReviewTime: timeOf(req.GetNextReviewTime()), ReviewWaivedReason: req.GetReviewWaivedReason(),
	}
	v, err := s.svc.Review(ctx, who, id, in, req.GetExpectedVersion())
	if err != nil {
		return nil, err
	}
	return restrictionToProto(v), nil
}

// VaryRestriction varies the rules of a restriction in force.
func (s *Server) VaryRestriction(ctx context.Context, req *restrictionv1.VaryRestrictionRequest) (*restrictionv1.Restriction, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	v, err := s.svc.Vary(ctx, who, id, rulesToDomain(req.GetRules()), req.GetReasons(), req.GetExpectedVersion())
	if err != nil {
		return nil, err
	}
	return restrictionToProto(v), nil
}

// LiftRestriction lifts a restriction.
func (s *Server) LiftRestriction(ctx context.Context, req *restrictionv1.LiftRestrictionRequest) (*restrictionv1.Restriction, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	v, err := s.svc.Lift(ctx, who, id, req.GetReasons(), req.GetExpectedVersion())
	if err != nil {
		return nil, err
	}
	return restrictionToProto(v), nil
}

// GenerateLetter renders and stores a letter.
func (s *Server) GenerateLetter(ctx context.Context, req *restrictionv1.GenerateLetterRequest) (*restrictionv1.Letter, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	l, err := s.svc.GenerateLetter(ctx, who, id, enumToDomain("KIND_", req.GetKind().String(), int32(req.GetKind())))
	if err != nil {
		return nil, err
	}
	return letterToProto(req.GetName(), l), nil
}

// GetLetter returns one stored letter.
func (s *Server) GetLetter(ctx context.Context, req *restrictionv1.GetLetterRequest) (*restrictionv1.Letter, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	m := letterName.FindStringSubmatch(req.GetName())
	if m == nil {
		return nil, apperr.Invalid("name", "must be a letter name such as restrictions/abc123/letters/l1, got %q", req.GetName())
	}
	letters, err := s.svc.Letters(ctx, who, m[1])
	if err != nil {
		return nil, err
	}
	for _, l := range letters {
		if l.ID == m[2] {
			return letterToProto("restrictions/"+m[1], l), nil
		}
	}
	return nil, apperr.NotFound("letter %s not found", req.GetName())
}

// page returns the window of n items a page token and size select, and
// the next token.
func page(n int, size int32, token string) (int, int, string, error) {
	switch {
	case size < 0 || size > 500:
		return 0, 0, "", apperr.Invalid("page_size", "must be between 0 and 500, got %d", size)
	case size == 0:
		size = 50
	}
	from := 0
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err == nil {
			from, err = strconv.Atoi(string(b))
		}
		if err != nil || from < 0 {
			return 0, 0, "", apperr.Invalid("page_token", "is not a token this service issued; start again without it")
		}
	}
	from = min(from, n)
	to := min(from+int(size), n)
	next := ""
	if to < n {
		next = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(to)))
	}
	return from, to, next, nil
}

// ListLetters lists the letters stored with a restriction.
func (s *Server) ListLetters(ctx context.Context, req *restrictionv1.ListLettersRequest) (*restrictionv1.ListLettersResponse, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseName("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	letters, err := s.svc.Letters(ctx, who, id)
	if err != nil {
		return nil, err
	}
	from, to, next, err := page(len(letters), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &restrictionv1.ListLettersResponse{NextPageToken: next}
	for _, l := range letters[from:to] {
		resp.Letters = append(resp.Letters, letterToProto(req.GetParent(), l))
	}
	return resp, nil
}

// RecordSubjectNotice records how the subject was told, or why not.
func (s *Server) RecordSubjectNotice(ctx context.Context, req *restrictionv1.RecordSubjectNoticeRequest) (*restrictionv1.Restriction, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	n := req.GetNotice()
	if n == nil {
		return nil, apperr.Invalid("notice", "is required")
	}
	v, err := s.svc.RecordNotice(ctx, who, id, domain.Notice{
		Told: n.GetTold(), Method: enumToDomain("METHOD_", n.GetMethod().String(), int32(n.GetMethod())),
		Letter: n.GetLetter(), NotToldReason: n.GetNotToldReason(), NoticeTime: timeOf(n.GetNoticeTime()),
	}, req.GetExpectedVersion())
	if err != nil {
		return nil, err
	}
	return restrictionToProto(v), nil
}

// RecordSharing records who was told.
func (s *Server) RecordSharing(ctx context.Context, req *restrictionv1.RecordSharingRequest) (*restrictionv1.Restriction, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	sh := req.GetSharing()
	if sh == nil {
		return nil, apperr.Invalid("sharing", "is required")
	}
	v, err := s.svc.RecordSharing(ctx, who, id, domain.Sharing{
		StaffIDs: sh.GetStaffIds(), Teams: sh.GetTeams(), Note: sh.GetNote(), ShareTime: timeOf(sh.GetShareTime()),
	}, req.GetExpectedVersion())
	if err != nil {
		return nil, err
	}
	return restrictionToProto(v), nil
}

// GetStaffMarker returns the staff-facing marker of a subject.
func (s *Server) GetStaffMarker(ctx context.Context, req *restrictionv1.GetStaffMarkerRequest) (*restrictionv1.StaffMarker, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	m := markerName.FindStringSubmatch(req.GetName())
	if m == nil {
		return nil, apperr.Invalid("name", "must be a marker name such as subjects/abc123/marker, got %q", req.GetName())
	}
	mk, err := s.svc.Marker(ctx, who, m[1])
	if err != nil {
		return nil, err
	}
	out := markerToProto(mk)
	out.Name = req.GetName()
	return out, nil
}

var eventSummaries = map[string]string{
	domain.EventProposed: "Restriction proposed", domain.EventUpdated: "Proposal changed", domain.EventDecided: "Decided",
	domain.EventAppealLodged: "Appeal lodged", domain.EventAppealAssigned: "Appeal assigned", domain.EventAppealDecided: "Appeal decided",
	domain.EventReviewed: "Reviewed", domain.EventVaried: "Varied", domain.EventLifted: "Lifted", domain.EventExpired: "Expired",
	domain.EventReviewDue: "Review due", domain.EventReviewRescheduled: "Review rescheduled after a new incident",
	domain.EventLetterGenerated: "Letter written", domain.EventNoticeRecorded: "Subject notice recorded", domain.EventShared: "Shared with staff",
}

func eventToProto(e eventlog.Event) *restrictionv1.RestrictionEvent {
	out := &restrictionv1.RestrictionEvent{
		Name: fmt.Sprintf("restrictions/%s/events/%d", e.AggregateID, e.Seq), Sequence: e.Seq, Type: e.Type,
		Actor: e.Actor, EventTime: ts(e.Time), Summary: eventSummaries[e.Type], PayloadJson: e.Payload, Hash: e.Hash,
	}
	var p domain.Payload
	if e.Decode(&p) == nil {
		switch {
		case p.Decision != nil:
			out.Summary += ": " + p.Decision.Outcome
			out.Reason = p.Decision.Reasons
		case p.Appeal != nil && p.Appeal.Reasons != "":
			out.Summary += ": " + p.Appeal.Outcome
			out.Reason = p.Appeal.Reasons
		case p.Appeal != nil:
			out.Reason = p.Appeal.Grounds
		case p.Review != nil:
			out.Summary += ": " + p.Review.Outcome
			out.Reason = p.Review.Reasons
		case p.Variation != nil:
			out.Reason = p.Variation.Reasons
		case p.Lift != nil:
			out.Reason = p.Lift.Reasons
		case p.Notice != nil:
			out.Reason = p.Notice.NotToldReason
		}
	}
	return out
}

// ListRestrictionEvents lists the timeline of a restriction.
func (s *Server) ListRestrictionEvents(ctx context.Context, req *restrictionv1.ListRestrictionEventsRequest) (*restrictionv1.ListRestrictionEventsResponse, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseName("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	events, err := s.svc.Events(ctx, who, id)
	if err != nil {
		return nil, err
	}
	from, to, next, err := page(len(events), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &restrictionv1.ListRestrictionEventsResponse{NextPageToken: next}
	for _, e := range events[from:to] {
		resp.Events = append(resp.Events, eventToProto(e))
	}
	return resp, nil
}

func checkRequest(org string, ch restrictionv1.ContactChannel, identifier, staff string, at *timestamppb.Timestamp) app.CheckRequest {
	return app.CheckRequest{Organization: org, Channel: channelToDomain(ch), Identifier: identifier, StaffID: staff, Time: timeOf(at)}
}

var treatments = func() map[string]restrictionv1.Treatment {
	m := map[string]restrictionv1.Treatment{}
	for name, v := range restrictionv1.Treatment_value {
		m[strings.ToLower(strings.TrimPrefix(name, "TREATMENT_"))] = restrictionv1.Treatment(v)
	}
	return m
}()

// CheckContact answers the real-time contact check.
func (s *Server) CheckContact(ctx context.Context, req *restrictionv1.CheckContactRequest) (*restrictionv1.CheckContactResponse, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.check.Check(ctx, who, checkRequest(req.GetOrganization(), req.GetChannel(), req.GetIdentifier(), req.GetStaffId(), req.GetContactTime()))
	if err != nil {
		return nil, err
	}
	return &restrictionv1.CheckContactResponse{
		Treatment: treatments[a.Treatment], RouteTo: a.RouteTo, MaxDuration: dur(a.MaxDuration),
		WithholdStaffDetails: a.Withhold, NextAllowedTime: ts(a.NextAllowed), Degraded: a.Degraded,
	}, nil
}

// RecordContact counts a contact towards volume limits.
func (s *Server) RecordContact(ctx context.Context, req *restrictionv1.RecordContactRequest) (*restrictionv1.RecordContactResponse, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	cr := checkRequest(req.GetOrganization(), req.GetChannel(), req.GetIdentifier(), req.GetStaffId(), req.GetContactTime())
	cr.RequestID = req.GetRequestId()
	res, err := s.check.Record(ctx, who, cr)
	if err != nil {
		return nil, err
	}
	return &restrictionv1.RecordContactResponse{
		Limited: res.Limited, Count: int32(res.Count), MaxContacts: int32(res.MaxContacts), LimitReached: res.LimitReached,
	}, nil
}
