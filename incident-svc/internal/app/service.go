// Package app holds incident-svc's use cases: it checks who may do what
// (the organisation's policy profile), asks the domain for the change,
// appends it to the event log and updates the read model.
package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
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

// EventStore records and loads incident events.
type EventStore interface {
	Append(ctx context.Context, e eventlog.Event) error
	Load(ctx context.Context, aggregateID string) ([]eventlog.Event, error)
}

// ReadModel keeps the current state of incidents for queries. It is derived
// from the events and can be rebuilt from them.
type ReadModel interface {
	Save(ctx context.Context, inc domain.Incident) error
	List(ctx context.Context, q Query) ([]domain.Incident, string, error)
	Queue(ctx context.Context, org, task string, pageSize int, pageToken string) ([]domain.Incident, string, error)
	Count(ctx context.Context, q Query) ([]CategoryMonth, int64, error)
	SubjectTallies(ctx context.Context, org string, subjects []string) (map[string]SubjectTally, error)
}

// SubjectTally counts a subject's incidents and the warnings given about
// their correspondence (C37).
type SubjectTally struct {
	Incidents int64
	Warnings  int64
}

// SubjectFacts is what reporting an incident needs to know of its subject.
type SubjectFacts struct {
	Kind                    string
	ChildInEducationSetting bool
}

// SubjectFinder finds a subject of an organisation by name
// ("subjects/{id}"); an unknown or other organisation's subject is an
// apperr NotFound.
type SubjectFinder interface {
	FindSubject(ctx context.Context, org, name string) (SubjectFacts, error)
}

// Query selects incidents of one organisation. Empty fields do not filter.
type Query struct {
	Organization   string
	VisibleTo      string // when set, only incidents this staff member reported or is involved in
	State          string
	Category       string
	Channel        string
	Subject        string
	StaffMember    string
	From, To       time.Time
	ZeroTolerance  bool
	PhysicalThreat bool
	PageSize       int
	PageToken      string
}

// Service runs the incident use cases.
type Service struct {
	events    EventStore
	incidents ReadModel
	subjects  SubjectFinder
	now       func() time.Time
}

// New returns the service.
func New(events EventStore, incidents ReadModel, subjects SubjectFinder) *Service {
	return &Service{events: events, incidents: incidents, subjects: subjects, now: time.Now}
}

func profileOf(who identity.Identity) (policy.Profile, error) {
	p, ok := policy.For(who.Organization)
	if !ok {
		return policy.Profile{}, apperr.Denied("organisation %q has no policy profile in this deployment", who.Organization)
	}
	return p, nil
}

// seesWholeRegister reports whether who may read every incident of their
// organisation: those who review incidents, senior management and auditors.
// Other staff see the incidents they reported or were involved in (C76:
// only those who need it).
func seesWholeRegister(p policy.Profile, who identity.Identity) bool {
	return p.Allows(policy.ReviewIncident, who.Roles) || who.HasAnyRole("senior_management", "auditor")
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// newID returns a random id, or, for a request id, the same id every time,
// so a retried report finds the incident its first attempt created.
func newID(org, reporter, requestID string) string {
	var b [10]byte
	if requestID == "" {
		_, _ = rand.Read(b[:])
	} else {
		sum := sha256.Sum256([]byte(org + "\x00" + reporter + "\x00" + requestID))
		copy(b[:], sum[:])
	}
	return idEncoding.EncodeToString(b[:])
}

// Report records a new incident reported by who.
func (s *Service) Report(ctx context.Context, who identity.Identity, r domain.Report, requestID string) (domain.Incident, error) {
	p, err := profileOf(who)
	if err != nil {
		return domain.Incident{}, err
	}
	now := s.now()
	if err := r.Validate("incident", now); err != nil {
		return domain.Incident{}, err
	}
	if len(requestID) > 100 {
		return domain.Incident{}, apperr.Invalid("request_id", "at most 100 characters")
	}
	if r.Subject != "" {
		if err := s.checkSubject(ctx, p, who.Organization, "incident.subject", r.Subject); err != nil {
			return domain.Incident{}, err
		}
	}
	id := newID(who.Organization, who.StaffID, requestID)
	reference := fmt.Sprintf("%s-%d-%s", p.ReferencePrefix, now.Year(), strings.ToUpper(id[:6]))
	e, err := domain.ReportIncident(id, who.Organization, reference, who.StaffID, r, now)
	if err != nil {
		return domain.Incident{}, err
	}
	if err := s.events.Append(ctx, e); err != nil {
		if requestID != "" && errors.Is(err, apperr.ErrConflict) {
			return s.Get(ctx, who, id) // the retry of a report already recorded
		}
		return domain.Incident{}, err
	}
	inc, err := domain.Fold([]eventlog.Event{e})
	if err != nil {
		return domain.Incident{}, err
	}
	s.save(ctx, inc)
	return inc, nil
}

// save updates the read model. The event is already the record, so a
// failure here is repaired at the next start (Rebuild) rather than failing
// a change that has been made.
func (s *Service) save(ctx context.Context, inc domain.Incident) {
	_ = s.incidents.Save(context.WithoutCancel(ctx), inc)
}

// Get returns one incident, from its events (the record, never stale).
func (s *Service) Get(ctx context.Context, who identity.Identity, id string) (domain.Incident, error) {
	p, err := profileOf(who)
	if err != nil {
		return domain.Incident{}, err
	}
	_, inc, err := s.load(ctx, who, p, id)
	return inc, err
}

// List returns a page of the caller's organisation's incidents, newest first.
func (s *Service) List(ctx context.Context, who identity.Identity, q Query) ([]domain.Incident, string, error) {
	p, err := profileOf(who)
	if err != nil {
		return nil, "", err
	}
	q.Organization = who.Organization
	q.VisibleTo = ""
	if !seesWholeRegister(p, who) {
		q.VisibleTo = who.StaffID
	}
	switch {
	case q.PageSize < 0 || q.PageSize > 500:
		return nil, "", apperr.Invalid("page_size", "must be between 0 and 500, got %d", q.PageSize)
	case q.PageSize == 0:
		q.PageSize = 50
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return nil, "", apperr.Invalid("end_time", "must be after start_time")
	}
	return s.incidents.List(ctx, q)
}

// Rebuild brings the read model up to date with the event log, repairing
// what a crash between an append and its read-model update left behind.
func (s *Service) Rebuild(ctx context.Context, latest, projected map[string]int64) (int, error) {
	n := 0
	for id, seq := range latest {
		if projected[id] >= seq {
			continue
		}
		events, err := s.events.Load(ctx, id)
		if err != nil {
			return n, err
		}
		inc, err := domain.Fold(events)
		if err != nil {
			return n, err
		}
		if err := s.incidents.Save(ctx, inc); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
