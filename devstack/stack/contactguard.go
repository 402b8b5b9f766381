package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
)

// The binaries, named after their directories at the repository root.
const (
	Incident    = "incident-svc"
	Restriction = "restriction-svc"
	Evidence    = "evidence-svc"
	Notify      = "notify-svc"
	Gateway     = "gateway"
)

// Services are the four gRPC services, in start order.
var Services = []string{Incident, Restriction, Evidence, Notify}

// All is every binary of the stack: the services, then the gateway.
var All = append(append([]string(nil), Services...), Gateway)

// Dev-only secrets used when IDENTITY_KEY / TOKEN_KEY are not given.
// They are public, so nothing signed with them may be trusted outside a dev machine.
const (
	DevIdentityKey = "dev-only-identity-key-0123456789abcdef-not-secret"
	DevTokenKey    = "dev-only-token-key-0123456789abcdef-not-secret"
	// DevEvidenceMasterKey wraps evidence data keys on a dev machine
	// (EVIDENCE_MASTER_KEY of evidence-svc, base64 of 32 public bytes).
	DevEvidenceMasterKey = "ZGV2LW9ubHktZXZpZGVuY2UtbWFzdGVyLWtleS0zMmI="
	// DevAPIKeys are the telephony systems' API keys in dev mode (API_KEYS
	// of the gateway): send X-API-Key: dev-only-telephony-hc-key-0123456789abcdef.
	DevAPIKeys = "telephony-hc=dev-only-telephony-hc-key-0123456789abcdef:highland-council:telephony," +
		"telephony-vb=dev-only-telephony-vb-key-0123456789abcdef:valuation-board:telephony"
)

// Addrs are the listen addresses of the stack.
type Addrs struct {
	GRPC    map[string]string // service name -> gRPC address
	Metrics map[string]string // service name -> metrics address ("" = off)
	HTTP    string            // gateway HTTP address
}

// DefaultAddrs are the ports of docs/development.md.
func DefaultAddrs() Addrs {
	return Addrs{
		GRPC: map[string]string{
			Incident: "127.0.0.1:9091", Restriction: "127.0.0.1:9092",
			Evidence: "127.0.0.1:9093", Notify: "127.0.0.1:9094",
		},
		Metrics: map[string]string{
			Incident: "127.0.0.1:9191", Restriction: "127.0.0.1:9192",
			Evidence: "127.0.0.1:9193", Notify: "127.0.0.1:9194",
		},
		HTTP: ":8080",
	}
}

// FreeAddrs picks free loopback ports for every listener.
func FreeAddrs() (Addrs, error) {
	ports, err := FreePorts(2*len(Services) + 1)
	if err != nil {
		return Addrs{}, err
	}
	a := Addrs{GRPC: map[string]string{}, Metrics: map[string]string{}}
	for i, s := range Services {
		a.GRPC[s] = fmt.Sprintf("127.0.0.1:%d", ports[2*i])
		a.Metrics[s] = fmt.Sprintf("127.0.0.1:%d", ports[2*i+1])
	}
	a.HTTP = fmt.Sprintf("127.0.0.1:%d", ports[len(ports)-1])
	return a, nil
}

// FreePorts returns n distinct free TCP ports on 127.0.0.1 (by listening on
// port 0 and closing again; another process could take one in between).
func FreePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Config is everything the stack's processes need.
type Config struct {
	BinDir   string // where Build put the binaries
	MongoURI string
	RedisURL string
	SMTPAddr string
	// DBPrefix, if set, gives each service MONGO_DB=<DBPrefix>_<short name>
	// (e.g. e2e_ab12_incident); empty leaves the services' defaults.
	DBPrefix string
	// StreamPrefix, if set, is REDIS_STREAM_PREFIX for every service.
	StreamPrefix string
	IdentityKey  string // default DevIdentityKey
	TokenKey     string // default DevTokenKey
	PortalURL    string // default http://localhost:8080
	LogLevel     string // default: unset (the services' default)
	DevMode      bool   // DEV_MODE=true on the gateway
	Addrs        Addrs
	Env          []string // extra KEY=VALUE for every process
	// ProcEnv holds extra KEY=VALUE for one process by name (e.g. Notify:
	// NOTIFY_RETRY_BASE=1s), applied after Env.
	ProcEnv map[string][]string
}

// ShortName is the service name without "-svc" (incident, notify, ...).
func ShortName(name string) string { return strings.TrimSuffix(name, "-svc") }

func (c Config) common() []string {
	env := []string{"IDENTITY_KEY=" + or(c.IdentityKey, DevIdentityKey)}
	if c.LogLevel != "" {
		env = append(env, "LOG_LEVEL="+c.LogLevel)
	}
	return env
}

// ServiceSpec returns the spec of one gRPC service.
func (c Config) ServiceSpec(name string) Spec {
	env := append(c.common(),
		"GRPC_ADDR="+c.Addrs.GRPC[name],
		"METRICS_ADDR="+c.Addrs.Metrics[name],
		"MONGO_URI="+c.MongoURI,
		"REDIS_URL="+c.RedisURL,
	)
	if c.DBPrefix != "" {
		env = append(env, "MONGO_DB="+c.DBPrefix+"_"+ShortName(name))
	}
	if c.StreamPrefix != "" {
		env = append(env, "REDIS_STREAM_PREFIX="+c.StreamPrefix)
	}
	if name == Incident {
		// The staff directory (line managers of staff named publicly).
		env = append(env, "NOTIFY_ADDR="+DialAddr(c.Addrs.GRPC[Notify]))
	}
	if name == Restriction {
		// The incidents and evidence staff cite are checked with their
		// owners, as the caller.
		env = append(env,
			"INCIDENT_ADDR="+DialAddr(c.Addrs.GRPC[Incident]),
			"EVIDENCE_ADDR="+DialAddr(c.Addrs.GRPC[Evidence]),
		)
	}
	if name == Notify {
		env = append(env,
			"SMTP_ADDR="+c.SMTPAddr,
			"PORTAL_URL="+or(c.PortalURL, "http://localhost:8080"),
		)
	}
	if name == Evidence {
		// Need-to-know checks ask the owners of linked records, as the
		// caller, and the staff directory for the reporter's line manager.
		env = append(env,
			"INCIDENT_ADDR="+DialAddr(c.Addrs.GRPC[Incident]),
			"RESTRICTION_ADDR="+DialAddr(c.Addrs.GRPC[Restriction]),
			"NOTIFY_ADDR="+DialAddr(c.Addrs.GRPC[Notify]),
			"EVIDENCE_MASTER_KEY="+DevEvidenceMasterKey,
		)
	}
	env = append(append(env, c.Env...), c.ProcEnv[name]...)
	return Spec{
		Name:  name,
		Path:  filepath.Join(c.BinDir, name),
		Env:   env,
		Ready: GRPCHealth(DialAddr(c.Addrs.GRPC[name])),
	}
}

// GatewaySpec returns the spec of the REST gateway.
func (c Config) GatewaySpec() Spec {
	env := append(c.common(),
		"HTTP_ADDR="+c.Addrs.HTTP,
		"REDIS_URL="+c.RedisURL,
		"TOKEN_KEY="+or(c.TokenKey, DevTokenKey),
		"INCIDENT_ADDR="+DialAddr(c.Addrs.GRPC[Incident]),
		"RESTRICTION_ADDR="+DialAddr(c.Addrs.GRPC[Restriction]),
		"EVIDENCE_ADDR="+DialAddr(c.Addrs.GRPC[Evidence]),
		"NOTIFY_ADDR="+DialAddr(c.Addrs.GRPC[Notify]),
	)
	if c.DevMode {
		env = append(env, "DEV_MODE=true", "API_KEYS="+DevAPIKeys)
	}
	env = append(append(env, c.Env...), c.ProcEnv[Gateway]...)
	return Spec{
		Name:  Gateway,
		Path:  filepath.Join(c.BinDir, Gateway),
		Env:   env,
		Ready: HTTPOK(c.GatewayURL() + "/healthz"),
	}
}

// Spec returns the spec of any binary of the stack by name.
func (c Config) Spec(name string) Spec {
	if name == Gateway {
		return c.GatewaySpec()
	}
	return c.ServiceSpec(name)
}

// GatewayURL is the base URL to reach the gateway (http://127.0.0.1:port).
func (c Config) GatewayURL() string { return "http://" + DialAddr(c.Addrs.HTTP) }

// CheckFree returns an error naming every address another process already
// listens on (a health check there would answer for the wrong process).
func (a Addrs) CheckFree() error {
	type entry struct{ what, addr string }
	var all []entry
	for _, s := range Services {
		all = append(all, entry{s + " gRPC", a.GRPC[s]})
		if a.Metrics[s] != "" {
			all = append(all, entry{s + " metrics", a.Metrics[s]})
		}
	}
	all = append(all, entry{"gateway HTTP", a.HTTP})
	var busy []string
	for _, e := range all {
		l, err := net.Listen("tcp", e.addr)
		if err != nil {
			busy = append(busy, fmt.Sprintf("%s (%s)", e.addr, e.what))
			continue
		}
		l.Close()
	}
	if len(busy) > 0 {
		return fmt.Errorf("address already in use: %s; is another dev stack (or an old service process) running?", strings.Join(busy, ", "))
	}
	return nil
}

// StartAll checks that the stack's addresses are free, starts the four
// services at once, waits until they answer their health check, then starts
// the gateway and waits for /healthz.
func StartAll(ctx context.Context, r *Runner, c Config) error {
	if err := c.Addrs.CheckFree(); err != nil {
		return err
	}
	specs := make([]Spec, 0, len(Services))
	for _, s := range Services {
		specs = append(specs, c.ServiceSpec(s))
	}
	if err := r.StartAll(ctx, specs...); err != nil {
		return err
	}
	return r.Start(ctx, c.GatewaySpec())
}

// Build compiles the named binaries (default: All) into binDir with
// "go build -o binDir/<name> ./<name>" run at the repository root, where
// go.work resolves the modules. Compiler output goes to out.
func Build(ctx context.Context, repoRoot, binDir string, out io.Writer, names ...string) error {
	if len(names) == 0 {
		names = All
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	binDir, err := filepath.Abs(binDir)
	if err != nil {
		return err
	}
	for _, n := range names {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(binDir, n), "./"+n)
		cmd.Dir = repoRoot
		cmd.Stdout = out
		cmd.Stderr = out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build ./%s: %w", n, err)
		}
	}
	return nil
}

// FindRepoRoot walks up from dir to the directory holding go.work.
func FindRepoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.work not found in this directory or any parent: run from inside the ContactGuard repository")
		}
		dir = parent
	}
}

// DialAddr turns a listen address into one to connect to: an empty host or
// a wildcard host becomes 127.0.0.1.
func DialAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// GRPCHealth probes grpc.health.v1.Health/Check with the empty service name.
func GRPCHealth(addr string) Probe {
	return func(ctx context.Context) error {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer conn.Close()
		resp, err := grpc_health_v1.NewHealthClient(conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{})
		if err != nil {
			return err
		}
		if resp.GetStatus() != grpc_health_v1.HealthCheckResponse_SERVING {
			return fmt.Errorf("health status %s", resp.GetStatus())
		}
		return nil
	}
}

// HTTPOK probes that GET url answers 200.
func HTTPOK(url string) Probe {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
