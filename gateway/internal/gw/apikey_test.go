package gw_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/contactguard/contactguard/gateway/internal/gw"
	"github.com/contactguard/contactguard/platform/grpcserver"
	"github.com/contactguard/contactguard/platform/identity"
	restrictionv1 "github.com/contactguard/contactguard/proto/restriction/v1"
)

var telephonySecret = strings.Repeat("s", 40)

// fakeRestrictions echoes the verified identity in route_to.
type fakeRestrictions struct {
	restrictionv1.UnimplementedRestrictionServiceServer
}

func (fakeRestrictions) CheckContact(ctx context.Context, _ *restrictionv1.CheckContactRequest) (*restrictionv1.CheckContactResponse, error) {
	id, _ := identity.FromContext(ctx)
	return &restrictionv1.CheckContactResponse{
		Treatment: restrictionv1.Treatment_TREATMENT_ALLOW,
		RouteTo:   id.StaffID + "|" + id.Organization + "|" + strings.Join(id.Roles, ","),
	}, nil
}

func startKeyedGateway(t *testing.T) string {
	t.Helper()
	srv := grpcserver.New(grpcserver.Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Identity: assertions, Registry: prometheus.NewRegistry(),
		// As restriction-svc: the telephony identity may call these only.
		MachineMethods: []string{restrictionv1.RestrictionService_CheckContact_FullMethodName, restrictionv1.RestrictionService_RecordContact_FullMethodName},
	})
	restrictionv1.RegisterRestrictionServiceServer(srv.Server, fakeRestrictions{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeListener(ctx, lis) }()
	t.Cleanup(func() { cancel(); <-done })
	keys, err := gw.ParseAPIKeys("telephony-hc=" + telephonySecret + ":highland-council:telephony , telephony-vb=" + strings.Repeat("v", 32) + ":x:valuation-board:telephony")
	if err != nil {
		t.Fatal(err)
	}
	h, err := gw.New(ctx, gw.Config{
		Tokens: tokens, Identities: assertions, APIKeys: keys,
		IncidentAddr: closedAddr(t), RestrictionAddr: lis.Addr().String(), EvidenceAddr: closedAddr(t), NotifyAddr: closedAddr(t),
		MaxBodyBytes: 1 << 20,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs.URL
}

func keyed(t *testing.T, method, url string, header http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(`{"channel":"CONTACT_CHANNEL_PHONE","identifier":"01463 702000"}`))
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAPIKeysGiveTheTelephonyIdentityOnlyForTheContactCheck(t *testing.T) {
	base := startKeyedGateway(t)
	for _, h := range []http.Header{
		{"X-Api-Key": {telephonySecret}},
		{"Authorization": {"ApiKey " + telephonySecret}},
	} {
		code, body := keyed(t, http.MethodPost, base+"/v1/contact:check", h)
		if code != http.StatusOK || !strings.Contains(body, `telephony-hc|highland-council|telephony`) {
			t.Fatalf("check with %v: %d %s", h, code, body)
		}
	}
	// The board's key: its secret holds a ':', its identity is the board's.
	code, body := keyed(t, http.MethodPost, base+"/v1/contact:check", http.Header{"X-Api-Key": {strings.Repeat("v", 32) + ":x"}})
	if code != http.StatusOK || !strings.Contains(body, `telephony-vb|valuation-board|telephony`) {
		t.Fatalf("board key: %d %s", code, body)
	}
	code, body = keyed(t, http.MethodPost, base+"/v1/contact:check", http.Header{"X-Api-Key": {strings.Repeat("s", 39) + "t"}})
	if code != http.StatusUnauthorized || strings.Contains(body, "sss") {
		t.Fatalf("wrong key: %d %s", code, body)
	}
	// A key calls nothing else.
	for _, route := range []string{http.MethodGet + " /v1/restrictions", http.MethodPost + " /v1/incidents", http.MethodGet + " /v1/contact:check"} {
		method, path, _ := strings.Cut(route, " ")
		if code, body := keyed(t, method, base+path, http.Header{"X-Api-Key": {telephonySecret}}); code != http.StatusForbidden {
			t.Errorf("%s with a key: %d %s", route, code, body)
		}
	}
	// Bearer tokens still work; nothing at all is 401.
	tok, _ := tokens.Sign(identity.Identity{StaffID: "hc-sc-1", Organization: "highland-council", Roles: []string{"staff"}})
	if code, body := keyed(t, http.MethodPost, base+"/v1/contact:check", http.Header{"Authorization": {"Bearer " + tok}}); code != http.StatusOK || !strings.Contains(body, "hc-sc-1") {
		t.Errorf("bearer: %d %s", code, body)
	}
	if code, _ := keyed(t, http.MethodPost, base+"/v1/contact:check", http.Header{}); code != http.StatusUnauthorized {
		t.Errorf("anonymous: %d", code)
	}
}

func TestParseAPIKeysRefusesBadEntriesWithoutShowingSecrets(t *testing.T) {
	secret := strings.Repeat("q", 32)
	for _, tt := range []struct{ spec, want string }{
		{"telephony-hc", "not name=secret"},
		{"telephony-hc=short:highland-council:telephony", "at least 32"},
		{"telephony-hc=" + secret + ":atlantis:telephony", "no policy profile"},
		{"telephony-hc=" + secret + ":highland-council:Tele Phony", "not a role"},
		{"Bad Name=" + secret + ":highland-council:telephony", "not a client name"},
		{"a=" + secret + ":highland-council:telephony,a=" + secret + "x:highland-council:telephony", "twice"},
		{"a=" + secret + "highland-council", "secret:organization:role"},
	} {
		_, err := gw.ParseAPIKeys(tt.spec)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.spec, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("error shows the secret: %v", err)
		}
	}
	keys, err := gw.ParseAPIKeys("")
	if err != nil || keys.Len() != 0 {
		t.Errorf("empty: %v %v", keys.Len(), err)
	}
}
