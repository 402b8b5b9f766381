package grpcserver_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/grpcserver"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/logging"
)

// probe is a tiny hand-written service so the tests need no generated code.
// Its one method acts on the request value:
//
//	"whoami"  → "<staff>|<org>|<roles>|<request id>" as the handler sees them
//	"panic"   → panics
//	"invalid" → apperr.Invalid("x.y", ...)
//	"secret"  → an unexpected error whose text must not reach the caller
type probeServer interface {
	Call(context.Context, *wrapperspb.StringValue) (*wrapperspb.StringValue, error)
}

type probe struct{}

func (probe) Call(ctx context.Context, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
	switch in.GetValue() {
	case "panic":
		panic("boom")
	case "invalid":
		return nil, apperr.Invalid("x.y", "must be a y")
	case "secret":
		return nil, errors.New("mongo: socket closed at 10.0.0.1")
	}
	id, ok := identity.FromContext(ctx)
	who := "anonymous"
	if ok {
		who = id.StaffID + "|" + id.Organization + "|" + strings.Join(id.Roles, ",")
	}
	return wrapperspb.String(who + "|" + logging.RequestID(ctx)), nil
}

const (
	callMethod    = "/test.v1.Probe/Call"
	publicMethod  = "/test.v1.Probe/Open"
	machineMethod = "/test.v1.Probe/Machine"
)

func unaryHandler(full string) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
		in := new(wrapperspb.StringValue)
		if err := dec(in); err != nil {
			return nil, err
		}
		handler := func(ctx context.Context, req any) (any, error) {
			return srv.(probeServer).Call(ctx, req.(*wrapperspb.StringValue))
		}
		if interceptor == nil {
			return handler(ctx, in)
		}
		return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: full}, handler)
	}
}

var probeDesc = grpc.ServiceDesc{
	ServiceName: "test.v1.Probe",
	HandlerType: (*probeServer)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Call", Handler: unaryHandler(callMethod)},
		{MethodName: "Open", Handler: unaryHandler(publicMethod)},
		{MethodName: "Machine", Handler: unaryHandler(machineMethod)},
	},
}

var (
	serviceKey = []byte("0123456789abcdef0123456789abcdef")
	otherKey   = []byte("fedcba9876543210fedcba9876543210")
	services   = identity.Codec{Key: serviceKey, Audience: identity.AudienceServices, TTL: time.Minute}
)

// start serves a grpcserver with the probe on 127.0.0.1:0 and returns a
// client connection to it.
func start(t *testing.T) *grpc.ClientConn {
	t.Helper()
	srv := grpcserver.New(grpcserver.Options{
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		Identity:       services,
		Public:         []string{publicMethod},
		Registry:       prometheus.NewRegistry(),
		MachineMethods: []string{machineMethod},
	})
	srv.RegisterService(&probeDesc, probe{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeListener(ctx, lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeListener: %v", err)
		}
	})
	return conn
}

func sign(t *testing.T, c identity.Codec, id identity.Identity) string {
	t.Helper()
	tok, err := c.Sign(id)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func call(ctx context.Context, conn *grpc.ClientConn, method, value string, md ...string) (string, error) {
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, md...), 10*time.Second)
	defer cancel()
	out := new(wrapperspb.StringValue)
	err := conn.Invoke(ctx, method, wrapperspb.String(value), out)
	return out.GetValue(), err
}

func TestIdentityIsRequiredAndVerified(t *testing.T) {
	conn := start(t)
	staff := identity.Identity{StaffID: "hc-cso-1", Organization: "highland-council", Roles: []string{"staff"}}
	telephony := identity.Identity{StaffID: "telephony-hc", Organization: "highland-council", Roles: []string{identity.RoleTelephony}}
	expired := services
	expired.Now = func() time.Time { return time.Now().Add(-time.Hour) }
	tests := []struct {
		name   string
		method string
		md     []string
		code   codes.Code
		want   string // response prefix when OK
		msgHas string // part of the status message otherwise
	}{
		{"no identity is refused", callMethod, nil, codes.Unauthenticated, "", "no identity"},
		{"empty identity is refused", callMethod, []string{identity.MetadataKey, ""}, codes.Unauthenticated, "", "no identity"},
		{"garbage identity is refused", callMethod, []string{identity.MetadataKey, "not-a-jwt"}, codes.Unauthenticated, "", "not a JWT"},
		{"identity signed with another key is refused", callMethod,
			[]string{identity.MetadataKey, sign(t, identity.Codec{Key: otherKey, Audience: identity.AudienceServices, TTL: time.Minute}, staff)},
			codes.Unauthenticated, "", "signature"},
		{"bearer token audience is refused as an assertion", callMethod,
			[]string{identity.MetadataKey, sign(t, identity.Codec{Key: serviceKey, Audience: identity.AudienceGateway, TTL: time.Minute}, staff)},
			codes.Unauthenticated, "", "audience"},
		{"expired identity is refused", callMethod, []string{identity.MetadataKey, sign(t, expired, staff)}, codes.Unauthenticated, "", "expired"},
		{"valid identity reaches the handler", callMethod, []string{identity.MetadataKey, sign(t, services, staff)},
			codes.OK, "hc-cso-1|highland-council|staff|", ""},
		{"public method needs no identity", publicMethod, nil, codes.OK, "anonymous|", ""},
		{"public method still verifies an identity it is given", publicMethod, []string{identity.MetadataKey, sign(t, services, staff)},
			codes.OK, "hc-cso-1|highland-council|staff|", ""},
		{"machine client is refused a method not listed for it", callMethod, []string{identity.MetadataKey, sign(t, services, telephony)},
			codes.PermissionDenied, "", "machine client"},
		{"machine client may call its listed method", machineMethod, []string{identity.MetadataKey, sign(t, services, telephony)},
			codes.OK, "telephony-hc|highland-council|telephony|", ""},
		{"machine client may call an open method (health, reflection)", publicMethod, []string{identity.MetadataKey, sign(t, services, telephony)},
			codes.OK, "telephony-hc|", ""},
		{"public method refuses a forged identity", publicMethod, []string{identity.MetadataKey, "a.b.c"}, codes.Unauthenticated, "", "identity refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := call(context.Background(), conn, tt.method, "whoami", tt.md...)
			st := status.Convert(err)
			if st.Code() != tt.code {
				t.Fatalf("code = %v (%q), want %v", st.Code(), st.Message(), tt.code)
			}
			if tt.code == codes.OK && !strings.HasPrefix(got, tt.want) {
				t.Errorf("handler saw %q, want prefix %q", got, tt.want)
			}
			if tt.code != codes.OK && !strings.Contains(st.Message(), tt.msgHas) {
				t.Errorf("message %q does not say %q", st.Message(), tt.msgHas)
			}
		})
	}
}

func TestHealthNeedsNoIdentity(t *testing.T) {
	conn := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("health check: %v", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("status = %v", resp.GetStatus())
	}
}

func TestHandlerErrorsBecomeStatuses(t *testing.T) {
	conn := start(t)
	md := []string{identity.MetadataKey, sign(t, services, identity.Identity{StaffID: "hc-cso-1", Organization: "highland-council"})}
	tests := []struct {
		name  string
		value string
		code  codes.Code
		msg   string
		field string // BadRequest field violation expected, if any
	}{
		{"panic is Internal without detail", "panic", codes.Internal, "internal error", ""},
		{"unexpected error is Internal without detail", "secret", codes.Internal, "internal error", ""},
		{"invalid argument names the field", "invalid", codes.InvalidArgument, "x.y: must be a y", "x.y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := call(context.Background(), conn, callMethod, tt.value, md...)
			st := status.Convert(err)
			if st.Code() != tt.code || st.Message() != tt.msg {
				t.Fatalf("got %v %q, want %v %q", st.Code(), st.Message(), tt.code, tt.msg)
			}
			var violations []*errdetails.BadRequest_FieldViolation
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					violations = append(violations, br.GetFieldViolations()...)
				}
			}
			switch {
			case tt.field == "" && len(violations) > 0:
				t.Errorf("unexpected field violations %v", violations)
			case tt.field != "" && (len(violations) != 1 || violations[0].GetField() != tt.field || violations[0].GetDescription() != "must be a y"):
				t.Errorf("field violations = %v, want one for %q", violations, tt.field)
			}
			// The server keeps serving after any failure, a panic included.
			if got, err := call(context.Background(), conn, callMethod, "whoami", md...); err != nil || !strings.HasPrefix(got, "hc-cso-1|") {
				t.Errorf("call after failure: %q, %v", got, err)
			}
		})
	}
}

func TestRequestIDComesFromMetadata(t *testing.T) {
	conn := start(t)
	tok := sign(t, services, identity.Identity{StaffID: "hc-cso-1", Organization: "highland-council"})
	long := strings.Repeat("r", 65)
	tests := []struct {
		name string
		md   []string
		keep bool // the handler sees exactly the sent id
	}{
		{"sent id is used", []string{grpcserver.RequestIDKey, "req-123"}, true},
		{"id of 64 characters is used", []string{grpcserver.RequestIDKey, strings.Repeat("a", 64)}, true},
		{"missing id is generated", nil, false},
		{"overlong id is replaced", []string{grpcserver.RequestIDKey, long}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := call(context.Background(), conn, callMethod, "whoami", append(tt.md, identity.MetadataKey, tok)...)
			if err != nil {
				t.Fatal(err)
			}
			rid := got[strings.LastIndex(got, "|")+1:]
			if tt.keep {
				if rid != tt.md[1] {
					t.Errorf("handler saw request id %q, want %q", rid, tt.md[1])
				}
				return
			}
			if len(rid) != 16 {
				t.Errorf("handler saw request id %q, want a generated 16-digit id", rid)
			}
		})
	}
}
