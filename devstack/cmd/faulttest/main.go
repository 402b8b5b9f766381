// Command faulttest is the notification fault test of issue 6 (make
// fault-test). On this machine only (loopback) it starts a throwaway embedded
// FerretDB, its own redis-server without persistence, the mail sink and the
// real binaries of the stack, reports 1,000 incidents through the REST
// gateway and meanwhile:
//
//   - kills notify-svc with SIGKILL and restarts it, twice;
//   - stops the mail sink's SMTP server for 30 seconds;
//   - kills redis-server and starts it again on the same port: a Redis that
//     lost all its data (streams, consumer groups, leases, the relay's epoch).
//
// Then it waits until the sink holds an email for every (incident, line
// manager) the policy calls for, counts them and prints the comparison and
// the throughput (first report to last expected email). With -quiet it runs
// the same load without faults, for the baseline figure.
//
// Exit status: 0 when every expected email arrived exactly once (no
// duplicates with different Message-IDs, no more resends of one Message-ID
// than SIGKILLs), 1 when not, 2 when the test could not run.
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
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/contactguard/contactguard/devstack/ferret"
	"github.com/contactguard/contactguard/devstack/mailsink"
	"github.com/contactguard/contactguard/devstack/stack"
)

type options struct {
	n        int
	workers  int
	quiet    bool
	bin      string
	wait     time.Duration
	sinkDown time.Duration
	verbose  bool
	keep     bool
	cpuProf  string
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 1000, "incidents to report")
	flag.IntVar(&o.workers, "workers", 8, "concurrent reporters")
	flag.BoolVar(&o.quiet, "quiet", false, "no faults: measure the baseline throughput")
	flag.StringVar(&o.bin, "bin", "", "use the binaries already built in this directory")
	flag.DurationVar(&o.wait, "wait", 5*time.Minute, "longest wait for the expected emails after the last report")
	flag.DurationVar(&o.sinkDown, "sink-down", 30*time.Second, "how long the mail sink is stopped")
	flag.BoolVar(&o.verbose, "v", false, "also stream the processes' logs to stderr")
	flag.BoolVar(&o.keep, "keep-log", false, "keep the processes' log also when the test passes (it is always kept when it fails)")
	flag.StringVar(&o.cpuProf, "cpuprofile", "", "write a CPU profile of this process (which runs FerretDB) to this file")
	flag.Parse()
	if o.n < 1 || o.workers < 1 {
		fmt.Fprintln(os.Stderr, "faulttest: -n and -workers must be at least 1")
		os.Exit(2)
	}

	if o.cpuProf != "" {
		f, err := os.Create(o.cpuProf)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "faulttest: -cpuprofile:", err)
			os.Exit(2)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ok, err := run(ctx, o)
	interrupted := ctx.Err() != nil
	stop()
	pprof.StopCPUProfile()
	switch {
	case interrupted:
		fmt.Println("faulttest: interrupted; everything it started is stopped")
		os.Exit(130)
	case err != nil:
		fmt.Println("faulttest: ERROR:", err)
		os.Exit(2)
	case !ok:
		os.Exit(1)
	}
}

// env is everything the test started, and how to stop it.
type env struct {
	tmp     string
	logPath string
	logFile *os.File
	logOut  io.Writer

	stopFerret func()
	infra      *stack.Runner // redis-server
	redis      stack.Spec
	procs      *stack.Runner // the services and the gateway
	cfg        stack.Config

	sinkMu   sync.Mutex
	sink     *mailsink.Sink // nil while stopped
	sinkSMTP string
	sinkHTTP string
	sinkDir  string

	exitMu     sync.Mutex
	unexpected []string // processes that exited on their own
}

func say(format string, args ...any) {
	fmt.Printf("faulttest: "+format+"\n", args...)
}

func run(ctx context.Context, o options) (ok bool, err error) {
	wd, err := os.Getwd()
	if err != nil {
		return false, err
	}
	root, err := stack.FindRepoRoot(wd)
	if err != nil {
		return false, err
	}
	dir, err := loadDirectory(filepath.Join(root, "platform", "directory", "seed.json"))
	if err != nil {
		return false, err
	}
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		return false, errors.New("redis-server not found: install it (sudo apt-get install -y redis-server); scripts/fault-test.sh does")
	}
	redis.SetLogger(quietRedisLogger{})

	tmp, err := os.MkdirTemp("", "cg-faulttest-")
	if err != nil {
		return false, err
	}
	e := &env{tmp: tmp, logPath: filepath.Join(tmp, "stack.log")}
	// Cleanup, in reverse order of starting; it runs on success, failure
	// and Ctrl-C alike (run returns through here in each case).
	defer func() {
		e.shutdown()
		if !ok || err != nil || o.keep {
			if kept := e.keepLog(); kept != "" {
				say("the processes' log is kept in %s", kept)
			}
		}
		_ = os.RemoveAll(tmp)
	}()
	if e.logFile, err = os.Create(e.logPath); err != nil {
		return false, err
	}
	e.logOut = e.logFile
	if o.verbose {
		e.logOut = io.MultiWriter(e.logFile, os.Stderr)
	}

	mode := "fault run"
	if o.quiet {
		mode = "quiet run (no faults)"
	}
	say("%s: %d incidents, %d workers; temporary files in %s", mode, o.n, o.workers, tmp)

	binDir := o.bin
	if binDir == "" {
		binDir = filepath.Join(tmp, "bin")
		say("building %s", strings.Join(stack.All, ", "))
		start := time.Now()
		if err := stack.Build(ctx, root, binDir, os.Stderr); err != nil {
			return false, err
		}
		say("built in %s", time.Since(start).Round(time.Second))
	}

	// FerretDB, embedded, on a free port.
	mongoURI, stopFerret, err := ferret.Start(context.Background(), ferret.Options{
		Dir: filepath.Join(tmp, "ferretdb"), Logger: ferret.QuietLogger(e.logOut),
	})
	if err != nil {
		return false, err
	}
	e.stopFerret = stopFerret

	ports, err := stack.FreePorts(3)
	if err != nil {
		return false, err
	}
	redisAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	e.sinkSMTP = fmt.Sprintf("127.0.0.1:%d", ports[1])
	e.sinkHTTP = fmt.Sprintf("127.0.0.1:%d", ports[2])
	e.sinkDir = filepath.Join(tmp, "mail")

	// redis-server without persistence: a restart loses everything.
	if err := os.MkdirAll(filepath.Join(tmp, "redis"), 0o755); err != nil {
		return false, err
	}
	redisURL := "redis://" + redisAddr + "/0"
	e.infra = &stack.Runner{Out: e.logOut, ReadyTimeout: 30 * time.Second, StopTimeout: 5 * time.Second}
	e.redis = stack.Spec{
		Name: "redis",
		Path: redisBin,
		Args: []string{"--port", strconv.Itoa(ports[0]), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", filepath.Join(tmp, "redis")},
		Ready: func(ctx context.Context) error { return pingRedis(ctx, redisURL) },
	}
	if err := e.infra.Start(ctx, e.redis); err != nil {
		return false, err
	}

	// The mail sink, in this process, keeping its messages in a directory
	// so they survive its restart.
	if err := e.startSink(); err != nil {
		return false, err
	}

	addrs, err := stack.FreeAddrs()
	if err != nil {
		return false, err
	}
	e.cfg = stack.Config{
		BinDir:    binDir,
		MongoURI:  mongoURI,
		RedisURL:  redisURL,
		SMTPAddr:  e.sinkSMTP,
		DevMode:   true,
		PortalURL: "http://localhost:8080",
		Addrs:     addrs,
		ProcEnv: map[string][]string{stack.Notify: {
			// Retries every 1, 2, 4, 8, 10, 10, ... seconds: 30 attempts
			// outlast several minutes of SMTP downtime, so the 30 s stop
			// never dead-letters an email.
			"NOTIFY_RETRY_BASE=1s", "NOTIFY_RETRY_MAX=10s", "NOTIFY_MAX_ATTEMPTS=30",
		}},
	}
	e.procs = &stack.Runner{Out: e.logOut, ReadyTimeout: 90 * time.Second, OnExit: func(name string, err error) {
		e.exitMu.Lock()
		e.unexpected = append(e.unexpected, fmt.Sprintf("%s (%v)", name, err))
		e.exitMu.Unlock()
		say("UNEXPECTED: %s exited on its own: %v", name, err)
	}}
	say("starting FerretDB %s, redis-server %s (no persistence), mail sink SMTP %s, the services and the gateway %s",
		mongoURI, redisAddr, e.sinkSMTP, e.cfg.GatewayURL())
	start := time.Now()
	if err := stack.StartAll(ctx, e.procs, e.cfg); err != nil {
		return false, err
	}
	say("stack ready in %s; logs in %s", time.Since(start).Round(100*time.Millisecond), e.logPath)

	res, err := e.test(ctx, o, dir)
	if err != nil {
		return false, err
	}
	return res, nil
}

// shutdown stops everything the test started: the gateway and services,
// the mail sink, redis-server, FerretDB.
func (e *env) shutdown() {
	if e.procs != nil {
		e.procs.StopAll()
	}
	e.stopSink()
	if e.infra != nil {
		e.infra.StopAll()
	}
	if e.stopFerret != nil {
		e.stopFerret()
	}
	if e.logFile != nil {
		_ = e.logFile.Close()
	}
}

// keepLog copies the processes' log out of the temporary directory, which
// is removed, and returns where it is.
func (e *env) keepLog() string {
	b, err := os.ReadFile(e.logPath)
	if err != nil || len(b) == 0 {
		return ""
	}
	f, err := os.CreateTemp("", "cg-faulttest-*.log")
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		return ""
	}
	return f.Name()
}

func (e *env) startSink() error {
	e.sinkMu.Lock()
	defer e.sinkMu.Unlock()
	if e.sink != nil {
		return nil
	}
	var err error
	// The port was ours a moment ago; give another process's brief use of
	// it a few seconds.
	for range 20 {
		var s *mailsink.Sink
		s, err = mailsink.Start(mailsink.Config{
			SMTPAddr: e.sinkSMTP, HTTPAddr: e.sinkHTTP, Dir: e.sinkDir,
			Logger: slog.New(slog.NewTextHandler(prefixed{e.logOut, "[mailsink] "}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
		if err == nil {
			e.sink = s
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("start the mail sink: %w", err)
}

func (e *env) stopSink() {
	e.sinkMu.Lock()
	defer e.sinkMu.Unlock()
	if e.sink == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = e.sink.Close(ctx)
	e.sink = nil
}

// messages returns what the sink holds, or false while it is stopped.
func (e *env) messages() ([]mailsink.Message, bool) {
	e.sinkMu.Lock()
	defer e.sinkMu.Unlock()
	if e.sink == nil {
		return nil, false
	}
	return e.sink.Store.List(), true
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
	return c.Ping(ctx).Err()
}

type quietRedisLogger struct{}

func (quietRedisLogger) Printf(context.Context, string, ...any) {}

// prefixed writes each record (one Write) with a prefix.
type prefixed struct {
	w      io.Writer
	prefix string
}

func (p prefixed) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, p.prefix+string(b)); err != nil {
		return 0, err
	}
	return len(b), nil
}
