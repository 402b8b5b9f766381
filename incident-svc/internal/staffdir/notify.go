// Package staffdir asks notify-svc, which owns the staff directory, about
// members of staff: whether a staff id belongs to an organisation and who
// their line manager is.
package staffdir

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/contactguard/contactguard/incident-svc/internal/app"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/identity"
	notifyv1 "github.com/contactguard/contactguard/proto/notify/v1"
)

// ServiceStaffID is the identity incident-svc asserts when it asks notify-svc.
const ServiceStaffID = "incident-svc"

// Notify is the staff directory behind notify-svc's gRPC API.
type Notify struct {
	client  notifyv1.NotifyServiceClient
	codec   identity.Codec
	timeout time.Duration
	// Logger, if set, records why a lookup failed (the caller is told only
	// that the directory is unavailable).
	Logger *slog.Logger
}

// New returns the directory over client; codec signs the service's
// identity assertion (the services' shared identity key and audience).
func New(client notifyv1.NotifyServiceClient, codec identity.Codec) *Notify {
	if codec.TTL == 0 {
		codec.TTL = time.Minute
	}
	return &Notify{client: client, codec: codec, timeout: 3 * time.Second}
}

// Member returns the staff member id of org, or an apperr NotFound.
func (n *Notify) Member(ctx context.Context, org, id string) (app.StaffMember, error) {
	// The service asks in its own name, scoped to the organisation, so the
	// lookup needs no caller and carries no caller's roles.
	tok, err := n.codec.Sign(identity.Identity{StaffID: ServiceStaffID, Organization: org})
	if err != nil {
		return app.StaffMember{}, err
	}
	ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(ctx, metadata.Pairs(identity.MetadataKey, tok)), n.timeout)
	defer cancel()
	m, err := n.client.GetStaffMember(ctx, &notifyv1.GetStaffMemberRequest{Id: id})
	switch status.Code(err) {
	case codes.OK:
	case codes.NotFound, codes.InvalidArgument:
		return app.StaffMember{}, apperr.NotFound("no staff member %s in %s", id, org)
	default:
		if n.Logger != nil {
			n.Logger.WarnContext(ctx, "staff directory lookup failed", "organization", org, "staff_id", id, "error", err)
		}
		return app.StaffMember{}, &apperr.Error{Kind: apperr.ErrUnavailable,
			Message: "the staff directory cannot be reached just now to check the staff member; try again shortly"}
	}
	if m.GetOrganization() != org || m.GetId() != id {
		return app.StaffMember{}, apperr.NotFound("no staff member %s in %s", id, org)
	}
	return app.StaffMember{ID: m.GetId(), LineManager: m.GetLineManagerId()}, nil
}
