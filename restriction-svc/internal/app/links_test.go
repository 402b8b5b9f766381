package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/restriction-svc/internal/domain"
	"github.com/contactguard/contactguard/restriction-svc/internal/index"
)

// memEvents is an event store in memory: appending a sequence already
// taken is a conflict, as with the unique index.
type memEvents struct{ byID map[string][]eventlog.Event }

func (m *memEvents) Append(_ context.Context, e eventlog.Event) error {
	if int64(len(m.byID[e.AggregateID]))+1 != e.Seq {
		return apperr.Conflict("%s #%d is taken", e.AggregateID, e.Seq)
	}
	m.byID[e.AggregateID] = append(m.byID[e.AggregateID], e)
	return nil
}

func (m *memEvents) Load(_ context.Context, id string) ([]eventlog.Event, error) {
	return slices.Clone(m.byID[id]), nil
}

func (m *memEvents) LatestSeqs(context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for id, h := range m.byID {
		out[id] = int64(len(h))
	}
	return out, nil
}

func (m *memEvents) count() int {
	n := 0
	for _, h := range m.byID {
		n += len(h)
	}
	return n
}

// memReadModel keeps nothing: these tests read restrictions from events.
type memReadModel struct{}

func (memReadModel) Save(context.Context, domain.Restriction) error { return nil }
func (memReadModel) List(context.Context, Query) ([]domain.Restriction, string, error) {
	return nil, "", nil
}
func (memReadModel) Due(context.Context, time.Time) ([]domain.Restriction, error) { return nil, nil }
func (memReadModel) InForceFor(context.Context, string, string) ([]domain.Restriction, error) {
	return nil, nil
}
func (memReadModel) Versions(context.Context) (map[string]int64, error) { return nil, nil }

type noChanges struct{}

func (noChanges) PublishRestriction(context.Context, index.Entry) {}
func (noChanges) PublishSubject(context.Context, index.Subject)   {}

// fakeLinks answers like incident-svc and evidence-svc would for the
// caller: a name it does not hold is not found (unknown, or another
// organisation's), denied names are denied, and a service marked down is
// unavailable. It records what it was asked.
type fakeLinks struct {
	known  []string
	denied []string
	down   map[string]bool // "incident-svc", "evidence-svc"
	asked  []string
}

func (f *fakeLinks) answer(service, name string) error {
	f.asked = append(f.asked, name)
	switch {
	case f.down[service]:
		return &UnavailableError{Service: service, Name: name, Reason: "Unavailable: connection refused"}
	case slices.Contains(f.denied, name):
		return apperr.Denied("only staff involved in %s, its reviewers and senior management may read it", name)
	case !slices.Contains(f.known, name):
		return apperr.NotFound("%s not found", name)
	}
	return nil
}

func (f *fakeLinks) Incident(_ context.Context, name string) error {
	return f.answer("incident-svc", name)
}

func (f *fakeLinks) Evidence(_ context.Context, name string) error {
	return f.answer("evidence-svc", name)
}

var proposer = identity.Identity{StaffID: "hc-cso-1", Organization: "highland-council", Roles: []string{"staff"}}

func serviceWith(links *fakeLinks) (*Service, *memEvents) {
	events := &memEvents{byID: map[string][]eventlog.Event{}}
	idx := index.New()
	idx.PutSubject(index.Subject{Organization: "highland-council", Name: "subjects/s1", Version: 1})
	return New(events, memReadModel{}, idx, noChanges{}, links), events
}

func citing(incidents, evidence []string) domain.Proposal {
	return domain.Proposal{
		Subject: "subjects/s1", Rules: []domain.Rule{{Kind: domain.KindAutomatedService}},
		Incidents: incidents, Evidence: evidence, Behaviour: "Abusive calls.", Impact: "Staff distressed.",
	}
}

// Staff may cite only incidents and evidence of their organisation that
// they may read; nothing is recorded otherwise.
func TestCreateChecksTheRecordsItCites(t *testing.T) {
	all := &fakeLinks{known: []string{"incidents/i1", "incidents/i2", "evidence/e1", "evidence/e2"}, denied: []string{"incidents/i2", "evidence/e2"}}
	tests := []struct {
		name      string
		incidents []string
		evidence  []string
		down      string
		kind      error // nil: recorded
		message   []string
	}{
		{"found", []string{"incidents/i1"}, []string{"evidence/e1"}, "", nil, nil},
		{"nothing cited yet", nil, nil, "", nil, nil},
		{"unknown incident", []string{"incidents/i1", "incidents/nope"}, nil, "", apperr.ErrNotFound,
			[]string{"restriction.incidents: incidents/nope is not an incident of The Highland Council"}},
		{"unknown evidence", nil, []string{"evidence/nope"}, "", apperr.ErrNotFound,
			[]string{"restriction.evidence: evidence/nope is not an evidence item of The Highland Council"}},
		{"incident the caller may not read", []string{"incidents/i2"}, nil, "", apperr.ErrPermissionDenied,
			[]string{"restriction.incidents:", "you may not read incidents/i2", "only staff involved"}},
		{"evidence the caller may not read", []string{"incidents/i1"}, []string{"evidence/e2"}, "", apperr.ErrPermissionDenied,
			[]string{"restriction.evidence:", "you may not read evidence/e2"}},
		{"incident-svc down", []string{"incidents/i1"}, nil, "incident-svc", apperr.ErrUnavailable,
			[]string{"restriction.incidents:", "incident-svc", "nothing was recorded", "try again"}},
		{"evidence-svc down", []string{"incidents/i1"}, []string{"evidence/e1"}, "evidence-svc", apperr.ErrUnavailable,
			[]string{"restriction.evidence:", "evidence-svc", "nothing was recorded", "try again"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			links := &fakeLinks{known: all.known, denied: all.denied, down: map[string]bool{tt.down: true}}
			svc, events := serviceWith(links)
			v, err := svc.Create(context.Background(), proposer, citing(tt.incidents, tt.evidence), "")
			if tt.kind == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(v.Incidents, tt.incidents) || !slices.Equal(v.Evidence, tt.evidence) || events.count() != 1 {
					t.Fatalf("recorded %v %v, %d events", v.Incidents, v.Evidence, events.count())
				}
				if want := append(slices.Clone(tt.incidents), tt.evidence...); !slices.Equal(links.asked, want) {
					t.Errorf("asked about %v, want %v", links.asked, want)
				}
				return
			}
			if !errors.Is(err, tt.kind) {
				t.Fatalf("got %v, want %v", err, tt.kind)
			}
			for _, m := range tt.message {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("message %q lacks %q", err.Error(), m)
				}
			}
			if !strings.HasPrefix(err.Error(), "restriction.") {
				t.Errorf("message %q does not start with the field", err.Error())
			}
			if events.count() != 0 {
				t.Errorf("%d events recorded", events.count())
			}
		})
	}
}

// Updating a proposal asks only about the names it adds; a name that fails
// leaves the proposal as it was.
func TestUpdateChecksOnlyTheNamesItAdds(t *testing.T) {
	links := &fakeLinks{known: []string{"incidents/i1", "incidents/i3", "evidence/e1"}}
	svc, events := serviceWith(links)
	ctx := context.Background()
	v, err := svc.Create(ctx, proposer, citing([]string{"incidents/i1"}, nil), "")
	if err != nil {
		t.Fatal(err)
	}
	// incidents/i1 is on the proposal already: asked about once, at create.
	links.asked, links.known = nil, []string{"incidents/i3", "evidence/e1"}
	upd, err := svc.Update(ctx, proposer, v.ID, citing([]string{"incidents/i1", "incidents/i3"}, []string{"evidence/e1"}), []string{"incidents", "evidence"}, v.Version)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(links.asked, []string{"incidents/i3", "evidence/e1"}) {
		t.Errorf("asked about %v, want only the names added", links.asked)
	}
	if !slices.Equal(upd.Incidents, []string{"incidents/i1", "incidents/i3"}) || upd.Version != 2 {
		t.Fatalf("updated %v version %d", upd.Incidents, upd.Version)
	}
	// Removing needs no check; fields not in the mask are not asked about.
	links.asked = nil
	if _, err := svc.Update(ctx, proposer, v.ID, citing([]string{"incidents/nope"}, []string{"evidence/e1"}), []string{"evidence"}, 0); err != nil {
		t.Fatal(err)
	}
	if len(links.asked) != 0 {
		t.Errorf("asked about %v, want nothing", links.asked)
	}
	_, err = svc.Update(ctx, proposer, v.ID, citing([]string{"incidents/i1", "incidents/nope"}, nil), []string{"incidents"}, 0)
	if !errors.Is(err, apperr.ErrNotFound) || !strings.HasPrefix(err.Error(), "restriction.incidents: incidents/nope is not an incident of") {
		t.Fatalf("got %v, want not found naming restriction.incidents", err)
	}
	links.down = map[string]bool{"incident-svc": true}
	_, err = svc.Update(ctx, proposer, v.ID, citing([]string{"incidents/i1", "incidents/i9"}, nil), []string{"incidents"}, 0)
	if !errors.Is(err, apperr.ErrUnavailable) || !strings.Contains(err.Error(), "incident-svc") {
		t.Fatalf("got %v, want unavailable naming incident-svc", err)
	}
	if got, _ := svc.Get(ctx, proposer, v.ID); got.Version != 3 || !slices.Equal(got.Incidents, []string{"incidents/i1", "incidents/i3"}) || events.count() != 3 {
		t.Errorf("after the refused updates: version %d, incidents %v, %d events", got.Version, got.Incidents, events.count())
	}
}

// A proposal restriction-svc makes from incident-svc's review event cites
// that incident without asking: the event comes from its owner and carries
// no caller to ask as.
func TestProposalFromAnIncidentReviewAsksNobody(t *testing.T) {
	links := &fakeLinks{down: map[string]bool{"incident-svc": true, "evidence-svc": true}}
	svc, events := serviceWith(links)
	e, err := eventlog.Next(nil, eventlog.Change{
		AggregateType: "incident", AggregateID: "inc1", Type: incidentReviewed, Organization: "highland-council", Actor: "hc-tl-1", Time: started,
		Data: map[string]any{"reference": "HC-2026-AAA", "outcome": "active_management", "subject": "subjects/s1", "reviewer": "hc-tl-1", "reasons": "Abusive calls."},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := NewConsumer(svc, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := c.Handle(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if events.count() != 1 || len(links.asked) != 0 {
		t.Fatalf("%d events, asked about %v", events.count(), links.asked)
	}
}

// A retried proposal (same request id) answers with the one recorded, even
// while the services that check citations are down.
func TestRetriedCreateAnswersWithoutAskingAgain(t *testing.T) {
	links := &fakeLinks{known: []string{"incidents/i1"}}
	svc, events := serviceWith(links)
	ctx := context.Background()
	first, err := svc.Create(ctx, proposer, citing([]string{"incidents/i1"}, nil), "req-1")
	if err != nil {
		t.Fatal(err)
	}
	links.down = map[string]bool{"incident-svc": true}
	again, err := svc.Create(ctx, proposer, citing([]string{"incidents/i1"}, nil), "req-1")
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if again.ID != first.ID || events.count() != 1 {
		t.Errorf("retry gave %s (first %s), %d events", again.ID, first.ID, events.count())
	}
	if _, err := svc.Create(ctx, proposer, citing([]string{"incidents/i1"}, nil), "req-2"); !errors.Is(err, apperr.ErrUnavailable) {
		t.Errorf("a new request while incident-svc is down: %v, want Unavailable", err)
	}
}
