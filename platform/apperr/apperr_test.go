package apperr

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestToStatus(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		code     codes.Code
		msg      string
		internal bool
	}{
		{"invalid names field", Invalid("incident.description", "is required"), codes.InvalidArgument, "incident.description: is required", false},
		{"wrapped not found", fmt.Errorf("load: %w", NotFound("incident %q not found", "x")), codes.NotFound, `load: incident "x" not found`, false},
		{"denied", Denied("only a manager may decide"), codes.PermissionDenied, "only a manager may decide", false},
		{"conflict", Conflict("changed meanwhile"), codes.Aborted, "changed meanwhile", false},
		{"precondition", Precondition("already decided"), codes.FailedPrecondition, "already decided", false},
		{"unauthenticated", Unauthenticated("no identity"), codes.Unauthenticated, "no identity", false},
		{"bare kind", ErrAlreadyExists, codes.AlreadyExists, "already exists", false},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded, "deadline exceeded", false},
		{"unknown hides detail", errors.New("mongo: socket closed at 10.0.0.1"), codes.Internal, "internal error", true},
		{"status passes through", status.Error(codes.ResourceExhausted, "slow down"), codes.ResourceExhausted, "slow down", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, internal := ToStatus(tt.err)
			s := status.Convert(got)
			if s.Code() != tt.code || s.Message() != tt.msg || internal != tt.internal {
				t.Errorf("got %v %q internal=%v", s.Code(), s.Message(), internal)
			}
		})
	}
}

func TestInvalidCarriesFieldViolation(t *testing.T) {
	st, _ := ToStatus(Invalid("incident.channel", "unknown channel %q", "fax"))
	details := status.Convert(st).Details()
	if len(details) != 1 {
		t.Fatalf("details = %v", details)
	}
	br, ok := details[0].(*errdetails.BadRequest)
	if !ok || br.FieldViolations[0].Field != "incident.channel" {
		t.Errorf("detail = %v", details[0])
	}
}
