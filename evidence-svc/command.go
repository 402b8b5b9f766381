package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/contactguard/contactguard/evidence-svc/internal/app"
	"github.com/contactguard/contactguard/platform/config"
	"github.com/contactguard/contactguard/platform/mongox"
)

// VerifyActor is who the access log names for checks run by the command.
const VerifyActor = "system:verify-command"

const usage = `usage:
  evidence-svc                         serve gRPC (configuration from the environment)
  evidence-svc verify [evidence/ID...] check the named items, or all items, against the
                                       SHA-256 taken at upload; exit status 1 if any is not intact
  evidence-svc rewrap                  re-wrap every item's data key with the active master key
                                       (EVIDENCE_MASTER_KEY), so the keys in EVIDENCE_MASTER_KEYS
                                       can be removed

The commands read MONGO_URI, MONGO_DB and the master keys (EVIDENCE_MASTER_KEY,
EVIDENCE_MASTER_KEY_ID, EVIDENCE_MASTER_KEYS) like the service.
`

// command runs a subcommand and returns the exit status.
func command(name string, args []string) int {
	switch name {
	case "verify", "rewrap":
	case "help", "-h", "-help", "--help":
		fmt.Print(usage)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "evidence-svc: unknown command %q\n%s", name, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	code, err := runCommand(ctx, name, args, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "evidence-svc %s: %v\n", name, err)
		return 1
	}
	return code
}

func runCommand(ctx context.Context, name string, args []string, out io.Writer) (int, error) {
	env := config.New()
	uri := env.URL("MONGO_URI", "", "mongodb", "mongodb+srv")
	dbName := env.String("MONGO_DB", "contactguard_evidence")
	if uri == "" {
		return 1, errors.New("MONGO_URI is required (e.g. mongodb://127.0.0.1:27017/)")
	}
	if err := env.Err(); err != nil {
		return 1, err
	}
	keys, err := parseKeys()
	if err != nil {
		return 1, err
	}
	client, err := mongox.Connect(ctx, uri)
	if err != nil {
		return 1, err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = client.Disconnect(dctx)
	}()
	uc := newStores(client.Database(dbName)).service(app.Config{Keys: keys}, nil)
	switch name {
	case "rewrap":
		res, err := uc.Rewrap(ctx)
		fmt.Fprintf(out, "re-wrapped %d data keys with master key %q; %d already used it\n", res.Rewrapped, keys.Active(), res.Current)
		return 0, err
	default:
		return verify(ctx, uc, args, out)
	}
}

func verify(ctx context.Context, uc *app.Service, args []string, out io.Writer) (int, error) {
	if len(args) == 0 {
		res, err := uc.VerifyStored(ctx, "", VerifyActor)
		if err != nil {
			return 1, err
		}
		for _, f := range res.Failures {
			fmt.Fprintf(out, "evidence/%s: NOT INTACT: %s\n", f.Evidence, f.Problem)
		}
		fmt.Fprintf(out, "checked %d items: %d intact, %d not intact\n", res.Checked, res.Checked-int64(len(res.Failures)), len(res.Failures))
		if len(res.Failures) > 0 {
			return 1, nil
		}
		return 0, nil
	}
	code := 0
	for _, a := range args {
		id := strings.TrimPrefix(a, "evidence/")
		v, err := uc.VerifyItem(ctx, id, VerifyActor)
		switch {
		case err != nil:
			fmt.Fprintf(out, "evidence/%s: cannot verify: %v\n", id, err)
			code = 1
		case v.Intact:
			fmt.Fprintf(out, "evidence/%s: intact (sha256 %s)\n", id, v.Actual)
		default:
			fmt.Fprintf(out, "evidence/%s: NOT INTACT: %s\n", id, v.Problem)
			code = 1
		}
	}
	return code, nil
}
