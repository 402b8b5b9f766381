package mailsink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Config says where the sink listens and keeps mail.
type Config struct {
	SMTPAddr string // e.g. 127.0.0.1:1025; port 0 picks a free one
	HTTPAddr string // e.g. 127.0.0.1:8025; port 0 picks a free one
	Dir      string // empty: memory only
	Logger   *slog.Logger
}

// Sink is a running mail sink.
type Sink struct {
	Store *Store

	smtpSrv *smtp.Server
	httpSrv *http.Server
	smtpLn  net.Listener
	httpLn  net.Listener
	log     *slog.Logger
	done    chan struct{}
}

// Start listens on both addresses and serves in the background.
func Start(cfg Config) (*Sink, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	store, err := NewStore(cfg.Dir)
	if err != nil {
		return nil, err
	}
	smtpLn, err := net.Listen("tcp", cfg.SMTPAddr)
	if err != nil {
		return nil, fmt.Errorf("smtp listen: %w", err)
	}
	httpLn, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		smtpLn.Close()
		return nil, fmt.Errorf("http listen: %w", err)
	}

	s := &Sink{Store: store, smtpLn: smtpLn, httpLn: httpLn, log: log, done: make(chan struct{})}

	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{sink: s}, nil
	}))
	srv.Domain = "mailsink.localhost"
	srv.AllowInsecureAuth = true
	srv.MaxMessageBytes = 25 << 20
	srv.MaxRecipients = 1000
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	s.smtpSrv = srv

	s.httpSrv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}

	go func() {
		if err := srv.Serve(smtpLn); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			log.Error("smtp server stopped", "err", err)
		}
	}()
	go func() {
		defer close(s.done)
		if err := s.httpSrv.Serve(httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	}()
	return s, nil
}

// SMTPAddr is the address the SMTP server listens on.
func (s *Sink) SMTPAddr() string { return s.smtpLn.Addr().String() }

// HTTPAddr is the address the web server listens on.
func (s *Sink) HTTPAddr() string { return s.httpLn.Addr().String() }

// URL is the base URL of the web page and API.
func (s *Sink) URL() string { return "http://" + s.HTTPAddr() }

// Close stops both servers.
// Idle SMTP connections get two seconds (or until ctx ends) and are then closed.
func (s *Sink) Close(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.smtpSrv.Shutdown(sctx); err != nil {
		_ = s.smtpSrv.Close()
	}
	_ = s.smtpLn.Close()
	err := s.httpSrv.Shutdown(ctx)
	if err != nil {
		_ = s.httpSrv.Close()
	}
	<-s.done
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

type session struct {
	sink *Sink
	from string
	to   []string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

// Auth accepts any PLAIN credentials: the sink is for development only.
func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error { return nil }), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	s.to = nil
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := s.sink.Store.Add(s.from, s.to, raw)
	if err != nil {
		s.sink.log.Error("store message", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "could not store message"}
	}
	s.sink.log.Info("mail received", "id", m.ID, "from", m.From, "to", m.To, "subject", m.Subject)
	return nil
}

func (s *session) Reset() {
	s.from = ""
	s.to = nil
}

func (s *session) Logout() error { return nil }

// Handler serves the web page and the JSON API.
func (s *Sink) Handler() http.Handler { return NewHandler(s.Store) }

// NewHandler serves a store over HTTP:
//
//	GET    /                  HTML list, newest first
//	GET    /messages/{id}     one message as HTML
//	GET    /api/messages      JSON array, newest first
//	GET    /api/messages/{id} one message as JSON
//	DELETE /api/messages      remove all messages
func NewHandler(store *Store) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := listPage.Execute(w, store.List()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("GET /messages/{id}", func(w http.ResponseWriter, r *http.Request) {
		m, ok := store.Get(r.PathValue("id"))
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := messagePage.Execute(w, m); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("GET /api/messages", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, store.List())
	})
	mux.HandleFunc("GET /api/messages/{id}", func(w http.ResponseWriter, r *http.Request) {
		m, ok := store.Get(r.PathValue("id"))
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
			return
		}
		writeJSON(w, http.StatusOK, m)
	})
	mux.HandleFunc("DELETE /api/messages", func(w http.ResponseWriter, r *http.Request) {
		if err := store.Clear(); err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

const style = `<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid #ddd;vertical-align:top}
pre{white-space:pre-wrap;background:#f6f6f6;padding:1rem;border-radius:4px}
.muted{color:#777}
</style>`

var listPage = template.Must(template.New("list").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Mail sink</title>` + style + `</head>
<body>
<h1>Mail sink</h1>
<p class="muted">{{len .}} message(s), newest first. Nothing here is delivered anywhere. JSON: <a href="/api/messages">/api/messages</a></p>
{{if .}}<table>
<tr><th>Received</th><th>To</th><th>Subject</th><th></th></tr>
{{range .}}<tr>
<td>{{.Received.Local.Format "2006-01-02 15:04:05"}}</td>
<td>{{range $i, $t := .To}}{{if $i}}, {{end}}{{$t}}{{end}}</td>
<td>{{if .Subject}}{{.Subject}}{{else}}<span class="muted">(no subject)</span>{{end}}</td>
<td><a href="/messages/{{.ID}}">open</a></td>
</tr>{{end}}
</table>{{else}}<p>No mail yet.</p>{{end}}
</body></html>
`))

var messagePage = template.Must(template.New("message").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Subject}}</title>` + style + `</head>
<body>
<p><a href="/">&larr; all messages</a></p>
<h1>{{if .Subject}}{{.Subject}}{{else}}(no subject){{end}}</h1>
<table>
<tr><th>Received</th><td>{{.Received.Local.Format "2006-01-02 15:04:05 MST"}}</td></tr>
<tr><th>From</th><td>{{.From}}</td></tr>
<tr><th>To</th><td>{{range $i, $t := .To}}{{if $i}}, {{end}}{{$t}}{{end}}</td></tr>
<tr><th>Message-ID</th><td>{{.MessageID}}</td></tr>
</table>
<h2>Text</h2>
<pre>{{.Text}}</pre>
<details><summary>Raw message</summary><pre>{{.Raw}}</pre></details>
</body></html>
`))
