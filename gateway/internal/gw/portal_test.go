package gw_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/contactguard/contactguard/gateway/internal/portal"
)

// checkPortalHeaders fails unless r carries the portal's security headers.
func checkPortalHeaders(t *testing.T, r response) {
	t.Helper()
	csp := r.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	for _, banned := range []string{"unsafe-inline", "unsafe-eval", "*"} {
		if strings.Contains(csp, banned) {
			t.Errorf("Content-Security-Policy %q allows %q", csp, banned)
		}
	}
	for k, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
		"X-Frame-Options":        "DENY",
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

// Every page the portal renders, and every link notify-svc emails, answers
// with the same HTML shell, uncached, with the security headers.
func TestPortalRoutesServeTheShell(t *testing.T) {
	for _, devMode := range []bool{false, true} {
		base := startGateway(t, devMode)
		paths := []string{"/"}
		for _, c := range portal.Collections {
			paths = append(paths, "/"+c+"/56py9c72d3qwsn88")
		}
		for _, p := range paths {
			for _, method := range []string{"GET", "HEAD"} {
				r := do(t, method, base+p, "", nil)
				if r.status != 200 {
					t.Fatalf("dev=%v %s %s: status %d, want 200: %.200s", devMode, method, p, r.status, r.body)
				}
				if ct := r.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
					t.Errorf("%s %s: Content-Type %q", method, p, ct)
				}
				if cc := r.header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("%s %s: Cache-Control %q, want no-store", method, p, cc)
				}
				checkPortalHeaders(t, r)
				if method == "GET" && (!strings.Contains(r.body, `<script type="module" src="/portal/app.js"></script>`) || !strings.Contains(r.body, `role="alert"`)) {
					t.Errorf("GET %s is not the portal shell: %.300s", p, r.body)
				}
			}
		}
	}
}

// The shell has no inline script and no inline event handler: the CSP
// would block them, and the portal must not need them.
func TestPortalShellHasNoInlineScript(t *testing.T) {
	base := startGateway(t, false)
	body := do(t, "GET", base+"/", "", nil).body
	for _, m := range regexp.MustCompile(`(?is)<script\b[^>]*>(.*?)</script>`).FindAllStringSubmatch(body, -1) {
		if strings.TrimSpace(m[1]) != "" {
			t.Errorf("inline script in the shell: %q", m[0])
		}
	}
	if regexp.MustCompile(`(?i)\son[a-z]+\s*=`).MatchString(body) {
		t.Error("inline event handler in the shell")
	}
}

func TestPortalAssets(t *testing.T) {
	base := startGateway(t, false)
	tests := []struct {
		path   string
		status int
		ctype  string
		has    string
	}{
		{"/portal/app.js", 200, "text/javascript; charset=utf-8", "import "},
		{"/portal/api.js", 200, "text/javascript; charset=utf-8", "sessionStorage"},
		{"/portal/dom.js", 200, "text/javascript; charset=utf-8", "textContent"},
		{"/portal/incident.js", 200, "text/javascript; charset=utf-8", ":recordPoliceDecision"},
		{"/portal/restriction.js", 200, "text/javascript; charset=utf-8", ":decideAppeal"},
		{"/portal/home.js", 200, "text/javascript; charset=utf-8", "incidents:reviewQueue"},
		{"/portal/records.js", 200, "text/javascript; charset=utf-8", "export async function subjectPage"},
		{"/portal/shared.js", 200, "text/javascript; charset=utf-8", "acknowledgeDistressing"},
		{"/portal/portal.css", 200, "text/css; charset=utf-8", "@media"},
		{"/portal/nope.js", 404, "text/plain; charset=utf-8", "no such portal file"},
		{"/portal/", 404, "text/plain; charset=utf-8", "no such portal file"},
		{"/portal/index.html", 404, "text/plain; charset=utf-8", "no such portal file"},
		{"/portal/../gw/gateway.go", 404, "", ""},
		{"/portal/portal.go", 404, "text/plain; charset=utf-8", "no such portal file"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := do(t, "GET", base+tt.path, "", nil)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %.200s", r.status, tt.status, r.body)
			}
			if tt.ctype != "" && r.header.Get("Content-Type") != tt.ctype {
				t.Errorf("Content-Type %q, want %q", r.header.Get("Content-Type"), tt.ctype)
			}
			if !strings.Contains(r.body, tt.has) {
				t.Errorf("body does not contain %q: %.200s", tt.has, r.body)
			}
			if tt.ctype != "" {
				checkPortalHeaders(t, r)
			}
		})
	}
}

// The portal never puts API data into HTML: no innerHTML, outerHTML,
// insertAdjacentHTML, document.write or eval in its scripts.
func TestPortalScriptsAvoidHTMLInjection(t *testing.T) {
	base := startGateway(t, false)
	banned := regexp.MustCompile(`\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(|localStorage`)
	for _, name := range []string{"app.js", "api.js", "dom.js", "shared.js", "incident.js", "restriction.js", "home.js", "records.js"} {
		body := do(t, "GET", base+"/portal/"+name, "", nil).body
		if m := banned.FindString(body); m != "" {
			t.Errorf("%s uses %s", name, m)
		}
	}
}

// Paths outside the portal's routes and /v1 keep the JSON 404.
func TestPortalLeavesOtherPathsToTheJSON404(t *testing.T) {
	base := startGateway(t, true)
	for _, tt := range []struct{ method, path string }{
		{"GET", "/incidents"},
		{"GET", "/incidents/"},
		{"GET", "/incidents/abc/events"},
		{"GET", "/widgets/abc"},
		{"GET", "/index.html"},
		{"POST", "/incidents/abc"},
		{"POST", "/"},
		{"GET", "/v2/incidents/abc"},
	} {
		r := do(t, tt.method, base+tt.path, "", nil)
		if r.status != 404 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s: status %d Content-Type %q, want a JSON 404", tt.method, tt.path, r.status, r.header.Get("Content-Type"))
			continue
		}
		if body := r.json(t); body["code"] != float64(5) {
			t.Errorf("%s %s: body %v, want code 5", tt.method, tt.path, body)
		}
	}
	// An unknown API path is still grpc-gateway's 404, not the portal.
	r := do(t, "GET", base+"/v1/nothing-here", "", map[string]string{"Authorization": "Bearer " + sign(t, tokens, cso)})
	if r.status != 404 || strings.Contains(r.body, "<html") {
		t.Errorf("GET /v1/nothing-here: status %d body %.200s, want the API's 404", r.status, r.body)
	}
}

func TestDevStaff(t *testing.T) {
	t.Run("refused outside dev mode", func(t *testing.T) {
		r := do(t, "GET", startGateway(t, false)+"/dev/staff", "", nil)
		if r.status != 403 {
			t.Fatalf("status %d, want 403: %s", r.status, r.body)
		}
		if msg, _ := r.json(t)["message"].(string); r.json(t)["code"] != float64(7) || !strings.Contains(msg, "dev mode") {
			t.Errorf("body %s, want code 7 saying dev mode", r.body)
		}
		if strings.Contains(r.body, "hc-tl-1") {
			t.Error("the refusal lists staff")
		}
	})
	t.Run("lists the seeded staff in dev mode", func(t *testing.T) {
		r := do(t, "GET", startGateway(t, true)+"/dev/staff", "", nil)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		staff, _ := r.json(t)["staff"].([]any)
		var found map[string]any
		for _, x := range staff {
			if m, _ := x.(map[string]any); m["staff_id"] == "hc-tl-1" {
				found = m
			}
		}
		if found == nil {
			t.Fatalf("hc-tl-1 not listed: %.300s", r.body)
		}
		if found["name"] != "Isla MacLeod" || found["organization"] != "highland-council" || found["organization_name"] == "" {
			t.Errorf("hc-tl-1 listed as %v", found)
		}
		if roles, _ := found["roles"].([]any); len(roles) != 2 || roles[1] != "team_leader" {
			t.Errorf("hc-tl-1 roles %v", found["roles"])
		}
		if strings.Contains(r.body, "@") {
			t.Error("the dev staff list carries email addresses")
		}
	})
	t.Run("POST is not a route", func(t *testing.T) {
		r := do(t, "POST", startGateway(t, true)+"/dev/staff", "{}", nil)
		if r.status != 404 && r.status != 405 {
			t.Errorf("status %d, want 404 or 405", r.status)
		}
	})
}
