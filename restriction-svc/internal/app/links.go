package app

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/restriction-svc/internal/domain"
)

// Links asks the services owning the records a restriction cites about
// them, acting as the caller (their signed identity is forwarded):
// incident-svc and evidence-svc answer NotFound for another organisation's
// record and PermissionDenied to staff who may not read it. Errors are
// apperr NotFound or PermissionDenied, or an *UnavailableError.
type Links interface {
	Incident(ctx context.Context, name string) error
	Evidence(ctx context.Context, name string) error
}

// UnavailableError says a cited record could not be checked because its
// service did not answer.
type UnavailableError struct {
	Service string // e.g. "incident-svc"
	Name    string // e.g. "incidents/abc"
	Reason  string // e.g. "Unavailable: connection refused"
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%s could not be asked about %s (%s)", e.Service, e.Name, e.Reason)
}

// Unwrap makes it an apperr Unavailable.
func (e *UnavailableError) Unwrap() error { return apperr.ErrUnavailable }

// checkLinks makes sure every incident and evidence item p cites, and
// before did not, exists in the caller's organisation and that the caller
// may read it: a restriction is supported by records (C24) its proposer
// can see. Names already on the restriction are not asked about again. A
// service that cannot answer refuses the change, saying which.
func (s *Service) checkLinks(ctx context.Context, a domain.Actor, p, before domain.Proposal) error {
	type link struct {
		field, what, name string
		check             func(context.Context, string) error
	}
	var added []link
	for _, n := range p.Incidents {
		if !slices.Contains(before.Incidents, n) {
			added = append(added, link{"restriction.incidents", "an incident", n, s.links.Incident})
		}
	}
	for _, n := range p.Evidence {
		if !slices.Contains(before.Evidence, n) {
			added = append(added, link{"restriction.evidence", "an evidence item", n, s.links.Evidence})
		}
	}
	for _, l := range added {
		err := l.check(ctx, l.name)
		switch u, unavailable := errors.AsType[*UnavailableError](err); {
		case err == nil:
		case errors.Is(err, apperr.ErrNotFound):
			return apperr.NotFound("%s: %s is not %s of %s", l.field, l.name, l.what, a.Profile.Name)
		case errors.Is(err, apperr.ErrPermissionDenied):
			return apperr.Denied("%s: a restriction may cite only records you may read, and you may not read %s (%s)", l.field, l.name, err.Error())
		case unavailable:
			return &apperr.Error{Kind: apperr.ErrUnavailable, Message: fmt.Sprintf("%s: %s; nothing was recorded, try again", l.field, u.Error())}
		default:
			return err
		}
	}
	return nil
}
