// Command restriction-svc will manage restrictions on a customer's contact
// and answer the telephony system's real-time contact check (policy-map.md
// section 3). Its API is defined in proto/restriction/v1; until the
// restrictions issue is built every method answers codes.Unimplemented,
// so no caller is told a restriction check passed when none was made.
package main

import (
	"context"

	"github.com/contactguard/contactguard/platform/svcmain"
	restrictionv1 "github.com/contactguard/contactguard/proto/restriction/v1"
)

type server struct {
	restrictionv1.UnimplementedRestrictionServiceServer
}

func main() {
	svc := svcmain.Load("restriction", "127.0.0.1:9092", "127.0.0.1:9192")
	svc.Run(func(_ context.Context, d *svcmain.Deps) ([]svcmain.Job, error) {
		restrictionv1.RegisterRestrictionServiceServer(d.Server.Server, server{})
		return nil, nil
	})
}
