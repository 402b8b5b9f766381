package gw_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/contactguard/contactguard/gateway/internal/gw"
	"github.com/contactguard/contactguard/platform/grpcserver"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/logging"
	incidentv1 "github.com/contactguard/contactguard/proto/incident/v1"
)

var (
	tokenKey    = []byte("token-key-0123456789abcdef0123456789")
	identityKey = []byte("identity-key-0123456789abcdef012345")
	otherKey    = []byte("other-key-0123456789abcdef0123456789")
	tokens      = identity.Codec{Key: tokenKey, Audience: identity.AudienceGateway, TTL: time.Hour}
	assertions  = identity.Codec{Key: identityKey, Audience: identity.AudienceServices, TTL: time.Minute}
)

// fakeIncidents echoes what the service received: the verified identity
// (reporter, organisation, roles as staff_involved) and the request id
// (location).
type fakeIncidents struct {
	incidentv1.UnimplementedIncidentServiceServer
}

func echo(ctx context.Context, name string) *incidentv1.Incident {
	id, _ := identity.FromContext(ctx)
	return &incidentv1.Incident{
		Name: name, Reporter: id.StaffID, Organization: id.Organization, StaffInvolved: id.Roles,
		Location: logging.RequestID(ctx),
	}
}

func (fakeIncidents) GetIncident(ctx context.Context, req *incidentv1.GetIncidentRequest) (*incidentv1.Incident, error) {
	return echo(ctx, req.GetName()), nil
}

func (fakeIncidents) CreateIncident(ctx context.Context, req *incidentv1.CreateIncidentRequest) (*incidentv1.Incident, error) {
	out := echo(ctx, "incidents/new")
	out.Categories = req.GetIncident().GetCategories()
	return out, nil
}

// startService serves the fake incident service behind the real server
// interceptors (identity verification included) and returns its address.
func startService(t *testing.T) string {
	t.Helper()
	srv := grpcserver.New(grpcserver.Options{
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Identity: assertions,
		Registry: prometheus.NewRegistry(),
	})
	incidentv1.RegisterIncidentServiceServer(srv.Server, fakeIncidents{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeListener(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return lis.Addr().String()
}

func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// startGateway returns the base URL of a gateway whose incident service is
// the fake and whose other services are down.
func startGateway(t *testing.T, devMode bool) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h, err := gw.New(ctx, gw.Config{
		DevMode: devMode, Tokens: tokens, Identities: assertions,
		IncidentAddr: startService(t), RestrictionAddr: closedAddr(t), EvidenceAddr: closedAddr(t), NotifyAddr: closedAddr(t),
		MaxBodyBytes: 1 << 20,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

type response struct {
	status int
	header http.Header
	body   string
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("body is not a JSON object: %q", r.body)
	}
	return v
}

func do(t *testing.T, method, url, body string, header map[string]string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func sign(t *testing.T, c identity.Codec, id identity.Identity) string {
	t.Helper()
	tok, err := c.Sign(id)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

var (
	cso   = identity.Identity{StaffID: "hc-cso-1", Organization: "highland-council", Roles: []string{"staff"}}
	admin = identity.Identity{StaffID: "hc-admin-1", Organization: "highland-council", Roles: []string{"staff", "admin"}}
)

func TestBearerTokenDecidesWhoTheServiceSees(t *testing.T) {
	base := startGateway(t, false)
	expired := tokens
	expired.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	valid := "Bearer " + sign(t, tokens, cso)
	tests := []struct {
		name     string
		header   map[string]string
		status   int
		code     float64 // gRPC code in the error body
		reporter string  // identity the service saw, when 200
		msgHas   string  // part of the error message
	}{
		{"no token is 401", nil, 401, 16, "", "missing bearer token"},
		{"empty bearer token is 401", map[string]string{"Authorization": "Bearer "}, 401, 16, "", "missing bearer token"},
		{"basic auth is 401", map[string]string{"Authorization": "Basic aGM6cHc="}, 401, 16, "", "missing bearer token"},
		{"garbage token is 401", map[string]string{"Authorization": "Bearer garbage"}, 401, 16, "", "not a JWT"},
		{"three-part garbage token is 401", map[string]string{"Authorization": "Bearer a.b.c"}, 401, 16, "", "algorithm"},
		{"token signed with another key is 401", map[string]string{"Authorization": "Bearer " + sign(t, identity.Codec{Key: otherKey, Audience: identity.AudienceGateway, TTL: time.Hour}, cso)}, 401, 16, "", "signature"},
		{"service assertion is not a bearer token", map[string]string{"Authorization": "Bearer " + sign(t, identity.Codec{Key: tokenKey, Audience: identity.AudienceServices, TTL: time.Hour}, cso)}, 401, 16, "", "audience"},
		{"expired token is 401", map[string]string{"Authorization": "Bearer " + sign(t, expired, cso)}, 401, 16, "", "expired"},
		{"organisation without a profile is 403", map[string]string{"Authorization": "Bearer " + sign(t, tokens, identity.Identity{StaffID: "x-1", Organization: "atlantis-council"})}, 403, 7, "", "atlantis-council"},
		{"valid token reaches the service as its identity", map[string]string{"Authorization": valid}, 200, 0, "hc-cso-1", ""},
		{"smuggled Grpc-Metadata identity is ignored", map[string]string{
			"Authorization": valid, "Grpc-Metadata-X-Cg-Identity": sign(t, assertions, admin),
		}, 200, 0, "hc-cso-1", ""},
		{"smuggled raw identity header is ignored", map[string]string{
			"Authorization": valid, "X-Cg-Identity": sign(t, assertions, admin),
		}, 200, 0, "hc-cso-1", ""},
		{"smuggled identity without a token is 401", map[string]string{"Grpc-Metadata-X-Cg-Identity": sign(t, assertions, admin)}, 401, 16, "", "missing bearer token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, "GET", base+"/v1/incidents/abc", "", tt.header)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
			}
			body := r.json(t)
			if tt.status != 200 {
				if msg, _ := body["message"].(string); body["code"] != tt.code || !strings.Contains(msg, tt.msgHas) {
					t.Errorf("error body %v, want code %v with a message saying %q", body, tt.code, tt.msgHas)
				}
				if tt.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
				}
				return
			}
			if body["reporter"] != tt.reporter || body["organization"] != "highland-council" || body["name"] != "incidents/abc" {
				t.Errorf("the service saw %v, want %s of highland-council", body, tt.reporter)
			}
			if roles, _ := json.Marshal(body["staffInvolved"]); string(roles) != `["staff"]` {
				t.Errorf("the service saw roles %s", roles)
			}
		})
	}
}

func TestDevToken(t *testing.T) {
	tests := []struct {
		name    string
		devMode bool
		body    string
		status  int
		msgHas  string
	}{
		{"refused outside dev mode", false, `{"staff_id":"hc-cso-1"}`, 403, "dev mode"},
		{"seeded staff member gets a token", true, `{"staff_id":"hc-cso-1"}`, 200, ""},
		{"board staff member gets a token", true, `{"staff_id":"vb-staff-1"}`, 200, ""},
		{"unknown staff member is 404", true, `{"staff_id":"hc-nobody"}`, 404, "hc-nobody"},
		{"malformed JSON is 400", true, `{"staff_id":`, 400, "JSON"},
		{"unknown field is 400", true, `{"staff_id":"hc-cso-1","roles":["admin"]}`, 400, "roles"},
		{"missing staff id is 400", true, `{}`, 400, "staff_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := startGateway(t, tt.devMode)
			r := do(t, "POST", base+"/dev/token", tt.body, map[string]string{"Content-Type": "application/json"})
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			body := r.json(t)
			if tt.status != 200 {
				if msg, _ := body["message"].(string); !strings.Contains(msg, tt.msgHas) {
					t.Errorf("message %q does not mention %q", msg, tt.msgHas)
				}
				return
			}
			var req struct {
				StaffID string `json:"staff_id"`
			}
			_ = json.Unmarshal([]byte(tt.body), &req)
			token, _ := body["token"].(string)
			got := do(t, "GET", base+"/v1/incidents/abc", "", map[string]string{"Authorization": "Bearer " + token})
			if got.status != 200 || got.json(t)["reporter"] != req.StaffID {
				t.Errorf("the gateway did not accept its own dev token: %d %s", got.status, got.body)
			}
		})
	}
}

func TestRoutesOutsideTheAPI(t *testing.T) {
	base := startGateway(t, false)
	tests := []struct {
		name, method, path string
		status             int
		bodyHas            string
	}{
		{"OpenAPI document", "GET", "/openapi/", 200, `"swagger"`},
		{"unknown OpenAPI document", "GET", "/openapi/nope.json", 404, `"code":5`},
		{"health", "GET", "/healthz", 200, `"ok"`},
		{"unknown path", "GET", "/nope", 404, `"code":5`},
		{"POST to the portal's root", "POST", "/", 404, "/openapi/"},
		{"dev token by GET", "GET", "/dev/token", 404, `"code":5`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, tt.method, base+tt.path, "", nil)
			if r.status != tt.status || !strings.Contains(r.body, tt.bodyHas) {
				t.Fatalf("status %d body %.200s, want %d containing %s", r.status, r.body, tt.status, tt.bodyHas)
			}
			if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
			}
			r.json(t)
		})
	}
}

func TestRequestBodiesAreStrict(t *testing.T) {
	base := startGateway(t, false)
	auth := map[string]string{"Authorization": "Bearer " + sign(t, tokens, cso), "Content-Type": "application/json"}
	tests := []struct {
		name   string
		body   string
		status int
	}{
		{"known enum value reaches the service", `{"categories":["CATEGORY_VIOLENCE"]}`, 200},
		{"unknown enum value is 400", `{"categories":["CATEGORY_FOO"]}`, 400},
		{"unknown field is 400", `{"descriptionn":"typo"}`, 400},
		{"malformed JSON is 400", `{"categories":`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, "POST", base+"/v1/incidents", tt.body, auth)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			body := r.json(t)
			if tt.status == 400 && body["code"] != float64(3) {
				t.Errorf("error body %v, want code 3", body)
			}
			if tt.status == 200 && (body["reporter"] != "hc-cso-1" || body["categories"] == nil) {
				t.Errorf("the service got %v", body)
			}
		})
	}
}

func TestRequestIDIsEchoedAndPassedOn(t *testing.T) {
	base := startGateway(t, false)
	auth := "Bearer " + sign(t, tokens, cso)
	tests := []struct {
		name, sent string
		keep       bool
	}{
		{"sent id is echoed", "req-abc-123", true},
		{"missing id is generated", "", false},
		{"overlong id is replaced", strings.Repeat("x", 65), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := map[string]string{"Authorization": auth}
			if tt.sent != "" {
				header["X-Request-Id"] = tt.sent
			}
			r := do(t, "GET", base+"/v1/incidents/abc", "", header)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			echoed := r.header.Get("X-Request-Id")
			if tt.keep && echoed != tt.sent {
				t.Errorf("X-Request-Id %q, want %q", echoed, tt.sent)
			}
			if !tt.keep && len(echoed) != 16 {
				t.Errorf("X-Request-Id %q, want a generated 16-digit id", echoed)
			}
			if seen := r.json(t)["location"]; seen != echoed {
				t.Errorf("the service saw request id %v, the client was told %q", seen, echoed)
			}
		})
	}
	// Errors the gateway answers itself carry the id too.
	if r := do(t, "GET", base+"/nope", "", map[string]string{"X-Request-Id": "req-404"}); r.header.Get("X-Request-Id") != "req-404" {
		t.Errorf("404 X-Request-Id %q", r.header.Get("X-Request-Id"))
	}
}

func TestServiceDownIs503(t *testing.T) {
	base := startGateway(t, false)
	r := do(t, "GET", base+"/v1/restrictions/abc", "", map[string]string{"Authorization": "Bearer " + sign(t, tokens, cso)})
	if r.status != http.StatusServiceUnavailable || r.json(t)["code"] != float64(14) {
		t.Errorf("status %d body %s, want 503 with code 14", r.status, r.body)
	}
}
