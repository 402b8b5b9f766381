// Package links asks incident-svc and evidence-svc about the incidents and
// evidence items a restriction cites, acting as the caller: the caller's
// signed identity is forwarded, so those services apply their own rules
// (another organisation's record is not found; staff who may not read it
// are denied).
package links

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/grpcserver"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/logging"
	evidencev1 "github.com/contactguard/contactguard/proto/evidence/v1"
	incidentv1 "github.com/contactguard/contactguard/proto/incident/v1"
	"github.com/contactguard/contactguard/restriction-svc/internal/app"
)

var _ app.Links = (*Client)(nil)

// Client implements app.Links over gRPC.
type Client struct {
	incidents incidentv1.IncidentServiceClient
	evidence  evidencev1.EvidenceServiceClient
	conns     []*grpc.ClientConn
	timeout   time.Duration
}

// Dial returns a client of incident-svc at incidentAddr and evidence-svc at
// evidenceAddr. Connections are lazy: a service that is down makes its
// checks answer Unavailable, not the start fail, so start order does not
// matter.
func Dial(incidentAddr, evidenceAddr string, timeout time.Duration) (*Client, error) {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	ic, err := grpc.NewClient(incidentAddr, opts...)
	if err != nil {
		return nil, err
	}
	ec, err := grpc.NewClient(evidenceAddr, opts...)
	if err != nil {
		_ = ic.Close()
		return nil, err
	}
	return &Client{
		incidents: incidentv1.NewIncidentServiceClient(ic), evidence: evidencev1.NewEvidenceServiceClient(ec),
		conns: []*grpc.ClientConn{ic, ec}, timeout: timeout,
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
// cases decide on. A name the owner rejects as malformed names nothing it
// holds, so it is not found.
func convert(service, name string, err error) error {
	st := status.Convert(err)
	switch st.Code() {
	case codes.NotFound, codes.InvalidArgument:
		return apperr.NotFound("%s", st.Message())
	case codes.PermissionDenied:
		return apperr.Denied("%s", st.Message())
	}
	return &app.UnavailableError{Service: service, Name: name, Reason: st.Code().String() + ": " + st.Message()}
}

// Incident checks that the caller may read the incident.
func (c *Client) Incident(ctx context.Context, name string) error {
	ctx, cancel := c.outgoing(ctx)
	defer cancel()
	if _, err := c.incidents.GetIncident(ctx, &incidentv1.GetIncidentRequest{Name: name}); err != nil {
		return convert("incident-svc", name, err)
	}
	return nil
}

// Evidence checks that the caller may read the evidence item's metadata
// (evidence-svc records that read in its access log).
func (c *Client) Evidence(ctx context.Context, name string) error {
	ctx, cancel := c.outgoing(ctx)
	defer cancel()
	if _, err := c.evidence.GetEvidence(ctx, &evidencev1.GetEvidenceRequest{Name: name}); err != nil {
		return convert("evidence-svc", name, err)
	}
	return nil
}
