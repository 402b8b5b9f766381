package grpcapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/contactguard/contactguard/platform/directory"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/grpcserver"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/lease"
	"github.com/contactguard/contactguard/platform/policy"
	"github.com/contactguard/contactguard/platform/testenv"
	evidencev1 "github.com/contactguard/contactguard/proto/evidence/v1"
	incidentv1 "github.com/contactguard/contactguard/proto/incident/v1"
	restrictionv1 "github.com/contactguard/contactguard/proto/restriction/v1"
	"github.com/contactguard/contactguard/restriction-svc/internal/app"
	"github.com/contactguard/contactguard/restriction-svc/internal/domain"
	"github.com/contactguard/contactguard/restriction-svc/internal/grpcapi"
	"github.com/contactguard/contactguard/restriction-svc/internal/index"
	"github.com/contactguard/contactguard/restriction-svc/internal/links"
	"github.com/contactguard/contactguard/restriction-svc/internal/store"
)

var identityKey = []byte(strings.Repeat("k", 32))

// replica is one restriction-svc process as main.go wires it.
type replica struct {
	client  restrictionv1.RestrictionServiceClient
	svc     *app.Service
	index   *index.Index
	events  *eventlog.Store
	restr   *store.Restrictions
	checker *app.Checker
}

type fixture struct {
	db     *mongo.Database
	rdb    *redis.Client
	prefix string
	a, b   *replica // two replicas over the same stores
	logger *slog.Logger
	// incidents and evidence stand in for incident-svc and evidence-svc,
	// which restriction-svc asks about the records staff cite.
	incidents           *fakeIncidents
	evidence            *fakeEvidence
	incidentAddr        string
	evidenceAddr        string
	stopIncidentService func()
	stopEvidenceService func()
}

// key identifies a record of an organisation in the fakes.
func key(org, name string) string { return org + " " + name }

// fakeIncidents answers GetIncident like incident-svc: another
// organisation's incident is not found; staff neither involved nor holding
// the profile's review role (or senior management, auditor) are denied.
type fakeIncidents struct {
	incidentv1.UnimplementedIncidentServiceServer
	mu        sync.Mutex
	incidents map[string]*incidentv1.Incident
}

func (f *fakeIncidents) add(inc *incidentv1.Incident) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.incidents[key(inc.GetOrganization(), inc.GetName())] = inc
}

func (f *fakeIncidents) GetIncident(ctx context.Context, req *incidentv1.GetIncidentRequest) (*incidentv1.Incident, error) {
	who, _ := identity.FromContext(ctx)
	f.mu.Lock()
	inc, ok := f.incidents[key(who.Organization, req.GetName())]
	f.mu.Unlock()
	if !ok {
		return nil, status.Errorf(codes.NotFound, "incident %s not found", req.GetName())
	}
	p, _ := policy.For(who.Organization)
	if inc.GetReporter() != who.StaffID && !slices.Contains(inc.GetStaffInvolved(), who.StaffID) &&
		!p.Allows(policy.ReviewIncident, who.Roles) && !who.HasAnyRole("senior_management", "auditor") {
		return nil, status.Errorf(codes.PermissionDenied, "only staff involved in incident %s, its reviewers and senior management may read it", inc.GetReference())
	}
	return inc, nil
}

// fakeEvidence answers GetEvidence: another organisation's item is not
// found; only its uploader, those who decide restrictions and senior
// management may read it (a simplification of evidence-svc's rules).
type fakeEvidence struct {
	evidencev1.UnimplementedEvidenceServiceServer
	mu    sync.Mutex
	items map[string]*evidencev1.Evidence
}

func (f *fakeEvidence) add(it *evidencev1.Evidence) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.items[key(it.GetOrganization(), it.GetName())] = it
}

func (f *fakeEvidence) GetEvidence(ctx context.Context, req *evidencev1.GetEvidenceRequest) (*evidencev1.Evidence, error) {
	who, _ := identity.FromContext(ctx)
	f.mu.Lock()
	it, ok := f.items[key(who.Organization, req.GetName())]
	f.mu.Unlock()
	if !ok {
		return nil, status.Errorf(codes.NotFound, "evidence %s not found", req.GetName())
	}
	p, _ := policy.For(who.Organization)
	if it.GetUploader() != who.StaffID && !p.Allows(policy.DecideRestriction, who.Roles) && !who.HasAnyRole("senior_management") {
		return nil, status.Errorf(codes.PermissionDenied, "you may not read %s", req.GetName())
	}
	return it, nil
}

// serve runs a gRPC server behind the real interceptors (the identity
// forwarded to it is verified) over loopback; stop stops it (also at cleanup).
func (f *fixture) serve(t *testing.T, register func(*grpc.Server)) (addr string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv := grpcserver.New(grpcserver.Options{
		Logger: f.logger, Identity: identity.Codec{Key: identityKey, Audience: identity.AudienceServices}, Registry: prometheus.NewRegistry(),
	})
	register(srv.Server)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = srv.ServeListener(ctx, lis); close(done) }()
	stop = sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	return lis.Addr().String(), stop
}

func start(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{db: testenv.Mongo(t), logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	f.rdb, f.prefix = testenv.Redis(t)
	f.incidents = &fakeIncidents{incidents: map[string]*incidentv1.Incident{}}
	f.evidence = &fakeEvidence{items: map[string]*evidencev1.Evidence{}}
	f.incidentAddr, f.stopIncidentService = f.serve(t, func(s *grpc.Server) { incidentv1.RegisterIncidentServiceServer(s, f.incidents) })
	f.evidenceAddr, f.stopEvidenceService = f.serve(t, func(s *grpc.Server) { evidencev1.RegisterEvidenceServiceServer(s, f.evidence) })
	// The incident the tests' proposals cite, in each organisation.
	f.incidents.add(&incidentv1.Incident{Name: "incidents/i1", Organization: "highland-council", Reference: "HC-2026-I1", Reporter: "hc-cso-1"})
	f.incidents.add(&incidentv1.Incident{Name: "incidents/i1", Organization: "valuation-board", Reference: "VB-2026-I1", Reporter: "vb-staff-1"})
	f.a = f.replica(t, "a", true)
	f.b = f.replica(t, "b", false)
	return f
}

func (f *fixture) replica(t *testing.T, name string, consume bool) *replica {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	events := eventlog.NewStore(f.db, "restriction_events")
	restrictions := store.NewRestrictions(f.db)
	subjects := store.NewSubjects(f.db)
	if err := events.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if err := restrictions.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	idx := index.New()
	feed := &store.Feed{
		Redis: f.rdb, Channel: f.prefix + ":restriction:changes", Index: idx, Logger: f.logger, ReloadEvery: time.Minute,
		Load: func(ctx context.Context) ([]index.Entry, []index.Subject, error) {
			entries, err := restrictions.Entries(ctx)
			if err != nil {
				return nil, nil, err
			}
			subs, err := subjects.All(ctx)
			return entries, subs, err
		},
	}
	if err := feed.Start(ctx); err != nil {
		t.Fatal(err)
	}
	go func() { _ = feed.Run(ctx) }()
	cited, err := links.Dial(f.incidentAddr, f.evidenceAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cited.Close)
	svc := app.New(events, restrictions, idx, feed, cited)
	checker := app.NewChecker(idx, store.NewCounters(f.rdb, f.prefix), feed.Healthy, domain.FailAllow, time.Second)
	if consume {
		consumer := &eventlog.Consumer{
			Redis: f.rdb, Stream: f.prefix + ":events:incident", Group: "restriction-svc", Name: name,
			Handle: app.NewConsumer(svc, subjects, f.logger).Handle, Logger: f.logger, ClaimIdle: time.Second,
		}
		go func() { _ = consumer.Run(ctx) }()
		relay := &eventlog.Relay{Store: events, Redis: f.rdb, Stream: f.prefix + ":events:restriction", Logger: f.logger, Interval: 100 * time.Millisecond}
		go func() { _ = relay.Run(ctx) }()
		sched := &app.Scheduler{Service: svc, Lease: lease.New(f.rdb, f.prefix+":sched", 5*time.Second), Interval: time.Hour, Logger: f.logger}
		go func() { _ = sched.Run(ctx) }()
	}
	srv := grpcserver.New(grpcserver.Options{
		Logger: f.logger, Identity: identity.Codec{Key: identityKey, Audience: identity.AudienceServices}, Registry: prometheus.NewRegistry(),
		MachineMethods: grpcapi.MachineMethods,
	})
	restrictionv1.RegisterRestrictionServiceServer(srv.Server, grpcapi.New(svc, checker))
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
	return &replica{client: restrictionv1.NewRestrictionServiceClient(conn), svc: svc, index: idx, events: events, restr: restrictions, checker: checker}
}

func sign(t *testing.T, id identity.Identity) context.Context {
	t.Helper()
	codec := identity.Codec{Key: identityKey, Audience: identity.AudienceServices, TTL: time.Minute}
	tok, err := codec.Sign(id)
	if err != nil {
		t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(context.Background(), identity.MetadataKey, tok)
}

// as returns a context acting as the seeded staff member.
func as(t *testing.T, staffID string) context.Context {
	t.Helper()
	m, ok := directory.Find(staffID)
	if !ok {
		t.Fatalf("no staff %s in the seed", staffID)
	}
	return sign(t, identity.Identity{StaffID: m.ID, Organization: m.Organization, Roles: m.Roles})
}

// telephony returns a context acting as an organisation's telephony system.
func telephony(t *testing.T, org string) context.Context {
	return sign(t, identity.Identity{StaffID: "telephony-" + org, Organization: org, Roles: []string{app.RoleTelephony}})
}

var seq int

// publish puts a synthetic incident-svc event on the incident stream, as
// incident-svc's relay would.
func (f *fixture) publish(t *testing.T, org, aggregate, typ, actor string, payload any) eventlog.Event {
	t.Helper()
	seq++
	e, err := eventlog.Next(nil, eventlog.Change{
		AggregateType: strings.Split(typ, ".")[0], AggregateID: aggregate, Type: typ, Organization: org, Actor: actor, Time: time.Now(), Data: payload,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.publishEvent(t, e)
	return e
}

func (f *fixture) publishEvent(t *testing.T, e eventlog.Event) {
	t.Helper()
	body, _ := json.Marshal(e)
	if err := f.rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: f.prefix + ":events:incident", Values: map[string]any{"event": body}}).Err(); err != nil {
		t.Fatal(err)
	}
}

// subject creates a subject with identifiers through a synthetic
// subject.created event and waits until both replicas know it.
func (f *fixture) subject(t *testing.T, org, id string, identifiers ...[2]string) string {
	t.Helper()
	var ids []map[string]string
	for _, i := range identifiers {
		ids = append(ids, map[string]string{"kind": i[0], "value": i[1]})
	}
	name := "subjects/" + id
	f.publish(t, org, id, "subject.created", "hc-cso-1", map[string]any{"name": name, "kind": "service_user", "display_name": "Jo Bloggs", "identifiers": ids})
	waitFor(t, 10*time.Second, func() bool {
		_, okA := f.a.index.SubjectOf(org, name)
		_, okB := f.b.index.SubjectOf(org, name)
		return okA && okB
	})
	return name
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func wantCode(t *testing.T, err error, code codes.Code) *status.Status {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code {
		t.Fatalf("got %v, want %s", err, code)
	}
	return st
}

// wantField checks an InvalidArgument names field first and in its details.
func wantField(t *testing.T, err error, field string) {
	t.Helper()
	st := wantCode(t, err, codes.InvalidArgument)
	if !strings.HasPrefix(st.Message(), field+":") {
		t.Errorf("message %q does not start with %s", st.Message(), field)
	}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && br.GetFieldViolations()[0].GetField() == field {
			return
		}
	}
	t.Errorf("no BadRequest detail naming %s in %v", field, st.Details())
}
