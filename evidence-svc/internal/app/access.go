package app

import (
	"context"
	"errors"
	"slices"

	"github.com/contactguard/contactguard/evidence-svc/internal/domain"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/policy"
)

// authorize decides whether who may read it: organisation-wide roles
// first, then the uploader, then the relations the owning services report.
// It asks a service only when the profile lets that relation read and the
// item has that link, and stops as soon as access is granted.
func (s *Service) authorize(ctx context.Context, p policy.Profile, who identity.Identity, it domain.Item) error {
	if it.Organization != who.Organization || domain.ReadsWholeOrganisation(p, who) {
		return domain.CanRead(p, who, it, domain.Relations{})
	}
	var rel domain.Relations
	granted := func() bool { return domain.CanRead(p, who, it, rel) == nil }
	if it.Uploader == who.StaffID {
		rel.Add(domain.RelUploader)
	}
	if !granted() && it.Incident != "" && domain.GrantsAny(p, domain.IncidentRelations) {
		f, err := s.links.Incident(ctx, it.Incident)
		if s.noteLinkError(&rel, err) == nil {
			if f.Reporter == who.StaffID {
				rel.Add(domain.RelIncidentReporter)
			}
			if slices.Contains(f.StaffInvolved, who.StaffID) {
				rel.Add(domain.RelIncidentStaffInvolved)
			}
			if f.Reviewer != "" && f.Reviewer == who.StaffID {
				rel.Add(domain.RelIncidentReviewer)
			}
			if !granted() && f.Reporter != "" && domain.Grants(p, domain.RelReporterLineManager) {
				manager, err := s.links.LineManagerOf(ctx, f.Reporter)
				if s.noteLinkError(&rel, err) == nil && manager != "" && manager == who.StaffID {
					rel.Add(domain.RelReporterLineManager)
				}
			}
		}
	}
	if !granted() && it.Restriction != "" && domain.GrantsAny(p, domain.RestrictionRelations) {
		f, err := s.links.Restriction(ctx, it.Restriction)
		if s.noteLinkError(&rel, err) == nil {
			if slices.Contains(f.AppealOfficers, who.StaffID) {
				rel.Add(domain.RelRestrictionAppealOfficer)
			}
			if f.Decider != "" && f.Decider == who.StaffID {
				rel.Add(domain.RelRestrictionDecider)
			}
		}
	}
	if !granted() && it.PublicNaming != "" && (domain.Grants(p, domain.RelNamedStaffMember) || domain.Grants(p, domain.RelNamingReporter)) {
		f, err := s.links.PublicNaming(ctx, it.PublicNaming)
		if s.noteLinkError(&rel, err) == nil {
			if f.StaffMember == who.StaffID {
				rel.Add(domain.RelNamedStaffMember)
			}
			if f.Reporter == who.StaffID {
				rel.Add(domain.RelNamingReporter)
			}
		}
	}
	return domain.CanRead(p, who, it, rel)
}

// noteLinkError keeps err out of the decision: not found or denied means
// the caller holds no relation through that link; a service that could not
// answer is noted so a refusal says why. Unexpected errors are logged.
func (s *Service) noteLinkError(rel *domain.Relations, err error) error {
	if err == nil {
		return nil
	}
	if u, ok := errors.AsType[*UnavailableError](err); ok {
		rel.Unchecked = append(rel.Unchecked, u.Error())
	} else if !errors.Is(err, apperr.ErrNotFound) && !errors.Is(err, apperr.ErrPermissionDenied) {
		s.logger.Warn("link check failed", "error", err)
		rel.Unchecked = append(rel.Unchecked, "a linked record could not be checked")
	}
	return err
}

// checkLinks makes sure an upload's links exist in the caller's
// organisation and that the caller may read each of them: evidence is
// added only to records the uploader may see. A link whose service cannot
// answer is refused, saying why.
func (s *Service) checkLinks(ctx context.Context, p policy.Profile, d domain.Draft) error {
	type link struct {
		field, name string
		check       func() error
	}
	links := []link{
		{"evidence.incident", d.Incident, func() error { _, err := s.links.Incident(ctx, d.Incident); return err }},
		{"evidence.restriction", d.Restriction, func() error { _, err := s.links.Restriction(ctx, d.Restriction); return err }},
		{"evidence.public_naming", d.PublicNaming, func() error { _, err := s.links.PublicNaming(ctx, d.PublicNaming); return err }},
	}
	for _, l := range links {
		if l.name == "" {
			continue
		}
		err := l.check()
		switch u, unavailable := errors.AsType[*UnavailableError](err); {
		case err == nil:
		case errors.Is(err, apperr.ErrNotFound):
			return apperr.NotFound("%s: %s is not a record of %s; nothing was stored", l.field, l.name, p.Name)
		case errors.Is(err, apperr.ErrPermissionDenied):
			return apperr.Denied("%s: evidence can be added only to a record you may read, and you may not read %s (%s)", l.field, l.name, err.Error())
		case unavailable && u.NotBuilt:
			return apperr.Denied("%s: cannot confirm you may read %s, so the upload is refused: %s", l.field, l.name, u.Error())
		case unavailable:
			return &apperr.Error{Kind: apperr.ErrUnavailable, Message: l.field + ": cannot check " + l.name + " now, try again: " + u.Error()}
		default:
			return err
		}
	}
	return nil
}
