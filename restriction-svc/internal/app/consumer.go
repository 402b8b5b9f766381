package app

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/contactid"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/lease"
	"github.com/contactguard/contactguard/platform/policy"
	"github.com/contactguard/contactguard/restriction-svc/internal/domain"
	"github.com/contactguard/contactguard/restriction-svc/internal/index"
)

// Incident-svc event types restriction-svc reads (docs/development.md).
const (
	incidentReported = "incident.reported"
	incidentReviewed = "incident.reviewed"
	subjectCreated   = "subject.created"
	subjectUpdated   = "subject.updated"
)

type identifierPayload struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

type subjectPayload struct {
	Name        string              `json:"name"`
	DisplayName string              `json:"display_name"`
	Identifiers []identifierPayload `json:"identifiers"`
}

type incidentPayload struct {
	Reference     string   `json:"reference"`
	Outcome       string   `json:"outcome"`
	Subject       string   `json:"subject"`
	Reviewer      string   `json:"reviewer"`
	Reasons       string   `json:"reasons"`
	StaffInvolved []string `json:"staff_involved"`
}

// identifierKind maps incident-svc's identifier kinds to contactid's.
func identifierKind(k string) string {
	switch strings.ToLower(strings.TrimPrefix(strings.ToUpper(k), "TYPE_")) {
	case "phone":
		return contactid.Phone
	case "email":
		return contactid.Email
	case "social", "social_handle":
		return contactid.Social
	case "postal", "postal_address":
		return contactid.Postal
	}
	return ""
}

// Consumer handles incident-svc's events: it keeps restriction-svc's copy
// of subjects' identifiers, proposes a restriction when a manager review
// ends in active management, and restarts review clocks on new incidents
// where the profile says so. Every effect is idempotent by event id.
type Consumer struct {
	svc      *Service
	subjects Subjects
	logger   *slog.Logger
}

// NewConsumer returns the consumer.
func NewConsumer(svc *Service, subjects Subjects, logger *slog.Logger) *Consumer {
	return &Consumer{svc: svc, subjects: subjects, logger: logger}
}

// Handle processes one incident-svc event.
func (c *Consumer) Handle(ctx context.Context, e eventlog.Event) error {
	p, ok := policy.For(e.Organization)
	if !ok {
		c.logger.Error("event of an organisation without a profile: ignored", "event_id", e.ID, "organization", e.Organization)
		return nil
	}
	switch e.Type {
	case subjectCreated, subjectUpdated:
		return c.subject(ctx, e)
	case incidentReviewed:
		return c.reviewed(ctx, p, e)
	case incidentReported:
		if p.ReviewRestartsOnNewIncident {
			return c.restartReviews(ctx, p, e)
		}
	}
	return nil
}

func (c *Consumer) subject(ctx context.Context, e eventlog.Event) error {
	var sp subjectPayload
	if err := e.Decode(&sp); err != nil {
		c.logger.Error("unreadable subject event: ignored", "event_id", e.ID, "error", err)
		return nil
	}
	if sp.Name == "" {
		sp.Name = "subjects/" + e.AggregateID
	}
	s := index.Subject{Organization: e.Organization, Name: sp.Name, Version: e.Seq, DisplayName: sp.DisplayName}
	for _, id := range sp.Identifiers {
		kind := identifierKind(id.Kind)
		if kind == "" {
			continue
		}
		// The value is normalised already; normalising again is idempotent
		// and protects the check from a producer that forgot.
		v, err := contactid.Normalize(kind, id.Value)
		if err != nil {
			c.logger.Warn("subject identifier not usable for the contact check", "event_id", e.ID, "kind", kind)
			continue
		}
		if k := contactid.Key(kind, v); !slices.Contains(s.Keys, k) {
			s.Keys = append(s.Keys, k)
		}
	}
	if err := c.subjects.Save(ctx, s); err != nil {
		return err
	}
	c.svc.changes.PublishSubject(ctx, s)
	return nil
}

// reviewed proposes a restriction for the incident's subject when the
// review outcome is active management. The restriction's id derives from the
// event id, so a redelivered event finds the proposal already made.
func (c *Consumer) reviewed(ctx context.Context, p policy.Profile, e eventlog.Event) error {
	var ip incidentPayload
	if err := e.Decode(&ip); err != nil {
		c.logger.Error("unreadable incident event: ignored", "event_id", e.ID, "error", err)
		return nil
	}
	if ip.Outcome != "active_management" {
		return nil
	}
	if ip.Subject == "" {
		c.logger.Warn("active management for an incident without a subject: no restriction proposed", "event_id", e.ID, "reference", ip.Reference)
		return nil
	}
	reviewer := ip.Reviewer
	if reviewer == "" {
		reviewer = e.Actor
	}
	a := domain.Actor{Identity: identity.Identity{StaffID: reviewer, Organization: e.Organization}, Profile: p}
	proposal := domain.Proposal{Subject: ip.Subject, Incidents: []string{"incidents/" + e.AggregateID}, Behaviour: strings.TrimSpace(ip.Reasons)}
	if len([]rune(proposal.Behaviour)) > domain.MaxText {
		proposal.Behaviour = string([]rune(proposal.Behaviour)[:domain.MaxText])
	}
	if err := domain.ValidateProposal("incident", &proposal, false); err != nil {
		c.logger.Error("incident review cannot become a proposal: ignored", "event_id", e.ID, "error", err)
		return nil
	}
	id := newID("incident-review\x00" + e.ID)
	now := e.Time
	if now.IsZero() {
		now = c.svc.now()
	}
	ev, err := domain.Propose(id, reference(p, id, now), "incidents/"+e.AggregateID, ip.StaffInvolved, a, proposal, now)
	if err != nil {
		return err
	}
	if err := c.svc.events.Append(ctx, ev); err != nil {
		if errors.Is(err, apperr.ErrConflict) {
			return nil // proposed when this event was first delivered
		}
		return err
	}
	r, err := domain.Fold([]eventlog.Event{ev})
	if err != nil {
		return err
	}
	c.svc.committed(ctx, r)
	c.logger.Info("restriction proposed from incident review", "restriction", r.Reference, "incident", ip.Reference)
	return nil
}

func (c *Consumer) restartReviews(ctx context.Context, p policy.Profile, e eventlog.Event) error {
	var ip incidentPayload
	if err := e.Decode(&ip); err != nil || ip.Subject == "" {
		return nil
	}
	rs, err := c.svc.restrictions.InForceFor(ctx, e.Organization, ip.Subject)
	if err != nil {
		return err
	}
	incident := "incidents/" + e.AggregateID
	for _, r := range rs {
		if err := c.svc.system(ctx, r.ID, func(h []eventlog.Event, r domain.Restriction, now time.Time) (eventlog.Event, bool, error) {
			return r.RestartReview(h, p, incident, now)
		}); err != nil {
			return err
		}
	}
	return nil
}

// system runs a change made by the service itself (expiry, review due,
// review clock), reloading and retrying once on a concurrent change.
func (s *Service) system(ctx context.Context, id string, cmd func([]eventlog.Event, domain.Restriction, time.Time) (eventlog.Event, bool, error)) error {
	for attempt := 0; ; attempt++ {
		history, err := s.events.Load(ctx, id)
		if err != nil {
			return err
		}
		r, err := domain.Fold(history)
		if err != nil {
			return err
		}
		e, ok, err := cmd(history, r, s.now())
		if err != nil || !ok {
			return err
		}
		err = s.events.Append(ctx, e)
		if errors.Is(err, apperr.ErrConflict) && attempt == 0 {
			continue
		}
		if err != nil {
			return err
		}
		after, err := domain.Apply(r, e)
		if err != nil {
			return err
		}
		s.committed(ctx, after)
		return nil
	}
}

// Scheduler records expiries and reviews falling due (C25), one replica at
// a time (a lease), every Interval.
type Scheduler struct {
	Service  *Service
	Lease    *lease.Lease
	Interval time.Duration
	Logger   *slog.Logger
}

// Run runs until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	defer func() { _ = s.Lease.Release(context.WithoutCancel(ctx)) }()
	for {
		if held, err := s.Lease.Hold(ctx); err != nil {
			s.Logger.Warn("scheduler cannot reach redis", "error", err)
		} else if held {
			if err := s.Service.RunDue(ctx); err != nil && ctx.Err() == nil {
				s.Logger.Warn("scheduler run failed, will retry", "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RunDue repairs read-model drift, then records every expiry and review
// due now.
func (s *Service) RunDue(ctx context.Context) error {
	var errs []error
	if _, err := s.Reconcile(ctx); err != nil {
		errs = append(errs, err)
	}
	due, err := s.restrictions.Due(ctx, s.now())
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, r := range due {
		p, ok := policy.For(r.Organization)
		if !ok {
			continue
		}
		errs = append(errs, s.system(ctx, r.ID, func(h []eventlog.Event, r domain.Restriction, now time.Time) (eventlog.Event, bool, error) {
			if e, ok, err := r.Expire(h, p, now); ok || err != nil {
				return e, ok, err
			}
			return r.ReviewDue(h, p, now)
		}))
	}
	return errors.Join(errs...)
}
