package staffdir_test

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
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/contactguard/contactguard/incident-svc/internal/staffdir"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/directory"
	"github.com/contactguard/contactguard/platform/grpcserver"
	"github.com/contactguard/contactguard/platform/identity"
	notifyv1 "github.com/contactguard/contactguard/proto/notify/v1"
)

var key = []byte(strings.Repeat("k", 32))

// fakeNotify answers GetStaffMember from the seed for the asserted
// organisation, as notify-svc does.
type fakeNotify struct {
	notifyv1.UnimplementedNotifyServiceServer
	callers []identity.Identity
}

func (f *fakeNotify) GetStaffMember(ctx context.Context, req *notifyv1.GetStaffMemberRequest) (*notifyv1.StaffMember, error) {
	who, _ := identity.FromContext(ctx)
	f.callers = append(f.callers, who)
	m, ok := directory.Find(req.GetId())
	if !ok || m.Organization != who.Organization {
		return nil, apperr.NotFound("staff member %s not found", req.GetId())
	}
	return &notifyv1.StaffMember{Id: m.ID, Organization: m.Organization, LineManagerId: m.LineManagerID, Active: true}, nil
}

func serve(t *testing.T, fake *fakeNotify) (*staffdir.Notify, func()) {
	t.Helper()
	srv := grpcserver.New(grpcserver.Options{
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Identity: identity.Codec{Key: key, Audience: identity.AudienceServices},
		Registry: prometheus.NewRegistry(),
	})
	notifyv1.RegisterNotifyServiceServer(srv.Server, fake)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.ServeListener(ctx, lis); close(done) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(); conn.Close() })
	return staffdir.New(notifyv1.NewNotifyServiceClient(conn), identity.Codec{Key: key, Audience: identity.AudienceServices}),
		func() { stop(); <-done }
}

func TestMemberAsksNotifySvcInTheServicesName(t *testing.T) {
	fake := &fakeNotify{}
	dir, stop := serve(t, fake)
	ctx := context.Background()
	m, err := dir.Member(ctx, "highland-council", "hc-cso-2")
	if err != nil || m.ID != "hc-cso-2" || m.LineManager != "hc-tl-1" {
		t.Fatalf("Member = %+v, %v", m, err)
	}
	if len(fake.callers) != 1 || fake.callers[0].StaffID != staffdir.ServiceStaffID || fake.callers[0].Organization != "highland-council" || len(fake.callers[0].Roles) != 0 {
		t.Errorf("asserted identity %+v", fake.callers)
	}
	// Another organisation's staff and unknown ids are not found.
	for _, id := range []string{"vb-staff-1", "hc-nobody"} {
		if _, err := dir.Member(ctx, "highland-council", id); !errors.Is(err, apperr.ErrNotFound) {
			t.Errorf("%s: %v", id, err)
		}
	}
	// notify-svc gone: unavailable, said plainly.
	stop()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = dir.Member(ctx, "highland-council", "hc-cso-2")
	if !errors.Is(err, apperr.ErrUnavailable) {
		t.Fatalf("notify-svc down: %v", err)
	}
}
