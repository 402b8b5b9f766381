// Command bench-evidence measures evidence storage: in one run it uploads
// and downloads a file (default 200 MiB) through evidence-svc (a real
// process, over gRPC) and through raw GridFS on the same MongoDB/FerretDB,
// and prints the throughput of both, their ratio, and the service's peak
// RSS growth. `make bench-evidence` runs it against a throwaway FerretDB
// (bench.sh next to this file); README "Performance" has the figures.
//
//	bench-evidence -service ./evidence-svc -mongo mongodb://127.0.0.1:27017/ -redis redis://127.0.0.1:6379/0
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/contactguard/contactguard/platform/grpcserver"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/mongox"
	evidencev1 "github.com/contactguard/contactguard/proto/evidence/v1"
	incidentv1 "github.com/contactguard/contactguard/proto/incident/v1"
)

const (
	mib       = 1 << 20
	chunk     = 1 * mib // gRPC message and write size
	staffID   = "bench-1"
	org       = "highland-council"
	incident  = "incidents/bench"
	gridChunk = 255 << 10 // GridFS default chunk size
)

func main() {
	service := flag.String("service", "", "path to the evidence-svc binary (required)")
	mongoURI := flag.String("mongo", os.Getenv("MONGO_URI"), "MongoDB URI (default $MONGO_URI)")
	redisURL := flag.String("redis", os.Getenv("REDIS_URL"), "Redis URL (default $REDIS_URL)")
	sizeMiB := flag.Int("size", 200, "file size in MiB")
	paths := flag.String("paths", "both", "both, or service or raw alone (for quick comparisons of one path)")
	rounds := flag.Int("rounds", 3, "rounds, each through both paths; the fastest of each path counts (the backend's speed varies)")
	flag.Parse()
	if *service == "" || *mongoURI == "" || *redisURL == "" {
		fmt.Fprintln(os.Stderr, "bench-evidence: -service, -mongo and -redis are required")
		flag.Usage()
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if *paths != "both" && *paths != "service" && *paths != "raw" {
		fmt.Fprintln(os.Stderr, "bench-evidence: -paths must be both, service or raw")
		os.Exit(2)
	}
	if err := run(ctx, *service, *mongoURI, *redisURL, int64(*sizeMiB)*mib, max(*rounds, 1), *paths); err != nil {
		fmt.Fprintln(os.Stderr, "bench-evidence:", err)
		os.Exit(1)
	}
}

// content is a reproducible stream of size bytes that sniffs as a PNG
// (random data does not compress, like real photos and recordings).
type content struct {
	rng  *mrand.ChaCha8
	left int64
	head bool
}

func newContent(size int64) *content {
	return &content{rng: mrand.NewChaCha8([32]byte{1, 2, 3}), left: size}
}

func (c *content) Read(p []byte) (int, error) {
	if c.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), c.left)]
	_, _ = c.rng.Read(p)
	if !c.head {
		c.head = true
		copy(p, "\x89PNG\x0D\x0A\x1A\x0A")
	}
	c.left -= int64(len(p))
	return len(p), nil
}

type result struct {
	up, down       time.Duration
	cpuUp, cpuDown float64 // evidence-svc's CPU seconds
}

func rate(size int64, d time.Duration) float64 { return float64(size) / mib / d.Seconds() }

func run(ctx context.Context, service, mongoURI, redisURL string, size int64, rounds int, paths string) error {
	want := sha256.New()
	if _, err := io.Copy(want, newContent(size)); err != nil {
		return err
	}
	wantSum := fmt.Sprintf("%x", want.Sum(nil))
	suffix := randomHex(4)

	client, err := mongox.Connect(ctx, mongoURI)
	if err != nil {
		return err
	}
	defer client.Disconnect(context.Background())

	fmt.Printf("evidence benchmark: %d MiB file, backend %s, %d rounds through both paths\n", size/mib, redact(mongoURI), rounds)
	var raw, svc result
	var rawMode string
	var mem memory
	better := func(best *result, r result) {
		if best.up == 0 || r.up < best.up {
			best.up = r.up
		}
		if best.down == 0 || r.down < best.down {
			best.down = r.down
		}
	}
	for i := range rounds {
		fmt.Printf("round %d\n", i+1)
		rawRound := func() error {
			if paths == "service" {
				return nil
			}
			r, mode, err := benchRaw(ctx, client.Database(fmt.Sprintf("bench_raw_%s_%d", suffix, i)), size, wantSum)
			if err != nil {
				return fmt.Errorf("raw GridFS: %w", err)
			}
			better(&raw, r)
			rawMode = mode
			return nil
		}
		svcRound := func() error {
			if paths == "raw" {
				return nil
			}
			svcDB := fmt.Sprintf("bench_svc_%s_%d", suffix, i)
			r, m, err := benchService(ctx, service, mongoURI, svcDB, redisURL, suffix, size, wantSum)
			_ = client.Database(svcDB).Drop(context.Background())
			if err != nil {
				return fmt.Errorf("through evidence-svc: %w", err)
			}
			better(&svc, r)
			svc.cpuUp, svc.cpuDown = max(svc.cpuUp, r.cpuUp), max(svc.cpuDown, r.cpuDown)
			if m.peak-m.before > mem.peak-mem.before {
				mem = m
			}
			return nil
		}
		// Alternate which path goes first: the backend's speed drifts.
		order := []func() error{rawRound, svcRound}
		if i%2 == 1 {
			order = []func() error{svcRound, rawRound}
		}
		for _, step := range order {
			if err := step(); err != nil {
				return err
			}
		}
	}

	fmt.Printf("\nfastest of %d rounds    %14s %14s %14s\n", rounds, "upload", "download", "round trip")
	row := func(name string, r result) {
		fmt.Printf("%-22s %9.1f MiB/s %9.1f MiB/s %9.1f MiB/s\n", name, rate(size, r.up), rate(size, r.down), rate(2*size, r.up+r.down))
	}
	row("raw GridFS", raw)
	row("through evidence-svc", svc)
	fmt.Printf("%-22s %14.2f %14.2f %14.2f   (goal: at least 0.70)\n", "ratio",
		raw.up.Seconds()/svc.up.Seconds(), raw.down.Seconds()/svc.down.Seconds(), (raw.up+raw.down).Seconds()/(svc.up+svc.down).Seconds())
	fmt.Printf("\nevidence-svc's own CPU time (most of any round): %.1f s for the upload, %.1f s for the download\n", svc.cpuUp, svc.cpuDown)
	fmt.Printf("raw GridFS: %s\n", rawMode)
	fmt.Printf("evidence-svc RSS (largest growth of the rounds): %.1f MiB before, peak %.1f MiB during the transfers: growth %.1f MiB (goal: under 64 MiB; %s)\n",
		float64(mem.before)/mib, float64(mem.peak)/mib, float64(mem.peak-mem.before)/mib, mem.how)
	fmt.Printf("SHA-256 of every download, through both paths, equals the original's: %s...\n", wantSum[:16])
	return nil
}

// benchRaw uploads with the driver's GridFS bucket and downloads the same
// file. The driver's download stream fetches chunks with default cursor
// batches, which FerretDB answers with all remaining chunks in one reply
// (over the 48 MB message limit for large files); if it fails that way,
// the chunks are read with a cursor of 4-chunk batches, as evidence-svc does.
func benchRaw(ctx context.Context, db *mongo.Database, size int64, wantSum string) (result, string, error) {
	defer db.Drop(context.Background())
	bucket := db.GridFSBucket(options.GridFSBucket().SetChunkSizeBytes(gridChunk))
	var r result
	start := time.Now()
	up, err := bucket.OpenUploadStream(ctx, "bench.png")
	if err != nil {
		return r, "", err
	}
	if _, err := io.CopyBuffer(up, newContent(size), make([]byte, chunk)); err != nil {
		return r, "", err
	}
	if err := up.Close(); err != nil {
		return r, "", err
	}
	r.up = time.Since(start)
	fmt.Printf("  raw GridFS upload:      %6.1f s\n", r.up.Seconds())

	mode := "driver GridFS upload stream (255 KiB chunks) and download stream"
	start = time.Now()
	h := sha256.New()
	down, err := bucket.OpenDownloadStream(ctx, up.FileID)
	if err == nil {
		_, err = io.CopyBuffer(h, down, make([]byte, chunk))
		_ = down.Close()
	}
	if err != nil && strings.Contains(err.Error(), "too large") {
		mode = "driver GridFS upload stream (255 KiB chunks); download by a chunk cursor in 4-chunk batches, because the driver's download stream fails on FerretDB (" + err.Error() + ")"
		start = time.Now()
		h = sha256.New()
		err = readChunks(ctx, db, up.FileID, h)
	}
	if err != nil {
		return r, "", err
	}
	r.down = time.Since(start)
	fmt.Printf("  raw GridFS download:    %6.1f s\n", r.down.Seconds())
	if got := fmt.Sprintf("%x", h.Sum(nil)); got != wantSum {
		return r, "", fmt.Errorf("downloaded SHA-256 %s, want %s", got, wantSum)
	}
	return r, mode, nil
}

func readChunks(ctx context.Context, db *mongo.Database, fileID any, h hash.Hash) error {
	cur, err := db.Collection("fs.chunks").Find(ctx, bson.D{{Key: "files_id", Value: fileID}},
		options.Find().SetSort(bson.D{{Key: "n", Value: 1}}).SetBatchSize(4))
	if err != nil {
		return err
	}
	defer cur.Close(context.Background())
	for cur.Next(ctx) {
		var c struct {
			Data []byte `bson:"data"`
		}
		if err := cur.Decode(&c); err != nil {
			return err
		}
		h.Write(c.Data)
	}
	return cur.Err()
}

type memory struct {
	before, peak int64
	how          string
}

// fakeIncidents lets the bench's staff member read the incident the file
// is linked to (evidence-svc asks incident-svc, forwarding the caller).
type fakeIncidents struct {
	incidentv1.UnimplementedIncidentServiceServer
}

func (fakeIncidents) GetIncident(context.Context, *incidentv1.GetIncidentRequest) (*incidentv1.Incident, error) {
	return &incidentv1.Incident{Name: incident, Organization: org, Reporter: staffID}, nil
}

func benchService(ctx context.Context, binary, mongoURI, dbName, redisURL, suffix string, size int64, wantSum string) (result, memory, error) {
	var r result
	var mem memory
	identityKey := randomHex(32)
	codec := identity.Codec{Key: []byte(identityKey), Audience: identity.AudienceServices, TTL: time.Hour}

	// The fake incident-svc, behind the real interceptors.
	incSrv := grpcserver.New(grpcserver.Options{
		Logger: slog.New(slog.DiscardHandler), Identity: codec, Registry: prometheus.NewRegistry(),
	})
	incidentv1.RegisterIncidentServiceServer(incSrv.Server, fakeIncidents{})
	incLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, mem, err
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = incSrv.ServeListener(sctx, incLis) }()

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, mem, err
	}
	addr := lis.Addr().String()
	lis.Close()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	cmd := exec.CommandContext(ctx, binary)
	cmd.Env = append(os.Environ(),
		"GRPC_ADDR="+addr, "METRICS_ADDR=", "MONGO_URI="+mongoURI, "MONGO_DB="+dbName, "REDIS_URL="+redisURL,
		"REDIS_STREAM_PREFIX=bench_"+suffix, "IDENTITY_KEY="+identityKey, "LOG_LEVEL=warn",
		"EVIDENCE_MASTER_KEY="+base64.StdEncoding.EncodeToString(key), "EVIDENCE_MASTER_KEYS=", "EVIDENCE_MASTER_KEY_ID=",
		"EVIDENCE_MAX_BYTES="+strconv.FormatInt(size+mib, 10), "INCIDENT_ADDR="+incLis.Addr().String(),
	)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return r, mem, err
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return r, mem, err
	}
	defer conn.Close()
	if err := waitHealthy(ctx, conn); err != nil {
		return r, mem, err
	}
	tok, err := codec.Sign(identity.Identity{StaffID: staffID, Organization: org, Roles: []string{"staff"}})
	if err != nil {
		return r, mem, err
	}
	cctx := metadata.AppendToOutgoingContext(ctx, identity.MetadataKey, tok)
	client := evidencev1.NewEvidenceServiceClient(conn)

	// Warm up (connections, indexes, lazy initialisation), then measure
	// from the settled RSS.
	if _, err := uploadTo(cctx, client, 2*mib); err != nil {
		return r, mem, fmt.Errorf("warm-up: %w", err)
	}
	time.Sleep(500 * time.Millisecond)
	pid := cmd.Process.Pid
	mem.before = rss(pid, "VmRSS")
	mem.how = "sampled VmRSS every 10 ms"
	if os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil {
		mem.how = "VmHWM after resetting it through /proc/PID/clear_refs, and VmRSS sampled every 10 ms"
	}
	var peak atomic.Int64
	peak.Store(mem.before)
	sampling, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for sampling.Err() == nil {
			if v := rss(pid, "VmRSS"); v > peak.Load() {
				peak.Store(v)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()

	cpu := cpuSeconds(pid)
	start := time.Now()
	meta, err := uploadTo(cctx, client, size)
	if err != nil {
		stopSampling()
		return r, mem, err
	}
	r.up = time.Since(start)
	r.cpuUp, cpu = cpuSeconds(pid)-cpu, cpuSeconds(pid)
	fmt.Printf("  evidence-svc upload:    %6.1f s  (its CPU: %.1f s)\n", r.up.Seconds(), r.cpuUp)
	if meta.GetSha256() != wantSum {
		stopSampling()
		return r, mem, fmt.Errorf("evidence-svc hashed %s, want %s", meta.GetSha256(), wantSum)
	}
	start = time.Now()
	got, err := downloadFrom(cctx, client, meta.GetName())
	r.down = time.Since(start)
	r.cpuDown = cpuSeconds(pid) - cpu
	stopSampling()
	<-sampled
	if err != nil {
		return r, mem, err
	}
	fmt.Printf("  evidence-svc download:  %6.1f s  (its CPU: %.1f s; RSS growth so far %.1f MiB)\n", r.down.Seconds(), r.cpuDown, float64(max(peak.Load(), rss(pid, "VmHWM"))-mem.before)/mib)
	if got != wantSum {
		return r, mem, fmt.Errorf("downloaded SHA-256 %s, want %s", got, wantSum)
	}
	mem.peak = max(peak.Load(), rss(pid, "VmHWM"))
	return r, mem, nil
}

func waitHealthy(ctx context.Context, conn *grpc.ClientConn) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := healthpb.NewHealthClient(conn).Check(hctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("evidence-svc not healthy after 60 s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func uploadTo(ctx context.Context, c evidencev1.EvidenceServiceClient, size int64) (*evidencev1.Evidence, error) {
	stream, err := c.UploadEvidence(ctx)
	if err != nil {
		return nil, err
	}
	meta := &evidencev1.Evidence{Kind: evidencev1.EvidenceKind_EVIDENCE_KIND_PHOTO, OriginalFilename: "bench.png", Incident: incident}
	if err := stream.Send(&evidencev1.UploadEvidenceRequest{Payload: &evidencev1.UploadEvidenceRequest_Evidence{Evidence: meta}}); err != nil {
		return nil, err
	}
	src := newContent(size)
	for {
		buf := make([]byte, chunk)
		n, err := io.ReadFull(src, buf)
		if n > 0 {
			if serr := stream.Send(&evidencev1.UploadEvidenceRequest{Payload: &evidencev1.UploadEvidenceRequest_Chunk{Chunk: buf[:n]}}); serr != nil {
				if errors.Is(serr, io.EOF) {
					break
				}
				return nil, serr
			}
		}
		if err != nil {
			break
		}
	}
	return stream.CloseAndRecv()
}

func downloadFrom(ctx context.Context, c evidencev1.EvidenceServiceClient, name string) (string, error) {
	stream, err := c.DownloadEvidence(ctx, &evidencev1.DownloadEvidenceRequest{Name: name})
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return fmt.Sprintf("%x", h.Sum(nil)), nil
		}
		if err != nil {
			return "", err
		}
		h.Write(msg.GetChunk())
	}
}

// rss reads a memory figure (VmRSS, VmHWM) of a process in bytes.
func rss(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// redact drops credentials from a URI before printing it.
func redact(uri string) string {
	if at := strings.LastIndex(uri, "@"); at >= 0 {
		if i := strings.Index(uri, "://"); i >= 0 && i < at {
			return uri[:i+3] + "***" + uri[at:]
		}
	}
	return uri
}

// cpuSeconds reads the user plus system CPU time of a process.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndex(s, ")")+2:])
	if len(f) < 13 {
		return 0
	}
	user, _ := strconv.ParseFloat(f[11], 64)
	sys, _ := strconv.ParseFloat(f[12], 64)
	return (user + sys) / 100 // clock ticks; 100 per second on Linux
}
