// Package e2e holds the end-to-end tests: they build the real binaries, start
// them as processes against the throwaway FerretDB, Redis and mail sink that
// scripts/test.sh provides, and walk the REST API of the gateway.
//
// They run when CG_E2E=1 or CI=true and skip otherwise. Environment:
//
//	CG_TEST_MONGO_URI, CG_TEST_REDIS_URL, CG_TEST_SMTP_ADDR, CG_TEST_MAILSINK_URL  required
//	CG_E2E_BIN_DIR  use the binaries already built there instead of building them
//	CG_E2E_LOGS=1   also stream the processes' logs to stderr (they always go to a file,
//	                whose tail is printed when a test fails)
package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/contactguard/contactguard/devstack/stack"
)

// testStack is the stack every test uses; set up once by TestMain.
type testStack struct {
	runner  *stack.Runner
	cfg     stack.Config
	gateway string // base URL of the gateway
	sinkURL string // base URL of the mail sink
	logPath string
}

var (
	st       *testStack
	setupErr error
)

func enabled() bool {
	return os.Getenv("CG_E2E") == "1" || os.Getenv("CI") == "true"
}

// need skips the test unless end-to-end tests are enabled, and fails it if
// the stack could not be set up.
func need(t *testing.T) *testStack {
	t.Helper()
	if !enabled() {
		t.Skip("end-to-end tests run with CG_E2E=1 (or CI=true); scripts/test.sh sets that up")
	}
	if setupErr != nil {
		t.Fatalf("setting up the stack failed: %v", setupErr)
	}
	return st
}

func TestMain(m *testing.M) {
	if !enabled() {
		os.Exit(m.Run())
	}
	tmp, err := os.MkdirTemp("", "cg-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	st, setupErr = setUp(ctx, tmp)
	cancel()
	if setupErr != nil {
		fmt.Fprintln(os.Stderr, "e2e: setup failed:", setupErr)
	}
	code := m.Run()
	if st != nil {
		st.runner.StopAll()
		if code != 0 {
			printTail(st.logPath, 200)
		}
	}
	if code == 0 {
		os.RemoveAll(tmp)
	} else {
		fmt.Fprintln(os.Stderr, "e2e: logs and binaries kept in", tmp)
	}
	os.Exit(code)
}

func setUp(ctx context.Context, tmp string) (*testStack, error) {
	var missing []string
	get := func(k string) string {
		v := os.Getenv(k)
		if v == "" {
			missing = append(missing, k)
		}
		return v
	}
	mongoURI, redisURL := get("CG_TEST_MONGO_URI"), get("CG_TEST_REDIS_URL")
	smtpAddr, sinkURL := get("CG_TEST_SMTP_ADDR"), get("CG_TEST_MAILSINK_URL")
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s not set (scripts/test.sh starts the throwaway servers and sets them)", strings.Join(missing, ", "))
	}
	sinkURL = strings.TrimSuffix(sinkURL, "/")

	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	root, err := stack.FindRepoRoot(wd)
	if err != nil {
		return nil, err
	}

	logPath := tmp + "/stack.log"
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	var out io.Writer = logFile
	if os.Getenv("CG_E2E_LOGS") == "1" {
		out = io.MultiWriter(logFile, os.Stderr)
	}

	binDir := os.Getenv("CG_E2E_BIN_DIR")
	if binDir == "" {
		binDir = tmp + "/bin"
		fmt.Fprintf(os.Stderr, "e2e: building %s\n", strings.Join(stack.All, ", "))
		start := time.Now()
		if err := stack.Build(ctx, root, binDir, os.Stderr); err != nil {
			return nil, err
		}
		fmt.Fprintf(os.Stderr, "e2e: built in %s\n", time.Since(start).Round(time.Second))
	}

	addrs, err := stack.FreeAddrs()
	if err != nil {
		return nil, err
	}
	run := "e2e_" + randomHex(4)
	cfg := stack.Config{
		BinDir:       binDir,
		MongoURI:     mongoURI,
		RedisURL:     redisURL,
		SMTPAddr:     smtpAddr,
		DBPrefix:     run,
		StreamPrefix: run,
		DevMode:      true,
		PortalURL:    "http://localhost:8080",
		Addrs:        addrs,
	}
	s := &testStack{
		runner:  &stack.Runner{Out: out, ReadyTimeout: 90 * time.Second},
		cfg:     cfg,
		gateway: cfg.GatewayURL(),
		sinkURL: sinkURL,
		logPath: logPath,
	}
	// Mail from earlier tests could carry the same references: start empty.
	if err := clearMail(ctx, sinkURL); err != nil {
		return nil, fmt.Errorf("clear the mail sink: %w", err)
	}
	fmt.Fprintf(os.Stderr, "e2e: starting the stack (databases %s_*, gateway %s, logs %s)\n", run, s.gateway, logPath)
	start := time.Now()
	if err := stack.StartAll(ctx, s.runner, cfg); err != nil {
		s.runner.StopAll()
		printTail(logPath, 200)
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "e2e: stack ready in %s\n", time.Since(start).Round(100*time.Millisecond))
	return s, nil
}

func clearMail(ctx context.Context, sinkURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, sinkURL+"/api/messages", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return errors.New(resp.Status)
	}
	return nil
}

func printTail(path string, n int) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	fmt.Fprintf(os.Stderr, "e2e: last %d lines of %s:\n", len(lines), path)
	for _, l := range lines {
		fmt.Fprintln(os.Stderr, "  "+l)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
