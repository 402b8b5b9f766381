// Command servicetoken mints the signed identity a machine client (the
// telephony system, the inbound e-mail gateway) presents when it calls
// restriction-svc over gRPC directly, in the metadata key x-cg-identity.
// The identity has the client's name as staff id and the role telephony,
// which restriction-svc allows only on CheckContact and RecordContact.
// It reads the services' IDENTITY_KEY from the environment and prints the
// token on stdout; the key is never printed. See docs/adr/0005-contact-check.md.
//
//	IDENTITY_KEY=... go run ./restriction-svc/cmd/servicetoken -name telephony-hc -org highland-council -ttl 720h
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"time"

	"github.com/contactguard/contactguard/platform/config"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/policy"
)

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "servicetoken: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("servicetoken", flag.ContinueOnError)
	name := fs.String("name", "", "name of the machine client, e.g. telephony-hc (the identity's staff id)")
	org := fs.String("org", "", "organisation id, e.g. highland-council")
	role := fs.String("role", "telephony", "role of the client")
	ttl := fs.Duration("ttl", 30*24*time.Hour, "lifetime of the token (at most 366 days); mint a new one before it ends")
	if err := fs.Parse(args); err != nil {
		return err
	}
	env := config.New()
	key := env.Secret("IDENTITY_KEY", 32)
	if err := env.Err(); err != nil {
		return err
	}
	switch {
	case !namePattern.MatchString(*name):
		return fmt.Errorf("-name: give the client's name in lower case, e.g. telephony-hc")
	case *role != "telephony":
		return errors.New("-role: only telephony tokens are minted here; staff sign in through the gateway")
	case *ttl <= 0 || *ttl > 366*24*time.Hour:
		return fmt.Errorf("-ttl: must be positive and at most 366 days, got %s", *ttl)
	}
	if _, ok := policy.For(*org); !ok {
		return fmt.Errorf("-org: %q has no policy profile (one of %v)", *org, policy.Organizations())
	}
	codec := identity.Codec{Key: key, Audience: identity.AudienceServices, TTL: *ttl}
	token, err := codec.Sign(identity.Identity{StaffID: *name, Organization: *org, Roles: []string{*role}})
	if err != nil {
		return err
	}
	fmt.Println(token)
	return nil
}
