package app

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/restriction-svc/internal/domain"
	"github.com/contactguard/contactguard/restriction-svc/internal/index"
)

// fakeCounters is a counter store that works or is unreachable.
type fakeCounters struct {
	counts map[string]int64
	down   bool
}

func (f *fakeCounters) Counts(_ context.Context, cs []domain.Counter) ([]int64, error) {
	if f.down {
		return nil, errors.New("connection refused")
	}
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = f.counts[c.Key]
	}
	return out, nil
}

func (f *fakeCounters) Add(_ context.Context, cs []domain.Counter, _, _ string, _ time.Time) ([]int64, error) {
	if f.down {
		return nil, errors.New("connection refused")
	}
	out := make([]int64, len(cs))
	for i, c := range cs {
		f.counts[c.Key]++
		out[i] = f.counts[c.Key]
	}
	return out, nil
}

var (
	tel     = identity.Identity{StaffID: "telephony-hc", Organization: "highland-council", Roles: []string{RoleTelephony}}
	started = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
)

func checkerWith(failMode string, healthy *bool, counters *fakeCounters, rules ...domain.Rule) *Checker {
	idx := index.New()
	idx.PutSubject(index.Subject{Organization: "highland-council", Name: "subjects/s1", Version: 1, Keys: []string{"phone:+441463702000"}})
	idx.PutRestriction(index.Entry{ID: "r1", Organization: "highland-council", Subject: "subjects/s1", Version: 2, State: domain.StateActive, Rules: rules, StartTime: started})
	c := NewChecker(idx, counters, func() bool { return *healthy }, failMode, time.Second)
	c.SetClock(func() time.Time { return started.Add(time.Hour) })
	return c
}

func phone(n string) CheckRequest { return CheckRequest{Channel: domain.Phone, Identifier: n} }

// CHECK_FAIL_MODE: what the check answers when its stores are unreachable.
// Known restrictions keep applying from memory; what cannot be known (a
// volume count, whether the index missed a change) is answered per mode.
func TestFailModeWhenStoresAreUnreachable(t *testing.T) {
	limit := domain.Rule{Kind: domain.KindVolumeLimit, Channel: domain.Phone, MaxContacts: 3, Period: 7 * 24 * time.Hour}
	for _, tt := range []struct {
		mode            string
		unknown, capped string
	}{
		{domain.FailAllow, domain.TreatAllow, domain.TreatAllow},
		{domain.FailAutomated, domain.TreatAutomatedService, domain.TreatAutomatedService},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			healthy := true
			ctr := &fakeCounters{counts: map[string]int64{}}
			c := checkerWith(tt.mode, &healthy, ctr, limit)
			ctx := context.Background()
			if a, _ := c.Check(ctx, tel, phone("07700 900123")); a.Treatment != domain.TreatAllow || a.Degraded {
				t.Fatalf("healthy, unknown caller: %+v", a)
			}
			// Redis (the counters) is down: the limited caller gets the fail mode.
			ctr.down = true
			if a, _ := c.Check(ctx, tel, phone("01463 702000")); a.Treatment != tt.capped || !a.Degraded {
				t.Errorf("counters down: %+v", a)
			}
			if _, err := c.Record(ctx, tel, phone("01463 702000")); !errors.Is(err, apperr.ErrUnavailable) {
				t.Errorf("record with counters down: %v", err)
			}
			// The change feed is down too: every answer is degraded, and
			// unknown callers get the fail mode.
			healthy = false
			if a, _ := c.Check(ctx, tel, phone("07700 900123")); a.Treatment != tt.unknown || !a.Degraded {
				t.Errorf("feed down, unknown caller: %+v", a)
			}
		})
	}
	// Known restrictions still apply from memory with the stores down.
	healthy := false
	c := checkerWith(domain.FailAllow, &healthy, &fakeCounters{down: true}, domain.Rule{Kind: domain.KindAutomatedService})
	if a, _ := c.Check(context.Background(), tel, phone("+441463702000")); a.Treatment != domain.TreatAutomatedService || !a.Degraded {
		t.Errorf("known restriction with stores down: %+v", a)
	}
}

func TestCheckRefusesOtherOrganisationsAndNonStaff(t *testing.T) {
	healthy := true
	c := checkerWith(domain.FailAllow, &healthy, &fakeCounters{counts: map[string]int64{}}, domain.Rule{Kind: domain.KindAutomatedService})
	ctx := context.Background()
	req := phone("01463 702000")
	req.Organization = "valuation-board"
	if _, err := c.Check(ctx, tel, req); !errors.Is(err, apperr.ErrPermissionDenied) {
		t.Errorf("other organisation: %v", err)
	}
	board := identity.Identity{StaffID: "telephony-vb", Organization: "valuation-board", Roles: []string{RoleTelephony}}
	if a, err := c.Check(ctx, board, phone("01463 702000")); err != nil || a.Treatment != domain.TreatAllow {
		t.Errorf("board telephony, same number: %+v %v", a, err)
	}
	nobody := identity.Identity{StaffID: "x", Organization: "highland-council", Roles: []string{"auditor"}}
	if _, err := c.Check(ctx, nobody, phone("01463 702000")); !errors.Is(err, apperr.ErrPermissionDenied) {
		t.Errorf("identity without staff or telephony role: %v", err)
	}
	if _, err := actorOf(tel); !errors.Is(err, apperr.ErrPermissionDenied) {
		t.Errorf("telephony acting on restrictions: %v", err)
	}
}

// The check's own cost, without gRPC (go test -run x -bench Check ./internal/app).
func BenchmarkCheck(b *testing.B) {
	healthy := true
	c := checkerWith(domain.FailAllow, &healthy, &fakeCounters{counts: map[string]int64{}}, domain.Rule{Kind: domain.KindAutomatedService})
	ctx := context.Background()
	for _, bc := range []struct{ name, number string }{{"unrestricted", "+447700900123"}, {"restricted", "+441463702000"}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Check(ctx, tel, phone(bc.number)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
