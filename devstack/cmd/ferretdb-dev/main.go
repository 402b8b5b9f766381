// Command ferretdb-dev runs FerretDB (SQLite backend) for development and tests.
// When it is ready it prints exactly one line, the MongoDB URI, to stdout; its
// logs go to stderr. SIGINT or SIGTERM stops it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/contactguard/contactguard/devstack/ferret"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (port 0: a free port)")
	dir := flag.String("dir", "", "SQLite data directory (empty: a temporary one, removed at exit)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb-dev:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr, dir string) error {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "ferretdb-dev-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	uri, stopDB, err := ferret.Start(ctx, ferret.Options{Dir: dir, Addr: addr, Logger: ferret.QuietLogger(os.Stderr)})
	if err != nil {
		return err
	}
	defer stopDB()
	fmt.Println(uri)
	fmt.Fprintf(os.Stderr, "ferretdb-dev: FerretDB listening at %s (data in %s)\n", uri, dir)
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "ferretdb-dev: stopping")
	return nil
}
