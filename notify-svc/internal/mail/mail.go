// Package mail composes MIME messages and sends them over SMTP (plain,
// STARTTLS or implicit TLS, optional authentication), with timeouts.
package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"time"
)

// Message is one email to one recipient.
type Message struct {
	From      string // "Name <address>"
	To        string // address
	Subject   string
	Text      string
	HTML      string
	MessageID string // stable per (event, recipient), so a resend is recognisable
	// Accepted, if set, is called as soon as the server has accepted the
	// message, before the session is closed: the caller records the
	// delivery there, keeping the window in which a crash would send the
	// message again as short as the record itself.
	Accepted func()
}

// Config is how to reach the SMTP server.
type Config struct {
	Addr     string // host:port
	TLS      string // "none", "starttls" or "tls"
	Username string
	Password string
	Timeout  time.Duration
}

// Compose renders m as a multipart/alternative RFC 5322 message.
func Compose(m Message, now time.Time) ([]byte, error) {
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return nil, fmt.Errorf("from address: %w", err)
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("recipient address: %w", err)
	}
	const boundary = "contactguard-alternative-boundary"
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", from.String())
	header("To", to.String())
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", now.UTC().Format(time.RFC1123Z))
	header("Message-ID", "<"+m.MessageID+">")
	header("MIME-Version", "1.0")
	header("Auto-Submitted", "auto-generated")
	header("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	for _, part := range []struct{ kind, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		fmt.Fprintf(&b, "--%s\r\nContent-Type: %s; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", boundary, part.kind)
		qp := quotedprintable.NewWriter(&b)
		if _, err := qp.Write([]byte(part.body)); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.Bytes(), nil
}

// Send delivers m through the server in cfg.
func Send(ctx context.Context, cfg Config, m Message) error {
	body, err := Compose(m, time.Now())
	if err != nil {
		return err
	}
	from, _ := mail.ParseAddress(m.From)
	to, _ := mail.ParseAddress(m.To)
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return fmt.Errorf("SMTP_ADDR: %w", err)
	}
	dialer := &net.Dialer{Timeout: timeout}
	var conn net.Conn
	if cfg.TLS == "tls" {
		conn, err = tls.DialWithDialer(dialer, "tcp", cfg.Addr, &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12})
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", cfg.Addr)
	}
	if err != nil {
		return fmt.Errorf("connect to SMTP server: %w", err)
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("SMTP greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello("contactguard.localhost"); err != nil {
		return fmt.Errorf("SMTP HELO: %w", err)
	}
	if cfg.TLS == "starttls" {
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("SMTP STARTTLS: %w", err)
		}
	}
	if cfg.Username != "" {
		// net/smtp refuses PLAIN auth over an unencrypted connection except to localhost.
		if err := c.Auth(smtp.PlainAuth("", cfg.Username, cfg.Password, host)); err != nil {
			return fmt.Errorf("SMTP authentication: %w", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("SMTP MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return fmt.Errorf("SMTP RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("SMTP DATA: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("SMTP DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("SMTP DATA: %w", err)
	}
	if m.Accepted != nil {
		m.Accepted()
	}
	// The message is accepted: a failing QUIT must not make it be sent again.
	_ = c.Quit()
	return nil
}

// IsPermanent reports an SMTP 5xx reply: retrying will not help.
func IsPermanent(err error) bool {
	var te *textproto.Error
	return errors.As(err, &te) && te.Code >= 500
}
