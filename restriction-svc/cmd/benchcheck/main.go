// Command benchcheck measures the real-time contact check (make
// bench-restriction). It loads 100,000 restrictions in force into the
// check's index (the same Replace a replica runs at start), serves two gRPC
// servers built like restriction-svc's (platform/grpcserver: identity
// verification, logging, metrics): one whose CheckContact returns a
// constant, one running the real check; then, over loopback with one
// connection per server, it measures at several concurrencies:
//
//	constant      the constant-answer handler (the floor)
//	unrestricted  a caller with no restriction (a pool of 10,000 numbers)
//	fresh         a caller with no restriction, a number never seen before
//	              (the normalisation cache misses every time)
//	restricted    a caller whose phone calls go to the automated service
//	limited       a caller with a volume limit (one Redis MGET per check)
//
// Scenarios run in short slices interleaved with each other, so on a busy
// machine all of them meet the same background load. It prints throughput,
// p50 and p99 for each, and the ratio of throughput to the constant handler
// at the same concurrency. It needs Redis:
// BENCH_REDIS_URL (or REDIS_URL), or a redis-server on PATH, which it starts
// on a free port and stops at the end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/contactguard/contactguard/platform/grpcserver"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/redisx"
	restrictionv1 "github.com/contactguard/contactguard/proto/restriction/v1"
	"github.com/contactguard/contactguard/restriction-svc/internal/app"
	"github.com/contactguard/contactguard/restriction-svc/internal/domain"
	"github.com/contactguard/contactguard/restriction-svc/internal/grpcapi"
	"github.com/contactguard/contactguard/restriction-svc/internal/index"
	"github.com/contactguard/contactguard/restriction-svc/internal/store"
)

const org = "highland-council"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchcheck:", err)
		os.Exit(1)
	}
}

type options struct {
	restrictions int
	duration     time.Duration
	warmup       time.Duration
	concurrency  []int
	slice        time.Duration
	redisURL     string
}

func parseFlags() (options, error) {
	var o options
	var conc string
	flag.IntVar(&o.restrictions, "restrictions", 100_000, "restrictions in force loaded into the index")
	flag.DurationVar(&o.duration, "duration", 4*time.Second, "measured time per scenario and concurrency")
	flag.DurationVar(&o.slice, "slice", 200*time.Millisecond, "length of one measured slice; scenarios alternate slice by slice")
	flag.DurationVar(&o.warmup, "warmup", 50*time.Millisecond, "unmeasured time before each slice")
	flag.StringVar(&conc, "concurrency", "1,8,64", "comma-separated numbers of concurrent callers")
	flag.Parse()
	for _, s := range strings.Split(conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return o, fmt.Errorf("-concurrency: %q is not a positive number", s)
		}
		o.concurrency = append(o.concurrency, n)
	}
	if o.slice <= 0 || o.duration <= 0 || o.warmup < 0 || o.restrictions < 1 {
		return o, errors.New("-slice, -duration and -restrictions must be positive")
	}
	o.redisURL = os.Getenv("BENCH_REDIS_URL")
	if o.redisURL == "" {
		o.redisURL = os.Getenv("REDIS_URL")
	}
	return o, nil
}

// number i of a family: distinct valid UK mobile numbers in E.164.
func number(family, i int) string { return fmt.Sprintf("+447%d%08d", family, i) }

const (
	familyRestricted   = 4
	familyLimited      = 5
	familyUnrestricted = 6
	familyFresh        = 7
	limitedEvery       = 10 // every 10th restriction has a volume limit
	pool               = 10_000
)

func run() error {
	o, err := parseFlags()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if o.redisURL == "" {
		url, stop, err := startRedis(ctx)
		if err != nil {
			return err
		}
		defer stop()
		o.redisURL = url
	}
	rdb, err := redisx.Connect(ctx, o.redisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	prefix := fmt.Sprintf("bench_%d", time.Now().UnixNano())
	defer func() {
		keys, _ := rdb.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	}()

	// 100,000 restrictions in force, each for its own subject with its own
	// phone number; every 10th with a volume limit that is never reached.
	start := time.Now()
	entries := make([]index.Entry, 0, o.restrictions)
	subjects := make([]index.Subject, 0, o.restrictions)
	automated := []domain.Rule{{Kind: domain.KindAutomatedService}}
	limited := []domain.Rule{{Kind: domain.KindVolumeLimit, Channel: domain.Phone, MaxContacts: 1_000_000_000, Period: 7 * 24 * time.Hour}}
	for i := range o.restrictions {
		family, rules := familyRestricted, automated
		if i%limitedEvery == 0 {
			family, rules = familyLimited, limited
		}
		name := fmt.Sprintf("subjects/b%d", i)
		subjects = append(subjects, index.Subject{Organization: org, Name: name, Version: 1, Keys: []string{"phone:" + number(family, i)}})
		entries = append(entries, index.Entry{
			ID: fmt.Sprintf("r%d", i), Organization: org, Subject: name, Version: 1, State: domain.StateActive,
			Rules: rules, StartTime: time.Now().Add(-time.Hour),
		})
	}
	idx := index.New()
	idx.Replace(entries, subjects)
	inForce, _ := idx.Len()
	fmt.Printf("loaded %d restrictions in force into the index in %s\n", inForce, time.Since(start).Round(time.Millisecond))

	key := []byte(strings.Repeat("b", 32))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	checker := app.NewChecker(idx, store.NewCounters(rdb, prefix), func() bool { return true }, domain.FailAllow, 100*time.Millisecond)
	constAddr, err := serve(ctx, key, logger, constant{})
	if err != nil {
		return err
	}
	checkAddr, err := serve(ctx, key, logger, grpcapi.New(nil, checker))
	if err != nil {
		return err
	}
	codec := identity.Codec{Key: key, Audience: identity.AudienceServices, TTL: time.Hour}
	token, err := codec.Sign(identity.Identity{StaffID: "telephony-hc", Organization: org, Roles: []string{app.RoleTelephony}})
	if err != nil {
		return err
	}
	callCtx := metadata.AppendToOutgoingContext(ctx, identity.MetadataKey, token)

	constClient, closeConst, err := dial(constAddr)
	if err != nil {
		return err
	}
	defer closeConst()
	checkClient, closeCheck, err := dial(checkAddr)
	if err != nil {
		return err
	}
	defer closeCheck()

	var fresh atomic.Int64
	limitedIDs := make([]int, 0, pool)
	restrictedIDs := make([]int, 0, pool)
	for i := 0; i < o.restrictions && (len(limitedIDs) < pool || len(restrictedIDs) < pool); i++ {
		if i%limitedEvery == 0 {
			limitedIDs = append(limitedIDs, i)
		} else {
			restrictedIDs = append(restrictedIDs, i)
		}
	}
	scenarios := []scenario{
		{name: "constant", client: constClient, id: func(i int) string { return number(familyUnrestricted, i%pool) }, want: restrictionv1.Treatment_TREATMENT_ALLOW},
		{name: "unrestricted", client: checkClient, id: func(i int) string { return number(familyUnrestricted, i%pool) }, want: restrictionv1.Treatment_TREATMENT_ALLOW},
		{name: "fresh", client: checkClient, id: func(int) string { return number(familyFresh, int(fresh.Add(1))) }, want: restrictionv1.Treatment_TREATMENT_ALLOW},
		{name: "restricted", client: checkClient, id: func(i int) string { return number(familyRestricted, restrictedIDs[i%len(restrictedIDs)]) }, want: restrictionv1.Treatment_TREATMENT_AUTOMATED_SERVICE},
		{name: "limited", client: checkClient, id: func(i int) string { return number(familyLimited, limitedIDs[i%len(limitedIDs)]) }, want: restrictionv1.Treatment_TREATMENT_ALLOW},
	}
	runtime.GC() // the load's garbage is not charged to the first measurement
	// The machine may be busy with other work: each scenario runs in short
	// slices, interleaved with the others (in rotating order), so every
	// scenario meets the same background load.
	nslices := max(1, int(o.duration/o.slice))
	fmt.Printf("%s measured per scenario and concurrency, in %d interleaved slices of %s (each after %s warm-up); one gRPC connection per server\n\n",
		time.Duration(nslices)*o.slice, nslices, o.slice, o.warmup)
	fmt.Printf("%-13s %5s %10s %10s %10s %8s\n", "scenario", "conc", "req/s", "p50", "p99", "ratio")
	var verdict string
	for _, c := range o.concurrency {
		lat := make([][]time.Duration, len(scenarios))
		elapsed := make([]time.Duration, len(scenarios))
		for k := range nslices {
			for i := range scenarios {
				j := (i + k) % len(scenarios)
				l, el, err := measure(callCtx, scenarios[j], c, o.warmup, o.slice)
				if err != nil {
					return err
				}
				lat[j] = append(lat[j], l...)
				elapsed[j] += el
			}
		}
		var floor float64
		for j, s := range scenarios {
			r := summarise(s.name, c, lat[j], elapsed[j])
			if s.name == "constant" {
				floor = r.rps
			}
			r.ratio = r.rps / floor
			fmt.Printf("%-13s %5d %10.0f %10s %10s %7.0f%%\n", r.name, r.conc, r.rps, fmtDur(r.p50), fmtDur(r.p99), 100*r.ratio)
			if r.name == "unrestricted" && r.conc == 64 {
				word := "meets"
				if r.ratio < 0.8 {
					word = "DOES NOT meet"
				}
				verdict = fmt.Sprintf("unrestricted caller at concurrency 64: %.0f%% of the constant handler's throughput (%s the 80%% target)", 100*r.ratio, word)
			}
		}
		fmt.Println()
	}
	if verdict != "" {
		fmt.Println(verdict)
	}
	return nil
}

// constant answers every check with ALLOW: the floor of a gRPC handler.
type constant struct {
	restrictionv1.UnimplementedRestrictionServiceServer
}

func (constant) CheckContact(context.Context, *restrictionv1.CheckContactRequest) (*restrictionv1.CheckContactResponse, error) {
	return &restrictionv1.CheckContactResponse{Treatment: restrictionv1.Treatment_TREATMENT_ALLOW}, nil
}

func serve(ctx context.Context, key []byte, logger *slog.Logger, impl restrictionv1.RestrictionServiceServer) (string, error) {
	srv := grpcserver.New(grpcserver.Options{
		Logger: logger, Identity: identity.Codec{Key: key, Audience: identity.AudienceServices}, Registry: prometheus.NewRegistry(),
		MachineMethods: grpcapi.MachineMethods,
	})
	restrictionv1.RegisterRestrictionServiceServer(srv.Server, impl)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go func() { _ = srv.ServeListener(ctx, lis) }()
	return lis.Addr().String(), nil
}

func dial(addr string) (restrictionv1.RestrictionServiceClient, func(), error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, err
	}
	return restrictionv1.NewRestrictionServiceClient(conn), func() { conn.Close() }, nil
}

type scenario struct {
	name   string
	client restrictionv1.RestrictionServiceClient
	id     func(i int) string
	want   restrictionv1.Treatment
}

type result struct {
	name       string
	conc, n    int
	rps, ratio float64
	p50, p99   time.Duration
}

// prime calls once with every number of the scenario's pool.
func prime(ctx context.Context, s scenario) error {
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < pool; i += 8 {
				req := &restrictionv1.CheckContactRequest{Channel: restrictionv1.ContactChannel_CONTACT_CHANNEL_PHONE, Identifier: s.id(i)}
				if _, err := s.client.CheckContact(ctx, req); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return err
	}
	return nil
}

// measure runs conc callers, each calling in a loop, for warmup and then
// for d, and returns the latency of every call made during d.
func measure(ctx context.Context, s scenario, conc int, warmup, d time.Duration) ([]time.Duration, time.Duration, error) {
	var (
		wg        sync.WaitGroup
		measuring atomic.Bool
		stop      atomic.Bool
		firstErr  atomic.Value
		next      atomic.Int64
	)
	lat := make([][]time.Duration, conc)
	for g := range conc {
		lat[g] = make([]time.Duration, 0, 1024)
		wg.Go(func() {
			for !stop.Load() {
				i := int(next.Add(1))
				req := &restrictionv1.CheckContactRequest{Channel: restrictionv1.ContactChannel_CONTACT_CHANNEL_PHONE, Identifier: s.id(i)}
				t0 := time.Now()
				resp, err := s.client.CheckContact(ctx, req)
				el := time.Since(t0)
				if err == nil && resp.GetTreatment() != s.want {
					err = fmt.Errorf("%s: %s answered %s, want %s", s.name, req.GetIdentifier(), resp.GetTreatment(), s.want)
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					stop.Store(true)
					return
				}
				if measuring.Load() {
					lat[g] = append(lat[g], el)
				}
			}
		})
	}
	time.Sleep(warmup)
	measuring.Store(true)
	began := time.Now()
	time.Sleep(d)
	measuring.Store(false)
	elapsed := time.Since(began)
	stop.Store(true)
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return nil, 0, err
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	return all, elapsed, nil
}

func summarise(name string, conc int, all []time.Duration, elapsed time.Duration) result {
	if len(all) == 0 {
		return result{name: name, conc: conc}
	}
	slices.Sort(all)
	return result{
		name: name, conc: conc, n: len(all), rps: float64(len(all)) / elapsed.Seconds(),
		p50: all[len(all)/2], p99: all[len(all)*99/100],
	}
}

func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.0f µs", float64(d.Nanoseconds())/1000)
}

// startRedis starts a throwaway redis-server on a free port.
func startRedis(ctx context.Context) (string, func(), error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, errors.New("no Redis: set BENCH_REDIS_URL or install redis-server (apt-get install redis-server)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir, err := os.MkdirTemp("", "benchcheck-redis-")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.CommandContext(ctx, path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, errors.New("redis-server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Printf("started redis-server on %s\n", addr)
	return "redis://" + addr + "/0", stop, nil
}
