package e2e

import (
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"
)

// Staff named publicly (C78-C86), council profile: the online monitor
// records a post naming a customer service officer. The officer's line
// manager, the Head of People and (cc) Corporate Communications are emailed
// with the reference and a link only (C78-C79); the steps are recorded by
// the roles the policy names.
func TestStaffNamedPubliclyEmailsTheCouncilsRecipients(t *testing.T) {
	s := need(t)
	const (
		finder       = "hc-om-1"  // online monitor
		named        = "hc-cso-2" // Callum Ross, line manager hc-tl-1
		lineManager  = "isla.macleod@highland.example.org"
		headOfPeople = "shona.macdonald@highland.example.org"
		corpComms    = "ruaridh.campbell@highland.example.org"
		pageURL      = "https://social.example/groups/highland-matters/posts/5521"
		pageContent  = "Callum Ross at the council is useless and should be sacked"
	)
	tok := s.token(t, finder)
	r := s.call(t, http.MethodPost, "/v1/publicNamings", tok, map[string]any{
		"staffMember":    named,
		"url":            pageURL,
		"platform":       "facebook",
		"screenshots":    []string{"evidence/e2eshot1"},
		"description":    "The post says: " + pageContent + ".",
		"intentToRecord": false,
	})
	expect(t, r, "POST /v1/publicNamings", http.StatusOK)
	name, ref := r.str("name"), r.str("reference")
	if !strings.HasPrefix(name, "publicNamings/") || !strings.HasPrefix(ref, "HC-PN-") || r.str("reporter") != finder ||
		r.str("staffMember") != named || r.str("state") != "STATE_OPEN" {
		t.Fatalf("created %s", r.Raw)
	}
	t.Logf("case %s (%s)", name, ref)

	// C78: line manager, Head of People, cc Corporate Communications.
	want := []string{lineManager, corpComms, headOfPeople} // sorted
	for _, addr := range want {
		s.waitForMail(t, addr, []string{ref}, 30*time.Second)
	}
	time.Sleep(time.Second) // let a duplicate or a wider recipient show up
	var got []string
	for _, m := range s.mail(t) {
		if !mentions(m, ref) {
			continue
		}
		for _, to := range m.To {
			got = append(got, strings.ToLower(strings.Trim(strings.TrimSpace(to), "<>")))
		}
		// C79 and section 5: a reference and a link, never the material.
		for _, part := range []string{m.Subject, m.Text, m.Raw} {
			if strings.Contains(part, pageContent) || strings.Contains(part, "useless") || strings.Contains(part, pageURL) || strings.Contains(part, "e2eshot1") {
				t.Errorf("email %s carries the material:\n%s", describe(m), m.Raw)
				break
			}
		}
		if !strings.Contains(m.Text, "http://localhost:8080/") {
			t.Errorf("email %s has no link to the portal:\n%s", describe(m), m.Text)
		}
	}
	sort.Strings(got)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("emailed %v, want exactly one each to %v (no wider than needed)", got, want)
	}

	// Need to know: the line manager reads it; a colleague may not; the
	// other organisation does not see it exists.
	expect(t, s.call(t, http.MethodGet, "/v1/"+name, s.token(t, "hc-tl-1"), nil), "GET as line manager", http.StatusOK)
	expect(t, s.call(t, http.MethodGet, "/v1/"+name, s.token(t, "hc-cso-1"), nil), "GET as a colleague", http.StatusForbidden)
	expect(t, s.call(t, http.MethodGet, "/v1/"+name, s.token(t, "vb-smt-1"), nil), "GET from the board", http.StatusNotFound)

	step := func(staff string, body map[string]any) response {
		return s.call(t, http.MethodPost, "/v1/"+name+":recordStep", s.token(t, staff), body)
	}
	// C80: the line manager informs the staff member (known from notify-svc's directory).
	expect(t, step("hc-hop-1", map[string]any{"step": map[string]any{"kind": "PUBLIC_NAMING_STEP_KIND_STAFF_MEMBER_INFORMED"}}),
		"C80 by Head of People", http.StatusForbidden)
	expect(t, step("hc-tl-1", map[string]any{"step": map[string]any{"kind": "PUBLIC_NAMING_STEP_KIND_STAFF_MEMBER_INFORMED", "note": "Told in private."}, "expectedVersion": "1"}),
		"C80 by line manager", http.StatusOK)
	// Optimistic concurrency: a stale version is a conflict.
	expect(t, step("hc-tl-1", map[string]any{"step": map[string]any{"kind": "PUBLIC_NAMING_STEP_KIND_SUPPORT_OFFERED"}, "expectedVersion": "1"}),
		"stale expected version", http.StatusConflict)
	// C82: Corporate Communications asks the editor.
	expect(t, step("hc-hop-1", map[string]any{"step": map[string]any{"kind": "PUBLIC_NAMING_STEP_KIND_REMOVAL_REQUESTED", "recipient": "editor"}}),
		"C82 by Head of People", http.StatusForbidden)
	expect(t, step("hc-cc-1", map[string]any{"step": map[string]any{"kind": "PUBLIC_NAMING_STEP_KIND_REMOVAL_REQUESTED", "recipient": "group admin"}}),
		"C82 by Corporate Communications", http.StatusOK)
	// C84: not without the staff member's agreement.
	bad := step("hc-tl-1", map[string]any{"step": map[string]any{"kind": "PUBLIC_NAMING_STEP_KIND_REPORTED_TO_POLICE"}})
	expect(t, bad, "C84 without agreement", http.StatusBadRequest)
	if !strings.Contains(bad.Raw, "staff_member_agreed") {
		t.Errorf("C84 refusal does not name the field: %s", bad.Raw)
	}
	// C86: the individual with HR.
	done := step("hc-hop-1", map[string]any{
		"step":                   map[string]any{"kind": "PUBLIC_NAMING_STEP_KIND_PERSONAL_RECORD_DECIDED", "staffMemberAgreed": true},
		"personalRecordDecision": map[string]any{"onPersonalRecord": false, "reason": "The staff member prefers no record."},
	})
	expect(t, done, "C86 by Head of People", http.StatusOK)
	if d, _ := done.JSON["personalRecordDecision"].(map[string]any); d == nil || d["decidedWith"] != "hc-hop-1" {
		t.Errorf("decision not recorded: %s", done.Raw)
	}

	// The line manager lists it; the board's SMT does not.
	list := s.call(t, http.MethodGet, "/v1/publicNamings?staffMember="+named, s.token(t, "hc-tl-1"), nil)
	expect(t, list, "GET /v1/publicNamings", http.StatusOK)
	if !strings.Contains(list.Raw, ref) {
		t.Errorf("line manager's list lacks %s: %s", ref, list.Raw)
	}
	board := s.call(t, http.MethodGet, "/v1/publicNamings", s.token(t, "vb-smt-1"), nil)
	expect(t, board, "GET /v1/publicNamings as the board", http.StatusOK)
	if strings.Contains(board.Raw, ref) {
		t.Errorf("the board lists the council's case: %s", board.Raw)
	}
	// Bad input is a 400 naming the field.
	invalid := s.call(t, http.MethodPost, "/v1/publicNamings", tok, map[string]any{"staffMember": named, "url": "ftp://example.org/x"})
	expect(t, invalid, "POST with an ftp URL", http.StatusBadRequest)
	if !strings.Contains(invalid.Raw, "public_naming.url") {
		t.Errorf("refusal does not name public_naming.url: %s", invalid.Raw)
	}
}
