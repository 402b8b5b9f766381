package app

import (
	"context"
	"errors"
	"time"

	"github.com/contactguard/contactguard/incident-svc/internal/domain"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/policy"
)

// maxRetries bounds automatic retries of a change that lost a race when the
// caller did not ask for a version check.
const maxRetries = 3

// decision computes the event of a change from the current incident.
type decision func(inc domain.Incident, a domain.Actor, now time.Time) (eventType string, data any, err error)

// change loads the incident, lets decide compute the event and appends it.
// With expectedVersion set the change applies only to that version
// (Aborted otherwise); without it a change that lost a race to a
// concurrent one is decided again on the new state.
func (s *Service) change(ctx context.Context, who identity.Identity, id string, expectedVersion int64, decide decision) (domain.Incident, error) {
	p, err := profileOf(who)
	if err != nil {
		return domain.Incident{}, err
	}
	a := domain.Actor{StaffID: who.StaffID, Roles: who.Roles, Profile: p}
	for attempt := 0; ; attempt++ {
		events, inc, err := s.load(ctx, who, p, id)
		if err != nil {
			return domain.Incident{}, err
		}
		if expectedVersion != 0 && inc.Version != expectedVersion {
			return domain.Incident{}, apperr.Conflict("incident %s is at version %d, not %d: someone changed it; reload it and try again", inc.Reference, inc.Version, expectedVersion)
		}
		now := s.now()
		typ, data, err := decide(inc, a, now)
		if err != nil {
			return domain.Incident{}, err
		}
		e, err := eventlog.Next(events, eventlog.Change{
			AggregateType: domain.AggregateType, AggregateID: id, Type: typ,
			Organization: who.Organization, Actor: who.StaffID, Time: now, Data: data,
		})
		if err != nil {
			return domain.Incident{}, err
		}
		if err := s.events.Append(ctx, e); err != nil {
			if errors.Is(err, apperr.ErrConflict) && expectedVersion == 0 && attempt < maxRetries {
				continue
			}
			return domain.Incident{}, err
		}
		next, err := domain.Fold(append(events, e))
		if err != nil {
			return domain.Incident{}, err
		}
		s.save(ctx, next)
		return next, nil
	}
}

// load returns the incident's events and state, if who may read it.
func (s *Service) load(ctx context.Context, who identity.Identity, p policy.Profile, id string) ([]eventlog.Event, domain.Incident, error) {
	events, err := s.events.Load(ctx, id)
	if err != nil {
		return nil, domain.Incident{}, err
	}
	// Another organisation's incident is reported as missing, not as
	// forbidden: its existence is not theirs to know.
	if len(events) == 0 || events[0].Organization != who.Organization || events[0].AggregateType != domain.AggregateType {
		return nil, domain.Incident{}, apperr.NotFound("incident incidents/%s not found", id)
	}
	inc, err := domain.Fold(events)
	if err != nil {
		return nil, domain.Incident{}, err
	}
	if !seesWholeRegister(p, who) && !inc.Involves(who.StaffID) {
		return nil, domain.Incident{}, apperr.Denied("only staff involved in incident %s, its reviewers and senior management may read it", inc.Reference)
	}
	return events, inc, nil
}

// Update corrects the report.
func (s *Service) Update(ctx context.Context, who identity.Identity, id string, expected int64, patch domain.Report, mask []string, reason string) (domain.Incident, error) {
	return s.change(ctx, who, id, expected, func(inc domain.Incident, a domain.Actor, now time.Time) (string, any, error) {
		u, err := domain.ApplyUpdate(inc, a, patch, mask, reason, now)
		if err == nil && u.Report.Subject != "" && u.Report.Subject != inc.Subject {
			err = s.checkSubject(ctx, a.Profile, who.Organization, "incident.subject", u.Report.Subject)
		}
		return domain.EventUpdated, u, err
	})
}

// Review records the manager review.
func (s *Service) Review(ctx context.Context, who identity.Identity, id string, expected int64, r domain.Review) (domain.Incident, error) {
	return s.change(ctx, who, id, expected, func(inc domain.Incident, a domain.Actor, now time.Time) (string, any, error) {
		r, err := domain.DecideReview(inc, a, r, now)
		return domain.EventReviewed, domain.Reviewed{Facts: inc.Facts(), Review: r}, err
	})
}

// RecordPolice records the police decision for a physical threat.
func (s *Service) RecordPolice(ctx context.Context, who identity.Identity, id string, expected int64, d domain.PoliceDecision) (domain.Incident, error) {
	return s.change(ctx, who, id, expected, func(inc domain.Incident, a domain.Actor, now time.Time) (string, any, error) {
		d, err := domain.DecidePolice(inc, a, d, now)
		return domain.EventPoliceDecisionRecorded, domain.PoliceDecided{Facts: inc.Facts(), PoliceDecision: d}, err
	})
}

// RequestWitness asks a witness for a statement.
func (s *Service) RequestWitness(ctx context.Context, who identity.Identity, id string, expected int64, witnessID string, w *domain.Witness) (domain.Incident, error) {
	return s.change(ctx, who, id, expected, func(inc domain.Incident, a domain.Actor, now time.Time) (string, any, error) {
		st, added, err := domain.RequestWitness(inc, a, witnessID, w, now)
		return domain.EventWitnessRequested, domain.WitnessRequested{Facts: inc.Facts(), Statement: st, Witness: added}, err
	})
}

// RecordWitness records a statement or that the witness declined.
func (s *Service) RecordWitness(ctx context.Context, who identity.Identity, id string, expected int64, st domain.WitnessStatement, declined bool) (domain.Incident, error) {
	return s.change(ctx, who, id, expected, func(inc domain.Incident, a domain.Actor, now time.Time) (string, any, error) {
		st, err := domain.RecordWitness(inc, a, st, declined, now)
		return domain.EventWitnessRecorded, domain.WitnessRecorded{Facts: inc.Facts(), Statement: st}, err
	})
}

// RecordRestorative records a restorative action.
func (s *Service) RecordRestorative(ctx context.Context, who identity.Identity, id string, expected int64, r domain.RestorativeAction) (domain.Incident, error) {
	return s.change(ctx, who, id, expected, func(inc domain.Incident, a domain.Actor, now time.Time) (string, any, error) {
		r, err := domain.RecordRestorative(inc, a, r, now)
		return domain.EventRestorativeRecorded, domain.RestorativeRecorded{Facts: inc.Facts(), Action: r}, err
	})
}

// DecideCorrespondence decides on written correspondence.
func (s *Service) DecideCorrespondence(ctx context.Context, who identity.Identity, id string, expected int64, d domain.CorrespondenceDecision) (domain.Incident, error) {
	return s.change(ctx, who, id, expected, func(inc domain.Incident, a domain.Actor, now time.Time) (string, any, error) {
		d, err := domain.DecideCorrespondence(inc, a, d, now)
		return domain.EventCorrespondenceDecided, domain.CorrespondenceDecided{Facts: inc.Facts(), Decision: d}, err
	})
}

// RecordOnline records an action on online material.
func (s *Service) RecordOnline(ctx context.Context, who identity.Identity, id string, expected int64, o domain.OnlineAction) (domain.Incident, error) {
	return s.change(ctx, who, id, expected, func(inc domain.Incident, a domain.Actor, now time.Time) (string, any, error) {
		o, err := domain.RecordOnline(inc, a, o, now)
		return domain.EventOnlineActionRecorded, domain.OnlineRecorded{Facts: inc.Facts(), Action: o}, err
	})
}

// RecordSupport records staff support.
func (s *Service) RecordSupport(ctx context.Context, who identity.Identity, id string, expected int64, sup domain.StaffSupport) (domain.Incident, error) {
	return s.change(ctx, who, id, expected, func(inc domain.Incident, a domain.Actor, now time.Time) (string, any, error) {
		sup, err := domain.RecordSupport(inc, a, sup, now)
		return domain.EventStaffSupportRecorded, domain.SupportRecorded{Facts: inc.Facts(), Support: sup}, err
	})
}

// DecideOutsideContact decides on contact outside the office.
func (s *Service) DecideOutsideContact(ctx context.Context, who identity.Identity, id string, expected int64, d domain.OutsideContactDecision) (domain.Incident, error) {
	return s.change(ctx, who, id, expected, func(inc domain.Incident, a domain.Actor, now time.Time) (string, any, error) {
		d, err := domain.DecideOutsideContact(inc, a, d, now)
		return domain.EventOutsideContactDecided, domain.OutsideContactDecided{Facts: inc.Facts(), Decision: d}, err
	})
}

// Close closes the incident.
func (s *Service) Close(ctx context.Context, who identity.Identity, id string, expected int64, reason string) (domain.Incident, error) {
	return s.change(ctx, who, id, expected, func(inc domain.Incident, a domain.Actor, now time.Time) (string, any, error) {
		c, err := domain.DecideClose(inc, a, reason, now)
		return domain.EventClosed, domain.Closed{Facts: inc.Facts(), Closure: c}, err
	})
}

// Timeline returns the incident's recorded changes in order, if who may
// read the incident.
func (s *Service) Timeline(ctx context.Context, who identity.Identity, id string) ([]eventlog.Event, error) {
	p, err := profileOf(who)
	if err != nil {
		return nil, err
	}
	events, _, err := s.load(ctx, who, p, id)
	return events, err
}

// requireReviewer refuses who unless they review incidents or are senior
// management or auditors.
func requireReviewer(p policy.Profile, who identity.Identity, what string) error {
	if !seesWholeRegister(p, who) {
		return apperr.Denied("only reviewers of incidents, senior management and auditors may %s", what)
	}
	return nil
}

// ReviewQueue lists incidents with decisions pending, oldest first.
func (s *Service) ReviewQueue(ctx context.Context, who identity.Identity, task string, pageSize int, pageToken string) ([]domain.Incident, string, error) {
	p, err := profileOf(who)
	if err != nil {
		return nil, "", err
	}
	if err := requireReviewer(p, who, "read the review queue"); err != nil {
		return nil, "", err
	}
	if pageSize < 0 || pageSize > 500 {
		return nil, "", apperr.Invalid("page_size", "must be between 0 and 500, got %d", pageSize)
	}
	if pageSize == 0 {
		pageSize = 50
	}
	return s.incidents.Queue(ctx, who.Organization, task, pageSize, pageToken)
}

// Count counts incidents by category and month for reporting.
func (s *Service) Count(ctx context.Context, who identity.Identity, from, to time.Time, subject string) ([]CategoryMonth, int64, error) {
	p, err := profileOf(who)
	if err != nil {
		return nil, 0, err
	}
	if err := requireReviewer(p, who, "count incidents"); err != nil {
		return nil, 0, err
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return nil, 0, apperr.Invalid("end_time", "must be after start_time")
	}
	return s.incidents.Count(ctx, Query{Organization: who.Organization, From: from, To: to, Subject: subject})
}

// CategoryMonth is one reporting count.
type CategoryMonth struct {
	Category string
	Month    string // "2026-11"
	Count    int64
}

// checkSubject refuses a subject that does not exist in org or that the
// policy does not cover.
func (s *Service) checkSubject(ctx context.Context, p policy.Profile, org, field, name string) error {
	facts, err := s.subjects.FindSubject(ctx, org, name)
	if err != nil {
		return err
	}
	return domain.CheckCovered(p, field, facts.Kind, facts.ChildInEducationSetting)
}

// WarningCount counts the warnings a subject has been given about their
// correspondence, across the organisation's incidents (C37).
func (s *Service) WarningCount(ctx context.Context, who identity.Identity, subject string) (int64, error) {
	tallies, err := s.incidents.SubjectTallies(ctx, who.Organization, []string{subject})
	return tallies[subject].Warnings, err
}

// SubjectTallies counts the incidents and correspondence warnings of the
// caller's organisation's subjects named ("subjects/{id}").
func (s *Service) SubjectTallies(ctx context.Context, who identity.Identity, subjects []string) (map[string]SubjectTally, error) {
	return s.incidents.SubjectTallies(ctx, who.Organization, subjects)
}
