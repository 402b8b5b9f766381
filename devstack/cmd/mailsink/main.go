// Command mailsink is a development SMTP server that accepts every message and
// shows it on a web page (and as JSON under /api/messages). It delivers nothing.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/contactguard/contactguard/devstack/mailsink"
)

func main() {
	smtpAddr := flag.String("smtp", "127.0.0.1:1025", "SMTP listen address")
	httpAddr := flag.String("http", "127.0.0.1:8025", "HTTP listen address (web page and JSON API)")
	dir := flag.String("dir", "", "directory to keep messages in across restarts (empty: memory only)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *smtpAddr, *httpAddr, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "mailsink:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, smtpAddr, httpAddr, dir string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	s, err := mailsink.Start(mailsink.Config{SMTPAddr: smtpAddr, HTTPAddr: httpAddr, Dir: dir, Logger: log})
	if err != nil {
		return err
	}
	log.Info("mail sink ready", "smtp", s.SMTPAddr(), "web", s.URL(), "dir", dir)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Close(sctx)
}
