package app

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/contactid"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/policy"
	"github.com/contactguard/contactguard/restriction-svc/internal/domain"
	"github.com/contactguard/contactguard/restriction-svc/internal/index"
)

// Counters counts contacts for volume limits (Redis INCR with expiry).
type Counters interface {
	// Counts returns the current count of each key.
	Counts(ctx context.Context, counters []domain.Counter) ([]int64, error)
	// Add counts one contact on each counter, once per requestID (when
	// given), and returns the counts after it.
	Add(ctx context.Context, counters []domain.Counter, org, requestID string, now time.Time) ([]int64, error)
}

// CheckRequest is one contact check or record.
type CheckRequest struct {
	Organization string
	Channel      string
	Identifier   string
	StaffID      string
	Time         time.Time
	RequestID    string
}

// RecordResult is the answer of RecordContact.
type RecordResult struct {
	Limited      bool
	Count        int64
	MaxContacts  int
	LimitReached bool
}

// Checker answers the real-time contact check from memory: the index of
// restrictions in force, the change feed's health, and, only for subjects
// with volume limits, the Redis counters.
type Checker struct {
	index    *index.Index
	counters Counters
	healthy  func() bool
	failMode string
	timeout  time.Duration
	now      func() time.Time
	norm     normCache
	bufs     sync.Pool
}

// NewChecker returns a checker. healthy reports whether the index is known
// to be current (the change feed is connected); failMode is what the check
// answers for what it cannot know (domain.FailAllow or FailAutomated).
func NewChecker(idx *index.Index, counters Counters, healthy func() bool, failMode string, storeTimeout time.Duration) *Checker {
	c := &Checker{index: idx, counters: counters, healthy: healthy, failMode: failMode, timeout: storeTimeout, now: time.Now}
	c.norm.init()
	c.bufs.New = func() any { b := make([]*domain.Compiled, 0, 8); return &b }
	return c
}

// SetClock replaces the clock (tests).
func (c *Checker) SetClock(now func() time.Time) { c.now = now }

// mayCheck: machine clients (role telephony) and staff of the organisation
// may check; nobody may check another organisation's contacts.
func mayCheck(who identity.Identity, org string) (string, error) {
	if _, ok := policy.For(who.Organization); !ok {
		return "", apperr.Denied("organisation %q has no policy profile in this deployment", who.Organization)
	}
	if org == "" {
		org = who.Organization
	}
	if org != who.Organization {
		return "", apperr.Denied("organization: you may only check contacts with your own organisation (%s)", who.Organization)
	}
	if !who.HasAnyRole(RoleTelephony, "staff") {
		return "", apperr.Denied("only the telephony system and staff may check contacts")
	}
	return org, nil
}

func (c *Checker) prepare(who identity.Identity, req *CheckRequest) (string, error) {
	org, err := mayCheck(who, req.Organization)
	if err != nil {
		return "", err
	}
	req.Organization = org
	switch {
	case req.Channel == "":
		return "", apperr.Invalid("channel", "say through which channel the contact comes")
	case !validChannel(req.Channel):
		return "", apperr.Invalid("channel", "unknown channel %q", req.Channel)
	}
	if req.Time.IsZero() {
		req.Time = c.now()
	}
	if req.StaffID != "" && len(req.StaffID) > 64 {
		return "", apperr.Invalid("staff_id", "is not a staff id")
	}
	return c.norm.key(domain.IdentifierKind(req.Channel, req.Identifier), req.Identifier)
}

func validChannel(ch string) bool {
	for _, c := range domain.Channels {
		if c == ch {
			return true
		}
	}
	return false
}

// Check answers what treatment a contact gets. A caller without
// restrictions costs a normalisation (cached) and one map lookup.
func (c *Checker) Check(ctx context.Context, who identity.Identity, req CheckRequest) (domain.Answer, error) {
	key, err := c.prepare(who, &req)
	if err != nil {
		return domain.Answer{}, err
	}
	bp := c.bufs.Get().(*[]*domain.Compiled)
	defer func() { *bp = (*bp)[:0]; c.bufs.Put(bp) }()
	list := c.index.Lookup(req.Organization, key, *bp)
	*bp = list
	healthy := c.healthy()
	if len(list) == 0 {
		if !healthy {
			return c.failAnswer(), nil
		}
		return domain.Allow, nil
	}
	ct := domain.Contact{Organization: req.Organization, Channel: req.Channel, StaffID: req.StaffID, Time: req.Time}
	counters := domain.Counters(list, req.Channel, req.Time)
	var counts []int64
	countsOK := true
	if len(counters) > 0 {
		cctx, cancel := context.WithTimeout(ctx, c.timeout)
		counts, err = c.counters.Counts(cctx, counters)
		cancel()
		countsOK = err == nil
	}
	a := domain.Evaluate(list, ct, counters, counts, countsOK, c.failMode)
	if !healthy {
		a.Degraded = true
		if a.Treatment == domain.TreatAllow && c.failMode == domain.FailAutomated {
			a.Treatment = domain.TreatAutomatedService
		}
	}
	return a, nil
}

func (c *Checker) failAnswer() domain.Answer {
	if c.failMode == domain.FailAutomated {
		return domain.Answer{Treatment: domain.TreatAutomatedService, Degraded: true}
	}
	return domain.Answer{Treatment: domain.TreatAllow, Degraded: true}
}

// Record counts a contact towards the volume limits that apply to it, once
// per request id. Contacts of callers without a volume limit are not counted.
func (c *Checker) Record(ctx context.Context, who identity.Identity, req CheckRequest) (RecordResult, error) {
	key, err := c.prepare(who, &req)
	if err != nil {
		return RecordResult{}, err
	}
	if len(req.RequestID) > 100 {
		return RecordResult{}, apperr.Invalid("request_id", "at most 100 characters")
	}
	list := c.index.Lookup(req.Organization, key, nil)
	counters := domain.Counters(list, req.Channel, req.Time)
	if len(counters) == 0 {
		return RecordResult{}, nil
	}
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	counts, err := c.counters.Add(cctx, counters, req.Organization, req.RequestID, c.now())
	if err != nil {
		return RecordResult{}, &apperr.Error{Kind: apperr.ErrUnavailable, Message: "the contact could not be counted: the counter store does not answer; try again"}
	}
	// Report the tightest limit: the one with the fewest contacts left.
	res := RecordResult{Limited: true}
	best := int64(-1)
	for i, ctr := range counters {
		left := int64(ctr.MaxContacts) - counts[i]
		if best < 0 || left < best {
			best = left
			res.Count, res.MaxContacts = counts[i], ctr.MaxContacts
		}
		if counts[i] >= int64(ctr.MaxContacts) {
			res.LimitReached = true
		}
	}
	return res, nil
}

// normCache remembers the normal form of identifiers as written: parsing a
// phone number costs about 15 µs, a map lookup well under one. It holds at
// most normCacheMax entries and starts afresh when full.
type normCache struct {
	m atomic.Pointer[sync.Map]
	n atomic.Int64
}

const normCacheMax = 200_000

var badIdentifier = map[string]string{
	contactid.Phone:  "is not a phone number (write it as 01463 702000 or +44 1463 702000)",
	contactid.Email:  "is not an e-mail address",
	contactid.Social: "is not a social media handle (write it as platform:handle, e.g. x:@someone)",
	contactid.Postal: "is not a postal address",
}

func (n *normCache) init() { n.m.Store(&sync.Map{}) }

type normResult struct {
	key string
	err error
}

func (n *normCache) key(kind, raw string) (string, error) {
	ck := kind + "\x00" + raw
	m := n.m.Load()
	if v, ok := m.Load(ck); ok {
		r := v.(normResult)
		return r.key, r.err
	}
	v, err := contactid.Normalize(kind, raw)
	var r normResult
	if err != nil {
		// Not repeating the value: refusals are logged, numbers are personal data.
		r.err = apperr.Invalid("identifier", "%s", badIdentifier[kind])
	} else {
		r.key = contactid.Key(kind, v)
	}
	if n.n.Add(1) > normCacheMax {
		n.m.Store(&sync.Map{})
		n.n.Store(0)
	}
	m.Store(ck, r)
	return r.key, r.err
}
