// Command importstaff imports an organisation's staff directory from the
// CSV file its HR system exports, straight into notify-svc's database (the
// same checks as the ImportStaff RPC: a malformed row is reported with its
// line number and nothing is applied; importing again changes nothing).
//
//	MONGO_URI=mongodb://... go run ./notify-svc/cmd/importstaff -org highland-council -file staff.csv [-validate-only]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/contactguard/contactguard/notify-svc/internal/staff"
	"github.com/contactguard/contactguard/platform/config"
	"github.com/contactguard/contactguard/platform/mongox"
	"github.com/contactguard/contactguard/platform/policy"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "importstaff: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	org := flag.String("org", "", "organisation id (e.g. highland-council)")
	file := flag.String("file", "", "the CSV file: a header row (id, name, email, line_manager_id, roles separated by ';', team), then one row per person")
	validateOnly := flag.Bool("validate-only", false, "check the file and apply nothing")
	flag.Parse()
	p, ok := policy.For(*org)
	if !ok {
		return fmt.Errorf("-org: %q is not an organisation of this deployment (one of %v)", *org, policy.Organizations())
	}
	if *file == "" {
		return fmt.Errorf("-file: give the CSV file to import")
	}
	env := config.New()
	uri := env.URL("MONGO_URI", "", "mongodb", "mongodb+srv")
	dbName := env.String("MONGO_DB", "contactguard_notify")
	if uri == "" {
		env.Required("MONGO_URI", "notify-svc's MongoDB, e.g. mongodb://127.0.0.1:27017/")
	}
	if err := env.Err(); err != nil {
		return err
	}
	f, err := os.Open(*file)
	if err != nil {
		return err
	}
	defer f.Close()
	client, err := mongox.Connect(ctx, uri)
	if err != nil {
		return err
	}
	defer client.Disconnect(context.Background())
	store := staff.NewStore(client.Database(dbName))
	current, err := store.List(ctx, p.ID, nil)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, m := range current {
		known[m.ID] = true
	}
	members, err := staff.ParseCSV(f, p, func(id string) bool { return known[id] })
	if err != nil {
		return fmt.Errorf("%s: %w (nothing was imported)", *file, err)
	}
	if *validateOnly {
		fmt.Printf("%s: %d rows are valid; nothing was imported (-validate-only)\n", *file, len(members))
		return nil
	}
	res, err := store.Import(ctx, p.ID, members)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %d rows: %d created, %d updated, %d unchanged\n", *file, len(members), res.Created, res.Updated, res.Unchanged)
	return nil
}
