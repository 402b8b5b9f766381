package identity

import (
	"context"

	"google.golang.org/grpc/metadata"
)

// Forward returns ctx for an outgoing gRPC call made on behalf of the
// caller of the incoming call in ctx: the caller's signed assertion (the
// x-cg-identity metadata, as received) is copied to the outgoing metadata,
// so the called service checks the caller, not the calling service. Without
// an incoming assertion ctx is returned unchanged and the call is anonymous
// (the called service refuses it).
//
// The assertion keeps its original expiry (a minute from the gateway):
// forward it while handling the request, not from a later background job.
func Forward(ctx context.Context) context.Context {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return ctx
	}
	v := md.Get(MetadataKey)
	if len(v) == 0 || v[0] == "" {
		return ctx
	}
	out, _ := metadata.FromOutgoingContext(ctx)
	out = out.Copy()
	out.Set(MetadataKey, v[0])
	return metadata.NewOutgoingContext(ctx, out)
}
