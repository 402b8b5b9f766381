package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// Issue 3 over REST: a manager review refused to the wrong role and
// accepted from the profile's role, in both organisations.
func TestReviewNeedsTheProfilesRole(t *testing.T) {
	s := need(t)
	for _, tt := range []struct{ reporter, wrong, right string }{
		{councilOfficer, "hc-cso-2", "hc-tl-1"},
		{valuationStaff, "vb-staff-2", "vb-lm-1"},
	} {
		inc := s.report(t, s.token(t, tt.reporter), "Review test report.")
		path := "/v1/" + inc.str("name") + ":review"
		review := map[string]any{"review": map[string]any{
			"outcome": "REVIEW_OUTCOME_RESTORATIVE_APPROACH", "reasons": "First incident; agreed call-back times.", "updateRegister": true,
		}}
		r := s.call(t, http.MethodPost, path, s.token(t, tt.wrong), review)
		expect(t, r, "review by "+tt.wrong, http.StatusForbidden)
		r = s.call(t, http.MethodPost, path, s.token(t, tt.right), review)
		expect(t, r, "review by "+tt.right, http.StatusOK)
		if r.str("state") != "STATE_REVIEWED" {
			t.Errorf("state after review = %q", r.str("state"))
		}
		// Missing reasons name the field.
		r = s.call(t, http.MethodPost, path, s.token(t, tt.right), map[string]any{"review": map[string]any{"outcome": "REVIEW_OUTCOME_NO_FURTHER_ACTION"}})
		expect(t, r, "review without reasons", http.StatusBadRequest)
		if !strings.Contains(r.Raw, "review.reasons") {
			t.Errorf("error does not name review.reasons: %s", r.Raw)
		}
	}
}

// C43 over REST: the manager who was threatened cannot decide alone not to
// report to the police; another manager can, recording the reason and
// that the staff member's views and the impact on others were considered.
func TestPoliceNotReportedOnlyByAnotherManager(t *testing.T) {
	s := need(t)
	threatened := s.token(t, "hc-tl-1")
	body := incidentBody("Caller said he would wait outside the office for the team leader.")
	body["categories"] = []string{"CATEGORY_VIOLENCE"}
	body["physicalThreat"] = true
	body["zeroTolerance"] = true
	r := s.call(t, http.MethodPost, "/v1/incidents", threatened, body)
	expect(t, r, "report a physical threat", http.StatusOK)
	name, ref := r.str("name"), r.str("reference")
	decision := map[string]any{"decision": map[string]any{
		"outcome": "OUTCOME_NOT_REPORTED", "reason": "Staff member does not wish to report; caller apologised in writing.",
		"staffViewsConsidered": true, "impactOnOthersConsidered": true,
	}}
	r = s.call(t, http.MethodPost, "/v1/"+name+":recordPoliceDecision", threatened, decision)
	expect(t, r, "not reported by the threatened manager", http.StatusForbidden)
	r = s.call(t, http.MethodPost, "/v1/"+name+":recordPoliceDecision", s.token(t, "hc-mgr-1"), decision)
	expect(t, r, "not reported by another manager", http.StatusOK)
	pd, _ := r.JSON["policeDecision"].(map[string]any)
	if pd["decidedBy"] != "hc-mgr-1" || pd["outcome"] != "OUTCOME_NOT_REPORTED" {
		t.Errorf("police decision = %v", pd)
	}
	// The zero-tolerance report reached senior management too (policy-map
	// section 5), with the reference only.
	msgs := s.waitForMail(t, "alasdair.mackenzie@highland.example.org", []string{ref}, 30*time.Second)
	for _, m := range msgs[ref] {
		if strings.Contains(m.Raw, "wait outside the office") {
			t.Errorf("the email carries the description: %s", m.Raw)
		}
	}
	// The timeline shows both attempts' outcome: report, then the decision.
	tl := s.call(t, http.MethodGet, "/v1/"+name+"/events", threatened, nil)
	expect(t, tl, "timeline", http.StatusOK)
	events, _ := tl.JSON["events"].([]any)
	if len(events) != 2 {
		t.Fatalf("timeline = %s", tl.Raw)
	}
}
