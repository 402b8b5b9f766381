// Package grpcserver builds the gRPC server every service runs: health and
// reflection services, and one interceptor per call kind that sets the
// request id, verifies the caller's identity (deny by default), recovers
// panics, maps domain errors to status codes, logs and counts the call.
package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/logging"
)

// RequestIDKey is the metadata key (and, at the gateway, the HTTP header)
// carrying the request id.
const RequestIDKey = "x-request-id"

// Options configure a Server.
type Options struct {
	Logger   *slog.Logger
	Identity identity.Codec
	// Public lists full method names ("/pkg.Service/Method") callable without
	// an identity, such as the telephony contact check behind its own API
	// key. Health and reflection are always public.
	Public []string
	// MachineMethods lists the full method names a machine client (role
	// identity.RoleTelephony) may call; every other method refuses it, so a
	// telephony credential cannot read the register or decide anything.
	MachineMethods []string
	// Registry receives the call metrics; nil means prometheus.DefaultRegisterer.
	Registry prometheus.Registerer
}

// Server is a gRPC server with health reporting.
type Server struct {
	*grpc.Server
	Health *health.Server
	opts   Options
	calls  *prometheus.CounterVec
	timing *prometheus.HistogramVec
}

// New returns a server with health and reflection registered. Register the
// service's own handlers on s.Server, then call Serve.
func New(opts Options) *Server {
	if opts.Registry == nil {
		opts.Registry = prometheus.DefaultRegisterer
	}
	s := &Server{
		opts: opts,
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_handled_total", Help: "RPCs completed, by method and status code.",
		}, []string{"method", "code"}),
		timing: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "grpc_server_handling_seconds", Help: "RPC handling time by method.",
			Buckets: []float64{.0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5},
		}, []string{"method"}),
	}
	opts.Registry.MustRegister(s.calls, s.timing)
	s.Server = grpc.NewServer(
		grpc.ChainUnaryInterceptor(s.unary),
		grpc.ChainStreamInterceptor(s.stream),
	)
	s.Health = health.NewServer()
	healthpb.RegisterHealthServer(s.Server, s.Health)
	reflection.Register(s.Server)
	return s
}

func (s *Server) isPublic(method string) bool {
	if strings.HasPrefix(method, "/grpc.health.v1.") || strings.HasPrefix(method, "/grpc.reflection.") {
		return true
	}
	for _, m := range s.opts.Public {
		if m == method {
			return true
		}
	}
	return false
}

// begin prepares the context of a call: request id and verified identity.
func (s *Server) begin(ctx context.Context, method string) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	rid := first(md, RequestIDKey)
	if rid == "" || len(rid) > 64 {
		rid = logging.NewRequestID()
	}
	ctx = logging.WithRequestID(ctx, rid)
	token := first(md, identity.MetadataKey)
	if token == "" {
		if s.isPublic(method) {
			return ctx, nil
		}
		return ctx, apperr.Unauthenticated("no identity: calls must come through the gateway or carry a signed %s", identity.MetadataKey)
	}
	id, err := s.opts.Identity.Verify(token)
	if err != nil {
		return ctx, apperr.Unauthenticated("identity refused: %v", err)
	}
	if id.HasAnyRole(identity.RoleTelephony) && !slices.Contains(s.opts.MachineMethods, method) && !s.isPublic(method) {
		return ctx, apperr.Denied("%s is a machine client: it may only check and record contacts", id.StaffID)
	}
	return identity.NewContext(ctx, id), nil
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

// finish maps err to a status, logs and counts the call.
func (s *Server) finish(ctx context.Context, method string, start time.Time, err error) error {
	st, internal := apperr.ToStatus(err)
	code := status.Code(st)
	elapsed := time.Since(start)
	s.calls.WithLabelValues(method, code.String()).Inc()
	s.timing.WithLabelValues(method).Observe(elapsed.Seconds())
	attrs := []any{"method", method, "code", code.String(), "duration_ms", float64(elapsed.Microseconds()) / 1000}
	if id, ok := identity.FromContext(ctx); ok {
		attrs = append(attrs, "staff_id", id.StaffID, "organization", id.Organization)
	}
	switch {
	case internal:
		s.opts.Logger.ErrorContext(ctx, "rpc failed", append(attrs, "error", err.Error())...)
	case code == codes.OK:
		s.opts.Logger.DebugContext(ctx, "rpc", attrs...)
	default:
		s.opts.Logger.InfoContext(ctx, "rpc refused", append(attrs, "reason", status.Convert(st).Message())...)
	}
	return st
}

func (s *Server) recovered(ctx context.Context, method string, p any) error {
	s.opts.Logger.ErrorContext(ctx, "panic in handler", "method", method, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	return errors.New("panic") // becomes Internal without detail
}

func (s *Server) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	ctx, err = s.begin(ctx, info.FullMethod)
	if err == nil {
		func() {
			defer func() {
				if p := recover(); p != nil {
					err = s.recovered(ctx, info.FullMethod, p)
				}
			}()
			resp, err = handler(ctx, req)
		}()
	}
	if err = s.finish(ctx, info.FullMethod, start, err); err != nil {
		return nil, err
	}
	return resp, nil
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w wrappedStream) Context() context.Context { return w.ctx }

func (s *Server) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	start := time.Now()
	ctx, err := s.begin(ss.Context(), info.FullMethod)
	if err == nil {
		func() {
			defer func() {
				if p := recover(); p != nil {
					err = s.recovered(ctx, info.FullMethod, p)
				}
			}()
			err = handler(srv, wrappedStream{ss, ctx})
		}()
	}
	return s.finish(ctx, info.FullMethod, start, err)
}

// Serve listens on addr and serves until ctx ends, then stops gracefully
// (in-flight calls finish; after 10 s they are cut).
func (s *Server) Serve(ctx context.Context, addr string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	return s.ServeListener(ctx, lis)
}

// ServeListener is Serve on an open listener.
func (s *Server) ServeListener(ctx context.Context, lis net.Listener) error {
	s.opts.Logger.Info("gRPC listening", "addr", lis.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- s.Server.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.Health.Shutdown()
	stopped := make(chan struct{})
	go func() { s.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		s.Stop()
	}
	return nil
}

// ServeMetrics serves Prometheus metrics on addr until ctx ends; an empty
// addr turns it off.
func ServeMetrics(ctx context.Context, addr string, logger *slog.Logger) error {
	if addr == "" {
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.Handler())
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	logger.Info("metrics listening", "addr", addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics server: %w", err)
	}
	return nil
}
