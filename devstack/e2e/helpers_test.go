package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/contactguard/contactguard/devstack/mailsink"
)

// The seeded staff the tests act as (platform/directory/seed.json).
const (
	councilOfficer  = "hc-cso-1" // Highland Council customer service officer
	councilManager  = "isla.macleod@highland.example.org"
	valuationStaff  = "vb-staff-1" // Valuation Joint Board
	councilOrg      = "highland-council"
	testDescription = "Caller shouted and swore at the officer repeatedly."
)

var client = &http.Client{Timeout: 30 * time.Second}

// response is an HTTP answer with its JSON body decoded (when it is an object).
type response struct {
	Code int
	Raw  string
	JSON map[string]any
}

func (r response) str(key string) string {
	s, _ := r.JSON[key].(string)
	return s
}

// call sends method path to the gateway. body may be nil, a string (sent as
// is) or anything else (sent as JSON). token may be empty.
func (s *testStack) call(t *testing.T, method, path, token string, body any) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.gateway+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	r := response{Code: resp.StatusCode, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.JSON)
	return r
}

// expect fails the test unless the response has the wanted status.
func expect(t *testing.T, r response, what string, codes ...int) {
	t.Helper()
	for _, c := range codes {
		if r.Code == c {
			return
		}
	}
	t.Fatalf("%s: status %d, want %v; body: %s", what, r.Code, codes, r.Raw)
}

// token gets a dev token for a seeded staff member.
func (s *testStack) token(t *testing.T, staffID string) string {
	t.Helper()
	r := s.call(t, http.MethodPost, "/dev/token", "", map[string]string{"staff_id": staffID})
	expect(t, r, "POST /dev/token "+staffID, http.StatusOK)
	tok := r.str("token")
	if tok == "" {
		t.Fatalf("POST /dev/token %s: no token in %s", staffID, r.Raw)
	}
	return tok
}

// incidentBody is a valid report; description may be changed per call.
func incidentBody(description string) map[string]any {
	return map[string]any{
		"categories":  []string{"CATEGORY_ABUSE"},
		"channel":     "CHANNEL_PHONE",
		"occurTime":   time.Now().UTC().Add(-time.Hour).Format(time.RFC3339),
		"location":    "Phone line",
		"description": description,
	}
}

// report files an incident and checks the answer; it returns the incident JSON.
func (s *testStack) report(t *testing.T, token, description string) response {
	t.Helper()
	r := s.call(t, http.MethodPost, "/v1/incidents", token, incidentBody(description))
	expect(t, r, "POST /v1/incidents", http.StatusOK)
	if !strings.HasPrefix(r.str("name"), "incidents/") {
		t.Fatalf("incident name %q, want incidents/...; body %s", r.str("name"), r.Raw)
	}
	if r.str("reference") == "" {
		t.Fatalf("incident has no reference: %s", r.Raw)
	}
	return r
}

// mail returns every message in the sink.
func (s *testStack) mail(t *testing.T) []mailsink.Message {
	t.Helper()
	resp, err := client.Get(s.sinkURL + "/api/messages")
	if err != nil {
		t.Fatalf("mail sink: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mail sink: %s", resp.Status)
	}
	var msgs []mailsink.Message
	if err := json.NewDecoder(resp.Body).Decode(&msgs); err != nil {
		t.Fatalf("mail sink: %v", err)
	}
	return msgs
}

// mentions reports whether the subject or text names the reference as a
// whole word (so HC-1 does not match HC-10).
func mentions(m mailsink.Message, ref string) bool {
	re := regexp.MustCompile(`(^|[^A-Za-z0-9])` + regexp.QuoteMeta(ref) + `($|[^A-Za-z0-9])`)
	return re.MatchString(m.Subject) || re.MatchString(m.Text)
}

func sentTo(m mailsink.Message, addr string) bool {
	for _, to := range m.To {
		if strings.EqualFold(strings.Trim(strings.TrimSpace(to), "<>"), addr) {
			return true
		}
	}
	return false
}

// mailFor returns the messages to addr that mention ref.
func mailFor(msgs []mailsink.Message, addr, ref string) []mailsink.Message {
	var out []mailsink.Message
	for _, m := range msgs {
		if sentTo(m, addr) && mentions(m, ref) {
			out = append(out, m)
		}
	}
	return out
}

// waitForMail waits until every reference has at least one message to addr,
// then returns the messages per reference.
func (s *testStack) waitForMail(t *testing.T, addr string, refs []string, timeout time.Duration) map[string][]mailsink.Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs := s.mail(t)
		got := map[string][]mailsink.Message{}
		var waiting []string
		for _, ref := range refs {
			got[ref] = mailFor(msgs, addr, ref)
			if len(got[ref]) == 0 {
				waiting = append(waiting, ref)
			}
		}
		if len(waiting) == 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s no mail to %s for %d of %d references: %v (the sink holds %d messages)",
				timeout, addr, len(waiting), len(refs), waiting, len(msgs))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// otherID returns an id shaped like id (same length and alphabet class) that
// is almost surely unknown: its last alphanumerics are replaced.
func otherID(id string) string {
	b := []byte(id)
	changed := 0
	for i := len(b) - 1; i >= 0 && changed < 8; i-- {
		c := b[i]
		if (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') {
			if c == '0' {
				b[i] = '1'
			} else {
				b[i] = '0'
			}
			changed++
		}
	}
	return string(b)
}

func describe(m mailsink.Message) string {
	return fmt.Sprintf("[%s to %v subject %q]", m.ID, m.To, m.Subject)
}
