// Command evidence-svc will store evidence (screenshots, recordings,
// letters), encrypted, hashed and opened only by those who need it
// (policy-map.md section 4). Its API is defined in proto/evidence/v1; until
// the evidence issue is built every method answers codes.Unimplemented.
package main

import (
	"context"

	"github.com/contactguard/contactguard/platform/svcmain"
	evidencev1 "github.com/contactguard/contactguard/proto/evidence/v1"
)

type server struct {
	evidencev1.UnimplementedEvidenceServiceServer
}

func main() {
	svc := svcmain.Load("evidence", "127.0.0.1:9093", "127.0.0.1:9193")
	svc.Run(func(_ context.Context, d *svcmain.Deps) ([]svcmain.Job, error) {
		evidencev1.RegisterEvidenceServiceServer(d.Server.Server, server{})
		return nil, nil
	})
}
