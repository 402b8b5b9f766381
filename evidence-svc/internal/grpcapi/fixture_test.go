package grpcapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/contactguard/contactguard/evidence-svc/internal/app"
	"github.com/contactguard/contactguard/evidence-svc/internal/grpcapi"
	"github.com/contactguard/contactguard/evidence-svc/internal/links"
	"github.com/contactguard/contactguard/evidence-svc/internal/seal"
	"github.com/contactguard/contactguard/evidence-svc/internal/store"
	"github.com/contactguard/contactguard/platform/directory"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/grpcserver"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/testenv"
	evidencev1 "github.com/contactguard/contactguard/proto/evidence/v1"
	incidentv1 "github.com/contactguard/contactguard/proto/incident/v1"
	notifyv1 "github.com/contactguard/contactguard/proto/notify/v1"
	restrictionv1 "github.com/contactguard/contactguard/proto/restriction/v1"
)

var identityKey = []byte(strings.Repeat("k", 32))

const testMaxBytes = 4 << 20

// fakeIncidents answers like incident-svc: another organisation's incident
// is not found; staff not involved are denied unless they review incidents
// or are senior management or auditors.
type fakeIncidents struct {
	incidentv1.UnimplementedIncidentServiceServer
	mu        sync.Mutex
	incidents map[string]*incidentv1.Incident
}

func (f *fakeIncidents) add(inc *incidentv1.Incident) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.incidents[inc.GetName()] = inc
}

func involves(inc *incidentv1.Incident, staff string) bool {
	return inc.GetReporter() == staff || slices.Contains(inc.GetStaffInvolved(), staff)
}

func (f *fakeIncidents) GetIncident(ctx context.Context, req *incidentv1.GetIncidentRequest) (*incidentv1.Incident, error) {
	who, _ := identity.FromContext(ctx)
	f.mu.Lock()
	inc, ok := f.incidents[req.GetName()]
	f.mu.Unlock()
	if !ok || inc.GetOrganization() != who.Organization {
		return nil, status.Errorf(codes.NotFound, "incident %s not found", req.GetName())
	}
	if !involves(inc, who.StaffID) && !who.HasAnyRole("team_leader", "supervisor", "manager", "line_manager", "senior_management", "auditor") {
		return nil, status.Errorf(codes.PermissionDenied, "only staff involved in incident %s, its reviewers and senior management may read it", inc.GetReference())
	}
	return inc, nil
}

func (f *fakeIncidents) ListIncidents(ctx context.Context, req *incidentv1.ListIncidentsRequest) (*incidentv1.ListIncidentsResponse, error) {
	who, _ := identity.FromContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &incidentv1.ListIncidentsResponse{}
	for _, inc := range f.incidents {
		if inc.GetOrganization() == who.Organization && involves(inc, req.GetStaffMember()) {
			resp.Incidents = append(resp.Incidents, inc)
		}
	}
	return resp, nil
}

// fakeRestrictions answers GetRestriction from a map, or Unimplemented
// while the map is nil (restriction-svc not built).
type fakeRestrictions struct {
	restrictionv1.UnimplementedRestrictionServiceServer
	mu           sync.Mutex
	restrictions map[string]*restrictionv1.Restriction
}

func (f *fakeRestrictions) set(r *restrictionv1.Restriction) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.restrictions == nil {
		f.restrictions = map[string]*restrictionv1.Restriction{}
	}
	f.restrictions[r.GetName()] = r
}

func (f *fakeRestrictions) GetRestriction(ctx context.Context, req *restrictionv1.GetRestrictionRequest) (*restrictionv1.Restriction, error) {
	who, _ := identity.FromContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.restrictions == nil {
		return nil, status.Error(codes.Unimplemented, "method GetRestriction not implemented")
	}
	r, ok := f.restrictions[req.GetName()]
	if !ok || r.GetOrganization() != who.Organization {
		return nil, status.Errorf(codes.NotFound, "restriction %s not found", req.GetName())
	}
	return r, nil
}

// fakeDirectory answers GetStaffMember like notify-svc's staff directory:
// a member of the caller's organisation, with their line manager. It
// counts the questions, and answers Unavailable while down.
type fakeDirectory struct {
	notifyv1.UnimplementedNotifyServiceServer
	mu      sync.Mutex
	members map[string]*notifyv1.StaffMember
	asked   int
	down    bool
}

func (f *fakeDirectory) GetStaffMember(ctx context.Context, req *notifyv1.GetStaffMemberRequest) (*notifyv1.StaffMember, error) {
	who, _ := identity.FromContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked++
	if f.down {
		return nil, status.Error(codes.Unavailable, "connection refused")
	}
	m, ok := f.members[req.GetId()]
	if !ok || m.GetOrganization() != who.Organization {
		return nil, status.Errorf(codes.NotFound, "no staff member %s in the directory", req.GetId())
	}
	return m, nil
}

func (f *fakeDirectory) questions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asked
}

func (f *fakeDirectory) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

type fixture struct {
	client       evidencev1.EvidenceServiceClient
	svc          *app.Service
	content      *store.Content
	db           *mongo.Database
	incidents    *fakeIncidents
	restrictions *fakeRestrictions
	directory    *fakeDirectory
	clock        *clock
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		return time.Now()
	}
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		c.now = time.Now()
	}
	c.now = c.now.Add(d)
}

func serve(t *testing.T, register func(*grpc.Server)) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv := grpcserver.New(grpcserver.Options{
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Identity: identity.Codec{Key: identityKey, Audience: identity.AudienceServices},
		Registry: prometheus.NewRegistry(),
	})
	register(srv.Server)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = srv.ServeListener(ctx, lis); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return lis.Addr().String()
}

var testKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))

// start runs evidence-svc's gRPC server over loopback against a fresh
// database, wired as main.go wires it, with fake incident and restriction
// services and staff directory behind the real interceptors (the caller's
// identity is forwarded to them and verified).
func start(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	db := testenv.Mongo(t)
	f := &fixture{db: db, incidents: &fakeIncidents{incidents: map[string]*incidentv1.Incident{}}, restrictions: &fakeRestrictions{}, clock: &clock{}}
	incAddr := serve(t, func(s *grpc.Server) { incidentv1.RegisterIncidentServiceServer(s, f.incidents) })
	resAddr := serve(t, func(s *grpc.Server) { restrictionv1.RegisterRestrictionServiceServer(s, f.restrictions) })
	// Line managers as in the seeded directory (platform/directory/seed.json).
	f.directory = &fakeDirectory{members: map[string]*notifyv1.StaffMember{}}
	for staff, manager := range map[string]string{"hc-cso-1": "hc-tl-1", "hc-cso-2": "hc-tl-1", "hc-tl-1": "hc-mgr-1", "vb-staff-1": "vb-lm-1"} {
		org := "highland-council"
		if strings.HasPrefix(staff, "vb-") {
			org = "valuation-board"
		}
		f.directory.members[staff] = &notifyv1.StaffMember{Id: staff, Organization: org, LineManagerId: manager, Active: true}
	}
	notifyAddr := serve(t, func(s *grpc.Server) { notifyv1.RegisterNotifyServiceServer(s, f.directory) })

	events := eventlog.NewStore(db, "evidence_events")
	items, content, access := store.NewItems(db), store.NewContent(db), store.NewAccessLog(db)
	for _, ensure := range []func(context.Context) error{events.EnsureIndexes, items.EnsureIndexes, content.EnsureIndexes, access.EnsureIndexes} {
		if err := ensure(ctx); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := seal.ParseKeyring(testKey, "", "")
	if err != nil {
		t.Fatal(err)
	}
	owners, err := links.Dial(incAddr, resAddr, notifyAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(owners.Close)
	f.content = content
	f.svc = app.New(app.Config{MaxBytes: testMaxBytes, Keys: keys}, events, items, content, access, store.NewVerifications(db), owners)
	f.svc.SetClock(f.clock.Now)
	addr := serve(t, func(s *grpc.Server) { evidencev1.RegisterEvidenceServiceServer(s, grpcapi.New(f.svc, time.Minute)) })
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	f.client = evidencev1.NewEvidenceServiceClient(conn)
	return f
}

// as returns a context acting as the seeded staff member id.
func as(t *testing.T, staffID string) context.Context {
	t.Helper()
	m, ok := directory.Find(staffID)
	if !ok {
		t.Fatalf("no staff %s in the seed", staffID)
	}
	return asIdentity(t, identity.Identity{StaffID: m.ID, Organization: m.Organization, Roles: m.Roles})
}

// asIdentity returns a context acting as id (staff not in the seed).
func asIdentity(t *testing.T, id identity.Identity) context.Context {
	t.Helper()
	codec := identity.Codec{Key: identityKey, Audience: identity.AudienceServices, TTL: time.Minute}
	tok, err := codec.Sign(id)
	if err != nil {
		t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(context.Background(), identity.MetadataKey, tok)
}

// incident registers an incident of the council reported by hc-cso-1 with
// hc-om-1 (an online monitor) involved.
func (f *fixture) incident(id string) string {
	name := "incidents/" + id
	f.incidents.add(&incidentv1.Incident{
		Name: name, Organization: "highland-council", Reference: "HC-2026-" + strings.ToUpper(id),
		Reporter: "hc-cso-1", StaffInvolved: []string{"hc-om-1"},
	})
	return name
}

// png returns size bytes that sniff as a PNG image.
func png(size int) []byte {
	b := make([]byte, size)
	_, _ = rand.Read(b)
	copy(b, "\x89PNG\x0D\x0A\x1A\x0A")
	return b
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// upload sends meta then content in chunks of chunkSize.
func upload(ctx context.Context, c evidencev1.EvidenceServiceClient, meta *evidencev1.Evidence, requestID string, content []byte) (*evidencev1.Evidence, error) {
	stream, err := c.UploadEvidence(ctx)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&evidencev1.UploadEvidenceRequest{Payload: &evidencev1.UploadEvidenceRequest_Evidence{Evidence: meta}, RequestId: requestID}); err != nil {
		return nil, err
	}
	for rest := content; len(rest) > 0; {
		n := min(len(rest), 300<<10)
		if err := stream.Send(&evidencev1.UploadEvidenceRequest{Payload: &evidencev1.UploadEvidenceRequest_Chunk{Chunk: rest[:n]}}); err != nil {
			if errors.Is(err, io.EOF) {
				break // the server answered early; CloseAndRecv has it
			}
			return nil, err
		}
		rest = rest[n:]
	}
	return stream.CloseAndRecv()
}

func screenshot(incident string) *evidencev1.Evidence {
	return &evidencev1.Evidence{
		Kind: evidencev1.EvidenceKind_EVIDENCE_KIND_SCREENSHOT, OriginalFilename: "post.png", Incident: incident,
		Description: "Comment posted on the council page.", SourceUrl: "https://social.example/post/1",
	}
}

// download returns the metadata and content, or the error.
func download(ctx context.Context, c evidencev1.EvidenceServiceClient, name string, ack bool) (*evidencev1.Evidence, []byte, error) {
	stream, err := c.DownloadEvidence(ctx, &evidencev1.DownloadEvidenceRequest{Name: name, AcknowledgeDistressing: ack})
	if err != nil {
		return nil, nil, err
	}
	var meta *evidencev1.Evidence
	var buf bytes.Buffer
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return meta, buf.Bytes(), nil
		}
		if err != nil {
			return meta, buf.Bytes(), err
		}
		if m := msg.GetEvidence(); m != nil {
			meta = m
		}
		buf.Write(msg.GetChunk())
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

// count returns the documents in a collection of the test database.
func (f *fixture) count(t *testing.T, coll string) int64 {
	t.Helper()
	n, err := f.db.Collection(coll).CountDocuments(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// nothingStored fails unless no content, file, pending upload or event exists.
func (f *fixture) nothingStored(t *testing.T, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		counts := map[string]int64{}
		total := int64(0)
		for _, c := range []string{"evidence.files", "evidence.chunks", "evidence_uploads", "evidence_events", "evidence"} {
			counts[c] = f.count(t, c)
			total += counts[c]
		}
		if total == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s left something stored: %v", what, counts)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
