package mailsink

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/smtp"
	"strings"
	"testing"
	"time"
)

func startSink(t *testing.T, dir string) *Sink {
	t.Helper()
	s, err := Start(Config{
		SMTPAddr: "127.0.0.1:0",
		HTTPAddr: "127.0.0.1:0",
		Dir:      dir,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s
}

func send(t *testing.T, addr, from string, to []string, msg string) {
	t.Helper()
	if err := smtp.SendMail(addr, nil, from, to, []byte(strings.ReplaceAll(msg, "\n", "\r\n"))); err != nil {
		t.Fatalf("send: %v", err)
	}
}

func getMessages(t *testing.T, base string) []Message {
	t.Helper()
	resp, err := http.Get(base + "/api/messages")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/messages: %s", resp.Status)
	}
	var msgs []Message
	if err := json.NewDecoder(resp.Body).Decode(&msgs); err != nil {
		t.Fatal(err)
	}
	return msgs
}

func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const plainMsg = `From: ContactGuard <noreply@contactguard.example.org>
To: isla.macleod@highland.example.org
Subject: New incident HC-2026-000001
Message-ID: <abc123@contactguard.example.org>
Content-Type: text/plain; charset=utf-8

A new incident HC-2026-000001 was reported by <Morag>.
Open it: http://localhost:8080/incidents/1
`

func TestSendAndRead(t *testing.T) {
	s := startSink(t, "")
	send(t, s.SMTPAddr(), "noreply@contactguard.example.org", []string{"isla.macleod@highland.example.org", "cc@example.org"}, plainMsg)

	msgs := getMessages(t, s.URL())
	if len(msgs) != 1 {
		t.Fatalf("got %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.From != "noreply@contactguard.example.org" {
		t.Errorf("from = %q", m.From)
	}
	if len(m.To) != 2 || m.To[0] != "isla.macleod@highland.example.org" || m.To[1] != "cc@example.org" {
		t.Errorf("to = %v", m.To)
	}
	if m.Subject != "New incident HC-2026-000001" {
		t.Errorf("subject = %q", m.Subject)
	}
	if m.MessageID != "<abc123@contactguard.example.org>" {
		t.Errorf("message id = %q", m.MessageID)
	}
	if !strings.Contains(m.Text, "reported by <Morag>.") || strings.Contains(m.Text, "Subject:") {
		t.Errorf("text = %q", m.Text)
	}
	if !strings.Contains(m.Raw, "Subject: New incident") {
		t.Errorf("raw = %q", m.Raw)
	}
	if m.ID == "" || m.Received.IsZero() {
		t.Errorf("id/received not set: %+v", m)
	}

	code, page := getBody(t, s.URL()+"/")
	if code != http.StatusOK || !strings.Contains(page, "New incident HC-2026-000001") || !strings.Contains(page, "/messages/"+m.ID) {
		t.Errorf("list page %d: %s", code, page)
	}
	code, page = getBody(t, s.URL()+"/messages/"+m.ID)
	if code != http.StatusOK || !strings.Contains(page, "reported by &lt;Morag&gt;.") || strings.Contains(page, "<Morag>") {
		t.Errorf("message page %d (want escaped body): %s", code, page)
	}
	if code, _ := getBody(t, s.URL()+"/messages/nope"); code != http.StatusNotFound {
		t.Errorf("unknown message: %d", code)
	}
}

func TestNewestFirstAndDelete(t *testing.T) {
	s := startSink(t, "")
	for _, subj := range []string{"first", "second", "third"} {
		send(t, s.SMTPAddr(), "a@example.org", []string{"b@example.org"}, "Subject: "+subj+"\n\nbody "+subj+"\n")
	}
	msgs := getMessages(t, s.URL())
	if len(msgs) != 3 || msgs[0].Subject != "third" || msgs[2].Subject != "first" {
		t.Fatalf("order: %+v", msgs)
	}

	req, _ := http.NewRequest(http.MethodDelete, s.URL()+"/api/messages", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %s", resp.Status)
	}
	if msgs := getMessages(t, s.URL()); len(msgs) != 0 {
		t.Fatalf("after delete: %d messages", len(msgs))
	}
}

func TestPersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	s := startSink(t, dir)
	send(t, s.SMTPAddr(), "a@example.org", []string{"b@example.org"}, "Subject: kept\n\nstill here\n")
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	s2 := startSink(t, dir)
	msgs := getMessages(t, s2.URL())
	if len(msgs) != 1 || msgs[0].Subject != "kept" || !strings.Contains(msgs[0].Text, "still here") {
		t.Fatalf("after restart: %+v", msgs)
	}
	send(t, s2.SMTPAddr(), "a@example.org", []string{"b@example.org"}, "Subject: newer\n\nx\n")
	if msgs := getMessages(t, s2.URL()); len(msgs) != 2 || msgs[0].Subject != "newer" {
		t.Fatalf("after second send: %+v", msgs)
	}
	if err := s2.Store.Clear(); err != nil {
		t.Fatal(err)
	}
	s3, err := NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s3.List()); n != 0 {
		t.Fatalf("cleared store reloads %d messages", n)
	}
}

func TestAuthPlainAccepted(t *testing.T) {
	s := startSink(t, "")
	c, err := smtp.Dial(s.SMTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		t.Fatal(err)
	}
	// net/smtp sends PLAIN without TLS only to a loopback host.
	if err := c.Auth(smtp.PlainAuth("", "user", "secret", "127.0.0.1")); err != nil {
		t.Fatalf("auth: %v", err)
	}
}

func TestParseMultipartQuotedPrintable(t *testing.T) {
	raw := "Subject: =?utf-8?q?Incident_HC=E2=80=931?=\r\n" +
		"Message-ID: <m1@x>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=BOUND\r\n\r\n" +
		"--BOUND\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Reference HC-1 =E2=80=93 open the portal to read it.=\r\n" +
		" More.\r\n" +
		"--BOUND\r\n" +
		"Content-Type: text/html; charset=utf-8\r\n\r\n" +
		"<p>Reference HC-1</p>\r\n" +
		"--BOUND--\r\n"
	m := Parse([]byte(raw))
	if m.Subject != "Incident HC\u20131" {
		t.Errorf("subject = %q", m.Subject)
	}
	if m.MessageID != "<m1@x>" {
		t.Errorf("message id = %q", m.MessageID)
	}
	if want := "Reference HC-1 \u2013 open the portal to read it. More."; !strings.Contains(m.Text, want) {
		t.Errorf("text = %q, want it to contain %q", m.Text, want)
	}

	b64 := "Subject: b\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8g\r\nd29ybGQ=\r\n"
	if m := Parse([]byte(b64)); m.Text != "Hello world" {
		t.Errorf("base64 text = %q", m.Text)
	}
}
