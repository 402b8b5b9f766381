// Command gateway is ContactGuard's REST front door (grpc-gateway v2): it
// authenticates bearer tokens, passes a signed identity to the services,
// and serves the OpenAPI document at /openapi/.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/contactguard/contactguard/gateway/internal/gw"
	"github.com/contactguard/contactguard/platform/config"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/logging"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "gateway: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	env := config.New()
	addr := env.Addr("HTTP_ADDR", ":8080")
	logLevel := env.OneOf("LOG_LEVEL", "info", "debug", "info", "warn", "error")
	cfg := gw.Config{
		DevMode:         env.Bool("DEV_MODE", false),
		Tokens:          identity.Codec{Key: env.Secret("TOKEN_KEY", 32), Audience: identity.AudienceGateway, TTL: env.Duration("TOKEN_TTL", 12*time.Hour)},
		Identities:      identity.Codec{Key: env.Secret("IDENTITY_KEY", 32), Audience: identity.AudienceServices, TTL: time.Minute},
		IncidentAddr:    env.Addr("INCIDENT_ADDR", "127.0.0.1:9091"),
		RestrictionAddr: env.Addr("RESTRICTION_ADDR", "127.0.0.1:9092"),
		EvidenceAddr:    env.Addr("EVIDENCE_ADDR", "127.0.0.1:9093"),
		NotifyAddr:      env.Addr("NOTIFY_ADDR", "127.0.0.1:9094"),
		MaxBodyBytes:    int64(env.Int("MAX_BODY_BYTES", 1<<20, 1024, 1<<30)),
	}
	keys, keysErr := gw.ParseAPIKeys(env.String("API_KEYS", ""))
	cfg.APIKeys = keys
	if err := errors.Join(env.Err(), keysErr); err != nil {
		return err
	}
	logger := logging.New("gateway", logLevel)
	handler, err := gw.New(ctx, cfg, logger)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: addr, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	logger.Info("gateway listening", "addr", addr, "dev_mode", cfg.DevMode, "api_keys", cfg.APIKeys.Len())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("gateway stopped")
	return nil
}
