package domain

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/policy"
)

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func valid() Draft {
	return Draft{Kind: "screenshot", OriginalFilename: "shot.png", Incident: "incidents/abc123", Description: "Post on the council page."}
}

func TestDraftValidation(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Draft)
		field  string // "" means valid
	}{
		{"valid", func(*Draft) {}, ""},
		{"no kind", func(d *Draft) { d.Kind = "" }, "evidence.kind"},
		{"unknown kind", func(d *Draft) { d.Kind = "rumour" }, "evidence.kind"},
		{"no link", func(d *Draft) { d.Incident = "" }, "evidence.incident"},
		{"bad incident name", func(d *Draft) { d.Incident = "incident/1" }, "evidence.incident"},
		{"restriction only", func(d *Draft) { d.Incident, d.Restriction = "", "restrictions/r1" }, ""},
		{"bad naming", func(d *Draft) { d.PublicNaming = "namings/1" }, "evidence.public_naming"},
		{"long description", func(d *Draft) { d.Description = strings.Repeat("x", MaxDescription+1) }, "evidence.description"},
		{"long file name", func(d *Draft) { d.OriginalFilename = strings.Repeat("x", MaxFilename+1) }, "evidence.original_filename"},
		{"huge file name", func(d *Draft) { d.OriginalFilename = strings.Repeat("x", 1<<20) }, "evidence.original_filename"},
		{"bad url", func(d *Draft) { d.SourceURL = "javascript:alert(1)" }, "evidence.source_url"},
		{"long url", func(d *Draft) { d.SourceURL = "https://x.example/" + strings.Repeat("a", MaxURL) }, "evidence.source_url"},
		{"web link without url", func(d *Draft) { d.Kind = "web_page_link" }, "evidence.source_url"},
		{"web link with url", func(d *Draft) { d.Kind, d.SourceURL = "web_page_link", "https://social.example/post/1" }, ""},
		{"future capture", func(d *Draft) { d.CaptureTime = now.Add(time.Hour) }, "evidence.capture_time"},
		{"ancient capture", func(d *Draft) { d.CaptureTime = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC) }, "evidence.capture_time"},
		{"bad capturer", func(d *Draft) { d.CapturedBy = "Not An Id" }, "evidence.captured_by"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := valid()
			tt.change(&d)
			err := d.Validate("evidence", "hc-cso-1", now)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if d.CapturedBy != "hc-cso-1" {
					t.Errorf("captured_by defaults to the uploader, got %q", d.CapturedBy)
				}
				return
			}
			var e *apperr.Error
			if !errors.As(err, &e) || e.Field != tt.field || !errors.Is(err, apperr.ErrInvalidArgument) {
				t.Fatalf("err = %v, want invalid %s", err, tt.field)
			}
		})
	}
}

func TestStoredFilename(t *testing.T) {
	tests := []struct {
		original, ctype string
		distressing     bool
		want            string
	}{
		{"shot.png", "image/png", false, "shot.png"},
		{"shot.png", "image/png", true, "DISTRESSING - shot.png"},
		{`C:\Users\me\Desktop\abuse.jpeg`, "image/jpeg", true, "DISTRESSING - abuse.jpeg"},
		{"../../etc/passwd", "text/plain; charset=utf-8", false, "passwd.txt"},
		{"invoice.exe", "application/pdf", false, "invoice.exe.pdf"},
		{`a"b;c.png`, "image/png", false, "a_b_c.png"},
		{"DISTRESSING - old.png", "image/png", false, "old.png"},
		{"distressing - DISTRESSING - x.png", "image/png", true, "DISTRESSING - x.png"},
		{"", "audio/mpeg", false, "call_recording-id1.mp3"},
		{"line\nbreak.PNG", "image/png", false, "line_break.PNG"},
	}
	for _, tt := range tests {
		kind := "screenshot"
		if tt.original == "" {
			kind = "call_recording"
		}
		if got := StoredFilename(tt.original, kind, tt.ctype, "id1", tt.distressing); got != tt.want {
			t.Errorf("StoredFilename(%q, %v) = %q, want %q", tt.original, tt.distressing, got, tt.want)
		}
	}
}

func TestDetectContentType(t *testing.T) {
	pad := func(b []byte) []byte { return append(b, bytes.Repeat([]byte{0}, 64)...) }
	zip := func(name string) []byte {
		h := append([]byte("PK\x03\x04"), make([]byte, 26)...)
		return append(h, name...)
	}
	tests := []struct {
		name string
		head []byte
		want string // "" means refused
	}{
		{"png", pad([]byte("\x89PNG\x0D\x0A\x1A\x0A")), "image/png"},
		{"jpeg", pad([]byte("\xFF\xD8\xFF\xE0")), "image/jpeg"},
		{"pdf", []byte("%PDF-1.7\n..."), "application/pdf"},
		{"text", []byte("The caller said he would wait outside."), "text/plain; charset=utf-8"},
		{"email", []byte("Received: from mx\r\nFrom: a@b.example\r\nSubject: complaint\r\n\r\nbody"), "message/rfc822"},
		{"mp3 with id3", pad([]byte("ID3\x03\x00")), "audio/mpeg"},
		{"mp3 frame", pad([]byte{0xFF, 0xFB, 0x90, 0x64}), "audio/mpeg"},
		{"wav", pad([]byte("RIFF\x24\x00\x00\x00WAVEfmt ")), "audio/wave"},
		{"m4a", pad([]byte("\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00")), "audio/mp4"},
		{"heic", pad([]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00")), "image/heic"},
		{"docx", append(zip("[Content_Types].xml"), "....word/document.xml"...), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
		{"odt", append(zip("mimetype"), "application/vnd.oasis.opendocument.textPK"...), "application/vnd.oasis.opendocument.text"},
		{"msg", pad(append([]byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}, utf16("__substg1.0_0037001F")...)), "application/vnd.ms-outlook"},
		{"plain zip", zip("payload.exe"), ""},
		{"exe", pad([]byte("MZ\x90\x00")), ""},
		{"binary", []byte{0x00, 0x01, 0x02, 0x03, 0xFE}, ""},
		{"short zip", []byte("PK\x03\x04"), ""},
		{"empty", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DetectContentType(tt.head)
			if tt.want == "" {
				if err == nil || !errors.Is(err, apperr.ErrInvalidArgument) {
					t.Fatalf("got %q, %v; want refused", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func item(org string) Item {
	return Item{ID: "e1", Organization: org, Draft: Draft{Kind: "screenshot", Incident: "incidents/i1", Restriction: "restrictions/r1"}, Uploader: "hc-cso-1", State: StateActive}
}

func who(staff, org string, roles ...string) identity.Identity {
	return identity.Identity{StaffID: staff, Organization: org, Roles: roles}
}

func TestCanRead(t *testing.T) {
	hc, _ := policy.For("highland-council")
	vb, _ := policy.For("valuation-board")
	tests := []struct {
		name string
		p    policy.Profile
		who  identity.Identity
		rel  []string
		want error // nil, ErrNotFound or ErrPermissionDenied
		org  string
	}{
		{"C76 reporter of the incident", hc, who("hc-cso-1", "highland-council", "staff"), []string{RelIncidentReporter}, nil, ""},
		{"C76 staff involved", hc, who("hc-cso-3", "highland-council", "staff"), []string{RelIncidentStaffInvolved}, nil, ""},
		{"uploader", hc, who("hc-cso-1", "highland-council", "staff"), []string{RelUploader}, nil, ""},
		{"C76 council manager reads the organisation's evidence", hc, who("hc-mgr-1", "highland-council", "staff", "manager"), nil, nil, ""},
		{"C76 board line manager reads the organisation's evidence", vb, who("vb-lm-1", "valuation-board", "staff", "line_manager"), nil, nil, "valuation-board"},
		{"C31 manager who reviewed the incident", hc, who("hc-tl-2", "highland-council", "staff", "team_leader"), []string{RelIncidentReviewer}, nil, ""},
		{"C31 line manager of the reporter", vb, who("vb-lm-2", "valuation-board", "staff"), []string{RelReporterLineManager}, nil, "valuation-board"},
		{"C24 decider of the linked restriction", hc, who("hc-sup-1", "highland-council", "staff", "supervisor"), []string{RelRestrictionDecider}, nil, ""},
		{"appeal officer of the linked restriction", hc, who("hc-eco-1", "highland-council", "staff", "executive_chief_officer"), []string{RelRestrictionAppealOfficer}, nil, ""},
		{"C76 unrelated staff denied", hc, who("hc-cso-2", "highland-council", "staff"), nil, apperr.ErrPermissionDenied, ""},
		{"team leader not involved denied", hc, who("hc-tl-1", "highland-council", "staff", "team_leader"), nil, apperr.ErrPermissionDenied, ""},
		{"auditor does not read content", hc, who("hc-aud-1", "highland-council", "staff", "auditor"), nil, apperr.ErrPermissionDenied, ""},
		{"other organisation's senior manager sees nothing", hc, who("vb-smt-1", "valuation-board", "staff", "senior_management"), nil, apperr.ErrNotFound, ""},
		{"relation not in the profile grants nothing", hc, who("hc-cso-2", "highland-council", "staff"), []string{"friend_of_reporter"}, apperr.ErrPermissionDenied, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			org := tt.org
			if org == "" {
				org = "highland-council"
			}
			err := CanRead(tt.p, tt.who, item(org), Relations{Held: tt.rel})
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	err := CanRead(hc, who("hc-cso-2", "highland-council", "staff"), item("highland-council"),
		Relations{Unchecked: []string{"restriction-svc answered Unimplemented for restrictions/r1"}})
	if err == nil || !strings.Contains(err.Error(), "Unimplemented") || !strings.Contains(err.Error(), "reporter of the linked incident") {
		t.Fatalf("denial should say who may read and what could not be checked: %v", err)
	}
}

// Every relation a shipped profile names is one evidence-svc finds and
// describes: a misspelt relation would grant nothing and be left out of the
// denial silently. Both profiles let those who decide read (C31, C24), and a
// refusal names them.
func TestProfilesNameKnownRelations(t *testing.T) {
	for _, org := range policy.Organizations() {
		p, _ := policy.For(org)
		for _, r := range p.EvidenceReaders {
			if _, ok := relationText[r]; !ok {
				t.Errorf("%s: evidence_readers names unknown relation %q", org, r)
			}
		}
		for _, r := range []string{RelIncidentReviewer, RelReporterLineManager, RelRestrictionDecider} {
			if !Grants(p, r) {
				t.Errorf("%s: evidence_readers lacks %q", org, r)
			}
		}
		err := CanRead(p, who("x-1", org, "staff"), item(org), Relations{})
		for _, want := range []string{"the manager who reviewed the linked incident", "the line manager of the linked incident's reporter", "the decider of the linked restriction"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: denial %v does not name %q", org, err, want)
			}
		}
	}
}

func TestRetentionLeavesATombstone(t *testing.T) {
	up, err := Upload("e1", "highland-council", "hc-cso-1", Draft{Kind: "screenshot", Restriction: "restrictions/r1", Distressing: true, OriginalFilename: "a.png"},
		Content{FileID: "f1", ContentType: "image/png", Size: 10, SHA256: "abc"}, now)
	if err != nil {
		t.Fatal(err)
	}
	history := []eventlog.Event{up}
	it, err := Fold(history)
	if err != nil || it.State != StateActive || it.Filename != "DISTRESSING - a.png" || it.Version != 1 {
		t.Fatalf("folded %+v, %v", it, err)
	}
	year := 365 * 24 * time.Hour
	if _, err := MarkForDeletion(history, it, "hc-mgr-1", "restriction lifted on appeal", "active", year, now); !errors.Is(err, apperr.ErrFailedPrecondition) {
		t.Fatalf("marking with an active restriction: %v", err)
	}
	if _, err := Delete(history, it, "hc-mgr-1", now); !errors.Is(err, apperr.ErrFailedPrecondition) {
		t.Fatalf("deleting an unmarked item: %v", err)
	}
	mark, err := MarkForDeletion(history, it, "hc-mgr-1", "restriction lifted on appeal", "lifted", year, now)
	if err != nil {
		t.Fatal(err)
	}
	history = append(history, mark)
	it, _ = Fold(history)
	if it.State != StateMarkedForDeletion || !it.DeleteAfter.Equal(now.Add(year)) || it.MarkedBy != "hc-mgr-1" {
		t.Fatalf("marked %+v", it)
	}
	if _, err := Delete(history, it, "hc-mgr-1", now.Add(year-time.Second)); !errors.Is(err, apperr.ErrFailedPrecondition) {
		t.Fatalf("deleting before the retention period ends: %v", err)
	}
	del, err := Delete(history, it, "hc-mgr-1", now.Add(year))
	if err != nil {
		t.Fatal(err)
	}
	history = append(history, del)
	it, _ = Fold(history)
	if it.State != StateDeleted || it.SHA256 != "abc" || it.HasContent() || it.DeletedBy != "hc-mgr-1" {
		t.Fatalf("tombstone %+v", it)
	}
	if _, ok := eventlog.VerifyChain(history); !ok {
		t.Fatal("history does not chain")
	}
}
