package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/contactguard/contactguard/incident-svc/internal/domain"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/policy"
)

// NamingEvents records and loads the events of staff-named-publicly cases
// (the service's one event store, so the incident relay publishes them).
type NamingEvents interface {
	Append(ctx context.Context, e eventlog.Event) error
	Load(ctx context.Context, aggregateID string) ([]eventlog.Event, error)
}

// NamingReadModel keeps the current state of cases for listing. It is
// derived from the events and can be rebuilt from them.
type NamingReadModel interface {
	Save(ctx context.Context, c domain.PublicNaming) error
	List(ctx context.Context, q NamingQuery) ([]domain.PublicNaming, string, error)
}

// StaffMember is what this service needs of a member of staff.
type StaffMember struct {
	ID          string
	LineManager string // staff id, "" at the top
}

// StaffDirectory looks up the staff of an organisation. notify-svc owns the
// directory; Member returns an apperr NotFound when id is not a member of org.
type StaffDirectory interface {
	Member(ctx context.Context, org, id string) (StaffMember, error)
}

// NamingQuery selects cases of one organisation. Empty fields do not filter.
type NamingQuery struct {
	Organization string
	VisibleTo    string // when set, only cases this staff member is named in, reported or line-manages
	State        string
	StaffMember  string
	PageSize     int
	PageToken    string
}

// PublicNamings runs the staff-named-publicly use cases (C78-C86).
type PublicNamings struct {
	events  NamingEvents
	namings NamingReadModel
	staff   StaffDirectory
	now     func() time.Time
}

// NewPublicNamings returns the use cases.
func NewPublicNamings(events NamingEvents, namings NamingReadModel, staff StaffDirectory) *PublicNamings {
	return &PublicNamings{events: events, namings: namings, staff: staff, now: time.Now}
}

// Create opens a case reported by who. The event it appends is what
// notify-svc emails the line manager and the profile's recipients on.
func (s *PublicNamings) Create(ctx context.Context, who identity.Identity, r domain.NamingReport, requestID string) (domain.PublicNaming, error) {
	p, err := profileOf(who)
	if err != nil {
		return domain.PublicNaming{}, err
	}
	if err := r.Validate("public_naming"); err != nil {
		return domain.PublicNaming{}, err
	}
	if len(requestID) > 100 {
		return domain.PublicNaming{}, apperr.Invalid("request_id", "at most 100 characters")
	}
	named, err := s.staff.Member(ctx, who.Organization, r.StaffMember)
	if errors.Is(err, apperr.ErrNotFound) {
		return domain.PublicNaming{}, apperr.Invalid("public_naming.staff_member", "%q is not a member of staff of your organisation", r.StaffMember)
	}
	if err != nil {
		return domain.PublicNaming{}, err
	}
	if r.Incident != "" {
		if err := s.checkIncident(ctx, who.Organization, r.Incident); err != nil {
			return domain.PublicNaming{}, err
		}
	}
	now := s.now()
	// Its own namespace of request ids, so an incident's request id cannot
	// collide with a case's.
	id := newID(who.Organization, who.StaffID, prefixed("public_naming", requestID))
	reference := fmt.Sprintf("%s-PN-%d-%s", p.ReferencePrefix, now.Year(), strings.ToUpper(id[:6]))
	e, err := domain.OpenPublicNaming(id, who.Organization, reference, who.StaffID, named.LineManager, r, now)
	if err != nil {
		return domain.PublicNaming{}, err
	}
	if err := s.events.Append(ctx, e); err != nil {
		if requestID != "" && errors.Is(err, apperr.ErrConflict) {
			return s.Get(ctx, who, id) // the retry of a case already opened
		}
		return domain.PublicNaming{}, err
	}
	c, err := domain.FoldPublicNaming([]eventlog.Event{e})
	if err != nil {
		return domain.PublicNaming{}, err
	}
	s.save(ctx, c)
	return c, nil
}

func prefixed(ns, requestID string) string {
	if requestID == "" {
		return ""
	}
	return ns + "\x00" + requestID
}

// checkIncident checks that name ("incidents/{id}") is an incident of org.
func (s *PublicNamings) checkIncident(ctx context.Context, org, name string) error {
	events, err := s.events.Load(ctx, strings.TrimPrefix(name, "incidents/"))
	if err != nil {
		return err
	}
	if len(events) == 0 || events[0].Organization != org || events[0].AggregateType != domain.AggregateType {
		return apperr.Invalid("public_naming.incident", "%s is not an incident of your organisation", name)
	}
	return nil
}

func (s *PublicNamings) save(ctx context.Context, c domain.PublicNaming) {
	// The event is the record: a failed read-model update is repaired by
	// Rebuild at the next start rather than failing a change already made.
	_ = s.namings.Save(context.WithoutCancel(ctx), c)
}

// load returns the case's events and state, NotFound unless it is a case
// of who's organisation.
func (s *PublicNamings) load(ctx context.Context, who identity.Identity, id string) ([]eventlog.Event, domain.PublicNaming, error) {
	events, err := s.events.Load(ctx, id)
	if err != nil {
		return nil, domain.PublicNaming{}, err
	}
	// Another organisation's case is missing, not forbidden: its existence
	// is not theirs to know. An incident's id is not a case either.
	if len(events) == 0 || events[0].Organization != who.Organization || events[0].AggregateType != domain.PublicNamingAggregateType {
		return nil, domain.PublicNaming{}, apperr.NotFound("publicNamings/%s not found", id)
	}
	c, err := domain.FoldPublicNaming(events)
	if err != nil {
		return nil, domain.PublicNaming{}, err
	}
	return events, c, nil
}

// actor describes who for the domain, knowing them as the line manager
// recorded when the case was opened.
func actor(who identity.Identity, c domain.PublicNaming) domain.NamingActor {
	return domain.NamingActor{StaffID: who.StaffID, Roles: who.Roles, LineManager: c.LineManager != "" && c.LineManager == who.StaffID}
}

// isCurrentLineManager asks the directory whether who line-manages the
// staff member named now (line management may have changed since the case
// was opened).
func (s *PublicNamings) isCurrentLineManager(ctx context.Context, who identity.Identity, c domain.PublicNaming) (bool, error) {
	if who.StaffID == c.StaffMember {
		return false, nil
	}
	m, err := s.staff.Member(ctx, c.Organization, c.StaffMember)
	if errors.Is(err, apperr.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return m.LineManager != "" && m.LineManager == who.StaffID, nil
}

// readable loads a case who may read (C79: no wider than needed).
func (s *PublicNamings) readable(ctx context.Context, who identity.Identity, id string) ([]eventlog.Event, domain.PublicNaming, policy.Profile, error) {
	p, err := profileOf(who)
	if err != nil {
		return nil, domain.PublicNaming{}, p, err
	}
	events, c, err := s.load(ctx, who, id)
	if err != nil {
		return nil, c, p, err
	}
	a := actor(who, c)
	if !c.MayRead(p, a) {
		lm, err := s.isCurrentLineManager(ctx, who, c)
		if err != nil {
			return nil, c, p, err
		}
		if !lm {
			return nil, c, p, apperr.Denied("case %s is shared only with the staff member named, their line manager, whoever reported it and %s (C79)",
				c.Reference, strings.Join(domain.NamingRecipientRoles(p), ", "))
		}
	}
	return events, c, p, nil
}

// Get returns one case, from its events (the record, never stale).
func (s *PublicNamings) Get(ctx context.Context, who identity.Identity, id string) (domain.PublicNaming, error) {
	_, c, _, err := s.readable(ctx, who, id)
	return c, err
}

// Events returns a case's events, its timeline (C73), to those who may
// read it.
func (s *PublicNamings) Events(ctx context.Context, who identity.Identity, id string) ([]eventlog.Event, error) {
	events, _, _, err := s.readable(ctx, who, id)
	return events, err
}

// RecordStep records one step of the workflow (C80-C86).
func (s *PublicNamings) RecordStep(ctx context.Context, who identity.Identity, id string, cmd domain.StepCommand) (domain.PublicNaming, error) {
	p, err := profileOf(who)
	if err != nil {
		return domain.PublicNaming{}, err
	}
	if cmd.ExpectedVersion < 0 {
		return domain.PublicNaming{}, apperr.Invalid("expected_version", "must not be negative, got %d", cmd.ExpectedVersion)
	}
	history, c, err := s.load(ctx, who, id)
	if err != nil {
		return domain.PublicNaming{}, err
	}
	now := s.now()
	a := actor(who, c)
	e, err := domain.RecordNamingStep(history, p, a, cmd, now)
	if errors.Is(err, apperr.ErrPermissionDenied) && !a.LineManager {
		// Refused as not the line manager recorded on the case: ask the
		// directory whether they line-manage the staff member now.
		lm, lerr := s.isCurrentLineManager(ctx, who, c)
		if lerr != nil {
			return domain.PublicNaming{}, lerr
		}
		if lm {
			a.LineManager = true
			e, err = domain.RecordNamingStep(history, p, a, cmd, now)
		}
	}
	if err != nil {
		return domain.PublicNaming{}, err
	}
	if err := s.events.Append(ctx, e); err != nil {
		return domain.PublicNaming{}, err
	}
	c, err = domain.FoldPublicNaming(append(history, e))
	if err != nil {
		return domain.PublicNaming{}, err
	}
	s.save(ctx, c)
	return c, nil
}

// List returns a page of the caller's organisation's cases, newest first:
// all of them for the profile's recipients, otherwise the ones the caller
// is named in, reported or line-manages.
func (s *PublicNamings) List(ctx context.Context, who identity.Identity, q NamingQuery) ([]domain.PublicNaming, string, error) {
	p, err := profileOf(who)
	if err != nil {
		return nil, "", err
	}
	q.Organization = who.Organization
	q.VisibleTo = ""
	if !domain.SeesAllNamings(p, domain.NamingActor{StaffID: who.StaffID, Roles: who.Roles}) {
		q.VisibleTo = who.StaffID
	}
	switch {
	case q.PageSize < 0 || q.PageSize > 500:
		return nil, "", apperr.Invalid("page_size", "must be between 0 and 500, got %d", q.PageSize)
	case q.PageSize == 0:
		q.PageSize = 50
	}
	if q.State != "" && q.State != domain.PublicNamingOpen && q.State != domain.PublicNamingClosed {
		return nil, "", apperr.Invalid("state", "unknown state %q", q.State)
	}
	if q.StaffMember != "" && !domain.IsStaffID(q.StaffMember) {
		return nil, "", apperr.Invalid("staff_member", "is not a staff id: %q", q.StaffMember)
	}
	return s.namings.List(ctx, q)
}

// Rebuild brings the read model up to date with the event log. latest
// holds the highest sequence of each case (only cases), projected the
// version the read model holds.
func (s *PublicNamings) Rebuild(ctx context.Context, latest, projected map[string]int64) (int, error) {
	n := 0
	for id, seq := range latest {
		if projected[id] >= seq {
			continue
		}
		events, err := s.events.Load(ctx, id)
		if err != nil {
			return n, err
		}
		c, err := domain.FoldPublicNaming(events)
		if err != nil {
			return n, err
		}
		if err := s.namings.Save(ctx, c); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
