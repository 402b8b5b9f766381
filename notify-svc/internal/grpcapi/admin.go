package grpcapi

import (
	"bytes"
	"context"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/contactguard/contactguard/notify-svc/internal/staff"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/policy"
	notifyv1 "github.com/contactguard/contactguard/proto/notify/v1"
)

// MaxImportBytes bounds an uploaded CSV file.
const MaxImportBytes = 8 << 20

// ImportStaff imports the organisation's staff from an HR system's CSV
// export. A malformed row is reported with its line number and nothing is
// applied; importing the same file again changes nothing.
func (s *Server) ImportStaff(ctx context.Context, req *notifyv1.ImportStaffRequest) (*notifyv1.ImportStaffResponse, error) {
	who, p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if !p.Allows(policy.ImportStaff, who.Roles) {
		return nil, apperr.Denied("only %s may import the staff directory", strings.Join(p.RolesFor(policy.ImportStaff), " or "))
	}
	if len(req.GetCsv()) > MaxImportBytes {
		return nil, apperr.Invalid("csv", "is %d bytes; at most %d are accepted", len(req.GetCsv()), MaxImportBytes)
	}
	current, err := s.staff.List(ctx, who.Organization, nil)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, m := range current {
		known[m.ID] = true
	}
	members, err := staff.ParseCSV(bytes.NewReader(req.GetCsv()), p, func(id string) bool { return known[id] })
	if err != nil {
		return nil, err
	}
	resp := &notifyv1.ImportStaffResponse{Rows: int32(len(members))}
	if req.GetValidateOnly() {
		return resp, nil
	}
	res, err := s.staff.Import(ctx, who.Organization, members)
	if err != nil {
		return nil, err
	}
	resp.Created, resp.Updated, resp.Unchanged = int32(res.Created), int32(res.Updated), int32(res.Unchanged)
	return resp, nil
}

// RetryDelivery queues a dead or failed delivery again (admins).
func (s *Server) RetryDelivery(ctx context.Context, req *notifyv1.RetryDeliveryRequest) (*notifyv1.Delivery, error) {
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
	d, err := s.deliveries.Requeue(ctx, who.Organization, m[1], time.Now())
	if err != nil {
		return nil, err
	}
	if s.wake != nil {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return deliveryToProto(d), nil
}

// recipientKinds maps the profile's recipient specs to the API's kinds.
func recipientOf(spec string, cc bool) *notifyv1.Recipient {
	switch {
	case spec == "line_manager":
		return &notifyv1.Recipient{Kind: notifyv1.Recipient_KIND_LINE_MANAGER, Cc: cc}
	case spec == "involved_staff":
		return &notifyv1.Recipient{Kind: notifyv1.Recipient_KIND_STAFF_INVOLVED, Cc: cc}
	case strings.HasPrefix(spec, "role:"):
		return &notifyv1.Recipient{Kind: notifyv1.Recipient_KIND_ROLE, Value: strings.TrimPrefix(spec, "role:"), Cc: cc}
	}
	return &notifyv1.Recipient{Kind: notifyv1.Recipient_KIND_UNSPECIFIED, Value: spec, Cc: cc}
}

// GetNotificationRules returns who the caller's organisation emails for
// which event (the profile's rules, data not code).
func (s *Server) GetNotificationRules(ctx context.Context, req *notifyv1.GetNotificationRulesRequest) (*notifyv1.NotificationRules, error) {
	who, p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	org, ok := strings.CutPrefix(req.GetName(), "organizations/")
	org, ok2 := strings.CutSuffix(org, "/notificationRules")
	if !ok || !ok2 || org == "" {
		return nil, apperr.Invalid("name", "must be organizations/{organization}/notificationRules, got %q", req.GetName())
	}
	if org != who.Organization {
		return nil, apperr.NotFound("no notification rules for %q", org)
	}
	out := &notifyv1.NotificationRules{Name: req.GetName(), Organization: p.ID, Profile: p.Name + " - " + p.Policy}
	types := make([]string, 0, len(p.Notifications))
	for t := range p.Notifications {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		rule := &notifyv1.NotificationRule{EventType: t, Template: t, Delay: durationpb.New(0)}
		for _, spec := range p.Notifications[t].To {
			rule.Recipients = append(rule.Recipients, recipientOf(spec, false))
		}
		for _, spec := range p.Notifications[t].Cc {
			rule.Recipients = append(rule.Recipients, recipientOf(spec, true))
		}
		out.Rules = append(out.Rules, rule)
	}
	return out, nil
}
