// Package mailsink is a development SMTP server that accepts every message,
// keeps it (in memory and optionally on disk) and shows it over HTTP.
// It is for development and tests only: it does no authentication and relays nothing.
package mailsink

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Message is one received message.
type Message struct {
	ID        string    `json:"id"`
	Received  time.Time `json:"received"`
	From      string    `json:"from"`
	To        []string  `json:"to"`
	Subject   string    `json:"subject"`
	MessageID string    `json:"message_id"`
	Text      string    `json:"text"`
	Raw       string    `json:"raw"`
}

// Store keeps messages in memory and, when dir is set, as one JSON file per message.
type Store struct {
	dir string

	mu   sync.Mutex
	msgs []Message // oldest first
	seq  uint64
}

// NewStore returns a store; with a non-empty dir it loads the messages saved there.
func NewStore(dir string) (*Store, error) {
	s := &Store{dir: dir}
	if dir == "" {
		return s, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("mail dir: %w", err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f, err)
		}
		var m Message
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("parse %s: %w", f, err)
		}
		s.msgs = append(s.msgs, m)
	}
	sortOldestFirst(s.msgs)
	return s, nil
}

func sortOldestFirst(msgs []Message) {
	sort.SliceStable(msgs, func(i, j int) bool {
		if !msgs[i].Received.Equal(msgs[j].Received) {
			return msgs[i].Received.Before(msgs[j].Received)
		}
		return msgs[i].ID < msgs[j].ID
	})
}

// Add parses raw and stores it as a new message.
func (s *Store) Add(from string, to []string, raw []byte) (Message, error) {
	now := time.Now().UTC()
	m := Parse(raw)
	m.Received = now
	m.From = from
	m.To = append([]string(nil), to...)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	m.ID = fmt.Sprintf("%d-%06d-%s", now.UnixNano(), s.seq, hex.EncodeToString(rnd[:]))
	if s.dir != "" {
		b, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			return Message{}, err
		}
		tmp := filepath.Join(s.dir, "."+m.ID+".tmp")
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return Message{}, err
		}
		if err := os.Rename(tmp, filepath.Join(s.dir, m.ID+".json")); err != nil {
			return Message{}, err
		}
	}
	s.msgs = append(s.msgs, m)
	return m, nil
}

// List returns all messages, newest first.
func (s *Store) List() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, 0, len(s.msgs))
	for i := len(s.msgs) - 1; i >= 0; i-- {
		out = append(out, s.msgs[i])
	}
	return out
}

// Get returns the message with the given id.
func (s *Store) Get(id string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if m.ID == id {
			return m, true
		}
	}
	return Message{}, false
}

// Clear removes every message (and its file).
func (s *Store) Clear() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if s.dir != "" {
		for _, m := range s.msgs {
			if err := os.Remove(filepath.Join(s.dir, m.ID+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	s.msgs = nil
	return errors.Join(errs...)
}

// Parse extracts the subject, Message-ID and readable text of a raw message.
// A message it cannot parse is kept with its raw text as the body.
func Parse(raw []byte) Message {
	m := Message{Raw: string(raw)}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		m.Text = string(raw)
		return m
	}
	dec := new(mime.WordDecoder)
	m.Subject = msg.Header.Get("Subject")
	if s, err := dec.DecodeHeader(m.Subject); err == nil {
		m.Subject = s
	}
	m.MessageID = strings.TrimSpace(msg.Header.Get("Message-ID"))
	text, err := textBody(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, 0)
	if err != nil {
		// Fall back to everything after the header.
		if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
			text = string(raw[i+4:])
		} else if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
			text = string(raw[i+2:])
		}
	}
	m.Text = text
	return m
}

// textBody returns the text/plain content of a (possibly multipart) body,
// or the text/html content when there is no plain part.
func textBody(contentType, encoding string, body io.Reader, depth int) (string, error) {
	if contentType == "" {
		contentType = "text/plain"
	}
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mediaType = "text/plain"
	}
	if strings.HasPrefix(mediaType, "multipart/") && depth < 5 {
		mr := multipart.NewReader(body, params["boundary"])
		var html string
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return "", err
			}
			ct := p.Header.Get("Content-Type")
			t, err := textBody(ct, p.Header.Get("Content-Transfer-Encoding"), p, depth+1)
			if err != nil {
				continue
			}
			pt, _, _ := mime.ParseMediaType(ct)
			switch {
			case pt == "" || pt == "text/plain" || strings.HasPrefix(pt, "multipart/"):
				if t != "" {
					return t, nil
				}
			case pt == "text/html" && html == "":
				html = t
			}
		}
		return html, nil
	}
	var r io.Reader = body
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &newlineStripper{r: body})
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n"), nil
}

// newlineStripper drops CR and LF so base64 bodies broken into lines decode.
type newlineStripper struct{ r io.Reader }

func (n *newlineStripper) Read(p []byte) (int, error) {
	for {
		c, err := n.r.Read(p)
		j := 0
		for _, b := range p[:c] {
			if b != '\r' && b != '\n' {
				p[j] = b
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
