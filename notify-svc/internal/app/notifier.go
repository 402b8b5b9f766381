// Package app turns recorded events into deliveries: the organisation's
// profile names who is told of which event; the templates say what.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/contactguard/contactguard/notify-svc/internal/delivery"
	"github.com/contactguard/contactguard/notify-svc/internal/staff"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/policy"
)

// Directory finds staff.
type Directory interface {
	Get(ctx context.Context, org, id string) (staff.Member, error)
	WithRole(ctx context.Context, org, role string) ([]staff.Member, error)
}

// Deliveries queues emails, one per (event, recipient).
type Deliveries interface {
	Queue(ctx context.Context, d delivery.Delivery) (bool, error)
}

// Notifier handles events from other services.
type Notifier struct {
	dir        Directory
	deliveries Deliveries
	portalURL  string
	wake       chan<- struct{}
	logger     *slog.Logger
	now        func() time.Time
}

// NewNotifier returns a notifier; wake is signalled when an email is queued.
func NewNotifier(dir Directory, deliveries Deliveries, portalURL string, wake chan<- struct{}, logger *slog.Logger) *Notifier {
	return &Notifier{dir: dir, deliveries: deliveries, portalURL: strings.TrimSuffix(portalURL, "/"), wake: wake, logger: logger, now: time.Now}
}

// eventFacts are the payload fields notifications use: who the event is
// about and its reference. The rest of the payload is never read here.
type eventFacts struct {
	Reference string `json:"reference"`
	Reporter  string `json:"reporter"`
	// StaffMember is the staff member the event is about when that is not
	// the reporter (e.g. the person named publicly): their line manager is
	// told.
	StaffMember   string   `json:"staff_member"`
	StaffInvolved []string `json:"staff_involved"`
	// ZeroTolerance and PhysicalThreat turn a report into a zero-tolerance
	// notification (line manager and senior management, police decision
	// pending).
	ZeroTolerance  bool `json:"zero_tolerance"`
	PhysicalThreat bool `json:"physical_threat"`
	// Outcome of a manager review: after zero tolerance or active
	// management, staff involved are offered a debrief (C68).
	Outcome string `json:"outcome"`
	// Restriction events: who decided it, who hears its appeal, and who
	// must apply it (C77), as recipient specs ("role:service_centre").
	Decider       string   `json:"decider"`
	AppealOfficer string   `json:"appeal_officer"`
	ShareWith     []string `json:"share_with"`
}

// notificationType is the rule an event is notified under: a report of a
// zero-tolerance incident or a physical threat is notified as such, once,
// instead of as an ordinary report.
func notificationType(e eventlog.Event, f eventFacts) string {
	if e.Type == "incident.reported" && (f.ZeroTolerance || f.PhysicalThreat) {
		return "incident.zero_tolerance"
	}
	return e.Type
}

// about returns the staff member whose line manager is told.
func (f eventFacts) about() string {
	if f.StaffMember != "" {
		return f.StaffMember
	}
	return f.Reporter
}

type recipient struct {
	member staff.Member
	cc     bool
	reason string
}

// Handle queues the emails an event calls for. It is idempotent: the
// delivery id is (event, recipient).
func (n *Notifier) Handle(ctx context.Context, e eventlog.Event) error {
	profile, ok := policy.For(e.Organization)
	if !ok {
		n.logger.Error("event of an organisation without a profile: no notification", "event_id", e.ID, "organization", e.Organization)
		return nil
	}
	var facts eventFacts
	if err := e.Decode(&facts); err != nil {
		if _, ruled := profile.Notifications[e.Type]; ruled {
			n.logger.Error("unreadable event payload: no notification", "event_id", e.ID, "error", err)
		}
		return nil
	}
	kind := notificationType(e, facts)
	rule, ok := profile.Notifications[kind]
	if !ok {
		return nil // nobody is emailed for this event
	}
	tmpl, ok := templates[kind]
	if !ok {
		n.logger.Error("notification rule without a template", "event_type", kind)
		return nil
	}
	recipients, unresolved, err := n.resolve(ctx, e, rule, facts)
	if err != nil {
		return err
	}
	now := n.now()
	link := n.portalURL + "/" + resourceCollection(e.AggregateType) + "/" + url.PathEscape(e.AggregateID)
	queued := false
	for _, r := range recipients {
		subject, text, html, err := tmpl.render(message{Organization: profile.Name, RecipientName: r.member.Name, Reference: facts.Reference, Link: link, Reason: r.reason,
			Outcome: strings.ReplaceAll(facts.Outcome, "_", " "), DebriefDue: facts.Outcome == "zero_tolerance" || facts.Outcome == "active_management"})
		if err != nil {
			return fmt.Errorf("render %s: %w", e.Type, err)
		}
		d := delivery.Delivery{
			ID: delivery.ID(e.ID, r.member.ID), Organization: e.Organization, EventID: e.ID, EventType: kind,
			Reference: facts.Reference, Recipient: r.member.ID, RecipientEmail: r.member.Email, Cc: r.cc, Reason: r.reason,
			From: profile.MailFrom, Subject: subject, Text: text, HTML: html,
			Status: delivery.StatusQueued, NextAttemptTime: now, CreateTime: now, UpdateTime: now,
		}
		fresh, err := n.deliveries.Queue(ctx, d)
		if err != nil {
			return err
		}
		queued = queued || fresh
	}
	// Someone the policy says must be told cannot be found: record it as a
	// dead delivery, visible to admins, instead of dropping it silently.
	for i, u := range unresolved {
		d := delivery.Delivery{
			ID: delivery.ID(e.ID, fmt.Sprintf("unresolved-%d", i+1)), Organization: e.Organization, EventID: e.ID, EventType: kind,
			Reference: facts.Reference, Reason: u, Status: delivery.StatusDead,
			LastError: "no recipient in the staff directory for: " + u, CreateTime: now, UpdateTime: now,
		}
		if _, err := n.deliveries.Queue(ctx, d); err != nil {
			return err
		}
		n.logger.Error("notification recipient not found", "event_id", e.ID, "rule", u)
	}
	if queued {
		select {
		case n.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

func profileOf(e eventlog.Event) policy.Profile {
	p, _ := policy.For(e.Organization)
	return p
}

// resourceCollection maps an aggregate type to the collection in the
// API's resource names, which the portal's links follow: a public_naming
// case is publicNamings/{id}.
func resourceCollection(aggregateType string) string {
	switch aggregateType {
	case "public_naming":
		return "publicNamings"
	case "evidence":
		return "evidence"
	}
	return url.PathEscape(aggregateType) + "s"
}

// resolve turns the rule's recipient specs into staff members, once each.
func (n *Notifier) resolve(ctx context.Context, e eventlog.Event, rule policy.Recipients, facts eventFacts) ([]recipient, []string, error) {
	var out []recipient
	var unresolved []string
	seen := map[string]bool{}
	add := func(m staff.Member, cc bool, reason string) {
		if !seen[m.ID] && m.Email != "" {
			seen[m.ID] = true
			out = append(out, recipient{member: m, cc: cc, reason: reason})
		}
	}
	var specs func(list []string, cc bool) error
	specs = func(list []string, cc bool) error {
		for _, spec := range list {
			switch {
			case spec == "line_manager":
				m, ok, err := n.lineManager(ctx, e.Organization, facts.about())
				if err != nil {
					return err
				}
				if !ok {
					unresolved = append(unresolved, "line manager of "+facts.about())
					continue
				}
				reason := "you are the line manager of the staff member who reported it"
				if facts.StaffMember != "" {
					reason = "you are the line manager of the staff member concerned"
				}
				add(m, cc, reason)
			case spec == "decider" || spec == "appeal_officer":
				id, reason := facts.Decider, "you decided the restriction"
				if spec == "appeal_officer" {
					id, reason = facts.AppealOfficer, "you hear the appeal"
				}
				if id == "" && spec == "appeal_officer" {
					// Not assigned yet: everyone who may hear appeals.
					found := false
					for _, role := range profileOf(e).RolesFor(policy.HearAppeal) {
						members, err := n.dir.WithRole(ctx, e.Organization, role)
						if err != nil {
							return err
						}
						for _, m := range members {
							found = true
							add(m, cc, "you may hear appeals ("+strings.ReplaceAll(role, "_", " ")+")")
						}
					}
					if !found {
						unresolved = append(unresolved, "anyone who hears appeals")
					}
					continue
				}
				m, err := n.dir.Get(ctx, e.Organization, id)
				if errors.Is(err, apperr.ErrNotFound) {
					unresolved = append(unresolved, spec+" "+id)
					continue
				}
				if err != nil {
					return err
				}
				add(m, cc, reason)
			case spec == "share_with":
				if err := specs(facts.ShareWith, cc); err != nil {
					return err
				}
			case spec == "involved_staff":
				for _, id := range append([]string{facts.Reporter}, facts.StaffInvolved...) {
					if id == "" {
						continue
					}
					m, err := n.dir.Get(ctx, e.Organization, id)
					if errors.Is(err, apperr.ErrNotFound) {
						unresolved = append(unresolved, "staff member "+id)
						continue
					}
					if err != nil {
						return err
					}
					add(m, cc, "you were involved in the incident")
				}
			case strings.HasPrefix(spec, "role:"):
				role := strings.TrimPrefix(spec, "role:")
				members, err := n.dir.WithRole(ctx, e.Organization, role)
				if err != nil {
					return err
				}
				if len(members) == 0 {
					unresolved = append(unresolved, "role "+role)
				}
				for _, m := range members {
					add(m, cc, "your role: "+strings.ReplaceAll(role, "_", " "))
				}
			default:
				// Never block the stream on it: record it as unresolved.
				unresolved = append(unresolved, "unknown recipient "+spec)
			}
		}
		return nil
	}
	if err := specs(rule.To, false); err != nil {
		return nil, nil, err
	}
	if err := specs(rule.Cc, true); err != nil {
		return nil, nil, err
	}
	return out, unresolved, nil
}

func (n *Notifier) lineManager(ctx context.Context, org, staffID string) (staff.Member, bool, error) {
	if staffID == "" {
		return staff.Member{}, false, nil
	}
	m, err := n.dir.Get(ctx, org, staffID)
	if errors.Is(err, apperr.ErrNotFound) {
		return staff.Member{}, false, nil
	}
	if err != nil || m.LineManagerID == "" {
		return staff.Member{}, false, err
	}
	lm, err := n.dir.Get(ctx, org, m.LineManagerID)
	if errors.Is(err, apperr.ErrNotFound) {
		return staff.Member{}, false, nil
	}
	return lm, err == nil, err
}
