package stack

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
)

// The test binary doubles as the child process: with STACK_TEST_HELPER set
// it runs helperMain instead of the tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("STACK_TEST_HELPER"); mode != "" {
		helperMain(mode)
		return
	}
	os.Exit(m.Run())
}

// helperMain serves /healthz on STACK_TEST_ADDR after STACK_TEST_DELAY.
// Modes: "serve" exits 0 on SIGTERM; "stubborn" ignores SIGTERM; "crash" exits 3 at once.
func helperMain(mode string) {
	fmt.Println("helper starting")
	fmt.Fprint(os.Stderr, "partial line without newline")
	if mode == "crash" {
		os.Exit(3)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	if d, err := time.ParseDuration(os.Getenv("STACK_TEST_DELAY")); err == nil {
		time.Sleep(d)
	}
	ln, err := net.Listen("tcp", os.Getenv("STACK_TEST_ADDR"))
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(2)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "%d", os.Getpid()) })
	go http.Serve(ln, mux)
	for range sig {
		if mode == "stubborn" {
			fmt.Println("ignoring SIGTERM")
			continue
		}
		fmt.Println("bye")
		os.Exit(0)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func helperSpec(t *testing.T, name, mode string, delay time.Duration) (Spec, string) {
	t.Helper()
	ports, err := FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	return Spec{
		Name: name,
		Path: os.Args[0],
		Env: []string{
			"STACK_TEST_HELPER=" + mode,
			"STACK_TEST_ADDR=" + addr,
			"STACK_TEST_DELAY=" + delay.String(),
		},
		Ready: HTTPOK("http://" + addr + "/healthz"),
	}, addr
}

func TestStartStopPrefixesLogs(t *testing.T) {
	out := &syncBuf{}
	r := &Runner{Out: out, ReadyTimeout: 20 * time.Second}
	spec, addr := helperSpec(t, "alpha", "serve", 300*time.Millisecond)
	if err := r.Start(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	if !r.Running("alpha") {
		t.Fatal("not running after Start")
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("not serving after Start: %v", err)
	}
	if err := r.Stop("alpha"); err != nil {
		t.Fatal(err)
	}
	if r.Running("alpha") {
		t.Fatal("running after Stop")
	}
	logs := out.String()
	for _, want := range []string{"[alpha] helper starting\n", "[alpha] bye\n", "[alpha] partial line without newline"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

func TestStopKillsStubbornProcess(t *testing.T) {
	out := &syncBuf{}
	r := &Runner{Out: out, StopTimeout: 500 * time.Millisecond}
	spec, _ := helperSpec(t, "stubborn", "stubborn", 0)
	if err := r.Start(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := r.Stop("stubborn"); err != nil {
		t.Fatal(err)
	}
	if r.Running("stubborn") {
		t.Fatal("still running")
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("stopped after %s, before the SIGKILL timeout", d)
	}
	if !strings.Contains(out.String(), "killing it") {
		t.Errorf("no kill notice:\n%s", out.String())
	}
}

func TestKillAndRestart(t *testing.T) {
	var exits []string
	var mu sync.Mutex
	r := &Runner{Out: &syncBuf{}, OnExit: func(name string, err error) {
		mu.Lock()
		exits = append(exits, name)
		mu.Unlock()
	}}
	defer r.StopAll()
	spec, addr := helperSpec(t, "beta", "serve", 0)
	ctx := context.Background()
	if err := r.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	pid1 := r.PID("beta")
	if err := r.Kill("beta"); err != nil {
		t.Fatal(err)
	}
	if r.Running("beta") {
		t.Fatal("running after Kill")
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Fatal("still serving after Kill")
	}
	if err := r.Restart(ctx, "beta"); err != nil {
		t.Fatal(err)
	}
	if pid2 := r.PID("beta"); pid2 == pid1 || pid2 == 0 {
		t.Fatalf("pid after restart %d (before %d)", pid2, pid1)
	}
	if err := HTTPOK("http://" + addr + "/healthz")(ctx); err != nil {
		t.Fatal(err)
	}
	// Starting it again while it runs is refused.
	if err := r.Start(ctx, spec); err == nil {
		t.Fatal("second Start of a running process succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(exits) != 0 {
		t.Errorf("OnExit called for requested stops: %v", exits)
	}
}

func TestExitBeforeReady(t *testing.T) {
	var got []string
	var mu sync.Mutex
	r := &Runner{Out: &syncBuf{}, OnExit: func(name string, err error) {
		mu.Lock()
		got = append(got, name)
		mu.Unlock()
	}}
	spec, _ := helperSpec(t, "crashy", "crash", 0)
	err := r.Start(context.Background(), spec)
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready") {
		t.Fatalf("err = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, []string{"crashy"}) {
		t.Errorf("OnExit calls: %v", got)
	}
}

func TestStartAllAndStopAll(t *testing.T) {
	r := &Runner{Out: &syncBuf{}}
	a, _ := helperSpec(t, "a", "serve", 200*time.Millisecond)
	b, _ := helperSpec(t, "b", "serve", 0)
	if err := r.StartAll(context.Background(), a, b); err != nil {
		t.Fatal(err)
	}
	if !r.Running("a") || !r.Running("b") {
		t.Fatal("not all running")
	}
	r.StopAll()
	if r.Running("a") || r.Running("b") {
		t.Fatal("still running after StopAll")
	}

	// One failing spec stops the others.
	c, _ := helperSpec(t, "c", "serve", 0)
	d, _ := helperSpec(t, "d", "crash", 0)
	if err := r.StartAll(context.Background(), c, d); err == nil {
		t.Fatal("StartAll with a crashing child succeeded")
	}
	if r.Running("c") {
		t.Fatal("c left running")
	}
}

func TestReadyTimeout(t *testing.T) {
	r := &Runner{Out: &syncBuf{}, ReadyTimeout: 300 * time.Millisecond}
	spec, _ := helperSpec(t, "slow", "serve", 10*time.Second)
	err := r.Start(context.Background(), spec)
	if err == nil || !strings.Contains(err.Error(), "not ready") {
		t.Fatalf("err = %v", err)
	}
	if r.Running("slow") {
		t.Fatal("left running after a failed Start")
	}
}

func TestGRPCHealth(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	grpc_health_v1.RegisterHealthServer(srv, hs)
	go srv.Serve(ln)
	defer srv.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	probe := GRPCHealth(ln.Addr().String())
	if err := probe(ctx); err != nil {
		t.Fatalf("serving: %v", err)
	}
	hs.SetServingStatus("", grpc_health_v1.HealthCheckResponse_NOT_SERVING)
	if err := probe(ctx); err == nil {
		t.Fatal("NOT_SERVING reported ready")
	}
}

func TestConfigSpecs(t *testing.T) {
	c := Config{
		BinDir: "/bin/dir", MongoURI: "mongodb://m/", RedisURL: "redis://r:1/0", SMTPAddr: "127.0.0.1:2525",
		DBPrefix: "e2e_x", StreamPrefix: "e2e_x", DevMode: true, Addrs: DefaultAddrs(),
	}
	n := c.Spec(Notify)
	for _, want := range []string{
		"GRPC_ADDR=127.0.0.1:9094", "METRICS_ADDR=127.0.0.1:9194", "MONGO_URI=mongodb://m/", "MONGO_DB=e2e_x_notify",
		"REDIS_URL=redis://r:1/0", "REDIS_STREAM_PREFIX=e2e_x", "SMTP_ADDR=127.0.0.1:2525",
		"PORTAL_URL=http://localhost:8080", "IDENTITY_KEY=" + DevIdentityKey,
	} {
		if !slices.Contains(n.Env, want) {
			t.Errorf("notify env lacks %s: %v", want, n.Env)
		}
	}
	if n.Path != filepath.Join("/bin/dir", "notify-svc") {
		t.Errorf("path %s", n.Path)
	}
	if inc := c.Spec(Incident); !slices.Contains(inc.Env, "NOTIFY_ADDR=127.0.0.1:9094") {
		t.Errorf("incident env lacks NOTIFY_ADDR (its staff directory): %v", inc.Env)
	}
	if ev := c.Spec(Evidence); !slices.Contains(ev.Env, "NOTIFY_ADDR=127.0.0.1:9094") {
		t.Errorf("evidence env lacks NOTIFY_ADDR (its staff directory): %v", ev.Env)
	}
	if res := c.Spec(Restriction); !slices.Contains(res.Env, "INCIDENT_ADDR=127.0.0.1:9091") || !slices.Contains(res.Env, "EVIDENCE_ADDR=127.0.0.1:9093") {
		t.Errorf("restriction env lacks INCIDENT_ADDR or EVIDENCE_ADDR (cited records): %v", res.Env)
	}
	g := c.Spec(Gateway)
	for _, want := range []string{
		"HTTP_ADDR=:8080", "DEV_MODE=true", "TOKEN_KEY=" + DevTokenKey, "INCIDENT_ADDR=127.0.0.1:9091", "NOTIFY_ADDR=127.0.0.1:9094",
	} {
		if !slices.Contains(g.Env, want) {
			t.Errorf("gateway env lacks %s: %v", want, g.Env)
		}
	}
	if c.GatewayURL() != "http://127.0.0.1:8080" {
		t.Errorf("gateway url %s", c.GatewayURL())
	}
	if len(DevIdentityKey) < 32 || len(DevTokenKey) < 32 {
		t.Error("dev keys shorter than 32 bytes")
	}

	fa, err := FreeAddrs()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{fa.HTTP: true}
	for _, s := range Services {
		for _, a := range []string{fa.GRPC[s], fa.Metrics[s]} {
			if seen[a] || a == "" {
				t.Errorf("duplicate or empty address %q", a)
			}
			seen[a] = true
		}
	}
}

func TestCheckFree(t *testing.T) {
	a, err := FreeAddrs()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.CheckFree(); err != nil {
		t.Fatalf("free addresses reported busy: %v", err)
	}
	l, err := net.Listen("tcp", a.GRPC[Notify])
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = a.CheckFree()
	if err == nil || !strings.Contains(err.Error(), a.GRPC[Notify]+" (notify-svc gRPC)") {
		t.Fatalf("err = %v", err)
	}
}

func TestFindRepoRootAndDialAddr(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "go.work"), []byte("go 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	deep := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := FindRepoRoot(deep)
	if err != nil || got != root {
		t.Fatalf("FindRepoRoot = %q, %v", got, err)
	}
	for in, want := range map[string]string{
		":8080": "127.0.0.1:8080", "0.0.0.0:1": "127.0.0.1:1", "[::]:2": "127.0.0.1:2", "10.1.2.3:4": "10.1.2.3:4",
	} {
		if got := DialAddr(in); got != want {
			t.Errorf("DialAddr(%q) = %q, want %q", in, got, want)
		}
	}
}
