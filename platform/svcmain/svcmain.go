// Package svcmain is the one way a ContactGuard gRPC service starts:
// signal context, configuration from the environment (every bad variable
// reported at once), JSON logs, MongoDB and Redis clients, the gRPC server
// with health and reflection, Prometheus metrics, background jobs, and a
// graceful stop on SIGINT/SIGTERM.
package svcmain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/mongo"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/contactguard/contactguard/platform/config"
	"github.com/contactguard/contactguard/platform/grpcserver"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/logging"
	"github.com/contactguard/contactguard/platform/mongox"
	"github.com/contactguard/contactguard/platform/redisx"
)

// Service is a service being started.
type Service struct {
	Name   string
	Env    *config.Loader // read service-specific settings from it before Run
	Config config.Service
	// MachineMethods are the gRPC methods machine clients may call
	// (grpcserver.Options.MachineMethods); none unless the service sets them.
	MachineMethods []string
}

// Deps are what setup gets to wire the service.
type Deps struct {
	Config config.Service
	Logger *slog.Logger
	DB     *mongo.Database
	Redis  *redis.Client
	Server *grpcserver.Server
}

// Job is a background loop that runs until ctx ends.
type Job func(ctx context.Context) error

// Load reads the settings shared by every service.
func Load(name, defaultGRPC, defaultMetrics string) *Service {
	env := config.New()
	cfg := config.LoadService(env, name, defaultGRPC, defaultMetrics)
	cfg.RequireStores(env)
	return &Service{Name: name + "-svc", Env: env, Config: cfg}
}

// Run validates the configuration, connects, calls setup to register the
// gRPC handlers and return background jobs, and serves until a signal. It
// exits the process with status 1 on failure.
func (s *Service) Run(setup func(ctx context.Context, d *Deps) ([]Job, error)) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := s.run(ctx, setup); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", s.Name, err)
		os.Exit(1)
	}
}

func (s *Service) run(ctx context.Context, setup func(ctx context.Context, d *Deps) ([]Job, error)) error {
	if err := s.Env.Err(); err != nil {
		return err
	}
	logger := logging.New(s.Name, s.Config.LogLevel)
	mc, err := mongox.Connect(ctx, s.Config.MongoURI)
	if err != nil {
		return err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = mc.Disconnect(dctx)
	}()
	rdb, err := redisx.Connect(ctx, s.Config.RedisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()

	d := &Deps{
		Config: s.Config,
		Logger: logger,
		DB:     mc.Database(s.Config.MongoDB),
		Redis:  rdb,
		Server: grpcserver.New(grpcserver.Options{
			Logger:         logger,
			Identity:       identity.Codec{Key: s.Config.IdentityKey, Audience: identity.AudienceServices},
			MachineMethods: s.MachineMethods,
		}),
	}
	jobs, err := setup(ctx, d)
	if err != nil {
		return err
	}
	d.Server.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(jobs)+2)
	start := func(job Job) {
		wg.Go(func() {
			if err := job(ctx); err != nil {
				errs <- err
				cancel()
			}
		})
	}
	for _, job := range jobs {
		start(job)
	}
	start(func(ctx context.Context) error { return grpcserver.ServeMetrics(ctx, s.Config.MetricsAddr, logger) })
	start(func(ctx context.Context) error { return d.Server.Serve(ctx, s.Config.GRPCAddr) })
	logger.Info("started", "grpc", s.Config.GRPCAddr, "metrics", s.Config.MetricsAddr, "database", s.Config.MongoDB)
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	logger.Info("stopped")
	return errors.Join(all...)
}
