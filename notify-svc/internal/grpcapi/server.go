// Package grpcapi is notify-svc's transport: the staff directory and the
// delivery records. Methods not built yet answer codes.Unimplemented.
package grpcapi

import (
	"context"
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/contactguard/contactguard/notify-svc/internal/delivery"
	"github.com/contactguard/contactguard/notify-svc/internal/staff"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/policy"
	notifyv1 "github.com/contactguard/contactguard/proto/notify/v1"
)

// Server implements notifyv1.NotifyServiceServer.
type Server struct {
	notifyv1.UnimplementedNotifyServiceServer
	staff      *staff.Store
	deliveries *delivery.Store
	wake       chan<- struct{} // tells the sender a delivery was queued again
}

// New returns the server; wake (may be nil) is signalled when an admin
// queues a delivery again.
func New(staffStore *staff.Store, deliveries *delivery.Store, wake chan<- struct{}) *Server {
	return &Server{staff: staffStore, deliveries: deliveries, wake: wake}
}

func caller(ctx context.Context) (identity.Identity, policy.Profile, error) {
	id, err := identity.Caller(ctx)
	if err != nil {
		return identity.Identity{}, policy.Profile{}, err
	}
	p, ok := policy.For(id.Organization)
	if !ok {
		return identity.Identity{}, policy.Profile{}, apperr.Denied("organisation %q has no policy profile in this deployment", id.Organization)
	}
	return id, p, nil
}

func memberToProto(m staff.Member) *notifyv1.StaffMember {
	return &notifyv1.StaffMember{Id: m.ID, Name: m.Name, Email: m.Email, Organization: m.Organization, LineManagerId: m.LineManagerID, Roles: m.Roles, Team: m.Team, Active: true}
}

// GetStaffMember returns a member of the caller's organisation.
func (s *Server) GetStaffMember(ctx context.Context, req *notifyv1.GetStaffMemberRequest) (*notifyv1.StaffMember, error) {
	who, _, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetId() == "" {
		return nil, apperr.Invalid("id", "is required")
	}
	m, err := s.staff.Get(ctx, who.Organization, req.GetId())
	if err != nil {
		return nil, err
	}
	return memberToProto(m), nil
}

// offsetPage reads an offset page token and page size.
func offsetPage(token string, size int32) (skip, limit int64, err error) {
	if size < 0 || size > 500 {
		return 0, 0, apperr.Invalid("page_size", "must be between 0 and 500, got %d", size)
	}
	limit = int64(size)
	if limit == 0 {
		limit = 100
	}
	if token != "" {
		raw, derr := base64.RawURLEncoding.DecodeString(token)
		n, perr := strconv.ParseInt(string(raw), 10, 64)
		if derr != nil || perr != nil || n < 0 {
			return 0, 0, apperr.Invalid("page_token", "is not a token this service issued; start again without it")
		}
		skip = n
	}
	return skip, limit, nil
}

func nextToken(skip, limit int64, got int) string {
	if int64(got) < limit {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(skip+limit, 10)))
}

// ListStaffMembers lists the caller's organisation's directory.
func (s *Server) ListStaffMembers(ctx context.Context, req *notifyv1.ListStaffMembersRequest) (*notifyv1.ListStaffMembersResponse, error) {
	who, _, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	skip, limit, err := offsetPage(req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	filter := bson.D{}
	for k, v := range map[string]string{"team": req.GetTeam(), "roles": req.GetRole(), "line_manager_id": req.GetLineManagerId()} {
		if v != "" {
			filter = append(filter, bson.E{Key: k, Value: v})
		}
	}
	all, err := s.staff.List(ctx, who.Organization, filter)
	if err != nil {
		return nil, err
	}
	page := all[min(skip, int64(len(all))):min(skip+limit, int64(len(all)))]
	resp := &notifyv1.ListStaffMembersResponse{NextPageToken: nextToken(skip, limit, len(page))}
	if skip+limit >= int64(len(all)) {
		resp.NextPageToken = ""
	}
	for _, m := range page {
		resp.StaffMembers = append(resp.StaffMembers, memberToProto(m))
	}
	return resp, nil
}

var deliveryName = regexp.MustCompile(`^deliveries/([A-Za-z0-9._-]{1,200})$`)

func deliveryToProto(d delivery.Delivery) *notifyv1.Delivery {
	out := &notifyv1.Delivery{
		Name: "deliveries/" + d.ID, Organization: d.Organization, EventId: d.EventID, EventType: d.EventType,
		Recipient: d.Recipient, RecipientEmail: d.RecipientEmail, Cc: d.Cc, Reason: d.Reason, SubjectLine: d.Subject,
		Reference: d.Reference, Status: notifyv1.DeliveryStatus(notifyv1.DeliveryStatus_value["DELIVERY_STATUS_"+strings.ToUpper(d.Status)]),
		Attempts: int32(d.Attempts), LastError: d.LastError, CreateTime: timestamppb.New(d.CreateTime), UpdateTime: timestamppb.New(d.UpdateTime),
		MessageId: d.MessageID(),
	}
	if !d.NextAttemptTime.IsZero() && (d.Status == delivery.StatusQueued || d.Status == delivery.StatusFailed) {
		out.NextAttemptTime = timestamppb.New(d.NextAttemptTime)
	}
	if !d.SendTime.IsZero() {
		out.SendTime = timestamppb.New(d.SendTime)
	}
	return out
}

func (s *Server) requireDeliveryManager(who identity.Identity, p policy.Profile) error {
	if !p.Allows(policy.ManageDeliveries, who.Roles) {
		return apperr.Denied("only %s may read delivery records", strings.Join(p.RolesFor(policy.ManageDeliveries), " or "))
	}
	return nil
}

// GetDelivery returns one delivery record.
func (s *Server) GetDelivery(ctx context.Context, req *notifyv1.GetDeliveryRequest) (*notifyv1.Delivery, error) {
	who, p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	m := deliveryName.FindStringSubmatch(req.GetName())
	if m == nil {
		return nil, apperr.Invalid("name", "must be a delivery name such as deliveries/abc, got %q", req.GetName())
	}
	if err := s.requireDeliveryManager(who, p); err != nil {
		return nil, err
	}
	d, err := s.deliveries.Get(ctx, who.Organization, m[1])
	if err != nil {
		return nil, err
	}
	return deliveryToProto(d), nil
}

// ListDeliveries lists delivery records of the caller's organisation.
func (s *Server) ListDeliveries(ctx context.Context, req *notifyv1.ListDeliveriesRequest) (*notifyv1.ListDeliveriesResponse, error) {
	who, p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.requireDeliveryManager(who, p); err != nil {
		return nil, err
	}
	skip, limit, err := offsetPage(req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	status := ""
	if req.GetStatus() != notifyv1.DeliveryStatus_DELIVERY_STATUS_UNSPECIFIED {
		status = strings.ToLower(strings.TrimPrefix(req.GetStatus().String(), "DELIVERY_STATUS_"))
	}
	list, err := s.deliveries.List(ctx, delivery.Query{
		Organization: who.Organization, Status: status, EventType: req.GetEventType(), Recipient: req.GetRecipient(),
		EventID: req.GetEventId(), Reference: req.GetReference(), Limit: limit, Skip: skip,
	})
	if err != nil {
		return nil, err
	}
	resp := &notifyv1.ListDeliveriesResponse{NextPageToken: nextToken(skip, limit, len(list))}
	for _, d := range list {
		resp.Deliveries = append(resp.Deliveries, deliveryToProto(d))
	}
	return resp, nil
}
