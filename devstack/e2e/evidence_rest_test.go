package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// evidenceScreenshot writes a small PNG-shaped screenshot to a file and
// returns its path and bytes.
func evidenceScreenshot(t *testing.T, size int) (string, []byte) {
	t.Helper()
	b := make([]byte, size)
	_, _ = rand.Read(b)
	copy(b, "\x89PNG\x0D\x0A\x1A\x0A")
	path := filepath.Join(t.TempDir(), "abusive post.png")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, b
}

// evidenceCurl runs curl against the gateway, as a user would, and returns
// the HTTP status, the response headers and the body. Extra args come
// before the URL.
func (s *testStack) evidenceCurl(t *testing.T, token, path string, args ...string) (int, http.Header, []byte) {
	t.Helper()
	dir := t.TempDir()
	headers, body := filepath.Join(dir, "headers"), filepath.Join(dir, "body")
	all := append([]string{"-sS", "--max-time", "60", "-H", "Authorization: Bearer " + token, "-D", headers, "-o", body}, args...)
	cmd := exec.Command("curl", append(all, s.gateway+path)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("curl %s: %v: %s", path, err, out)
	}
	raw, err := os.ReadFile(headers)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		t.Fatalf("curl %s: headers: %v", path, err)
	}
	b, err := os.ReadFile(body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// evidenceUpload uploads a file with metadata fields, with curl -F when it
// is installed, else with the same multipart request built in Go.
func (s *testStack) evidenceUpload(t *testing.T, token string, fields [][2]string, file string) response {
	t.Helper()
	if _, err := exec.LookPath("curl"); err == nil {
		var args []string
		for _, f := range fields {
			args = append(args, "--form-string", f[0]+"="+f[1])
		}
		args = append(args, "-F", "file=@"+file)
		code, _, body := s.evidenceCurl(t, token, "/v1/evidence:upload", args...)
		r := response{Code: code, Raw: string(body)}
		_ = json.Unmarshal(body, &r.JSON)
		return r
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		_ = mw.WriteField(f[0], f[1])
	}
	fw, _ := mw.CreateFormFile("file", filepath.Base(file))
	content, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(content)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, s.gateway+"/v1/evidence:upload", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{Code: resp.StatusCode, Raw: string(raw)}
	_ = json.Unmarshal(raw, &r.JSON)
	return r
}

// evidenceItems returns the items of a list response.
func evidenceItems(r response) []map[string]any {
	var out []map[string]any
	items, _ := r.JSON["evidence"].([]any)
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// C72-C76 over REST: a screenshot uploaded to an incident with curl comes
// back byte for byte after the distressing acknowledgement, with its SHA-256
// and the marker in its file name; the auditor sees both reads in the access
// log; a staff member unrelated to the incident gets 403.
func TestEvidenceUploadDownloadOverREST(t *testing.T) {
	s := need(t)
	reporter := s.token(t, councilOfficer)
	inc := s.report(t, reporter, "Abusive comment about the officer posted on the council's page.")
	incident := inc.str("name")
	file, content := evidenceScreenshot(t, 300<<10)
	want := sha256.Sum256(content)

	up := s.evidenceUpload(t, reporter, [][2]string{
		{"kind", "EVIDENCE_KIND_SCREENSHOT"},
		{"incident", incident},
		{"distressing", "true"},
		{"sourceUrl", "https://social.example/council/posts/1"},
		{"description", "Screenshot of the comment, taken the same day."},
	}, file)
	expect(t, up, "POST /v1/evidence:upload", http.StatusOK)
	name := up.str("name")
	if !strings.HasPrefix(name, "evidence/") || up.str("sha256") != hex.EncodeToString(want[:]) || up.str("contentType") != "image/png" ||
		up.str("filename") != "DISTRESSING - abusive post.png" || up.JSON["distressing"] != true || up.str("sizeBytes") != fmt.Sprint(len(content)) {
		t.Fatalf("upload answered %s", up.Raw)
	}
	t.Logf("uploaded %s (%s)", name, up.str("filename"))

	// Metadata: the flag, no content.
	meta := s.call(t, http.MethodGet, "/v1/"+name, reporter, nil)
	expect(t, meta, "GET /v1/"+name, http.StatusOK)
	if meta.JSON["distressing"] != true || strings.Contains(meta.Raw, hex.EncodeToString(content[8:40])) {
		t.Fatalf("metadata: %s", meta.Raw)
	}

	// C75: not without the acknowledgement.
	code, _, body := s.evidenceCurl(t, reporter, "/v1/"+name+":download")
	if code != http.StatusBadRequest || !strings.Contains(string(body), "distressing") || !strings.Contains(string(body), "acknowledgeDistressing=true") {
		t.Fatalf("download without acknowledgement: %d %s", code, body)
	}
	code, header, body := s.evidenceCurl(t, reporter, "/v1/"+name+":download?acknowledgeDistressing=true")
	got := sha256.Sum256(body)
	if code != http.StatusOK || !bytes.Equal(body, content) || got != want {
		t.Fatalf("download: status %d, %d bytes, sha256 %x, want %x", code, len(body), got, want)
	}
	if header.Get("X-Evidence-Sha256") != hex.EncodeToString(want[:]) || header.Get("Content-Type") != "image/png" ||
		!strings.Contains(header.Get("Content-Disposition"), `filename="DISTRESSING - abusive post.png"`) || header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("download headers: %v", header)
	}

	// C31: the reporter's line manager, who must review the incident, reads
	// it too (hc-cso-1's line manager is hc-tl-1 in the seeded directory).
	manager := s.token(t, "hc-tl-1")
	code, _, body = s.evidenceCurl(t, manager, "/v1/"+name+":download?acknowledgeDistressing=true")
	if got := sha256.Sum256(body); code != http.StatusOK || got != want {
		t.Fatalf("download by the reporter's line manager: status %d, sha256 %x", code, got)
	}
	if n := len(evidenceItems(s.call(t, http.MethodGet, "/v1/evidence?incident="+url.QueryEscape(incident), manager, nil))); n != 1 {
		t.Fatalf("the reporter's line manager lists %d items of the incident, want 1", n)
	}

	// A supervisor may review incidents and read this one, but is neither
	// the reporter's line manager nor its reviewer: refused.
	if code, _, body := s.evidenceCurl(t, s.token(t, "hc-sup-1"), "/v1/"+name+":download?acknowledgeDistressing=true"); code != http.StatusForbidden ||
		!strings.Contains(string(body), "line manager of the linked incident's reporter") {
		t.Fatalf("download by a supervisor who is not the reporter's line manager: %d %s, want 403 naming who may read", code, body)
	}

	// C76: a colleague not involved in the incident is refused.
	other := s.token(t, "hc-cso-2")
	denied := s.call(t, http.MethodGet, "/v1/"+name, other, nil)
	expect(t, denied, "GET by an unrelated colleague", http.StatusForbidden)
	if code, _, _ := s.evidenceCurl(t, other, "/v1/"+name+":download?acknowledgeDistressing=true"); code != http.StatusForbidden {
		t.Fatalf("download by an unrelated colleague: %d, want 403", code)
	}
	list := s.call(t, http.MethodGet, "/v1/evidence?incident="+url.QueryEscape(incident), other, nil)
	expect(t, list, "list by an unrelated colleague", http.StatusOK)
	if n := len(evidenceItems(list)); n != 0 {
		t.Fatalf("an unrelated colleague lists %d items", n)
	}
	// Another organisation does not learn it exists.
	expect(t, s.call(t, http.MethodGet, "/v1/"+name, s.token(t, valuationStaff), nil), "GET from another organisation", http.StatusNotFound)

	// The auditor's access log shows both reads, the acknowledgement, and the refusals.
	auditor := s.token(t, "hc-aud-1")
	log := s.call(t, http.MethodGet, "/v1/"+name+"/accessRecords?pageSize=100", auditor, nil)
	expect(t, log, "GET access records", http.StatusOK)
	seen := map[string]bool{}
	records, _ := log.JSON["accessRecords"].([]any)
	for _, r := range records {
		m, _ := r.(map[string]any)
		key := fmt.Sprintf("%v %v granted=%v ack=%v", m["actor"], m["action"], m["granted"], m["acknowledgedDistressing"])
		seen[key] = true
	}
	for _, want := range []string{
		"hc-cso-1 ACTION_UPLOAD granted=true ack=false",
		"hc-cso-1 ACTION_METADATA_READ granted=true ack=false",
		"hc-cso-1 ACTION_DOWNLOAD granted=false ack=false",
		"hc-cso-1 ACTION_DOWNLOAD granted=true ack=true",
		"hc-cso-2 ACTION_METADATA_READ granted=false ack=false",
		"hc-cso-2 ACTION_DOWNLOAD granted=false ack=true",
		"hc-tl-1 ACTION_DOWNLOAD granted=true ack=true",
		"hc-sup-1 ACTION_DOWNLOAD granted=false ack=true",
	} {
		if !seen[want] {
			t.Errorf("access log lacks %q; it has %v", want, seen)
		}
	}
	expect(t, s.call(t, http.MethodGet, "/v1/"+name+"/accessRecords", reporter, nil), "access log read by staff", http.StatusForbidden)

	v := s.call(t, http.MethodPost, "/v1/"+name+":verify", auditor, map[string]any{})
	expect(t, v, "POST :verify", http.StatusOK)
	if v.JSON["intact"] != true {
		t.Fatalf("verify: %s", v.Raw)
	}
}

// Bad uploads get a clear 4xx and leave nothing behind.
func TestEvidenceBadUploadsOverREST(t *testing.T) {
	s := need(t)
	reporter := s.token(t, councilOfficer)
	incident := s.report(t, reporter, "Letter with threats received at the office.").str("name")
	png, _ := evidenceScreenshot(t, 5000)
	exe := filepath.Join(t.TempDir(), "letter.pdf")
	if err := os.WriteFile(exe, append([]byte("MZ\x90\x00"), make([]byte, 4000)...), 0o600); err != nil {
		t.Fatal(err)
	}
	fields := func(extra ...[2]string) [][2]string {
		return append([][2]string{{"kind", "letter"}, {"incident", incident}}, extra...)
	}
	tests := []struct {
		name   string
		fields [][2]string
		file   string
		code   int
		says   string
	}{
		{"a program disguised as a PDF", fields(), exe, http.StatusBadRequest, "not accepted"},
		{"an unknown incident", [][2]string{{"kind", "letter"}, {"incident", "incidents/" + otherID(strings.TrimPrefix(incident, "incidents/"))}}, png, http.StatusNotFound, "nothing was stored"},
		{"an oversized field", fields([2]string{"description", strings.Repeat("x", 70<<10)}), png, http.StatusBadRequest, "larger than 64 KiB"},
		{"a description over the limit", fields([2]string{"description", strings.Repeat("x", 2500)}), png, http.StatusBadRequest, "evidence.description"},
		{"an unknown kind", [][2]string{{"kind", "rumour"}, {"incident", incident}}, png, http.StatusBadRequest, "kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.evidenceUpload(t, reporter, tt.fields, tt.file)
			expect(t, r, tt.name, tt.code)
			if !strings.Contains(r.Raw, tt.says) {
				t.Errorf("%s: answer %s does not say %q", tt.name, r.Raw, tt.says)
			}
		})
	}

	t.Run("a body cut off mid-file", func(t *testing.T) {
		// Declare more bytes than are sent, then stop sending.
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		_ = mw.WriteField("kind", "EVIDENCE_KIND_SCREENSHOT")
		_ = mw.WriteField("incident", incident)
		fw, _ := mw.CreateFormFile("file", "cut.png")
		_, content := evidenceScreenshot(t, 1<<20)
		_, _ = fw.Write(content[:600<<10])
		conn, err := net.Dial("tcp", strings.TrimPrefix(s.gateway, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(conn, "POST /v1/evidence:upload HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
			reporter, mw.FormDataContentType(), buf.Len()+(1<<20))
		_, _ = conn.Write(buf.Bytes())
		_ = conn.(*net.TCPConn).CloseWrite()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("cut-off body: no answer: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "cut off") {
			t.Errorf("cut-off body: %d %s", resp.StatusCode, body)
		}
	})

	// Nothing of the refused uploads is listed or stored.
	time.Sleep(500 * time.Millisecond)
	list := s.call(t, http.MethodGet, "/v1/evidence?incident="+url.QueryEscape(incident), s.token(t, "hc-mgr-1"), nil)
	expect(t, list, "list", http.StatusOK)
	if n := len(evidenceItems(list)); n != 0 {
		t.Fatalf("%d items stored from refused uploads: %s", n, list.Raw)
	}
	all := s.call(t, http.MethodPost, "/v1/evidence:verify", s.token(t, "hc-aud-1"), map[string]any{})
	expect(t, all, "verify all", http.StatusOK)
	if all.str("failed") != "0" {
		t.Fatalf("verify all: %s", all.Raw)
	}
}
