package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/contactguard/contactguard/devstack/stack"
)

// A council officer reports an incident; it can be read back, and the
// officer's line manager gets one email with the reference and without the details.
func TestReportIncidentEmailsLineManager(t *testing.T) {
	s := need(t)
	tok := s.token(t, councilOfficer)

	inc := s.report(t, tok, testDescription)
	name, ref := inc.str("name"), inc.str("reference")
	if got := inc.str("organization"); got != councilOrg {
		t.Errorf("organization = %q, want %q", got, councilOrg)
	}
	if got := inc.str("reporter"); got != councilOfficer {
		t.Errorf("reporter = %q, want %q", got, councilOfficer)
	}
	t.Logf("reported %s (%s)", name, ref)

	got := s.call(t, http.MethodGet, "/v1/"+name, tok, nil)
	expect(t, got, "GET /v1/"+name, http.StatusOK)
	if got.str("reference") != ref || got.str("name") != name {
		t.Errorf("GET returned name %q reference %q, want %q %q", got.str("name"), got.str("reference"), name, ref)
	}

	s.waitForMail(t, councilManager, []string{ref}, 30*time.Second)
	// Give a duplicate a moment to show up before counting.
	time.Sleep(time.Second)
	mail := mailFor(s.mail(t), councilManager, ref)
	if len(mail) != 1 {
		var d []string
		for _, m := range mail {
			d = append(d, describe(m))
		}
		t.Fatalf("%d messages to %s for %s, want 1: %v", len(mail), councilManager, ref, d)
	}
	m := mail[0]
	for _, part := range []string{m.Subject, m.Text, m.Raw} {
		if strings.Contains(part, testDescription) || strings.Contains(part, "shouted and swore") {
			t.Errorf("the email carries the incident description; it must carry only the reference and a link:\n%s", m.Raw)
			break
		}
	}
	t.Logf("email to %v: %q", m.To, m.Subject)
}

// List is paginated and scoped to the caller's organisation.
func TestListPaginatesAndStaysInOrganisation(t *testing.T) {
	s := need(t)
	tok := s.token(t, councilOfficer)
	a := s.report(t, tok, "First of two reports for the list test.")
	b := s.report(t, tok, "Second of two reports for the list test.")

	page1 := s.call(t, http.MethodGet, "/v1/incidents?pageSize=1", tok, nil)
	expect(t, page1, "GET /v1/incidents?pageSize=1", http.StatusOK)
	items1 := incidents(t, page1)
	next := page1.str("nextPageToken")
	if len(items1) != 1 || next == "" {
		t.Fatalf("page 1: %d incidents, nextPageToken %q; want 1 and a token: %s", len(items1), next, page1.Raw)
	}
	page2 := s.call(t, http.MethodGet, "/v1/incidents?pageSize=1&pageToken="+url.QueryEscape(next), tok, nil)
	expect(t, page2, "GET /v1/incidents page 2", http.StatusOK)
	items2 := incidents(t, page2)
	if len(items2) != 1 {
		t.Fatalf("page 2: %d incidents, want 1: %s", len(items2), page2.Raw)
	}
	if items1[0]["name"] == items2[0]["name"] {
		t.Fatalf("page 2 repeats page 1: %v", items1[0]["name"])
	}

	// Walk all pages: both new incidents are there, each once, all of the council.
	seen := map[string]int{}
	for _, inc := range s.listAll(t, tok) {
		seen[inc["name"].(string)]++
		if inc["organization"] != councilOrg {
			t.Errorf("council list holds %v of %v", inc["name"], inc["organization"])
		}
	}
	for _, n := range []string{a.str("name"), b.str("name")} {
		if seen[n] != 1 {
			t.Errorf("%s listed %d times, want once", n, seen[n])
		}
	}

	// The valuation board sees none of the council's incidents.
	vb := s.token(t, valuationStaff)
	for _, inc := range s.listAll(t, vb) {
		if inc["organization"] == councilOrg || seen[fmt.Sprint(inc["name"])] > 0 {
			t.Errorf("valuation board lists council incident %v", inc["name"])
		}
	}
	r := s.call(t, http.MethodGet, "/v1/"+a.str("name"), vb, nil)
	expect(t, r, "valuation board GET of a council incident", http.StatusNotFound)
}

// listAll follows nextPageToken through every page (at most 100).
func (s *testStack) listAll(t *testing.T, tok string) []map[string]any {
	t.Helper()
	var all []map[string]any
	pageToken := ""
	for range 100 {
		path := "/v1/incidents?pageSize=50"
		if pageToken != "" {
			path += "&pageToken=" + url.QueryEscape(pageToken)
		}
		r := s.call(t, http.MethodGet, path, tok, nil)
		expect(t, r, "GET "+path, http.StatusOK)
		all = append(all, incidents(t, r)...)
		pageToken = r.str("nextPageToken")
		if pageToken == "" {
			return all
		}
	}
	t.Fatal("more than 100 pages")
	return nil
}

func incidents(t *testing.T, r response) []map[string]any {
	t.Helper()
	raw, _ := r.JSON["incidents"].([]any)
	out := make([]map[string]any, 0, len(raw))
	for _, x := range raw {
		m, ok := x.(map[string]any)
		if !ok {
			t.Fatalf("incidents holds %T: %s", x, r.Raw)
		}
		out = append(out, m)
	}
	return out
}

// Bad requests get a clear 4xx, never a 500.
func TestBadRequestsGet4xx(t *testing.T) {
	s := need(t)
	tok := s.token(t, councilOfficer)
	inc := s.report(t, tok, "Report used to derive an unknown id.")
	unknown := "incidents/" + otherID(strings.TrimPrefix(inc.str("name"), "incidents/"))

	noDescription := incidentBody("")
	delete(noDescription, "description")

	cases := []struct {
		name   string
		method string
		path   string
		token  string
		body   any
		want   []int
	}{
		{"report without token", http.MethodPost, "/v1/incidents", "", incidentBody("x"), []int{401}},
		{"list without token", http.MethodGet, "/v1/incidents", "", nil, []int{401}},
		{"report with a forged token", http.MethodPost, "/v1/incidents", tok + "x", incidentBody("x"), []int{401}},
		{"malformed JSON", http.MethodPost, "/v1/incidents", tok, `{"categories": ["CATEGORY_ABUSE"], "description": `, []int{400}},
		{"missing description", http.MethodPost, "/v1/incidents", tok, noDescription, []int{400}},
		{"unknown incident id", http.MethodGet, "/v1/" + unknown, tok, nil, []int{404}},
		{"dev token for unknown staff", http.MethodPost, "/dev/token", "", map[string]string{"staff_id": "no-such-person"}, []int{400, 404}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.call(t, c.method, c.path, c.token, c.body)
			expect(t, r, c.method+" "+c.path, c.want...)
		})
	}
}

// Killing notify-svc while incidents are reported loses no email and sends none twice.
func TestNotifyRestartLosesNoEmail(t *testing.T) {
	s := need(t)
	tok := s.token(t, councilOfficer)
	const total = 20
	var refs []string
	for i := 1; i <= total; i++ {
		inc := s.report(t, tok, fmt.Sprintf("Restart test report %d of %d.", i, total))
		refs = append(refs, inc.str("reference"))
		switch i {
		case 5:
			t.Log("killing notify-svc (SIGKILL)")
			if err := s.runner.Kill(stack.Notify); err != nil {
				t.Fatal(err)
			}
		case 10:
			t.Log("restarting notify-svc")
			if err := s.runner.Restart(t.Context(), stack.Notify); err != nil {
				t.Fatal(err)
			}
		}
	}

	s.waitForMail(t, councilManager, refs, 60*time.Second)
	// Wait a little longer so a late duplicate would be seen.
	time.Sleep(3 * time.Second)
	msgs := s.mail(t)
	for _, ref := range refs {
		if got := mailFor(msgs, councilManager, ref); len(got) != 1 {
			var d []string
			for _, m := range got {
				d = append(d, describe(m))
			}
			t.Errorf("%s: %d emails to %s, want exactly 1: %v", ref, len(got), councilManager, d)
		}
	}
}
