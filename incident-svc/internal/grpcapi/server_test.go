package grpcapi_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/contactguard/contactguard/incident-svc/internal/app"
	"github.com/contactguard/contactguard/incident-svc/internal/grpcapi"
	"github.com/contactguard/contactguard/incident-svc/internal/store"
	"github.com/contactguard/contactguard/platform/directory"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/grpcserver"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/testenv"
	incidentv1 "github.com/contactguard/contactguard/proto/incident/v1"
)

var identityKey = []byte(strings.Repeat("k", 32))

type fixture struct {
	client    incidentv1.IncidentServiceClient
	events    *eventlog.Store
	incidents *store.Incidents
	svc       *app.Service
	subjects  *store.Subjects
	subjectUC *app.Subjects
	db        *mongo.Database
}

// start runs incident-svc's gRPC server over loopback against a fresh
// database, as main.go wires it.
func start(t *testing.T) fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	db := testenv.Mongo(t)
	events := eventlog.NewStore(db, "incident_events")
	incidents := store.NewIncidents(db)
	if err := events.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if err := incidents.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	subjects := store.NewSubjects(db)
	if err := subjects.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	svc := app.New(events, incidents, subjects)
	subjectUC := app.NewSubjects(events, subjects)
	srv := grpcserver.New(grpcserver.Options{
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Identity: identity.Codec{Key: identityKey, Audience: identity.AudienceServices},
		Registry: prometheus.NewRegistry(),
	})
	incidentv1.RegisterIncidentServiceServer(srv.Server, grpcapi.New(svc).WithSubjects(subjectUC).WithPublicNamings(publicNamingsFor(t, db, events)))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeListener(ctx, lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return fixture{client: incidentv1.NewIncidentServiceClient(conn), events: events, incidents: incidents, svc: svc,
		subjects: subjects, subjectUC: subjectUC, db: db}
}

// as returns a context acting as the seeded staff member id.
func as(t *testing.T, staffID string) context.Context {
	t.Helper()
	m, ok := directory.Find(staffID)
	if !ok {
		t.Fatalf("no staff %s in the seed", staffID)
	}
	codec := identity.Codec{Key: identityKey, Audience: identity.AudienceServices, TTL: time.Minute}
	tok, err := codec.Sign(identity.Identity{StaffID: m.ID, Organization: m.Organization, Roles: m.Roles})
	if err != nil {
		t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(context.Background(), identity.MetadataKey, tok)
}

func report(description string) *incidentv1.Incident {
	return &incidentv1.Incident{
		Categories:  []incidentv1.Category{incidentv1.Category_CATEGORY_ABUSE},
		Channel:     incidentv1.Channel_CHANNEL_PHONE,
		OccurTime:   timestamppb.New(time.Now().Add(-time.Hour)),
		Location:    "Phone line",
		Description: description,
	}
}

func wantCode(t *testing.T, err error, code codes.Code) *status.Status {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("got %v %q, want %v", st.Code(), st.Message(), code)
	}
	return st
}

func TestCreateGetList(t *testing.T) {
	f := start(t)
	reporter := as(t, "hc-cso-1")
	created, err := f.client.CreateIncident(reporter, &incidentv1.CreateIncidentRequest{Incident: report("Caller swore repeatedly.")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.GetReference(), "HC-") || created.GetReporter() != "hc-cso-1" ||
		created.GetOrganization() != "highland-council" || created.GetState() != incidentv1.Incident_STATE_REPORTED || created.GetVersion() != 1 {
		t.Fatalf("created = %v", created)
	}
	got, err := f.client.GetIncident(reporter, &incidentv1.GetIncidentRequest{Name: created.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetReference() != created.GetReference() || got.GetDescription() != "Caller swore repeatedly." {
		t.Errorf("got = %v", got)
	}
	// The line manager reviews incidents, so may read it.
	if _, err := f.client.GetIncident(as(t, "hc-tl-1"), &incidentv1.GetIncidentRequest{Name: created.GetName()}); err != nil {
		t.Errorf("team leader: %v", err)
	}
}

func TestListPaginatesNewestFirstWithinTheOrganisation(t *testing.T) {
	f := start(t)
	reporter := as(t, "hc-cso-1")
	var refs []string
	for i := range 5 {
		inc, err := f.client.CreateIncident(reporter, &incidentv1.CreateIncidentRequest{Incident: report("incident " + string(rune('A'+i)))})
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, inc.GetReference())
	}
	if _, err := f.client.CreateIncident(as(t, "vb-staff-1"), &incidentv1.CreateIncidentRequest{Incident: report("board incident")}); err != nil {
		t.Fatal(err)
	}
	var seen []string
	token := ""
	for range 10 {
		resp, err := f.client.ListIncidents(reporter, &incidentv1.ListIncidentsRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, inc := range resp.GetIncidents() {
			if inc.GetOrganization() != "highland-council" {
				t.Fatalf("another organisation's incident listed: %v", inc.GetReference())
			}
			seen = append(seen, inc.GetReference())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(seen) != 5 || seen[0] != refs[4] || seen[4] != refs[0] {
		t.Errorf("listed %v, want the five council incidents newest first (%v)", seen, refs)
	}
	board, err := f.client.ListIncidents(as(t, "vb-lm-1"), &incidentv1.ListIncidentsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(board.GetIncidents()) != 1 || board.GetIncidents()[0].GetOrganization() != "valuation-board" {
		t.Errorf("board manager sees %v", board.GetIncidents())
	}
}

func TestNoQueryCrossesOrganisations(t *testing.T) {
	f := start(t)
	inc, err := f.client.CreateIncident(as(t, "hc-cso-1"), &incidentv1.CreateIncidentRequest{Incident: report("council incident")})
	if err != nil {
		t.Fatal(err)
	}
	// The board's most senior roles cannot read or list the council's incident.
	for _, staff := range []string{"vb-ass-1", "vb-smt-1", "vb-admin-1"} {
		_, err := f.client.GetIncident(as(t, staff), &incidentv1.GetIncidentRequest{Name: inc.GetName()})
		wantCode(t, err, codes.NotFound)
		list, err := f.client.ListIncidents(as(t, staff), &incidentv1.ListIncidentsRequest{})
		if err != nil || len(list.GetIncidents()) != 0 {
			t.Errorf("%s lists %v, %v", staff, list.GetIncidents(), err)
		}
	}
	// Reporting for another organisation is refused.
	in := report("x")
	in.Organization = "valuation-board"
	_, err = f.client.CreateIncident(as(t, "hc-cso-1"), &incidentv1.CreateIncidentRequest{Incident: in})
	wantCode(t, err, codes.PermissionDenied)
}

// C76: only those who need it. Staff not involved do not read an incident;
// they list only their own.
func TestUninvolvedStaffCannotReadAnIncident(t *testing.T) {
	f := start(t)
	in := report("involving a colleague")
	in.StaffInvolved = []string{"hc-sc-1"}
	inc, err := f.client.CreateIncident(as(t, "hc-cso-1"), &incidentv1.CreateIncidentRequest{Incident: in})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.client.GetIncident(as(t, "hc-cso-2"), &incidentv1.GetIncidentRequest{Name: inc.GetName()})
	wantCode(t, err, codes.PermissionDenied)
	if _, err := f.client.GetIncident(as(t, "hc-sc-1"), &incidentv1.GetIncidentRequest{Name: inc.GetName()}); err != nil {
		t.Errorf("staff involved: %v", err)
	}
	list, err := f.client.ListIncidents(as(t, "hc-cso-2"), &incidentv1.ListIncidentsRequest{})
	if err != nil || len(list.GetIncidents()) != 0 {
		t.Errorf("uninvolved staff list %v, %v", list.GetIncidents(), err)
	}
	list, err = f.client.ListIncidents(as(t, "hc-sc-1"), &incidentv1.ListIncidentsRequest{})
	if err != nil || len(list.GetIncidents()) != 1 {
		t.Errorf("involved staff list %v, %v", list.GetIncidents(), err)
	}
}

func TestRetriedReportWithRequestIDIsRecordedOnce(t *testing.T) {
	f := start(t)
	ctx := as(t, "hc-cso-1")
	req := &incidentv1.CreateIncidentRequest{Incident: report("once"), RequestId: "form-submission-42"}
	a, err := f.client.CreateIncident(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.client.CreateIncident(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if a.GetName() != b.GetName() {
		t.Errorf("retry created a second incident: %s and %s", a.GetName(), b.GetName())
	}
	list, _ := f.client.ListIncidents(ctx, &incidentv1.ListIncidentsRequest{})
	if len(list.GetIncidents()) != 1 {
		t.Errorf("%d incidents listed", len(list.GetIncidents()))
	}
}

func TestBadRequestsAreInvalidArgumentNamingTheField(t *testing.T) {
	f := start(t)
	ctx := as(t, "hc-cso-1")
	tests := []struct {
		name  string
		req   *incidentv1.CreateIncidentRequest
		field string
	}{
		{"no incident", &incidentv1.CreateIncidentRequest{}, "incident"},
		{"empty description", &incidentv1.CreateIncidentRequest{Incident: report("")}, "incident.description"},
		{"unspecified category", func() *incidentv1.CreateIncidentRequest {
			in := report("x")
			in.Categories = []incidentv1.Category{incidentv1.Category_CATEGORY_UNSPECIFIED}
			return &incidentv1.CreateIncidentRequest{Incident: in}
		}(), "incident.categories"},
		{"unknown category number", func() *incidentv1.CreateIncidentRequest {
			in := report("x")
			in.Categories = []incidentv1.Category{99}
			return &incidentv1.CreateIncidentRequest{Incident: in}
		}(), "incident.categories"},
		{"future date", func() *incidentv1.CreateIncidentRequest {
			in := report("x")
			in.OccurTime = timestamppb.New(time.Now().Add(48 * time.Hour))
			return &incidentv1.CreateIncidentRequest{Incident: in}
		}(), "incident.occur_time"},
		{"over-long text", &incidentv1.CreateIncidentRequest{Incident: report(strings.Repeat("a", 5001))}, "incident.description"},
		{"over-long request id", &incidentv1.CreateIncidentRequest{Incident: report("x"), RequestId: strings.Repeat("r", 101)}, "request_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.client.CreateIncident(ctx, tt.req)
			st := wantCode(t, err, codes.InvalidArgument)
			if !strings.HasPrefix(st.Message(), tt.field) {
				t.Errorf("message %q does not name %s", st.Message(), tt.field)
			}
			if tt.field == "incident" {
				return
			}
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok && br.GetFieldViolations()[0].GetField() == tt.field {
					return
				}
			}
			t.Errorf("no BadRequest detail naming %s", tt.field)
		})
	}
	_, err := f.client.GetIncident(ctx, &incidentv1.GetIncidentRequest{Name: "not-a-name"})
	wantCode(t, err, codes.InvalidArgument)
	_, err = f.client.GetIncident(ctx, &incidentv1.GetIncidentRequest{Name: "incidents/doesnotexist"})
	wantCode(t, err, codes.NotFound)
	_, err = f.client.ListIncidents(ctx, &incidentv1.ListIncidentsRequest{PageToken: "!!!"})
	wantCode(t, err, codes.InvalidArgument)
	_, err = f.client.ListIncidents(ctx, &incidentv1.ListIncidentsRequest{PageSize: 501})
	wantCode(t, err, codes.InvalidArgument)
	in := report("x")
	in.Subject = "subjects/nobody"
	_, err = f.client.CreateIncident(ctx, &incidentv1.CreateIncidentRequest{Incident: in})
	wantCode(t, err, codes.NotFound)
}

func TestCallsWithoutIdentityAreRefused(t *testing.T) {
	f := start(t)
	_, err := f.client.ListIncidents(context.Background(), &incidentv1.ListIncidentsRequest{})
	wantCode(t, err, codes.Unauthenticated)
	_, err = f.client.ReviewIncident(context.Background(), &incidentv1.ReviewIncidentRequest{Name: "incidents/x"})
	wantCode(t, err, codes.Unauthenticated)
}

// A crash between appending the event and updating the read model leaves
// the list behind; Rebuild (run at start) repairs it from the events.
func TestRebuildRepairsTheReadModel(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	if _, err := f.client.CreateIncident(as(t, "hc-cso-1"), &incidentv1.CreateIncidentRequest{Incident: report("listed")}); err != nil {
		t.Fatal(err)
	}
	// An event appended with no read-model update, as after a crash.
	orphan, err := eventlog.Next(nil, eventlog.Change{
		AggregateType: "incident", AggregateID: "orphan1", Type: "incident.reported", Organization: "highland-council",
		Actor: "hc-cso-1", Time: time.Now(), Data: map[string]any{"reference": "HC-2026-ORPHAN", "reporter": "hc-cso-1",
			"categories": []string{"abuse"}, "channel": "phone", "occur_time": time.Now().Add(-time.Hour), "description": "lost"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.events.Append(ctx, orphan); err != nil {
		t.Fatal(err)
	}
	latest, err := f.events.LatestSeqs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	projected, err := f.incidents.Versions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n, err := f.svc.Rebuild(ctx, latest, projected)
	if err != nil || n != 1 {
		t.Fatalf("Rebuild = %d, %v; want 1 repaired", n, err)
	}
	list, err := f.client.ListIncidents(as(t, "hc-tl-1"), &incidentv1.ListIncidentsRequest{})
	if err != nil || len(list.GetIncidents()) != 2 {
		t.Fatalf("after rebuild: %v, %v", list.GetIncidents(), err)
	}
}
