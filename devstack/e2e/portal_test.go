package e2e

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/contactguard/contactguard/devstack/mailsink"
)

// portalLink returns the path of the portal link to collection in a
// notification email, checking it starts with the stack's PORTAL_URL.
func (s *testStack) portalLink(t *testing.T, m mailsink.Message, collection string) string {
	t.Helper()
	re := regexp.MustCompile(`https?://[^\s"<>]+/` + collection + `/[A-Za-z0-9_-]+`)
	link := re.FindString(m.Text)
	if link == "" {
		link = re.FindString(m.Raw)
	}
	if link == "" {
		t.Fatalf("no /%s/ link in %s:\n%s", collection, describe(m), m.Text)
	}
	if !strings.HasPrefix(link, s.cfg.PortalURL+"/") {
		t.Fatalf("link %q does not start with PORTAL_URL %q", link, s.cfg.PortalURL)
	}
	return strings.TrimPrefix(link, s.cfg.PortalURL)
}

// openShell opens a portal path the way a browser following the link does
// (no token) and checks it is the portal's shell with its headers.
func (s *testStack) openShell(t *testing.T, path string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.gateway+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET %s (the emailed link): %d %q, want the portal page: %.300s", path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if !strings.Contains(string(body), `src="/portal/app.js"`) {
		t.Fatalf("GET %s is not the portal shell: %.300s", path, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("GET %s: CSP %q Cache-Control %q", path, csp, resp.Header.Get("Cache-Control"))
	}
	for _, asset := range []string{"/portal/app.js", "/portal/portal.css"} {
		r, err := client.Get(s.gateway + asset)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", asset, r.StatusCode)
		}
	}
}

// pageCalls makes the API calls the portal's page makes for a record and
// fails unless each succeeds; it returns the record.
func (s *testStack) pageCalls(t *testing.T, tok string, paths ...string) response {
	t.Helper()
	var first response
	for i, p := range paths {
		r := s.call(t, http.MethodGet, p, tok, nil)
		expect(t, r, "the portal's call GET "+p, http.StatusOK)
		if i == 0 {
			first = r
		}
	}
	return first
}

// The line manager follows the link in the report email: the portal page
// answers, and every API call the incident page makes succeeds with her
// token (incident.js: the record, evidence, restrictions, timeline; app.js
// and shared.js: the staff directory for names).
func TestPortalOpensTheIncidentLinkFromTheEmail(t *testing.T) {
	s := need(t)
	officer := s.token(t, councilOfficer)
	inc := s.report(t, officer, "Caller swore at the officer; report for the portal test.")
	name, ref := inc.str("name"), inc.str("reference")

	mail := s.waitForMail(t, councilManager, []string{ref}, 30*time.Second)[ref]
	path := s.portalLink(t, mail[0], "incidents")
	if path != "/"+name {
		t.Fatalf("the email links to %s, want /%s", path, name)
	}
	s.openShell(t, path)

	// Signing in as the recipient: dev mode lists her and issues her token.
	staff := s.call(t, http.MethodGet, "/dev/staff", "", nil)
	expect(t, staff, "GET /dev/staff", http.StatusOK)
	if !strings.Contains(staff.Raw, `"staff_id":"hc-tl-1"`) {
		t.Fatalf("GET /dev/staff does not list hc-tl-1: %.300s", staff.Raw)
	}
	manager := s.token(t, "hc-tl-1")
	filter := url.QueryEscape(name)
	got := s.pageCalls(t, manager,
		"/v1"+path,
		"/v1/staff/hc-tl-1",
		"/v1/staff/"+councilOfficer,
		"/v1/evidence?incident="+filter+"&pageSize=100",
		"/v1/restrictions?incident="+filter+"&pageSize=100",
		"/v1"+path+"/events?pageSize=100",
		"/v1/incidents:reviewQueue?pageSize=50",
		"/v1/incidents?pageSize=20",
	)
	if got.str("reference") != ref {
		t.Errorf("the page's record has reference %q, the email %q", got.str("reference"), ref)
	}
	events := s.call(t, http.MethodGet, "/v1"+path+"/events?pageSize=100", manager, nil)
	if list, _ := events.JSON["events"].([]any); len(list) == 0 {
		t.Errorf("the timeline is empty: %s", events.Raw)
	}
	// The review form's call, as the page sends it (with expectedVersion).
	r := s.call(t, http.MethodPost, "/v1"+path+":review", manager, map[string]any{
		"review": map[string]any{
			"outcome": "REVIEW_OUTCOME_RESTORATIVE_APPROACH", "reasons": "First incident; agreed call-back times.",
			"updateRegister": true, "correspondenceUnacceptable": false, "openInvestigation": false,
			"investigationReference": "", "proposedArrangements": "",
		},
		"expectedVersion": got.JSON["version"],
	})
	expect(t, r, "the portal's review form", http.StatusOK)
	// An officer sending the same form is refused with a message for people.
	r = s.call(t, http.MethodPost, "/v1"+path+":close", officer, map[string]any{"reason": "x", "expectedVersion": r.JSON["version"]})
	if r.Code != http.StatusForbidden || r.str("message") == "" {
		t.Errorf("an officer closing: %d %s, want 403 with a message", r.Code, r.Raw)
	}
}

// The appeal officer follows the link in the "appeal assigned" email to
// the restriction page; the calls restriction.js makes succeed with her token.
func TestPortalOpensTheRestrictionLinkFromTheEmail(t *testing.T) {
	s := need(t)
	officer, leader, eco := s.token(t, councilOfficer), s.token(t, "hc-tl-1"), s.token(t, "hc-eco-1")
	national, _ := phoneNumber("1463")
	subject := s.subjectWithPhone(t, officer, national)
	incident := s.activeManagementReview(t, officer, leader, subject)
	proposal := s.waitProposal(t, leader, subject, incident)
	name, _ := proposal["name"].(string)
	ref, _ := proposal["reference"].(string)
	expect(t, s.call(t, http.MethodPost, "/v1/"+name+":decide", leader, decideBody()), "decide", http.StatusOK)
	expect(t, s.call(t, http.MethodPost, "/v1/"+name+":appeal", officer, map[string]any{"grounds": "The customer disputes it."}), "lodge the appeal", http.StatusOK)
	expect(t, s.call(t, http.MethodPost, "/v1/"+name+":assignAppeal", eco, map[string]any{"appealOfficer": "hc-eco-1"}), "assign the appeal", http.StatusOK)

	const ecoMail = "catriona.sutherland@highland.example.org"
	mail := s.waitForMail(t, ecoMail, []string{ref}, 30*time.Second)[ref]
	path := ""
	for _, m := range mail {
		if strings.Contains(m.Text, "/restrictions/") {
			path = s.portalLink(t, m, "restrictions")
			break
		}
	}
	if path != "/"+name {
		t.Fatalf("the email to the appeal officer links to %q, want /%s", path, name)
	}
	s.openShell(t, path)
	got := s.pageCalls(t, eco,
		"/v1"+path,
		"/v1/staff/hc-eco-1",
		"/v1"+path+"/letters?pageSize=100",
		"/v1"+path+"/events?pageSize=100",
		"/v1/restrictions?reviewDueBefore="+url.QueryEscape(time.Now().AddDate(0, 0, 30).UTC().Format(time.RFC3339))+"&pageSize=50",
	)
	if got.str("reference") != ref || got.str("state") == "" {
		t.Errorf("the page's record: %s", got.Raw)
	}
	// The subject page linked from it.
	s.openShell(t, "/"+subject)
	s.pageCalls(t, eco,
		"/v1/"+subject,
		"/v1/"+subject+"/marker",
		"/v1/restrictions?subject="+url.QueryEscape(subject)+"&pageSize=100",
		"/v1/incidents?subject="+url.QueryEscape(subject)+"&pageSize=100",
		"/v1/"+subject+"/events?pageSize=100",
	)
}
