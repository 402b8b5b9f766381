// Command devstack runs the whole ContactGuard stack on one machine for
// development: embedded FerretDB (or MONGO_URI), redis-server (or REDIS_URL),
// the mail sink (or SMTP_ADDR), the four services and the gateway on :8080.
// Data lives under .data/ at the repository root and survives restarts.
// Ctrl-C stops everything.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/contactguard/contactguard/devstack/ferret"
	"github.com/contactguard/contactguard/devstack/mailsink"
	"github.com/contactguard/contactguard/devstack/stack"
)

const (
	ferretAddr    = "127.0.0.1:27017"
	redisPort     = "6380"
	redisOwnURL   = "redis://127.0.0.1:" + redisPort + "/0"
	sinkSMTPAddr  = "127.0.0.1:1025"
	sinkHTTPAddr  = "127.0.0.1:8025"
	defaultPortal = "http://localhost:8080"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), `Usage: devstack [-bin DIR]

Starts the ContactGuard dev stack. Environment (each optional):
  MONGO_URI   use this MongoDB instead of embedded FerretDB (.data/ferretdb, %s)
  REDIS_URL   use this Redis if it answers, instead of redis-server on 127.0.0.1:%s (.data/redis)
  SMTP_ADDR   use this SMTP server instead of the mail sink (SMTP %s, web http://%s, .data/mail)
  HTTP_ADDR   gateway listen address (default :8080)
  IDENTITY_KEY, TOKEN_KEY, PORTAL_URL, LOG_LEVEL, SMTP_TLS, SMTP_USERNAME, SMTP_PASSWORD
              passed to the services (dev-only keys are used when unset)

Flags:
  -bin DIR    use the binaries already in DIR instead of building them into .data/bin
`, ferretAddr, redisPort, sinkSMTPAddr, sinkHTTPAddr)
	}
	binFlag := flag.String("bin", "", "use the binaries already in this directory instead of building them")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, *binFlag)
	if err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "devstack: stopped")
}

func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "devstack: "+format+"\n", args...)
}

func run(ctx context.Context, prebuilt string) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, err := stack.FindRepoRoot(wd)
	if err != nil {
		return err
	}
	data := filepath.Join(root, ".data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	redis.SetLogger(quietRedisLogger{})

	addrs := stack.DefaultAddrs()
	if a := os.Getenv("HTTP_ADDR"); a != "" {
		addrs.HTTP = a
	}
	// Fail before starting anything if the services' ports are taken.
	if err := addrs.CheckFree(); err != nil {
		return err
	}

	// Deferred calls run in reverse: the services stop first, then the mail
	// sink, then redis, then FerretDB.

	// MongoDB.
	mongoURI, mongoDesc := os.Getenv("MONGO_URI"), "from MONGO_URI"
	if mongoURI == "" {
		dir := filepath.Join(data, "ferretdb")
		say("starting embedded FerretDB on %s (data in %s)", ferretAddr, dir)
		uri, stopFerret, err := ferret.Start(context.Background(), ferret.Options{Dir: dir, Addr: ferretAddr})
		if err != nil {
			return fmt.Errorf("%w (is another dev stack running? set MONGO_URI to use another MongoDB)", err)
		}
		defer func() {
			say("stopping FerretDB")
			stopFerret()
		}()
		mongoURI, mongoDesc = uri, "embedded FerretDB, SQLite in "+dir
	}

	// Redis.
	infra := &stack.Runner{Out: os.Stderr, ReadyTimeout: 30 * time.Second}
	defer func() {
		if infra.Running("redis") {
			say("stopping redis-server")
		}
		infra.StopAll()
	}()
	redisURL, redisDesc, err := setUpRedis(ctx, infra, filepath.Join(data, "redis"))
	if err != nil {
		return err
	}

	// SMTP.
	smtpAddr, sinkURL := os.Getenv("SMTP_ADDR"), ""
	if smtpAddr == "" {
		dir := filepath.Join(data, "mail")
		sink, err := mailsink.Start(mailsink.Config{
			SMTPAddr: sinkSMTPAddr, HTTPAddr: sinkHTTPAddr, Dir: dir,
			Logger: slog.New(slog.NewTextHandler(prefixed("[mailsink] "), nil)),
		})
		if err != nil {
			return fmt.Errorf("mail sink: %w (set SMTP_ADDR to use another SMTP server)", err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = sink.Close(sctx)
		}()
		smtpAddr, sinkURL = sink.SMTPAddr(), sink.URL()
	}

	// The services.
	binDir := filepath.Join(data, "bin")
	if prebuilt != "" {
		binDir = prebuilt
	} else {
		say("building %s into %s", strings.Join(stack.All, ", "), binDir)
		if err := stack.Build(ctx, root, binDir, os.Stderr); err != nil {
			return err
		}
	}
	cfg := stack.Config{
		BinDir:      binDir,
		MongoURI:    mongoURI,
		RedisURL:    redisURL,
		SMTPAddr:    smtpAddr,
		IdentityKey: os.Getenv("IDENTITY_KEY"),
		TokenKey:    os.Getenv("TOKEN_KEY"),
		PortalURL:   os.Getenv("PORTAL_URL"),
		DevMode:     true,
		Addrs:       addrs,
	}
	procs := &stack.Runner{Out: os.Stderr, OnExit: func(name string, err error) {
		say("%s exited unexpectedly (%v); the rest keeps running. Restart the dev stack to bring it back.", name, err)
	}}
	defer func() {
		say("stopping the services")
		procs.StopAll()
	}()
	say("starting the services and the gateway")
	if err := stack.StartAll(ctx, procs, cfg); err != nil {
		return err
	}

	printSummary(os.Stdout, summary{
		root: root, data: data, gateway: gatewayURL(addrs.HTTP),
		mongo: mongoURI, mongoDesc: mongoDesc, redis: redisURL, redisDesc: redisDesc,
		smtp: smtpAddr, sinkURL: sinkURL, addrs: addrs,
	})

	<-ctx.Done()
	fmt.Fprintln(os.Stderr)
	say("Ctrl-C received, stopping")
	return nil
}

// setUpRedis returns a Redis URL that answers: REDIS_URL if it does, else
// our own redis-server on 127.0.0.1:6380 with its data in dir.
func setUpRedis(ctx context.Context, r *stack.Runner, dir string) (url, desc string, err error) {
	if u := os.Getenv("REDIS_URL"); u != "" {
		if err := pingRedis(ctx, u); err == nil {
			return u, "from REDIS_URL", nil
		} else {
			say("REDIS_URL=%s does not answer (%v); starting redis-server instead", redactURL(u), err)
		}
	}
	if pingRedis(ctx, redisOwnURL) == nil {
		return redisOwnURL, "redis-server already running on 127.0.0.1:" + redisPort + " (left running)", nil
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if bin, err = installRedis(ctx); err != nil {
			return "", "", err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	say("starting redis-server on 127.0.0.1:%s (data in %s)", redisPort, dir)
	err = r.Start(ctx, stack.Spec{
		Name: "redis",
		Path: bin,
		Args: []string{
			"--port", redisPort, "--bind", "127.0.0.1",
			"--dir", dir, "--appendonly", "yes", "--appendfsync", "always",
		},
		Ready: func(ctx context.Context) error { return pingRedis(ctx, redisOwnURL) },
	})
	if err != nil {
		return "", "", err
	}
	return redisOwnURL, "redis-server, append-only file in " + dir, nil
}

func installRedis(ctx context.Context) (string, error) {
	const hint = "install it (sudo apt-get install -y redis-server) or set REDIS_URL to a Redis that runs"
	if os.Geteuid() != 0 {
		return "", errors.New("redis-server not found: " + hint)
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", errors.New("redis-server not found and apt-get is missing: " + hint)
	}
	say("redis-server not found; installing the Debian package redis-server")
	for _, args := range [][]string{{"update"}, {"install", "-y", "redis-server"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("apt-get %s: %w; %s", strings.Join(args, " "), err, hint)
		}
	}
	return exec.LookPath("redis-server")
}

func pingRedis(ctx context.Context, url string) error {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return err
	}
	opts.DialTimeout = time.Second
	opts.MaxRetries = -1
	c := redis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
}

// redactURL hides a password in a URL for printing.
func redactURL(u string) string {
	opts, err := redis.ParseURL(u)
	if err != nil || opts.Password == "" {
		return u
	}
	return strings.Replace(u, opts.Password, "****", 1)
}

type quietRedisLogger struct{}

func (quietRedisLogger) Printf(context.Context, string, ...any) {}

func gatewayURL(listen string) string {
	u := "http://" + stack.DialAddr(listen)
	return strings.Replace(u, "http://127.0.0.1:", "http://localhost:", 1)
}

type summary struct {
	root, data, gateway string
	mongo, mongoDesc    string
	redis, redisDesc    string
	smtp, sinkURL       string
	addrs               stack.Addrs
}

func printSummary(w io.Writer, s summary) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("")
	p("ContactGuard dev stack is running. Press Ctrl-C to stop it.")
	p("")
	p("  Gateway (REST)  %s", s.gateway)
	p("  OpenAPI         %s/openapi/", s.gateway)
	if s.sinkURL != "" {
		p("  Mail sink       %s  (read the mail sent by notify-svc here; SMTP %s)", s.sinkURL, s.smtp)
	} else {
		p("  SMTP            %s  (from SMTP_ADDR)", s.smtp)
	}
	p("  MongoDB         %s  (%s)", s.mongo, s.mongoDesc)
	p("  Redis           %s  (%s)", redactURL(s.redis), s.redisDesc)
	p("  Data dir        %s", s.data)
	var grpcs []string
	for _, n := range stack.Services {
		grpcs = append(grpcs, n+" "+s.addrs.GRPC[n])
	}
	p("  gRPC            %s", strings.Join(grpcs, ", "))
	p("")
	p("Get a dev token (staff ids: platform/directory/seed.json) and report an incident:")
	p("")
	p(`  TOKEN=$(curl -s -X POST %s/dev/token -d '{"staff_id":"hc-cso-1"}' | sed -E 's/.*"token" *: *"([^"]+)".*/\1/')`, s.gateway)
	p(`  curl -s -X POST %s/v1/incidents -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \`, s.gateway)
	p(`    -d '{"categories":["CATEGORY_ABUSE"],"channel":"CHANNEL_PHONE","occurTime":"%s","location":"Phone line","description":"Caller shouted and swore at the officer repeatedly."}'`,
		time.Now().UTC().Add(-time.Hour).Truncate(time.Second).Format(time.RFC3339))
	p(`  curl -s %s/v1/incidents -H "Authorization: Bearer $TOKEN"`, s.gateway)
	p("")
}

// prefixed returns a writer that prefixes each write (one log record) to stderr.
func prefixed(prefix string) io.Writer { return prefixWriter(prefix) }

type prefixWriter string

func (p prefixWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(os.Stderr, string(p)+string(b)); err != nil {
		return 0, err
	}
	return len(b), nil
}
