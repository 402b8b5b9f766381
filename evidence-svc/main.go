// Command evidence-svc stores evidence (screenshots, recordings, letters)
// encrypted, hashed and opened only by those who need it (policy-map.md
// section 4). It serves gRPC; two subcommands run against the same
// configuration:
//
//	evidence-svc verify [evidence/ID ...]   check items (default: all) against their hashes
//	evidence-svc rewrap                     re-wrap every data key with the active master key
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/contactguard/contactguard/evidence-svc/internal/app"
	"github.com/contactguard/contactguard/evidence-svc/internal/grpcapi"
	"github.com/contactguard/contactguard/evidence-svc/internal/links"
	"github.com/contactguard/contactguard/evidence-svc/internal/seal"
	"github.com/contactguard/contactguard/platform/config"
	"github.com/contactguard/contactguard/platform/lease"
	"github.com/contactguard/contactguard/platform/svcmain"
	evidencev1 "github.com/contactguard/contactguard/proto/evidence/v1"
)

// settings are evidence-svc's own variables.
type settings struct {
	keys            *seal.Keyring
	keysErr         error
	maxBytes        int64
	uploadTimeout   time.Duration
	incidentAddr    string
	restrictionAddr string
	notifyAddr      string
}

func loadSettings(env *config.Loader) settings {
	s := settings{
		maxBytes:        int64(env.Int("EVIDENCE_MAX_BYTES", 100<<20, 1, 1<<34)),
		uploadTimeout:   env.Duration("EVIDENCE_UPLOAD_TIMEOUT", time.Hour),
		incidentAddr:    env.Addr("INCIDENT_ADDR", "127.0.0.1:9091"),
		restrictionAddr: env.Addr("RESTRICTION_ADDR", "127.0.0.1:9092"),
		notifyAddr:      env.Addr("NOTIFY_ADDR", "127.0.0.1:9094"),
	}
	// Key material is parsed here and never logged; errors name the
	// variable, never the value.
	s.keys, s.keysErr = parseKeys()
	return s
}

func main() {
	if len(os.Args) > 1 {
		os.Exit(command(os.Args[1], os.Args[2:]))
	}
	svc := svcmain.Load("evidence", "127.0.0.1:9093", "127.0.0.1:9193")
	set := loadSettings(svc.Env)
	svc.Run(func(ctx context.Context, d *svcmain.Deps) ([]svcmain.Job, error) {
		if set.keysErr != nil {
			return nil, fmt.Errorf("configuration is not valid:\n  %v", set.keysErr)
		}
		st := newStores(d.DB)
		if err := st.ensureIndexes(ctx); err != nil {
			return nil, err
		}
		owners, err := links.Dial(set.incidentAddr, set.restrictionAddr, set.notifyAddr, 5*time.Second)
		if err != nil {
			return nil, err
		}
		uc := st.service(app.Config{MaxBytes: set.maxBytes, Keys: set.keys, Logger: d.Logger}, owners)
		if n, err := st.rebuild(ctx, uc); err != nil {
			return nil, err
		} else if n > 0 {
			d.Logger.Warn("read model repaired from the event log", "items", n)
		}
		grace := set.uploadTimeout + 15*time.Minute
		if res, err := uc.Sweep(ctx, time.Now().Add(-grace)); err != nil {
			return nil, fmt.Errorf("sweep: %w", err)
		} else if res != (app.SweepResult{}) {
			d.Logger.Warn("swept what an earlier run left behind", "aborted_uploads", res.AbortedUploads, "committed_uploads", res.Committed, "tombstones", res.Tombstones)
		}
		evidencev1.RegisterEvidenceServiceServer(d.Server.Server, grpcapi.New(uc, set.uploadTimeout))
		d.Logger.Info("evidence storage ready", "master_keys", set.keys.IDs(), "active_key", set.keys.Active(), "max_bytes", set.maxBytes)

		maintenance := func(ctx context.Context) error {
			l := lease.New(d.Redis, d.Config.StreamPrefix+":evidence:maintenance", 2*time.Minute)
			defer func() { _ = l.Release(context.WithoutCancel(ctx)) }()
			tick := time.NewTicker(10 * time.Minute)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-tick.C:
				}
				if held, err := l.Hold(ctx); err != nil || !held {
					continue
				}
				if n, err := uc.PurgeDue(ctx); err != nil {
					d.Logger.Error("retention: purge failed", "error", err)
				} else if n > 0 {
					d.Logger.Info("retention: content deleted, tombstones kept", "items", n)
				}
				if _, err := uc.Sweep(ctx, time.Now().Add(-grace)); err != nil {
					d.Logger.Error("sweep failed", "error", err)
				}
			}
		}
		closeLinks := func(ctx context.Context) error { <-ctx.Done(); owners.Close(); return nil }
		return []svcmain.Job{maintenance, closeLinks}, nil
	})
}
