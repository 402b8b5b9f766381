// Package portal serves the staff portal: one HTML shell and its static
// assets (plain HTML, CSS and JavaScript modules, embedded in the binary,
// no build step; docs/adr/0007-staff-portal.md). The shell answers the
// links notify-svc puts in emails (PORTAL_URL/{collection}/{id}); the
// JavaScript reads the path and renders the page from the /v1 API with the
// signed-in member's bearer token. The portal holds no data and no rules.
package portal

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var files embed.FS

// Collections are the record pages the portal renders at /{collection}/{id}:
// every collection notify-svc links to (its resourceCollection), and
// subjects.
var Collections = []string{"incidents", "restrictions", "publicNamings", "subjects", "evidence"}

// AssetPrefix is where the static assets are served.
const AssetPrefix = "/portal/"

// ContentSecurityPolicy allows only the portal's own scripts, styles and API
// calls: no inline script, no eval, no framing of the portal. Letters are
// shown in a sandboxed srcdoc frame, which inherits this policy.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// Register adds the portal's routes to mux: the shell for GET / and
// GET /{collection}/{id}, and the assets under /portal/. Other paths are
// left to mux (the gateway's JSON 404).
func Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", serveShell)
	for _, c := range Collections {
		mux.HandleFunc("GET /"+c+"/{id}", serveShell)
	}
	mux.HandleFunc("GET "+AssetPrefix, serveAsset)
}

// secure sets the headers every portal response carries.
func secure(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

func serveShell(w http.ResponseWriter, _ *http.Request) {
	b, err := files.ReadFile("static/index.html")
	if err != nil {
		http.Error(w, "portal shell missing from the build", http.StatusInternalServerError)
		return
	}
	secure(w.Header())
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", contentTypes[".html"])
	_, _ = w.Write(b)
}

func serveAsset(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, AssetPrefix)
	ctype, known := contentTypes[path.Ext(name)]
	var b []byte
	err := fs.ErrNotExist
	if known && name != "index.html" && fs.ValidPath(name) {
		b, err = files.ReadFile("static/" + name)
	}
	secure(w.Header())
	if err != nil {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("no such portal file\n"))
		return
	}
	// Assets change with the binary: revalidate rather than serve a stale copy.
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Type", ctype)
	_, _ = w.Write(b)
}
