package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/contactguard/contactguard/devstack/stack"
)

// The dev-mode API keys of the telephony systems (stack.DevAPIKeys).
const (
	councilTelephonyKey = "dev-only-telephony-hc-key-0123456789abcdef"
	boardTelephonyKey   = "dev-only-telephony-vb-key-0123456789abcdef"
	boardOrg            = "valuation-board"
)

// keyCall sends method path to the gateway with an API key.
func (s *testStack) keyCall(t *testing.T, method, path, key string, body any) response {
	t.Helper()
	j, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, s.gateway+path, bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", key)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{Code: resp.StatusCode, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.JSON)
	return r
}

// checkPhone asks the contact check through REST with a telephony key.
func (s *testStack) checkPhone(t *testing.T, key, number string) string {
	t.Helper()
	r := s.keyCall(t, http.MethodPost, "/v1/contact:check", key, map[string]any{"channel": "CONTACT_CHANNEL_PHONE", "identifier": number})
	expect(t, r, "POST /v1/contact:check "+number, http.StatusOK)
	return r.str("treatment")
}

// phoneNumber returns a random UK number in the area code, written
// nationally with a space ("01463 712345"), and its E.164 form.
func phoneNumber(area string) (national, e164 string) {
	local := fmt.Sprintf("7%05d", rand.IntN(100000))
	return "0" + area + " " + local, "+44" + area + local
}

// subjectWithPhone creates a subject with a phone number through
// incident-svc's REST API and waits until restriction-svc knows it (its
// marker answers).
func (s *testStack) subjectWithPhone(t *testing.T, tok, number string) string {
	t.Helper()
	r := s.call(t, http.MethodPost, "/v1/subjects", tok, map[string]any{
		"kind": "KIND_SERVICE_USER", "displayName": "Jo Bloggs",
		"identifiers": []map[string]any{{"type": "TYPE_PHONE", "value": number}},
	})
	expect(t, r, "POST /v1/subjects", http.StatusOK)
	name := r.str("name")
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := s.call(t, http.MethodGet, "/v1/"+name+"/marker", tok, nil)
		if m.Code == http.StatusOK {
			return name
		}
		if time.Now().After(deadline) {
			t.Fatalf("restriction-svc does not know %s after 30s: %d %s", name, m.Code, m.Raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// reportAbout reports an incident about the subject through incident-svc
// and returns its name: the record a restriction cites (C24).
func (s *testStack) reportAbout(t *testing.T, tok, subject string) string {
	t.Helper()
	body := incidentBody("Caller shouted at the officer and threatened to keep calling.")
	body["subject"] = subject
	inc := s.call(t, http.MethodPost, "/v1/incidents", tok, body)
	expect(t, inc, "POST /v1/incidents with a subject", http.StatusOK)
	return inc.str("name")
}

// activeManagementReview reports an incident about the subject and records
// a manager review of it with the outcome active management, through
// incident-svc. It returns the incident name.
func (s *testStack) activeManagementReview(t *testing.T, reporterTok, reviewerTok, subject string) string {
	t.Helper()
	name := s.reportAbout(t, reporterTok, subject)
	rv := s.call(t, http.MethodPost, "/v1/"+name+":review", reviewerTok, map[string]any{"review": map[string]any{
		"updateRegister": true, "outcome": "REVIEW_OUTCOME_ACTIVE_MANAGEMENT",
		"reasons": "Abusive calls three times this week despite warnings.",
	}})
	expect(t, rv, "POST /v1/"+name+":review", http.StatusOK)
	return name
}

// restrictionsOf lists the subject's restrictions.
func (s *testStack) restrictionsOf(t *testing.T, tok, subject string) []map[string]any {
	t.Helper()
	r := s.call(t, http.MethodGet, "/v1/restrictions?subject="+url.QueryEscape(subject), tok, nil)
	expect(t, r, "GET /v1/restrictions?subject=", http.StatusOK)
	raw, _ := r.JSON["restrictions"].([]any)
	var out []map[string]any
	for _, x := range raw {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

var (
	serviceTokenOnce sync.Once
	serviceTokenBin  string
	serviceTokenErr  error
)

// serviceToken mints a telephony identity for direct gRPC calls with
// restriction-svc/cmd/servicetoken, as an operator would.
func (s *testStack) serviceToken(t *testing.T, name, org string) string {
	t.Helper()
	serviceTokenOnce.Do(func() {
		wd, _ := os.Getwd()
		root, err := stack.FindRepoRoot(wd)
		if err != nil {
			serviceTokenErr = err
			return
		}
		dir, err := os.MkdirTemp("", "cg-e2e-servicetoken-")
		if err != nil {
			serviceTokenErr = err
			return
		}
		serviceTokenBin = filepath.Join(dir, "servicetoken")
		cmd := exec.Command("go", "build", "-o", serviceTokenBin, "./restriction-svc/cmd/servicetoken")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			serviceTokenErr = fmt.Errorf("go build servicetoken: %v: %s", err, out)
		}
	})
	if serviceTokenErr != nil {
		t.Fatal(serviceTokenErr)
	}
	key := s.cfg.IdentityKey
	if key == "" {
		key = stack.DevIdentityKey
	}
	cmd := exec.Command(serviceTokenBin, "-name", name, "-org", org, "-ttl", "1h")
	cmd.Env = append(os.Environ(), "IDENTITY_KEY="+key)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("servicetoken: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// rawCodec passes already encoded protobuf bytes through gRPC: the e2e
// module does not import the generated code.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// grpcCheckPhone calls restriction-svc's CheckContact over gRPC directly,
// as the telephony system may, and returns the treatment number
// (restriction/v1 Treatment: 1 allow, 2 automated service, ...).
func (s *testStack) grpcCheckPhone(t *testing.T, token, number string) int {
	t.Helper()
	conn, err := grpc.NewClient(stack.DialAddr(s.cfg.Addrs.GRPC[stack.Restriction]), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// CheckContactRequest{channel: 2 = CONTACT_CHANNEL_PHONE (field 2), identifier (field 3)}.
	req := appendVarint([]byte{2<<3 | 0}, 1)
	req = append(req, 3<<3|2)
	req = appendVarint(req, uint64(len(number)))
	req = append(req, number...)
	var resp []byte
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "x-cg-identity", token), 10*time.Second)
	defer cancel()
	if err := conn.Invoke(ctx, "/contactguard.restriction.v1.RestrictionService/CheckContact", &req, &resp, grpc.ForceCodec(rawCodec{})); err != nil {
		t.Fatalf("gRPC CheckContact %s: %v", number, err)
	}
	// CheckContactResponse.treatment is field 1, a varint; absent means 0.
	if len(resp) >= 2 && resp[0] == 1<<3|0 {
		return int(resp[1])
	}
	return 0
}
