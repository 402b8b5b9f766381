// Package apperr holds the domain error kinds and their one mapping to gRPC
// status codes. Domain and application code return these; transport code
// calls ToStatus once (the server interceptor does it for every RPC).
package apperr

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Kinds of failure. Compare with errors.Is.
var (
	ErrInvalidArgument    = errors.New("invalid argument")
	ErrNotFound           = errors.New("not found")
	ErrAlreadyExists      = errors.New("already exists")
	ErrConflict           = errors.New("conflict")
	ErrFailedPrecondition = errors.New("failed precondition")
	ErrPermissionDenied   = errors.New("permission denied")
	ErrUnauthenticated    = errors.New("unauthenticated")
	ErrUnavailable        = errors.New("unavailable")
)

// Error is a domain error with a message meant for the person who made the
// request, and, for invalid arguments, the field at fault.
type Error struct {
	Kind    error
	Field   string
	Message string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Kind }

// Invalid reports a bad value of field (a JSON/proto path such as
// "incident.description").
func Invalid(field, format string, args ...any) error {
	return &Error{Kind: ErrInvalidArgument, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFound reports a missing resource.
func NotFound(format string, args ...any) error {
	return &Error{Kind: ErrNotFound, Message: fmt.Sprintf(format, args...)}
}

// Denied reports a caller not allowed to do this.
func Denied(format string, args ...any) error {
	return &Error{Kind: ErrPermissionDenied, Message: fmt.Sprintf(format, args...)}
}

// Conflict reports a concurrent change that won; the caller may retry.
func Conflict(format string, args ...any) error {
	return &Error{Kind: ErrConflict, Message: fmt.Sprintf(format, args...)}
}

// Precondition reports a request that is valid but not allowed in the
// resource's current state.
func Precondition(format string, args ...any) error {
	return &Error{Kind: ErrFailedPrecondition, Message: fmt.Sprintf(format, args...)}
}

// Unauthenticated reports a missing or bad identity.
func Unauthenticated(format string, args ...any) error {
	return &Error{Kind: ErrUnauthenticated, Message: fmt.Sprintf(format, args...)}
}

var codeOf = []struct {
	kind error
	code codes.Code
}{
	{ErrInvalidArgument, codes.InvalidArgument},
	{ErrNotFound, codes.NotFound},
	{ErrAlreadyExists, codes.AlreadyExists},
	{ErrConflict, codes.Aborted},
	{ErrFailedPrecondition, codes.FailedPrecondition},
	{ErrPermissionDenied, codes.PermissionDenied},
	{ErrUnauthenticated, codes.Unauthenticated},
	{ErrUnavailable, codes.Unavailable},
}

// ToStatus converts err to a gRPC status error. Known kinds keep their
// message; a cancelled or expired context keeps its code; anything else
// becomes Internal with no detail, and internal reports true so the caller
// logs the original.
func ToStatus(err error) (st error, internal bool) {
	if err == nil {
		return nil, false
	}
	if _, ok := status.FromError(err); ok {
		return err, false
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request cancelled"), false
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded"), false
	}
	for _, c := range codeOf {
		if !errors.Is(err, c.kind) {
			continue
		}
		s := status.New(c.code, err.Error())
		var e *Error
		if errors.As(err, &e) && e.Field != "" {
			if d, derr := s.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: e.Field, Description: e.Message}}}); derr == nil {
				s = d
			}
		}
		return s.Err(), false
	}
	return status.Error(codes.Internal, "internal error"), true
}
