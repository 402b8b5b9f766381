package app

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/contactguard/contactguard/incident-svc/internal/domain"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/contactid"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/policy"
)

// SubjectStore is the read model of subjects, derived from their events.
type SubjectStore interface {
	SaveSubject(ctx context.Context, s domain.Subject) error
	ListSubjects(ctx context.Context, q SubjectQuery) ([]domain.Subject, string, error)
	// LookupSubjects returns org's subjects having any of the identifier
	// keys (contactid.Key), at most limit of them.
	LookupSubjects(ctx context.Context, org string, keys []string, limit int) ([]domain.Subject, error)
}

// SubjectQuery selects subjects of one organisation. Empty fields do not filter.
type SubjectQuery struct {
	Organization string
	Kind         string
	NamePrefix   string
	PageSize     int
	PageToken    string
}

// subjectUpdateRetries bounds how often an update without an expected
// version is applied again after losing a race.
const subjectUpdateRetries = 3

// MaxLookupResults bounds the subjects one lookup returns.
const MaxLookupResults = 50

// Subjects runs the subject use cases: any staff member of an organisation
// may record, find and update its subjects (front-line staff must see
// representatives and adjustments, C8.2, C19); no one sees another
// organisation's subjects.
type Subjects struct {
	events EventStore
	store  SubjectStore
	now    func() time.Time
}

// NewSubjects returns the subject use cases over the service's event store.
func NewSubjects(events EventStore, store SubjectStore) *Subjects {
	return &Subjects{events: events, store: store, now: time.Now}
}

// staffOf checks who is a staff member of an organisation with a profile.
func staffOf(who identity.Identity) (policy.Profile, error) {
	p, err := profileOf(who)
	if err != nil {
		return policy.Profile{}, err
	}
	if !who.HasAnyRole("staff") {
		return policy.Profile{}, apperr.Denied("only staff of %s may read or record subjects", p.Name)
	}
	return p, nil
}

// Create records a new subject. A retry with the same request id returns
// the subject the first attempt created.
func (s *Subjects) Create(ctx context.Context, who identity.Identity, d domain.SubjectDetails, requestID string) (domain.Subject, error) {
	p, err := staffOf(who)
	if err != nil {
		return domain.Subject{}, err
	}
	if err := d.Validate("subject", p); err != nil {
		return domain.Subject{}, err
	}
	if len(requestID) > 100 {
		return domain.Subject{}, apperr.Invalid("request_id", "at most 100 characters")
	}
	// The request id is namespaced so that an incident and a subject
	// created with the same id never share an aggregate id.
	scoped := requestID
	if requestID != "" {
		scoped = "subject\x00" + requestID
	}
	id := newID(who.Organization, who.StaffID, scoped)
	if err := s.checkRepresentative(ctx, who, "subject.representative.subject", id, &d); err != nil {
		return domain.Subject{}, err
	}
	e, err := domain.CreateSubject(id, who.Organization, who.StaffID, d, s.now())
	if err != nil {
		return domain.Subject{}, err
	}
	if err := s.events.Append(ctx, e); err != nil {
		if requestID != "" && errors.Is(err, apperr.ErrConflict) {
			return s.Get(ctx, who, id)
		}
		return domain.Subject{}, err
	}
	subj, err := domain.FoldSubject([]eventlog.Event{e})
	if err != nil {
		return domain.Subject{}, err
	}
	s.save(ctx, subj)
	return subj, nil
}

// checkRepresentative checks a representative recorded as another subject
// is one of the organisation's subjects, and takes its name if none was
// given.
func (s *Subjects) checkRepresentative(ctx context.Context, who identity.Identity, field, selfID string, d *domain.SubjectDetails) error {
	r := d.Representative
	if r == nil || r.Subject == "" {
		return nil
	}
	if r.Subject == domain.SubjectName(selfID) {
		return apperr.Invalid(field, "a subject cannot be their own representative")
	}
	rep, err := s.load(ctx, who, strings.TrimPrefix(r.Subject, "subjects/"))
	if errors.Is(err, apperr.ErrNotFound) {
		return apperr.Invalid(field, "%s is not a subject of your organisation", r.Subject)
	}
	if err != nil {
		return err
	}
	if r.Name == "" {
		copied := *r
		copied.Name = rep.DisplayName
		d.Representative = &copied
	}
	return nil
}

// save updates the read model. The event is already the record, so a
// failure here is repaired at the next start (Rebuild).
func (s *Subjects) save(ctx context.Context, subj domain.Subject) {
	_ = s.store.SaveSubject(context.WithoutCancel(ctx), subj)
}

// loadEvents returns the events and state of subject id of who's organisation;
// anything else (another organisation's subject, an incident) is NotFound.
func (s *Subjects) loadEvents(ctx context.Context, who identity.Identity, id string) ([]eventlog.Event, domain.Subject, error) {
	if !domain.ValidSubjectID(id) {
		return nil, domain.Subject{}, apperr.NotFound("subject subjects/%s not found", id)
	}
	events, err := s.events.Load(ctx, id)
	if err != nil {
		return nil, domain.Subject{}, err
	}
	// Another organisation's subject is reported as missing, not as
	// forbidden: its existence is not theirs to know.
	if len(events) == 0 || events[0].AggregateType != domain.SubjectAggregateType || events[0].Organization != who.Organization {
		return nil, domain.Subject{}, apperr.NotFound("subject subjects/%s not found", id)
	}
	subj, err := domain.FoldSubject(events)
	return events, subj, err
}

func (s *Subjects) load(ctx context.Context, who identity.Identity, id string) (domain.Subject, error) {
	_, subj, err := s.loadEvents(ctx, who, id)
	return subj, err
}

// Get returns one subject, from its events (the record, never stale).
func (s *Subjects) Get(ctx context.Context, who identity.Identity, id string) (domain.Subject, error) {
	if _, err := staffOf(who); err != nil {
		return domain.Subject{}, err
	}
	return s.load(ctx, who, id)
}

// Update changes the fields of subject id named in paths to their values
// in in, recording who and why. With expectedVersion non-zero the change
// is refused (Aborted) unless the subject is still at that version; a
// change made meanwhile by someone else is a conflict too.
func (s *Subjects) Update(ctx context.Context, who identity.Identity, id string, in domain.SubjectDetails, paths []string, expectedVersion int64, reason string) (domain.Subject, error) {
	p, err := staffOf(who)
	if err != nil {
		return domain.Subject{}, err
	}
	paths, err = domain.CheckSubjectPaths("update_mask", paths)
	if err != nil {
		return domain.Subject{}, err
	}
	if expectedVersion < 0 {
		return domain.Subject{}, apperr.Invalid("expected_version", "must not be negative")
	}
	for attempt := 0; ; attempt++ {
		history, current, err := s.loadEvents(ctx, who, id)
		if err != nil {
			return domain.Subject{}, err
		}
		if expectedVersion != 0 && expectedVersion != current.Version {
			return domain.Subject{}, apperr.Conflict("subject %s is at version %d, not %d: someone changed it meanwhile; reload it and try again",
				current.Name(), current.Version, expectedVersion)
		}
		next := current.SubjectDetails.Apply(in, paths)
		if err := next.Validate("subject", p); err != nil {
			return domain.Subject{}, err
		}
		if err := s.checkRepresentative(ctx, who, "subject.representative.subject", id, &next); err != nil {
			return domain.Subject{}, err
		}
		e, changed, err := domain.UpdateSubject(history, who.StaffID, next, reason, s.now())
		if err != nil || !changed {
			return current, err
		}
		if err := s.events.Append(ctx, e); err != nil {
			// Without an expected version the fields named are applied
			// again to what the other writer left; with one, or after a
			// few tries, the caller hears of the conflict.
			if errors.Is(err, apperr.ErrConflict) && expectedVersion == 0 && attempt < subjectUpdateRetries {
				continue
			}
			return domain.Subject{}, err
		}
		updated, err := domain.FoldSubject(append(history, e))
		if err != nil {
			return domain.Subject{}, err
		}
		s.save(ctx, updated)
		return updated, nil
	}
}

// List returns a page of the caller's organisation's subjects, by name.
func (s *Subjects) List(ctx context.Context, who identity.Identity, q SubjectQuery) ([]domain.Subject, string, error) {
	if _, err := staffOf(who); err != nil {
		return nil, "", err
	}
	q.Organization = who.Organization
	switch {
	case q.PageSize < 0 || q.PageSize > 500:
		return nil, "", apperr.Invalid("page_size", "must be between 0 and 500, got %d", q.PageSize)
	case q.PageSize == 0:
		q.PageSize = 50
	}
	if utf8.RuneCountInString(q.NamePrefix) > domain.MaxSubjectName {
		return nil, "", apperr.Invalid("name_prefix", "at most %d characters", domain.MaxSubjectName)
	}
	if q.Kind != "" && !slices.Contains(domain.SubjectKinds, q.Kind) {
		return nil, "", apperr.Invalid("kind", "unknown kind of subject %q", q.Kind)
	}
	return s.store.ListSubjects(ctx, q)
}

// LookupKeys returns the keys an identifier as someone might type it can
// match: with kind empty every kind it can be read as (phone first, then
// email, social handle and postal address).
func LookupKeys(field, identifier, kind string) ([]string, error) {
	identifier = strings.TrimSpace(identifier)
	if identifier == "" {
		return nil, apperr.Invalid(field, "give a phone number, e-mail address, social media handle or postal address")
	}
	if len(identifier) > domain.MaxIdentifierValue {
		return nil, apperr.Invalid(field, "is %d characters long; at most %d are allowed", len(identifier), domain.MaxIdentifierValue)
	}
	if kind != "" {
		n, err := contactid.Normalize(kind, identifier)
		if err != nil {
			return nil, apperr.Invalid(field, "%s", err.Error())
		}
		id := domain.Identifier{Kind: kind, Value: n}
		return id.Keys(), nil
	}
	var keys []string
	for _, k := range domain.IdentifierKinds {
		if n, err := contactid.Normalize(k, identifier); err == nil {
			keys = append(keys, domain.Identifier{Kind: k, Value: n}.Keys()...)
		}
	}
	if len(keys) == 0 {
		return nil, apperr.Invalid(field, "is not a phone number, e-mail address, social media handle or postal address: %q", identifier)
	}
	return keys, nil
}

// Lookup finds the caller's organisation's subjects by any identifier.
func (s *Subjects) Lookup(ctx context.Context, who identity.Identity, identifier, kind string) ([]domain.Subject, error) {
	if _, err := staffOf(who); err != nil {
		return nil, err
	}
	keys, err := LookupKeys("identifier", identifier, kind)
	if err != nil {
		return nil, err
	}
	return s.store.LookupSubjects(ctx, who.Organization, keys, MaxLookupResults)
}

// Timeline returns the events of subject id (its history, C73), for staff
// of its organisation.
func (s *Subjects) Timeline(ctx context.Context, who identity.Identity, id string) ([]eventlog.Event, error) {
	if _, err := staffOf(who); err != nil {
		return nil, err
	}
	events, _, err := s.loadEvents(ctx, who, id)
	return events, err
}

// Rebuild brings the subjects read model up to date with the event log;
// latest holds the highest sequence of every subject in the log.
func (s *Subjects) Rebuild(ctx context.Context, latest, projected map[string]int64) (int, error) {
	n := 0
	for id, seq := range latest {
		if projected[id] >= seq {
			continue
		}
		events, err := s.events.Load(ctx, id)
		if err != nil {
			return n, err
		}
		subj, err := domain.FoldSubject(events)
		if err != nil {
			return n, err
		}
		if err := s.store.SaveSubject(ctx, subj); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
