// Package gw is the REST gateway: it authenticates bearer tokens, signs
// the caller's identity for the services, and translates REST to gRPC with
// grpc-gateway. It holds no business rules: the services enforce the
// policy profile themselves.
package gw

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/contactguard/contactguard/gateway/internal/portal"
	"github.com/contactguard/contactguard/platform/directory"
	"github.com/contactguard/contactguard/platform/grpcserver"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/logging"
	"github.com/contactguard/contactguard/platform/policy"
	evidencev1 "github.com/contactguard/contactguard/proto/evidence/v1"
	incidentv1 "github.com/contactguard/contactguard/proto/incident/v1"
	notifyv1 "github.com/contactguard/contactguard/proto/notify/v1"
	restrictionv1 "github.com/contactguard/contactguard/proto/restriction/v1"
)

// Config is the gateway's configuration.
type Config struct {
	DevMode         bool
	Tokens          identity.Codec // bearer tokens (verify, and issue in dev mode)
	Identities      identity.Codec // assertions passed to the services
	IncidentAddr    string
	RestrictionAddr string
	EvidenceAddr    string
	NotifyAddr      string
	MaxBodyBytes    int64
	APIKeys         APIKeys // machine clients (telephony); see apikey.go
}

// New returns the gateway's HTTP handler. Connections to the services are
// lazy: a service that is down gives 503 on its routes, not a failed start.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (http.Handler, error) {
	gwmux := runtime.NewServeMux(
		// Unknown fields and unknown enum values are refused (400) instead of
		// silently dropped, so a typo never turns into a missing value.
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{Marshaler: &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}}),
		// Only what the gateway itself sets reaches the services: a client
		// cannot smuggle an identity in as a Grpc-Metadata- header.
		runtime.WithIncomingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithMetadata(func(ctx context.Context, _ *http.Request) metadata.MD {
			md := metadata.Pairs(grpcserver.RequestIDKey, logging.RequestID(ctx))
			if id, ok := identity.FromContext(ctx); ok {
				if assertion, err := cfg.Identities.Sign(id); err == nil {
					md.Set(identity.MetadataKey, assertion)
				}
			}
			return md
		}),
	)
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	for _, reg := range []struct {
		addr     string
		register func(context.Context, *runtime.ServeMux, string, []grpc.DialOption) error
	}{
		{cfg.IncidentAddr, incidentv1.RegisterIncidentServiceHandlerFromEndpoint},
		{cfg.RestrictionAddr, restrictionv1.RegisterRestrictionServiceHandlerFromEndpoint},
		{cfg.EvidenceAddr, evidencev1.RegisterEvidenceServiceHandlerFromEndpoint},
		{cfg.NotifyAddr, notifyv1.RegisterNotifyServiceHandlerFromEndpoint},
	} {
		if err := reg.register(ctx, gwmux, reg.addr, opts); err != nil {
			return nil, fmt.Errorf("register handlers for %s: %w", reg.addr, err)
		}
	}
	// Evidence files stream through as bytes (evidence.go); registered after
	// the generated handlers, so its download route is tried first.
	evidence, err := newEvidenceRoutes(ctx, cfg, gwmux, logger)
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /metrics", promhttp.Handler())
	docs, err := openAPIDocs()
	if err != nil {
		return nil, err
	}
	mux.HandleFunc("GET /openapi/", serveOpenAPI(docs))
	mux.HandleFunc("POST /dev/token", devToken(cfg))
	mux.HandleFunc("GET /dev/staff", devStaff(cfg))
	// The staff portal: its shell for / and the pages emails link to, and
	// its static assets; every other path keeps the JSON 404 below.
	portal.Register(mux)
	api := evidence.wrap(http.MaxBytesHandler(gwmux, cfg.MaxBodyBytes))
	mux.Handle("/v1/", cfg.APIKeys.Or(authenticate(cfg.Tokens, api), api))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, 5, fmt.Sprintf("no such endpoint: %s %s (the API is under /v1/, its description at /openapi/)", r.Method, r.URL.Path))
	})
	return withRequestLog(logger, mux), nil
}

// errorBody has the shape grpc-gateway uses for errors, so clients parse
// one shape whatever refused them.
type errorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status, grpcCode int, msg string) {
	writeJSON(w, status, errorBody{Code: grpcCode, Message: msg})
}

func authenticate(tokens identity.Codec, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="contactguard"`)
			writeError(w, http.StatusUnauthorized, 16, "missing bearer token: send Authorization: Bearer <token>")
			return
		}
		id, err := tokens.Verify(strings.TrimSpace(token))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="contactguard", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, 16, "bearer token refused: "+err.Error())
			return
		}
		if _, known := policy.For(id.Organization); !known {
			writeError(w, http.StatusForbidden, 7, fmt.Sprintf("organisation %q has no policy profile in this deployment", id.Organization))
			return
		}
		next.ServeHTTP(w, r.WithContext(identity.NewContext(r.Context(), id)))
	})
}

// devToken issues a token for a member of the seeded directory, in dev mode
// only. Outside dev mode it is refused, saying why.
func devToken(cfg Config) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !cfg.DevMode {
			writeError(w, http.StatusForbidden, 7, "dev tokens are refused: the gateway is not in dev mode (DEV_MODE=true is for development machines only)")
			return
		}
		var req struct {
			StaffID string `json:"staff_id"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, 3, "body must be JSON like {\"staff_id\":\"hc-cso-1\"}: "+err.Error())
			return
		}
		if req.StaffID == "" {
			writeError(w, http.StatusBadRequest, 3, "staff_id: is required")
			return
		}
		m, ok := directory.Find(req.StaffID)
		if !ok {
			writeError(w, http.StatusNotFound, 5, fmt.Sprintf("staff_id: %q is not in the seeded directory (platform/directory/seed.json)", req.StaffID))
			return
		}
		token, err := cfg.Tokens.Sign(identity.Identity{StaffID: m.ID, Organization: m.Organization, Roles: m.Roles})
		if err != nil {
			writeError(w, http.StatusInternalServerError, 13, "internal error")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"token": token, "staff_id": m.ID, "organization": m.Organization, "roles": m.Roles,
			"expires_in": int(cfg.Tokens.TTL.Seconds()),
		})
	}
}

// devStaff lists the seeded staff a dev token can be issued for (the
// portal's dev sign-in), in dev mode only: id, name, organisation, roles
// and team, never an email address.
func devStaff(cfg Config) http.HandlerFunc {
	type member struct {
		ID               string   `json:"staff_id"`
		Name             string   `json:"name"`
		Organization     string   `json:"organization"`
		OrganizationName string   `json:"organization_name"`
		Roles            []string `json:"roles"`
		Team             string   `json:"team"`
	}
	return func(w http.ResponseWriter, _ *http.Request) {
		if !cfg.DevMode {
			writeError(w, http.StatusForbidden, 7, "the seeded staff list is refused: the gateway is not in dev mode (DEV_MODE=true is for development machines only)")
			return
		}
		staff := directory.Seed()
		out := make([]member, 0, len(staff))
		for _, m := range staff {
			orgName := m.Organization
			if p, ok := policy.For(m.Organization); ok && p.Name != "" {
				orgName = p.Name
			}
			out = append(out, member{ID: m.ID, Name: m.Name, Organization: m.Organization, OrganizationName: orgName, Roles: m.Roles, Team: m.Team})
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, map[string]any{"staff": out})
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// withRequestLog gives every request an id (X-Request-Id, echoed back),
// recovers panics as 500 without detail, and logs one line per request:
// method, path, status, time, who. Never the body or the token.
func withRequestLog(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := r.Header.Get("X-Request-Id")
		if rid == "" || len(rid) > 64 {
			rid = logging.NewRequestID()
		}
		w.Header().Set("X-Request-Id", rid)
		ctx := logging.WithRequestID(r.Context(), rid)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				logger.ErrorContext(ctx, "panic in gateway", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				writeError(rec, http.StatusInternalServerError, 13, "internal error")
			}
			level := slog.LevelInfo
			if rec.status >= 500 {
				level = slog.LevelError
			}
			logger.Log(ctx, level, "http", "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration_ms", float64(time.Since(start).Microseconds())/1000)
		}()
		next.ServeHTTP(rec, r.WithContext(ctx))
	})
}
