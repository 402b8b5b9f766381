package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// decideBody imposes an automated-service restriction on phone calls.
func decideBody() map[string]any {
	return map[string]any{
		"outcome": "OUTCOME_IMPOSED", "reasons": "Proportionate after two warnings about abusive calls.",
		"behaviour": "Abusive phone calls to the service centre.", "impact": "Staff distressed; other callers kept waiting.",
		"reviewTime":  time.Now().UTC().AddDate(0, 3, 0).Format(time.RFC3339),
		"noEndReason": "Until the review.",
		"rules":       []any{map[string]any{"automatedService": map[string]any{}}},
	}
}

// waitProposal waits until the review's proposal appears for the subject.
func (s *testStack) waitProposal(t *testing.T, tok, subject, incident string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, r := range s.restrictionsOf(t, tok, subject) {
			if r["proposedFromIncident"] == incident {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no restriction proposed for %s from %s within 30s", subject, incident)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func londonDate(t *testing.T, rfc3339 any) string {
	t.Helper()
	s, _ := rfc3339.(string)
	ts, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("not a time: %v", rfc3339)
	}
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	return ts.In(loc).Format("2 January 2006")
}

// Council: an incident reviewed as active management proposes a
// restriction; a customer-service officer cannot decide it, the team leader
// does; within a second the telephony system (REST and gRPC) routes the
// number, however written, to the automated service; the letter gives the
// review date and the appeal deadline; the appeal is heard by the appeal
// role and refused to the original decider.
func TestRestrictionCouncilFromReviewToAppeal(t *testing.T) {
	s := need(t)
	officer, leader, eco := s.token(t, councilOfficer), s.token(t, "hc-tl-1"), s.token(t, "hc-eco-1")
	national, e164 := phoneNumber("1463")
	subject := s.subjectWithPhone(t, officer, national)
	incident := s.activeManagementReview(t, officer, leader, subject)
	proposal := s.waitProposal(t, leader, subject, incident)
	name := proposal["name"].(string)
	if proposal["state"] != "STATE_PROPOSED" {
		t.Fatalf("proposal state %v", proposal["state"])
	}
	t.Logf("%s proposed from %s (subject %s)", proposal["reference"], incident, subject)
	if got := s.checkPhone(t, councilTelephonyKey, national); got != "TREATMENT_ALLOW" {
		t.Fatalf("a proposal applies: %s", got)
	}

	r := s.call(t, http.MethodPost, "/v1/"+name+":decide", officer, decideBody())
	expect(t, r, "a customer-service officer decides", http.StatusForbidden)
	r = s.call(t, http.MethodPost, "/v1/"+name+":decide", leader, decideBody())
	expect(t, r, "the team leader decides", http.StatusOK)
	decided := time.Now()
	if r.str("state") != "STATE_ACTIVE" {
		t.Fatalf("decided: %s", r.Raw)
	}
	for s.checkPhone(t, councilTelephonyKey, national) != "TREATMENT_AUTOMATED_SERVICE" {
		if time.Since(decided) > time.Second {
			t.Fatalf("the check does not answer the automated service one second after the decision")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("REST check answered the automated service %s after the decision", time.Since(decided).Round(time.Millisecond))
	plus44 := "+44 " + strings.TrimPrefix(national, "0")
	for _, n := range []string{national, plus44, strings.ReplaceAll(national, " ", ""), e164} {
		if got := s.checkPhone(t, councilTelephonyKey, n); got != "TREATMENT_AUTOMATED_SERVICE" {
			t.Errorf("REST check of %q: %s", n, got)
		}
	}
	tok := s.serviceToken(t, "telephony-hc", councilOrg)
	for _, n := range []string{national, plus44, e164} {
		if got := s.grpcCheckPhone(t, tok, n); got != 2 {
			t.Errorf("gRPC check of %q: treatment %d, want 2 (automated service)", n, got)
		}
	}
	// The telephony key may call nothing else.
	if r := s.keyCall(t, http.MethodPost, "/v1/incidents", councilTelephonyKey, incidentBody("x")); r.Code != http.StatusForbidden {
		t.Errorf("telephony key on /v1/incidents: %d %s", r.Code, r.Raw)
	}

	// The letter.
	letter := s.call(t, http.MethodPost, "/v1/"+name+":generateLetter", leader, map[string]any{"kind": "KIND_DECISION"})
	expect(t, letter, "generate the decision letter", http.StatusOK)
	got := s.call(t, http.MethodGet, "/v1/"+name, leader, nil)
	expect(t, got, "GET "+name, http.StatusOK)
	review, deadline := londonDate(t, got.JSON["nextReviewTime"]), londonDate(t, got.JSON["appealDeadlineTime"])
	for _, want := range []string{review, deadline, "automated service"} {
		if !strings.Contains(letter.str("text"), want) || !strings.Contains(letter.str("html"), want) {
			t.Errorf("the letter lacks %q:\n%s", want, letter.str("text"))
		}
	}

	// The appeal.
	r = s.call(t, http.MethodPost, "/v1/"+name+":appeal", officer, map[string]any{"grounds": "The customer says the calls were not abusive."})
	expect(t, r, "lodge the appeal", http.StatusOK)
	r = s.call(t, http.MethodPost, "/v1/"+name+":decideAppeal", leader, map[string]any{"outcome": "OUTCOME_LIFTED", "reasons": "x"})
	expect(t, r, "the original decider hears the appeal", http.StatusForbidden)
	r = s.call(t, http.MethodPost, "/v1/"+name+":assignAppeal", eco, map[string]any{"appealOfficer": "hc-tl-1"})
	expect(t, r, "assign the appeal to the original decider", http.StatusBadRequest)
	r = s.call(t, http.MethodPost, "/v1/"+name+":assignAppeal", eco, map[string]any{"appealOfficer": "hc-eco-1"})
	expect(t, r, "assign the appeal to the executive chief officer", http.StatusOK)
	r = s.call(t, http.MethodPost, "/v1/"+name+":decideAppeal", eco, map[string]any{"outcome": "OUTCOME_UPHELD", "reasons": "The recordings show abusive calls."})
	expect(t, r, "the executive chief officer decides the appeal", http.StatusOK)
	if r.str("state") != "STATE_ACTIVE" {
		t.Errorf("after the upheld appeal: %s", r.Raw)
	}
}

// Board: the line manager decides (a member of staff cannot); the appeal is
// heard by the Assessor and refused to the original decider.
func TestRestrictionBoardLineManagerDecidesAssessorHearsAppeal(t *testing.T) {
	s := need(t)
	staff, lm, assessor := s.token(t, valuationStaff), s.token(t, "vb-lm-1"), s.token(t, "vb-ass-1")
	national, _ := phoneNumber("1851")
	subject := s.subjectWithPhone(t, staff, national)
	incident := s.activeManagementReview(t, staff, lm, subject)
	name := s.waitProposal(t, lm, subject, incident)["name"].(string)
	expect(t, s.call(t, http.MethodPost, "/v1/"+name+":decide", staff, decideBody()), "board staff decides", http.StatusForbidden)
	expect(t, s.call(t, http.MethodPost, "/v1/"+name+":decide", s.token(t, councilOfficer), decideBody()), "the council decides the board's", http.StatusNotFound)
	expect(t, s.call(t, http.MethodPost, "/v1/"+name+":decide", lm, decideBody()), "the board line manager decides", http.StatusOK)
	waitTreatment(t, s, boardTelephonyKey, national, "TREATMENT_AUTOMATED_SERVICE")
	// The council's telephony never gets the board's restriction.
	if got := s.checkPhone(t, councilTelephonyKey, national); got != "TREATMENT_ALLOW" {
		t.Errorf("council check of the board's restricted number: %s", got)
	}
	letter := s.call(t, http.MethodPost, "/v1/"+name+":generateLetter", lm, map[string]any{"kind": "KIND_DECISION"})
	expect(t, letter, "board letter", http.StatusOK)
	if !strings.Contains(letter.str("text"), "the assessor") {
		t.Errorf("the board's letter does not name the Assessor as appeal role:\n%s", letter.str("text"))
	}
	expect(t, s.call(t, http.MethodPost, "/v1/"+name+":appeal", staff, map[string]any{"grounds": "Unfair."}), "lodge", http.StatusOK)
	expect(t, s.call(t, http.MethodPost, "/v1/"+name+":decideAppeal", lm, map[string]any{"outcome": "OUTCOME_LIFTED", "reasons": "x"}), "decider hears appeal", http.StatusForbidden)
	expect(t, s.call(t, http.MethodPost, "/v1/"+name+":decideAppeal", s.token(t, "vb-dass-1"), map[string]any{"outcome": "OUTCOME_LIFTED", "reasons": "x"}), "depute assessor hears appeal", http.StatusForbidden)
	r := s.call(t, http.MethodPost, "/v1/"+name+":decideAppeal", assessor, map[string]any{"outcome": "OUTCOME_LIFTED", "reasons": "A first offence; lifted."})
	expect(t, r, "the Assessor decides the appeal", http.StatusOK)
	if r.str("state") != "STATE_LIFTED" {
		t.Errorf("after lifting: %s", r.Raw)
	}
	waitTreatment(t, s, boardTelephonyKey, national, "TREATMENT_ALLOW")
}

func waitTreatment(t *testing.T, s *testStack, key, number, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		got := s.checkPhone(t, key, number)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("check of %s: %s, want %s within a second", number, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// "3 calls per week" refuses the 4th recorded call; an unrestricted number
// is allowed; another organisation's restriction never applies.
func TestRestrictionVolumeLimitRefusesTheFourthCall(t *testing.T) {
	s := need(t)
	officer, sup := s.token(t, councilOfficer), s.token(t, "hc-sup-1")
	national, e164 := phoneNumber("1463")
	subject := s.subjectWithPhone(t, officer, national)
	incident := s.reportAbout(t, officer, subject)
	r := s.call(t, http.MethodPost, "/v1/restrictions", officer, map[string]any{
		"subject": subject, "incidents": []string{incident},
		"behaviour": "Calls many times a day.", "impact": "Blocks the line for other callers.",
		"rules": []any{map[string]any{"volumeLimit": map[string]any{"channel": "CONTACT_CHANNEL_PHONE", "maxContacts": 3, "period": "604800s"}}},
	})
	expect(t, r, "propose a volume limit", http.StatusOK)
	name := r.str("name")
	d := decideBody()
	delete(d, "rules")
	expect(t, s.call(t, http.MethodPost, "/v1/"+name+":decide", sup, d), "the supervisor decides", http.StatusOK)
	for i := 1; i <= 3; i++ {
		waitTreatment(t, s, councilTelephonyKey, national, "TREATMENT_ALLOW")
		rec := s.keyCall(t, http.MethodPost, "/v1/contact:record", councilTelephonyKey, map[string]any{
			"channel": "CONTACT_CHANNEL_PHONE", "identifier": e164, "requestId": "call-" + randomHex(4),
		})
		expect(t, rec, "record a call", http.StatusOK)
		if rec.JSON["limited"] != true || rec.JSON["count"] != float64(i) || rec.JSON["maxContacts"] != float64(3) {
			t.Fatalf("record call %d: %s", i, rec.Raw)
		}
	}
	if got := s.checkPhone(t, councilTelephonyKey, national); got != "TREATMENT_REFUSE_LIMIT_REACHED" {
		t.Fatalf("4th call: %s", got)
	}
	other, _ := phoneNumber("1463")
	if got := s.checkPhone(t, councilTelephonyKey, other); got != "TREATMENT_ALLOW" {
		t.Errorf("unrestricted number: %s", got)
	}
	if got := s.checkPhone(t, boardTelephonyKey, national); got != "TREATMENT_ALLOW" {
		t.Errorf("the board's telephony, same number: %s", got)
	}
}

// Invalid input is 400 naming the field.
func TestRestrictionInvalidInputNamesTheField(t *testing.T) {
	s := need(t)
	officer, leader := s.token(t, councilOfficer), s.token(t, "hc-tl-1")
	national, _ := phoneNumber("1463")
	subject := s.subjectWithPhone(t, officer, national)
	incident := s.reportAbout(t, officer, subject)
	propose := func(rules ...any) response {
		return s.call(t, http.MethodPost, "/v1/restrictions", officer, map[string]any{"subject": subject, "incidents": []string{incident}, "rules": rules})
	}
	wantField := func(r response, what, field string) {
		t.Helper()
		expect(t, r, what, http.StatusBadRequest)
		if !strings.Contains(r.str("message"), field) {
			t.Errorf("%s: message %q does not name %s", what, r.str("message"), field)
		}
	}
	wantField(propose(map[string]any{}), "a rule of no kind", "restriction.rules[0]")
	wantField(propose(map[string]any{"teleport": map[string]any{}}), "an unknown kind", "teleport")
	wantField(propose(map[string]any{"volumeLimit": map[string]any{"maxContacts": -3, "period": "604800s"}}), "a negative limit", "restriction.rules[0].volume_limit.max_contacts")
	r := propose(map[string]any{"automatedService": map[string]any{}})
	expect(t, r, "a valid proposal", http.StatusOK)
	name := r.str("name")
	end := decideBody()
	end["startTime"] = time.Now().UTC().Add(48 * time.Hour).Format(time.RFC3339)
	end["endTime"] = time.Now().UTC().Add(24 * time.Hour).Format(time.RFC3339)
	delete(end, "noEndReason")
	wantField(s.call(t, http.MethodPost, "/v1/"+name+":decide", leader, end), "end before start", "end_time")
	past := decideBody()
	past["reviewTime"] = time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	wantField(s.call(t, http.MethodPost, "/v1/"+name+":decide", leader, past), "review in the past", "review_time")
	c := s.keyCall(t, http.MethodPost, "/v1/contact:check", councilTelephonyKey, map[string]any{"channel": "CONTACT_CHANNEL_PHONE", "identifier": "call me maybe"})
	wantField(c, "an unparseable phone number", "identifier")
	expect(t, s.call(t, http.MethodGet, "/v1/restrictions/doesnotexist", leader, nil), "an unknown restriction", http.StatusNotFound)
}

// A restriction cites only incidents of the organisation that the proposer
// may read (C24): restriction-svc asks incident-svc as the caller. An
// unknown or another organisation's incident is 404 naming the field,
// another officer's incident 403; nothing is recorded.
func TestRestrictionCitesOnlyIncidentsTheProposerMayRead(t *testing.T) {
	s := need(t)
	officer, colleague, boardStaff := s.token(t, councilOfficer), s.token(t, "hc-cso-2"), s.token(t, valuationStaff)
	national, _ := phoneNumber("1463")
	subject := s.subjectWithPhone(t, officer, national)
	incident := s.reportAbout(t, officer, subject)
	propose := func(tok, subject, incident string) response {
		return s.call(t, http.MethodPost, "/v1/restrictions", tok, map[string]any{
			"subject": subject, "incidents": []string{incident}, "behaviour": "Abusive calls.",
			"rules": []any{map[string]any{"automatedService": map[string]any{}}},
		})
	}
	wantMessage := func(r response, what string, code int, parts ...string) {
		t.Helper()
		expect(t, r, what, code)
		for _, p := range parts {
			if !strings.Contains(r.str("message"), p) {
				t.Errorf("%s: message %q lacks %q", what, r.str("message"), p)
			}
		}
	}
	unknown := otherID(incident)
	wantMessage(propose(officer, subject, unknown), "citing an unknown incident", http.StatusNotFound,
		"restriction.incidents: "+unknown+" is not an incident of The Highland Council")
	wantMessage(propose(colleague, subject, incident), "citing another officer's incident", http.StatusForbidden,
		"restriction.incidents:", "you may not read "+incident)
	boardNational, _ := phoneNumber("1851")
	boardSubject := s.subjectWithPhone(t, boardStaff, boardNational)
	wantMessage(propose(boardStaff, boardSubject, incident), "the board citing the council's incident", http.StatusNotFound,
		"restriction.incidents: "+incident+" is not an incident of")
	if got := s.restrictionsOf(t, s.token(t, "hc-tl-1"), subject); len(got) != 0 {
		t.Fatalf("refused proposals were recorded: %v", got)
	}
	if got := s.restrictionsOf(t, s.token(t, "vb-lm-1"), boardSubject); len(got) != 0 {
		t.Fatalf("the board's refused proposal was recorded: %v", got)
	}
	expect(t, propose(officer, subject, incident), "citing the officer's own incident", http.StatusOK)
}
