package app_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/contactguard/contactguard/incident-svc/internal/app"
	"github.com/contactguard/contactguard/incident-svc/internal/domain"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/directory"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/identity"
)

// The use cases' dealings with the staff directory, with in-memory stores
// (the stores themselves are tested against FerretDB in grpcapi).

type memEvents struct {
	mu     sync.Mutex
	events map[string][]eventlog.Event
}

func (m *memEvents) Append(_ context.Context, e eventlog.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if int64(len(m.events[e.AggregateID]))+1 != e.Seq {
		return apperr.Conflict("conflict")
	}
	m.events[e.AggregateID] = append(m.events[e.AggregateID], e)
	return nil
}

func (m *memEvents) Load(_ context.Context, id string) ([]eventlog.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]eventlog.Event(nil), m.events[id]...), nil
}

type memNamings struct{}

func (memNamings) Save(context.Context, domain.PublicNaming) error { return nil }
func (memNamings) List(context.Context, app.NamingQuery) ([]domain.PublicNaming, string, error) {
	return nil, "", nil
}

// fakeStaff answers from the seed, with line managers overridden, or fails.
type fakeStaff struct {
	lineManager map[string]string
	down        bool
}

func (f *fakeStaff) Member(_ context.Context, org, id string) (app.StaffMember, error) {
	if f.down {
		return app.StaffMember{}, &apperr.Error{Kind: apperr.ErrUnavailable, Message: "directory down"}
	}
	m, ok := directory.Find(id)
	if !ok || m.Organization != org {
		return app.StaffMember{}, apperr.NotFound("no %s", id)
	}
	lm := m.LineManagerID
	if v, ok := f.lineManager[id]; ok {
		lm = v
	}
	return app.StaffMember{ID: id, LineManager: lm}, nil
}

func who(t *testing.T, staffID string) identity.Identity {
	t.Helper()
	m, ok := directory.Find(staffID)
	if !ok {
		t.Fatalf("no %s", staffID)
	}
	return identity.Identity{StaffID: m.ID, Organization: m.Organization, Roles: m.Roles}
}

func openCase(t *testing.T, staff *fakeStaff) (*app.PublicNamings, domain.PublicNaming) {
	t.Helper()
	uc := app.NewPublicNamings(&memEvents{events: map[string][]eventlog.Event{}}, memNamings{}, staff)
	c, err := uc.Create(context.Background(), who(t, "hc-om-1"), domain.NamingReport{StaffMember: "hc-cso-2", URL: "https://x.example/p/1"}, "")
	if err != nil {
		t.Fatal(err)
	}
	return uc, c
}

// C80 with line management changed since the case was opened: the new line
// manager (from the directory) reads the case and informs the staff member;
// the one recorded on the case still reads it.
func TestC80_TheCurrentLineManagerFromTheDirectory(t *testing.T) {
	staff := &fakeStaff{}
	uc, c := openCase(t, staff)
	if c.LineManager != "hc-tl-1" {
		t.Fatalf("line manager recorded %q", c.LineManager)
	}
	ctx := context.Background()
	staff.lineManager = map[string]string{"hc-cso-2": "hc-sup-1"}
	if _, err := uc.Get(ctx, who(t, "hc-sup-1"), c.ID); err != nil {
		t.Fatalf("new line manager: %v", err)
	}
	if _, err := uc.Get(ctx, who(t, "hc-tl-1"), c.ID); err != nil {
		t.Fatalf("recorded line manager: %v", err)
	}
	got, err := uc.RecordStep(ctx, who(t, "hc-sup-1"), c.ID, domain.StepCommand{Step: domain.NamingStep{Kind: domain.NamingStepStaffMemberInformed}})
	if err != nil || got.Steps[0].RecordedBy != "hc-sup-1" {
		t.Fatalf("new line manager informs: %v, %v", got.Steps, err)
	}
	if _, err := uc.Get(ctx, who(t, "hc-cso-1"), c.ID); !errors.Is(err, apperr.ErrPermissionDenied) {
		t.Fatalf("colleague: %v", err)
	}
	events, err := uc.Events(ctx, who(t, "hc-sup-1"), c.ID)
	if err != nil || len(events) != 2 {
		t.Fatalf("timeline %d events, %v", len(events), err)
	}
	if _, err := uc.Events(ctx, who(t, "vb-smt-1"), c.ID); !errors.Is(err, apperr.ErrNotFound) {
		t.Fatalf("other organisation's timeline: %v", err)
	}
}

// The directory (notify-svc) down: a case cannot be opened with an
// unchecked staff member, but those on the case without the directory's
// help still read it.
func TestStaffDirectoryUnavailable(t *testing.T) {
	staff := &fakeStaff{}
	uc, c := openCase(t, staff)
	staff.down = true
	ctx := context.Background()
	_, err := uc.Create(ctx, who(t, "hc-om-1"), domain.NamingReport{StaffMember: "hc-cso-2", URL: "https://x.example/p/2"}, "")
	if !errors.Is(err, apperr.ErrUnavailable) {
		t.Fatalf("create: %v", err)
	}
	for _, s := range []string{"hc-cso-2", "hc-tl-1", "hc-om-1", "hc-hop-1"} {
		if _, err := uc.Get(ctx, who(t, s), c.ID); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if _, err := uc.Get(ctx, who(t, "hc-cso-1"), c.ID); !errors.Is(err, apperr.ErrUnavailable) {
		t.Errorf("uninvolved, directory down: %v", err)
	}
}
