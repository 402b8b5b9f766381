// Package app holds restriction-svc's use cases: it checks who may do what
// (the organisation's policy profile, through the domain), asks the domain
// for the change, checks the incidents and evidence it cites with their
// owners (acting as the caller), appends it to the event log, updates the
// read model and tells every replica's contact-check index.
package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/policy"
	"github.com/contactguard/contactguard/restriction-svc/internal/domain"
	"github.com/contactguard/contactguard/restriction-svc/internal/index"
)

// RoleTelephony is the role of machine clients (the telephony system, the
// inbound e-mail gateway): they may only check and record contacts.
const RoleTelephony = identity.RoleTelephony

// EventStore records and loads restriction events.
type EventStore interface {
	Append(ctx context.Context, e eventlog.Event) error
	Load(ctx context.Context, aggregateID string) ([]eventlog.Event, error)
	LatestSeqs(ctx context.Context) (map[string]int64, error)
}

// ReadModel keeps the current state of restrictions for queries. It is
// derived from the events and can be rebuilt from them.
type ReadModel interface {
	Save(ctx context.Context, r domain.Restriction) error
	List(ctx context.Context, q Query) ([]domain.Restriction, string, error)
	Due(ctx context.Context, now time.Time) ([]domain.Restriction, error)
	InForceFor(ctx context.Context, org, subject string) ([]domain.Restriction, error)
	Versions(ctx context.Context) (map[string]int64, error)
}

// Subjects keeps restriction-svc's copy of subjects' identifiers.
type Subjects interface {
	Save(ctx context.Context, s index.Subject) error
}

// Changes tells every replica's index of a change (the change feed).
type Changes interface {
	PublishRestriction(ctx context.Context, e index.Entry)
	PublishSubject(ctx context.Context, s index.Subject)
}

// Query selects restrictions of one organisation. Empty fields do not filter.
type Query struct {
	Organization    string
	VisibleTo       string // when set, only restrictions this staff member proposed or hears the appeal of
	State           string
	Subject         string
	Incident        string
	ReviewDueBefore time.Time
	InForceOnly     bool
	AppealOfficer   string
	PageSize        int
	PageToken       string
}

// Service runs the restriction use cases.
type Service struct {
	events       EventStore
	restrictions ReadModel
	index        *index.Index
	changes      Changes
	links        Links
	now          func() time.Time
}

// New returns the service. links checks the incidents and evidence staff
// cite.
func New(events EventStore, restrictions ReadModel, idx *index.Index, changes Changes, links Links) *Service {
	return &Service{events: events, restrictions: restrictions, index: idx, changes: changes, links: links, now: time.Now}
}

// SetClock replaces the clock (tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// actorOf returns the caller as a domain actor: staff of an organisation
// with a profile. Machine identities are refused here (deny by default).
func actorOf(who identity.Identity) (domain.Actor, error) {
	p, ok := policy.For(who.Organization)
	if !ok {
		return domain.Actor{}, apperr.Denied("organisation %q has no policy profile in this deployment", who.Organization)
	}
	if who.HasAnyRole(RoleTelephony) {
		return domain.Actor{}, apperr.Denied("a telephony client may only check and record contacts")
	}
	return domain.Actor{Identity: who, Profile: p}, nil
}

// readsAll reports whether who may read every restriction of their
// organisation: those who decide restrictions, hear appeals or restrict the
// complaints process, senior management and auditors. Others read the ones
// they proposed or hear the appeal of; front-line staff use the marker (C76).
func readsAll(a domain.Actor) bool {
	return a.Profile.Allows(policy.DecideRestriction, a.Roles) || a.Profile.Allows(policy.HearAppeal, a.Roles) ||
		a.Profile.Allows(policy.RestrictComplaintsProcess, a.Roles) || a.HasAnyRole("senior_management", "auditor")
}

func canRead(a domain.Actor, r domain.Restriction) bool {
	return readsAll(a) || r.ProposedBy == a.StaffID || slices.Contains(r.AppealOfficers(), a.StaffID)
}

// View is a restriction as the caller may see it: Full is false when the
// caller may act on it (e.g. lodge an appeal) but not read its
// justification, which is then removed.
type View struct {
	domain.Restriction
	Full bool
}

func viewFor(a domain.Actor, r domain.Restriction) View {
	if canRead(a, r) {
		return View{Restriction: r, Full: true}
	}
	red := domain.Restriction{
		ID: r.ID, Organization: r.Organization, Reference: r.Reference, State: r.State,
		StartTime: r.StartTime, EndTime: r.EndTime, NextReviewTime: r.NextReviewTime,
		AppealDeadline: r.AppealDeadline, CreateTime: r.CreateTime, UpdateTime: r.UpdateTime, Version: r.Version,
	}
	red.Subject, red.Rules = r.Subject, r.Rules
	for _, ap := range r.Appeals {
		red.Appeals = append(red.Appeals, domain.Appeal{ID: ap.ID, State: ap.State, LodgedBy: ap.LodgedBy, LodgeTime: ap.LodgeTime, ReceiveTime: ap.ReceiveTime, Outcome: ap.Outcome})
	}
	return View{Restriction: red}
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// newID returns a random id, or for a key the same id every time, so a
// retried request (or a redelivered event) finds what its first attempt made.
func newID(key string) string {
	var b [10]byte
	if key == "" {
		_, _ = rand.Read(b[:])
	} else {
		sum := sha256.Sum256([]byte(key))
		copy(b[:], sum[:])
	}
	return idEncoding.EncodeToString(b[:])
}

func reference(p policy.Profile, id string, now time.Time) string {
	return fmt.Sprintf("%s-R-%d-%s", p.ReferencePrefix, now.Year(), strings.ToUpper(id[:6]))
}

// Create records a proposal by who (state proposed). Anyone of the
// organisation may propose; it takes effect only once decided (C24). The
// incidents and evidence it cites must be records of the organisation that
// who may read.
func (s *Service) Create(ctx context.Context, who identity.Identity, p domain.Proposal, requestID string) (View, error) {
	a, err := actorOf(who)
	if err != nil {
		return View{}, err
	}
	if err := domain.ValidateProposal("restriction", &p, true); err != nil {
		return View{}, err
	}
	if len(requestID) > 100 {
		return View{}, apperr.Invalid("request_id", "at most 100 characters")
	}
	if _, ok := s.index.SubjectOf(who.Organization, p.Subject); !ok {
		return View{}, apperr.NotFound("restriction.subject: %s is not a subject of %s", p.Subject, a.Profile.Name)
	}
	key := ""
	if requestID != "" {
		key = who.Organization + "\x00" + who.StaffID + "\x00" + requestID
	}
	id := newID(key)
	now := s.now()
	e, err := domain.Propose(id, reference(a.Profile, id, now), "", nil, a, p, now)
	if err != nil {
		return View{}, err
	}
	if requestID != "" {
		// A retry of a proposal already recorded answers with it, even
		// while the services that check citations are down.
		if v, err := s.Get(ctx, who, id); err == nil {
			return v, nil
		}
	}
	if err := s.checkLinks(ctx, a, p, domain.Proposal{}); err != nil {
		return View{}, err
	}
	if err := s.events.Append(ctx, e); err != nil {
		if requestID != "" && errors.Is(err, apperr.ErrConflict) {
			return s.Get(ctx, who, id) // the retry of a proposal already recorded
		}
		return View{}, err
	}
	r, err := domain.Fold([]eventlog.Event{e})
	if err != nil {
		return View{}, err
	}
	s.committed(ctx, r)
	return viewFor(a, r), nil
}

// committed updates the read model and every replica's index. The event is
// already the record, so a failure here is repaired at the next start
// (Rebuild) rather than failing a change that has been made.
func (s *Service) committed(ctx context.Context, r domain.Restriction) {
	ctx = context.WithoutCancel(ctx)
	_ = s.restrictions.Save(ctx, r)
	s.changes.PublishRestriction(ctx, index.EntryOf(r))
}

// load returns the restriction's events and state, as missing when it
// belongs to another organisation (its existence is not theirs to know).
func (s *Service) load(ctx context.Context, org, id string) ([]eventlog.Event, domain.Restriction, error) {
	events, err := s.events.Load(ctx, id)
	if err != nil {
		return nil, domain.Restriction{}, err
	}
	if len(events) == 0 || events[0].Organization != org {
		return nil, domain.Restriction{}, apperr.NotFound("restriction restrictions/%s not found", id)
	}
	r, err := domain.Fold(events)
	return events, r, err
}

// Get returns one restriction, from its events (the record, never stale).
func (s *Service) Get(ctx context.Context, who identity.Identity, id string) (View, error) {
	a, err := actorOf(who)
	if err != nil {
		return View{}, err
	}
	_, r, err := s.load(ctx, who.Organization, id)
	if err != nil {
		return View{}, err
	}
	if !canRead(a, r) {
		return View{}, apperr.Denied("only those who decide restrictions or hear appeals, senior management and the proposer may read restriction %s; front-line staff see the subject's marker", r.Reference)
	}
	return View{Restriction: r, Full: true}, nil
}

// List returns a page of the caller's organisation's restrictions, newest first.
func (s *Service) List(ctx context.Context, who identity.Identity, q Query) ([]domain.Restriction, string, error) {
	a, err := actorOf(who)
	if err != nil {
		return nil, "", err
	}
	q.Organization = who.Organization
	q.VisibleTo = ""
	if !readsAll(a) {
		q.VisibleTo = who.StaffID
	}
	switch {
	case q.PageSize < 0 || q.PageSize > 500:
		return nil, "", apperr.Invalid("page_size", "must be between 0 and 500, got %d", q.PageSize)
	case q.PageSize == 0:
		q.PageSize = 50
	}
	if q.State != "" && !slices.Contains([]string{domain.StateProposed, domain.StateActive, domain.StateUnderAppeal, domain.StateVaried, domain.StateLifted, domain.StateExpired, domain.StateRejected}, q.State) {
		return nil, "", apperr.Invalid("state", "unknown state %q", q.State)
	}
	return s.restrictions.List(ctx, q)
}

// change runs one command on a restriction: load, check the expected
// version, ask the domain for the event, append it (a concurrent change
// makes this a conflict), then update the read model and the indexes.
func (s *Service) change(ctx context.Context, who identity.Identity, id string, expected int64, cmd func(domain.Actor, []eventlog.Event, domain.Restriction, time.Time) (eventlog.Event, error)) (View, error) {
	a, err := actorOf(who)
	if err != nil {
		return View{}, err
	}
	history, r, err := s.load(ctx, who.Organization, id)
	if err != nil {
		return View{}, err
	}
	if expected < 0 {
		return View{}, apperr.Invalid("expected_version", "must not be negative")
	}
	if expected != 0 && expected != r.Version {
		return View{}, apperr.Conflict("restriction %s is at version %d, not %d: someone changed it; reload it and try again", r.Reference, r.Version, expected)
	}
	e, err := cmd(a, history, r, s.now())
	if err != nil {
		return View{}, err
	}
	if err := s.events.Append(ctx, e); err != nil {
		return View{}, err
	}
	after, err := domain.Apply(r, e)
	if err != nil {
		return View{}, err
	}
	s.committed(ctx, after)
	return viewFor(a, after), nil
}

// Update changes a proposal. Incidents and evidence it adds must be records
// of the organisation that who may read.
func (s *Service) Update(ctx context.Context, who identity.Identity, id string, in domain.Proposal, fields []string, expected int64) (View, error) {
	return s.change(ctx, who, id, expected, func(a domain.Actor, h []eventlog.Event, r domain.Restriction, now time.Time) (eventlog.Event, error) {
		if !canRead(a, r) {
			return eventlog.Event{}, apperr.Denied("only the proposer or those who decide restrictions may change the proposal %s", r.Reference)
		}
		e, err := r.Update(h, a, in, fields, now)
		if err != nil {
			return eventlog.Event{}, err
		}
		after, err := domain.Apply(r, e)
		if err != nil {
			return eventlog.Event{}, err
		}
		if err := s.checkLinks(ctx, a, after.Proposal, r.Proposal); err != nil {
			return eventlog.Event{}, err
		}
		return e, nil
	})
}

// Decide imposes or rejects a proposal (C24).
func (s *Service) Decide(ctx context.Context, who identity.Identity, id string, in domain.DecideInput, expected int64) (View, error) {
	return s.change(ctx, who, id, expected, func(a domain.Actor, h []eventlog.Event, r domain.Restriction, now time.Time) (eventlog.Event, error) {
		return r.Decide(h, a, in, now)
	})
}

// LodgeAppeal lodges an appeal on the subject's behalf (C24).
func (s *Service) LodgeAppeal(ctx context.Context, who identity.Identity, id, grounds string, receive time.Time, expected int64) (View, error) {
	return s.change(ctx, who, id, expected, func(a domain.Actor, h []eventlog.Event, r domain.Restriction, now time.Time) (eventlog.Event, error) {
		return r.LodgeAppeal(h, a, grounds, receive, now)
	})
}

// AssignAppeal assigns the open appeal (C24).
func (s *Service) AssignAppeal(ctx context.Context, who identity.Identity, id, officer string, expected int64) (View, error) {
	return s.change(ctx, who, id, expected, func(a domain.Actor, h []eventlog.Event, r domain.Restriction, now time.Time) (eventlog.Event, error) {
		return r.AssignAppeal(h, a, officer, now)
	})
}

// DecideAppeal decides the open appeal (C24).
func (s *Service) DecideAppeal(ctx context.Context, who identity.Identity, id, outcome, reasons string, varied []domain.Rule, expected int64) (View, error) {
	return s.change(ctx, who, id, expected, func(a domain.Actor, h []eventlog.Event, r domain.Restriction, now time.Time) (eventlog.Event, error) {
		return r.DecideAppeal(h, a, outcome, reasons, varied, now)
	})
}

// Review records a review (C25).
func (s *Service) Review(ctx context.Context, who identity.Identity, id string, in domain.ReviewInput, expected int64) (View, error) {
	return s.change(ctx, who, id, expected, func(a domain.Actor, h []eventlog.Event, r domain.Restriction, now time.Time) (eventlog.Event, error) {
		return r.Review(h, a, in, now)
	})
}

// Vary varies the rules of a restriction in force.
func (s *Service) Vary(ctx context.Context, who identity.Identity, id string, rules []domain.Rule, reasons string, expected int64) (View, error) {
	return s.change(ctx, who, id, expected, func(a domain.Actor, h []eventlog.Event, r domain.Restriction, now time.Time) (eventlog.Event, error) {
		return r.Vary(h, a, rules, reasons, now)
	})
}

// Lift lifts a restriction.
func (s *Service) Lift(ctx context.Context, who identity.Identity, id, reasons string, expected int64) (View, error) {
	return s.change(ctx, who, id, expected, func(a domain.Actor, h []eventlog.Event, r domain.Restriction, now time.Time) (eventlog.Event, error) {
		return r.LiftRestriction(h, a, reasons, now)
	})
}

// RecordNotice records how the subject was told, or why not (C13).
func (s *Service) RecordNotice(ctx context.Context, who identity.Identity, id string, n domain.Notice, expected int64) (View, error) {
	return s.change(ctx, who, id, expected, func(a domain.Actor, h []eventlog.Event, r domain.Restriction, now time.Time) (eventlog.Event, error) {
		return r.RecordNotice(h, a, n, now)
	})
}

// RecordSharing records who was told (C77).
func (s *Service) RecordSharing(ctx context.Context, who identity.Identity, id string, sh domain.Sharing, expected int64) (View, error) {
	return s.change(ctx, who, id, expected, func(a domain.Actor, h []eventlog.Event, r domain.Restriction, now time.Time) (eventlog.Event, error) {
		return r.RecordSharing(h, a, sh, now)
	})
}

// GenerateLetter renders and stores a letter to the subject (C13, C71).
func (s *Service) GenerateLetter(ctx context.Context, who identity.Identity, id, kind string) (domain.Letter, error) {
	var letter domain.Letter
	_, err := s.change(ctx, who, id, 0, func(a domain.Actor, h []eventlog.Event, r domain.Restriction, now time.Time) (eventlog.Event, error) {
		subject, _ := s.index.SubjectOf(r.Organization, r.Subject)
		e, l, err := r.GenerateLetter(h, a, kind, domain.SubjectInfo{DisplayName: subject.DisplayName}, now)
		l.CreateTime = e.Time
		letter = l
		return e, err
	})
	return letter, err
}

// Letters returns the letters stored with a restriction.
func (s *Service) Letters(ctx context.Context, who identity.Identity, id string) ([]domain.Letter, error) {
	v, err := s.Get(ctx, who, id)
	if err != nil {
		return nil, err
	}
	return v.Letters, nil
}

// Events returns the timeline of a restriction (C73).
func (s *Service) Events(ctx context.Context, who identity.Identity, id string) ([]eventlog.Event, error) {
	if _, err := s.Get(ctx, who, id); err != nil {
		return nil, err
	}
	return s.events.Load(ctx, id)
}

// Marker returns the staff-facing marker of a subject (C76): any staff
// member of the organisation may read it; it holds no incident details.
func (s *Service) Marker(ctx context.Context, who identity.Identity, subject string) (domain.Marker, error) {
	if _, err := actorOf(who); err != nil {
		return domain.Marker{}, err
	}
	if _, ok := s.index.SubjectOf(who.Organization, subject); !ok {
		return domain.Marker{}, apperr.NotFound("subject %s not found", subject)
	}
	rs, err := s.restrictions.InForceFor(ctx, who.Organization, subject)
	if err != nil {
		return domain.Marker{}, err
	}
	return domain.MarkerFor(subject, rs, s.now()), nil
}

// Reconcile repairs the read model where it is behind the event log and
// tells every replica's index: after a crash between an append and its
// read-model update, or when two saves raced (FerretDB's updates are not
// isolated, so an older version can overwrite a newer one). The scheduler
// runs it; at start, Rebuild does the same before the index is loaded.
func (s *Service) Reconcile(ctx context.Context) (int, error) {
	latest, err := s.events.LatestSeqs(ctx)
	if err != nil {
		return 0, err
	}
	projected, err := s.restrictions.Versions(ctx)
	if err != nil {
		return 0, err
	}
	return s.rebuild(ctx, latest, projected, true)
}

// Rebuild brings the read model up to date with the event log, repairing
// what a crash between an append and its read-model update left behind.
func (s *Service) Rebuild(ctx context.Context, latest, projected map[string]int64) (int, error) {
	return s.rebuild(ctx, latest, projected, false)
}

func (s *Service) rebuild(ctx context.Context, latest, projected map[string]int64, publish bool) (int, error) {
	n := 0
	for id, seq := range latest {
		if projected[id] >= seq {
			continue
		}
		events, err := s.events.Load(ctx, id)
		if err != nil {
			return n, err
		}
		r, err := domain.Fold(events)
		if err != nil {
			return n, err
		}
		if err := s.restrictions.Save(ctx, r); err != nil {
			return n, err
		}
		if publish {
			s.changes.PublishRestriction(ctx, index.EntryOf(r))
		}
		n++
	}
	return n, nil
}
