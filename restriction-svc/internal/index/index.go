// Package index is the contact check's memory: every restriction in force,
// compiled, reachable from the normalised identifiers of its subject
// (contactid.Key, e.g. "phone:+441463702000"). A caller without a
// restriction costs one map lookup under a read lock; nothing here does
// I/O. Every replica keeps its own index, loaded at start and kept current
// by the change feed (see the store package and docs/adr/0005).
package index

import (
	"slices"
	"sync"
	"time"

	"github.com/contactguard/contactguard/restriction-svc/internal/domain"
)

// Entry is what the index (and the change feed) carries of a restriction.
type Entry struct {
	ID           string        `json:"id"`
	Organization string        `json:"organization"`
	Subject      string        `json:"subject"`
	Version      int64         `json:"version"`
	State        string        `json:"state"`
	Rules        []domain.Rule `json:"rules"`
	StartTime    time.Time     `json:"start_time"`
	EndTime      time.Time     `json:"end_time"`
}

// EntryOf returns the entry of r.
func EntryOf(r domain.Restriction) Entry {
	return Entry{
		ID: r.ID, Organization: r.Organization, Subject: r.Subject, Version: r.Version, State: r.State,
		Rules: r.Rules, StartTime: r.StartTime, EndTime: r.EndTime,
	}
}

func (e Entry) compile() *domain.Compiled {
	r := domain.Restriction{
		ID: e.ID, Organization: e.Organization, State: e.State, StartTime: e.StartTime, EndTime: e.EndTime, Version: e.Version,
	}
	r.Subject, r.Rules = e.Subject, e.Rules
	return domain.Compile(r)
}

// Subject is what the index keeps of a subject: the keys of its
// identifiers. Subjects belong to incident-svc; restriction-svc keeps this
// copy from its subject.created / subject.updated events.
type Subject struct {
	Organization string   `json:"organization" bson:"organization"`
	Name         string   `json:"name" bson:"name"`
	Version      int64    `json:"version" bson:"version"`
	DisplayName  string   `json:"display_name" bson:"display_name"`
	Keys         []string `json:"keys" bson:"keys"`
}

type orgKey struct{ org, key string }

// Index is safe for concurrent use.
type Index struct {
	mu        sync.RWMutex
	byKey     map[orgKey][]string           // identifier key -> subject names
	subjects  map[orgKey]Subject            // subject name -> subject
	bySubject map[orgKey][]*domain.Compiled // subject name -> restrictions in force
	byID      map[string]*domain.Compiled   // restriction id -> compiled
	entries   map[string]Entry              // restriction id -> entry (in force only)
	versions  map[string]int64              // restriction id -> newest version seen
	subjVers  map[orgKey]int64              // subject -> newest version seen
}

// New returns an empty index.
func New() *Index {
	x := &Index{}
	x.reset()
	return x
}

func (x *Index) reset() {
	x.byKey = map[orgKey][]string{}
	x.subjects = map[orgKey]Subject{}
	x.bySubject = map[orgKey][]*domain.Compiled{}
	x.byID = map[string]*domain.Compiled{}
	x.entries = map[string]Entry{}
	x.versions = map[string]int64{}
	x.subjVers = map[orgKey]int64{}
}

// Lookup appends to buf the restrictions in force for the subjects whose
// identifier is key in org. Another organisation's restrictions are never
// returned: the organisation is part of every key.
func (x *Index) Lookup(org, key string, buf []*domain.Compiled) []*domain.Compiled {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, subject := range x.byKey[orgKey{org, key}] {
		buf = append(buf, x.bySubject[orgKey{org, subject}]...)
	}
	return buf
}

// SubjectOf returns the subject of org named name, if known.
func (x *Index) SubjectOf(org, name string) (Subject, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	s, ok := x.subjects[orgKey{org, name}]
	return s, ok
}

// Len returns the number of restrictions in force and of subjects held.
func (x *Index) Len() (restrictions, subjects int) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.byID), len(x.subjects)
}

// PutRestriction applies a restriction's newest state; older versions than
// one already seen are ignored (the feed may deliver out of order). It
// reports whether the index changed.
func (x *Index) PutRestriction(e Entry) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.putRestriction(e)
}

func (x *Index) putRestriction(e Entry) bool {
	if x.versions[e.ID] >= e.Version {
		return false
	}
	x.versions[e.ID] = e.Version
	if old, ok := x.byID[e.ID]; ok {
		k := orgKey{old.Organization, old.Subject}
		x.bySubject[k] = slices.DeleteFunc(slices.Clone(x.bySubject[k]), func(c *domain.Compiled) bool { return c.ID == e.ID })
		if len(x.bySubject[k]) == 0 {
			delete(x.bySubject, k)
		}
		delete(x.byID, e.ID)
		delete(x.entries, e.ID)
	}
	c := e.compile()
	if c == nil {
		return true
	}
	x.byID[e.ID] = c
	x.entries[e.ID] = e
	k := orgKey{e.Organization, e.Subject}
	// Copy on write: a Lookup may still hold the old slice.
	x.bySubject[k] = append(slices.Clone(x.bySubject[k]), c)
	return true
}

// PutSubject applies a subject's newest identifiers.
func (x *Index) PutSubject(s Subject) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.putSubject(s)
}

func (x *Index) putSubject(s Subject) bool {
	sk := orgKey{s.Organization, s.Name}
	if x.subjVers[sk] >= s.Version {
		return false
	}
	x.subjVers[sk] = s.Version
	if old, ok := x.subjects[sk]; ok {
		for _, key := range old.Keys {
			k := orgKey{s.Organization, key}
			x.byKey[k] = slices.DeleteFunc(slices.Clone(x.byKey[k]), func(n string) bool { return n == s.Name })
			if len(x.byKey[k]) == 0 {
				delete(x.byKey, k)
			}
		}
	}
	x.subjects[sk] = s
	for _, key := range s.Keys {
		k := orgKey{s.Organization, key}
		if !slices.Contains(x.byKey[k], s.Name) {
			x.byKey[k] = append(slices.Clone(x.byKey[k]), s.Name)
		}
	}
	return true
}

// Replace swaps the whole content for a fresh load (at start and after the
// feed was interrupted, when changes may have been missed).
func (x *Index) Replace(entries []Entry, subjects []Subject) {
	fresh := New()
	for _, s := range subjects {
		fresh.putSubject(s)
	}
	for _, e := range entries {
		fresh.putRestriction(e)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	// A change the feed delivered while the load ran may be newer than
	// what the load read: keep the newer.
	for id, v := range x.versions {
		if fresh.versions[id] >= v {
			continue
		}
		if e, ok := x.entries[id]; ok {
			fresh.putRestriction(e)
		} else {
			fresh.putRestriction(Entry{ID: id, Version: v, State: domain.StateLifted}) // no longer in force
		}
	}
	for sk, v := range x.subjVers {
		if fresh.subjVers[sk] < v {
			if s, ok := x.subjects[sk]; ok {
				fresh.subjVers[sk] = 0
				fresh.putSubject(s)
			}
		}
	}
	x.byKey, x.subjects, x.bySubject, x.byID, x.entries = fresh.byKey, fresh.subjects, fresh.bySubject, fresh.byID, fresh.entries
	x.versions, x.subjVers = fresh.versions, fresh.subjVers
}
