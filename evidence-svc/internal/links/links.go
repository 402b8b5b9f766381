// Package links asks incident-svc and restriction-svc about the records an
// evidence item belongs to, and notify-svc's staff directory about line
// managers, acting as the caller: the caller's signed
// identity is forwarded, so those services apply their own rules (another
// organisation's record is not found; staff who may not read it are denied).
package links

import (
	"context"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/contactguard/contactguard/evidence-svc/internal/app"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/grpcserver"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/logging"
	incidentv1 "github.com/contactguard/contactguard/proto/incident/v1"
	notifyv1 "github.com/contactguard/contactguard/proto/notify/v1"
	restrictionv1 "github.com/contactguard/contactguard/proto/restriction/v1"
)

// Client implements app.Links over gRPC.
type Client struct {
	incidents    incidentv1.IncidentServiceClient
	restrictions restrictionv1.RestrictionServiceClient
	staff        notifyv1.NotifyServiceClient
	conns        []*grpc.ClientConn
	timeout      time.Duration
}

// Dial returns a client of incident-svc at incidentAddr, restriction-svc
// at restrictionAddr and notify-svc at notifyAddr. Connections are lazy: a
// service that is down makes its checks answer Unavailable, not the start
// fail.
func Dial(incidentAddr, restrictionAddr, notifyAddr string, timeout time.Duration) (*Client, error) {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	var conns []*grpc.ClientConn
	for _, addr := range []string{incidentAddr, restrictionAddr, notifyAddr} {
		conn, err := grpc.NewClient(addr, opts...)
		if err != nil {
			for _, c := range conns {
				_ = c.Close()
			}
			return nil, err
		}
		conns = append(conns, conn)
	}
	return &Client{
		incidents: incidentv1.NewIncidentServiceClient(conns[0]), restrictions: restrictionv1.NewRestrictionServiceClient(conns[1]),
		staff: notifyv1.NewNotifyServiceClient(conns[2]), conns: conns, timeout: timeout,
	}, nil
}

// Close closes the connections.
func (c *Client) Close() {
	for _, conn := range c.conns {
		_ = conn.Close()
	}
}

// outgoing returns a context for a call made as the caller, with its
// request id and a time limit.
func (c *Client) outgoing(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx = identity.Forward(ctx)
	if rid := logging.RequestID(ctx); rid != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, grpcserver.RequestIDKey, rid)
	}
	return context.WithTimeout(ctx, c.timeout)
}

// convert turns the owning service's answer into the error kinds the use
// cases decide on.
func convert(service, name string, err error) error {
	st := status.Convert(err)
	switch st.Code() {
	case codes.NotFound:
		return apperr.NotFound("%s", st.Message())
	case codes.PermissionDenied:
		return apperr.Denied("%s", st.Message())
	case codes.Unimplemented:
		return &app.UnavailableError{Service: service, Name: name, Reason: "it answered Unimplemented: not built yet", NotBuilt: true}
	}
	return &app.UnavailableError{Service: service, Name: name, Reason: "it answered " + st.Code().String() + ": " + st.Message()}
}

// Incident returns who reported and who was involved in an incident.
func (c *Client) Incident(ctx context.Context, name string) (app.IncidentFacts, error) {
	ctx, cancel := c.outgoing(ctx)
	defer cancel()
	inc, err := c.incidents.GetIncident(ctx, &incidentv1.GetIncidentRequest{Name: name})
	if err != nil {
		return app.IncidentFacts{}, convert("incident-svc", name, err)
	}
	return app.IncidentFacts{Reporter: inc.GetReporter(), StaffInvolved: inc.GetStaffInvolved(), Reviewer: inc.GetReview().GetReviewer()}, nil
}

// IncidentsOf lists the incidents staffID reported or is involved in.
func (c *Client) IncidentsOf(ctx context.Context, staffID string) ([]string, error) {
	var names []string
	token := ""
	for range 20 { // at most 10,000 incidents
		cctx, cancel := c.outgoing(ctx)
		resp, err := c.incidents.ListIncidents(cctx, &incidentv1.ListIncidentsRequest{StaffMember: staffID, PageSize: 500, PageToken: token})
		cancel()
		if err != nil {
			return nil, convert("incident-svc", "the incidents of "+staffID, err)
		}
		for _, inc := range resp.GetIncidents() {
			names = append(names, inc.GetName())
		}
		token = resp.GetNextPageToken()
		if token == "" {
			break
		}
	}
	return names, nil
}

// Restriction returns a restriction's state (lower case) and its appeal
// officers.
func (c *Client) Restriction(ctx context.Context, name string) (app.RestrictionFacts, error) {
	ctx, cancel := c.outgoing(ctx)
	defer cancel()
	r, err := c.restrictions.GetRestriction(ctx, &restrictionv1.GetRestrictionRequest{Name: name})
	if err != nil {
		return app.RestrictionFacts{}, convert("restriction-svc", name, err)
	}
	f := app.RestrictionFacts{State: strings.ToLower(strings.TrimPrefix(r.GetState().String(), "STATE_")), Decider: r.GetDecision().GetDecidedBy()}
	for _, a := range r.GetAppeals() {
		if a.GetAppealOfficer() != "" {
			f.AppealOfficers = append(f.AppealOfficers, a.GetAppealOfficer())
		}
	}
	return f, nil
}

// LineManagerOf returns the line manager of staffID in notify-svc's staff
// directory. A staff member the directory does not hold has none.
func (c *Client) LineManagerOf(ctx context.Context, staffID string) (string, error) {
	ctx, cancel := c.outgoing(ctx)
	defer cancel()
	m, err := c.staff.GetStaffMember(ctx, &notifyv1.GetStaffMemberRequest{Id: staffID})
	if status.Code(err) == codes.NotFound {
		return "", nil
	}
	if err != nil {
		return "", convert("notify-svc", "the line manager of "+staffID, err)
	}
	return m.GetLineManagerId(), nil
}

// PublicNaming returns who reported a staff-named-publicly case and who was
// named.
func (c *Client) PublicNaming(ctx context.Context, name string) (app.NamingFacts, error) {
	ctx, cancel := c.outgoing(ctx)
	defer cancel()
	n, err := c.incidents.GetPublicNaming(ctx, &incidentv1.GetPublicNamingRequest{Name: name})
	if err != nil {
		return app.NamingFacts{}, convert("incident-svc", name, err)
	}
	return app.NamingFacts{Reporter: n.GetReporter(), StaffMember: n.GetStaffMember()}, nil
}
