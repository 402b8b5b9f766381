package index

import (
	"sync"
	"testing"
	"time"

	"github.com/contactguard/contactguard/restriction-svc/internal/domain"
)

var start = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func entry(id, org, subject string, version int64, state string) Entry {
	return Entry{
		ID: id, Organization: org, Subject: subject, Version: version, State: state,
		Rules: []domain.Rule{{Kind: domain.KindAutomatedService}}, StartTime: start,
	}
}

func subject(org, name string, version int64, keys ...string) Subject {
	return Subject{Organization: org, Name: name, Version: version, Keys: keys}
}

func TestLookupFindsRestrictionsThroughTheSubjectsIdentifiers(t *testing.T) {
	x := New()
	x.PutSubject(subject("hc", "subjects/s1", 1, "phone:+441463702000", "email:a@b.org"))
	x.PutRestriction(entry("r1", "hc", "subjects/s1", 2, domain.StateActive))
	if got := x.Lookup("hc", "phone:+441463702000", nil); len(got) != 1 || got[0].ID != "r1" {
		t.Fatalf("lookup %v", got)
	}
	// Another organisation's restriction never applies, even for the same number.
	if got := x.Lookup("vb", "phone:+441463702000", nil); len(got) != 0 {
		t.Fatalf("other organisation sees %v", got)
	}
	if got := x.Lookup("hc", "phone:+441463000000", nil); got != nil {
		t.Fatalf("unknown number: %v", got)
	}
	// The restriction is lifted: gone. An older message arriving late
	// does not bring it back.
	x.PutRestriction(entry("r1", "hc", "subjects/s1", 3, domain.StateLifted))
	x.PutRestriction(entry("r1", "hc", "subjects/s1", 2, domain.StateActive))
	if got := x.Lookup("hc", "phone:+441463702000", nil); len(got) != 0 {
		t.Fatalf("after lift: %v", got)
	}
	// The subject changes number.
	x.PutRestriction(entry("r2", "hc", "subjects/s1", 1, domain.StateActive))
	x.PutSubject(subject("hc", "subjects/s1", 2, "phone:+447700900123"))
	if len(x.Lookup("hc", "phone:+441463702000", nil)) != 0 || len(x.Lookup("hc", "phone:+447700900123", nil)) != 1 {
		t.Fatal("identifier change not applied")
	}
	if x.PutSubject(subject("hc", "subjects/s1", 1, "phone:+441463702000")) {
		t.Fatal("an older subject version replaced a newer one")
	}
}

func TestReplaceKeepsChangesNewerThanTheLoad(t *testing.T) {
	x := New()
	x.PutSubject(subject("hc", "subjects/s1", 1, "phone:+441463702000"))
	x.PutRestriction(entry("r1", "hc", "subjects/s1", 2, domain.StateActive))
	x.PutRestriction(entry("r2", "hc", "subjects/s1", 5, domain.StateLifted))
	// The load read r1 at version 1 (before the feed's version 2), r2 at an
	// older active version, and r3 that the index had missed.
	x.Replace([]Entry{
		entry("r1", "hc", "subjects/s1", 1, domain.StateActive),
		entry("r2", "hc", "subjects/s1", 4, domain.StateActive),
		entry("r3", "hc", "subjects/s1", 1, domain.StateActive),
	}, []Subject{subject("hc", "subjects/s1", 1, "phone:+441463702000")})
	got := map[string]bool{}
	for _, c := range x.Lookup("hc", "phone:+441463702000", nil) {
		got[c.ID] = true
	}
	if !got["r1"] || got["r2"] || !got["r3"] || len(got) != 2 {
		t.Fatalf("after replace: %v", got)
	}
	// A restriction lifted while the replica was away is dropped by a load
	// that carries its lifted version.
	x.Replace([]Entry{entry("r1", "hc", "subjects/s1", 3, domain.StateLifted), entry("r3", "hc", "subjects/s1", 1, domain.StateActive)}, nil)
	if got := x.Lookup("hc", "phone:+441463702000", nil); len(got) != 1 || got[0].ID != "r3" {
		t.Fatalf("after second replace: %v", got)
	}
}

func TestConcurrentLookupsAndChanges(t *testing.T) {
	x := New()
	x.PutSubject(subject("hc", "subjects/s1", 1, "phone:+441463702000"))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				x.PutRestriction(entry("r", "hc", "subjects/s1", int64(g*1000+i+1), domain.StateActive))
			}
		})
		wg.Go(func() {
			for range 500 {
				for _, c := range x.Lookup("hc", "phone:+441463702000", nil) {
					_ = c.ID
				}
			}
		})
	}
	wg.Wait()
	if got := x.Lookup("hc", "phone:+441463702000", nil); len(got) != 1 {
		t.Fatalf("%d entries for one restriction", len(got))
	}
}
