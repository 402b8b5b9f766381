package mail

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

func TestComposeIsAParsableAlternativeMessage(t *testing.T) {
	longLine := strings.Repeat("a long line that quoted-printable must wrap ", 5)
	tests := []struct {
		name    string
		subject string
		text    string
		html    string
	}{
		{"ascii", "Incident HC-2026-ABC123 reported: your review is needed", "Dear Isla,\nReference: HC-2026-ABC123\n", "<p>Dear Isla,</p>"},
		{"non-ascii subject and body", "Tachartas HC-2026-ABC123 – Ìsla, ùr: «review»", "A Ìsla chòir,\n= sign and ünïcödé\n", "<p>A Ìsla chòir, = “quoted”</p>"},
		{"long lines", "Long", longLine, "<p>" + longLine + "</p>"},
	}
	now := time.Date(2026, 3, 4, 10, 30, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := Compose(Message{
				From: "ContactGuard - The Highland Council <contactguard@highland.example.org>", To: "isla.macleod@highland.example.org",
				Subject: tt.subject, Text: tt.text, HTML: tt.html, MessageID: "6162632d68632d746c2d31@contactguard",
			}, now)
			if err != nil {
				t.Fatal(err)
			}
			msg, err := mail.ReadMessage(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("net/mail cannot read the message: %v\n%s", err, raw)
			}
			h := msg.Header
			subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
			if err != nil || subject != tt.subject {
				t.Errorf("subject = %q (%v), want %q", subject, err, tt.subject)
			}
			if got := h.Get("Message-Id"); got != "<6162632d68632d746c2d31@contactguard>" {
				t.Errorf("Message-ID = %q", got)
			}
			if from, err := h.AddressList("From"); err != nil || len(from) != 1 || from[0].Address != "contactguard@highland.example.org" || from[0].Name != "ContactGuard - The Highland Council" {
				t.Errorf("From = %v (%v)", from, err)
			}
			if to, err := h.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != "isla.macleod@highland.example.org" {
				t.Errorf("To = %v (%v)", to, err)
			}
			if date, err := h.Date(); err != nil || !date.Equal(now) {
				t.Errorf("Date = %v (%v), want %v", date, err, now)
			}
			if h.Get("Auto-Submitted") != "auto-generated" {
				t.Errorf("Auto-Submitted = %q", h.Get("Auto-Submitted"))
			}
			media, params, err := mime.ParseMediaType(h.Get("Content-Type"))
			if err != nil || media != "multipart/alternative" {
				t.Fatalf("Content-Type = %q (%v)", h.Get("Content-Type"), err)
			}
			parts := map[string]string{}
			var order []string
			mr := multipart.NewReader(msg.Body, params["boundary"])
			for {
				p, err := mr.NextPart()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("next part: %v", err)
				}
				kind, kparams, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
				if err != nil || kparams["charset"] != "utf-8" {
					t.Errorf("part Content-Type = %q (%v)", p.Header.Get("Content-Type"), err)
				}
				body, err := io.ReadAll(p) // multipart decodes quoted-printable
				if err != nil {
					t.Fatalf("read %s: %v", kind, err)
				}
				// Line breaks travel as CRLF, as email requires.
				parts[kind] = strings.ReplaceAll(string(body), "\r\n", "\n")
				order = append(order, kind)
			}
			// Plain text first: a reader shows the last part it understands.
			if fmt.Sprint(order) != "[text/plain text/html]" {
				t.Errorf("parts = %v", order)
			}
			if parts["text/plain"] != tt.text || parts["text/html"] != tt.html {
				t.Errorf("parts decode to %q and %q", parts["text/plain"], parts["text/html"])
			}
			for i, line := range strings.Split(string(raw), "\r\n") {
				if len(line) > 998 {
					t.Errorf("line %d is %d octets, over the RFC 5322 limit", i, len(line))
				}
			}
		})
	}
}

func TestComposeKeepsHeadersIntact(t *testing.T) {
	raw, err := Compose(Message{
		From: "ContactGuard <contactguard@highland.example.org>", To: "isla.macleod@highland.example.org",
		Subject: "Incident\r\nBcc: attacker@example.com", Text: "t", HTML: "h", MessageID: "x@contactguard",
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Bcc") != "" {
		t.Errorf("a subject with CRLF added a Bcc header:\n%s", raw)
	}
}

func TestComposeRefusesBadAddresses(t *testing.T) {
	tests := []struct {
		name, from, to string
	}{
		{"bad sender", "not an address", "isla.macleod@highland.example.org"},
		{"bad recipient", "contactguard@highland.example.org", "isla.macleod"},
		{"no recipient", "contactguard@highland.example.org", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Compose(Message{From: tt.from, To: tt.to, Subject: "s", MessageID: "x@contactguard"}, time.Now()); err == nil {
				t.Error("Compose accepted the message")
			}
		})
	}
}

func TestIsPermanentOnlyFor5xxReplies(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"550 mailbox unavailable", &textproto.Error{Code: 550, Msg: "no such user"}, true},
		{"wrapped 554", fmt.Errorf("SMTP RCPT TO: %w", &textproto.Error{Code: 554, Msg: "rejected"}), true},
		{"451 try again later", &textproto.Error{Code: 451, Msg: "try again later"}, false},
		{"wrapped 421", fmt.Errorf("SMTP greeting: %w", &textproto.Error{Code: 421, Msg: "busy"}), false},
		{"connection refused", fmt.Errorf("connect to SMTP server: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}), false},
		{"timeout", fmt.Errorf("SMTP DATA: %w", io.ErrUnexpectedEOF), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsPermanent(tt.err); got != tt.want {
				t.Errorf("IsPermanent(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
