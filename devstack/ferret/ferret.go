// Package ferret runs FerretDB v1 embedded in the current process with its
// SQLite backend, so development and tests get a MongoDB-wire server without
// installing one. It is for development and tests only.
package ferret

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// Options configure an embedded FerretDB.
type Options struct {
	// Dir holds the SQLite files (one per database). It is created if missing.
	Dir string
	// Addr is the TCP listen address; default 127.0.0.1:0 (a free port).
	Addr string
	// Logger receives FerretDB's logs; default: QuietLogger(os.Stderr).
	Logger *slog.Logger
}

// Start starts FerretDB and returns its MongoDB URI (mongodb://host:port/)
// and a function that stops it and waits until it has stopped.
// The server also stops when ctx ends.
func Start(ctx context.Context, o Options) (uri string, stop func(), err error) {
	if o.Dir == "" {
		return "", nil, fmt.Errorf("ferret: Dir is required")
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Logger == nil {
		o.Logger = QuietLogger(os.Stderr)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("ferret: data dir: %w", err)
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: o.Addr},
		Logger:   o.Logger,
		Handler:  "sqlite",
		// The SQLite URL names a directory and must end with a slash.
		SQLiteURL: "file:" + strings.TrimSuffix(filepath.ToSlash(dir), "/") + "/",
	})
	if err != nil {
		return "", nil, fmt.Errorf("ferret: start on %s: %w", o.Addr, err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(runCtx)
	}()

	// The listener is already bound when New returns, so the URI is known
	// and connections are queued until Run accepts them.
	uri = f.MongoDBURI()
	stop = func() {
		cancel()
		<-done
	}
	return uri, stop, nil
}

// QuietLogger logs FerretDB's warnings and errors as text to w, without the
// wire-protocol dumps FerretDB logs at warning level for every error answer
// (such as "no such command: 'endSessions'" each time a client disconnects).
func QuietLogger(w io.Writer) *slog.Logger {
	return slog.New(dropDumps{slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn})})
}

type dropDumps struct{ slog.Handler }

func (d dropDumps) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "Response header:") || strings.HasPrefix(r.Message, "Response message:") {
		return nil
	}
	return d.Handler.Handle(ctx, r)
}

func (d dropDumps) WithAttrs(as []slog.Attr) slog.Handler { return dropDumps{d.Handler.WithAttrs(as)} }

func (d dropDumps) WithGroup(name string) slog.Handler { return dropDumps{d.Handler.WithGroup(name)} }
