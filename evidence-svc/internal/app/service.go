// Package app holds evidence-svc's use cases: it checks who may do what
// (the organisation's policy profile, and the caller's relation to the
// item's incident, restriction or public-naming case, asked of the services
// that own them), seals and hashes content on its way into GridFS, records
// every access, and runs retention.
package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/contactguard/contactguard/evidence-svc/internal/domain"
	"github.com/contactguard/contactguard/evidence-svc/internal/seal"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/policy"
)

// EventStore records and loads evidence events (the record of every item
// and of each retention step).
type EventStore interface {
	Append(ctx context.Context, e eventlog.Event) error
	Load(ctx context.Context, aggregateID string) ([]eventlog.Event, error)
}

// ReadModel keeps the current state of items for queries. It is derived
// from the events and can be rebuilt from them.
type ReadModel interface {
	Save(ctx context.Context, it domain.Item) error
	List(ctx context.Context, q Query) ([]domain.Item, string, error)
	// Due returns items marked for deletion whose delete_after has passed.
	Due(ctx context.Context, now time.Time, limit int) ([]domain.Item, error)
	// Deleted returns the file ids of every tombstone.
	DeletedFileIDs(ctx context.Context) (map[string]string, error)
}

// Query selects items of one organisation. Empty fields do not filter.
type Query struct {
	Organization string
	// Visible, when set, restricts the result to items matching any of its
	// clauses (the caller's need to know); nil means the whole organisation.
	Visible      *Visibility
	Incident     string
	Restriction  string
	PublicNaming string
	Kind         string
	State        string
	PageSize     int
	PageToken    string
}

// Visibility lists what makes an item visible to a caller without the
// organisation-wide role.
type Visibility struct {
	Uploader      string
	Incidents     []string
	Restrictions  []string
	PublicNamings []string
}

// ContentStore keeps sealed content in GridFS.
type ContentStore interface {
	// Create starts storing the content of itemID; the upload is recorded as
	// pending until Commit or Abort, so a crash leaves something to sweep.
	Create(ctx context.Context, itemID, org string) (ContentWriter, error)
	Open(ctx context.Context, fileID string) (ContentReader, error)
	// Delete removes a file and its chunks; a missing file is not an error.
	Delete(ctx context.Context, fileID string) error
	// StalePending lists uploads still pending that started before t.
	StalePending(ctx context.Context, before time.Time) ([]PendingUpload, error)
	DropPending(ctx context.Context, fileID string) error
	// FileIDs lists every stored file's id.
	FileIDs(ctx context.Context) ([]string, error)
	// SetEnvelope replaces the wrapped data key of a file (key rotation).
	SetEnvelope(ctx context.Context, fileID string, e seal.Envelope) error
	// Envelopes lists every file's id and envelope.
	Envelopes(ctx context.Context) (map[string]seal.Envelope, error)
}

// ContentWriter receives sealed bytes.
type ContentWriter interface {
	io.Writer
	FileID() string
	// Commit writes the file document: the content is complete.
	Commit(ctx context.Context, info FileInfo) error
	// Abort deletes whatever was written.
	Abort(ctx context.Context) error
}

// ContentReader yields a file's sealed bytes in order.
type ContentReader interface {
	io.Reader
	Info() FileInfo
	Close(ctx context.Context) error
}

// FileInfo is what the GridFS file document holds besides the chunks.
type FileInfo struct {
	FileID       string
	ItemID       string
	Organization string
	Scheme       string
	Envelope     seal.Envelope
	NoncePrefix  []byte
	PlainSize    int64
	SealedSize   int64
	ChunkSize    int64
}

// PendingUpload is an upload that has not been committed or aborted.
type PendingUpload struct {
	FileID       string
	ItemID       string
	Organization string
	Started      time.Time
}

// AccessLog records and lists accesses.
type AccessLog interface {
	Record(ctx context.Context, recs ...domain.AccessRecord) error
	List(ctx context.Context, q AccessQuery) ([]domain.AccessRecord, string, error)
}

// AccessQuery selects access records of one organisation.
type AccessQuery struct {
	Organization string
	Evidence     string // item id; "" for every item
	Actor        string
	From, To     time.Time
	PageSize     int
	PageToken    string
}

// Verifications keeps the last verification of each item.
type Verifications interface {
	Save(ctx context.Context, v domain.Verification) error
	Get(ctx context.Context, itemIDs []string) (map[string]domain.Verification, error)
}

// Links asks the services owning an item's links about them, acting as the
// caller (their signed identity is forwarded): incident-svc answers NotFound
// for another organisation's incident and PermissionDenied to staff who may
// not read it.
type Links interface {
	Incident(ctx context.Context, name string) (IncidentFacts, error)
	Restriction(ctx context.Context, name string) (RestrictionFacts, error)
	PublicNaming(ctx context.Context, name string) (NamingFacts, error)
	// IncidentsOf lists the incidents staffID reported or is involved in.
	IncidentsOf(ctx context.Context, staffID string) ([]string, error)
	// LineManagerOf returns the staff id of staffID's line manager in the
	// staff directory ("" if none is recorded).
	LineManagerOf(ctx context.Context, staffID string) (string, error)
}

// IncidentFacts are the parts of an incident that decide access.
type IncidentFacts struct {
	Reporter      string
	StaffInvolved []string
	Reviewer      string // "" until the manager review is recorded
}

// RestrictionFacts are the parts of a restriction that decide access and
// retention. State is lower case ("active", "lifted", "expired", ...).
type RestrictionFacts struct {
	State          string
	AppealOfficers []string
	Decider        string // "" until decided
}

// NamingFacts are the parts of a staff-named-publicly case that decide access.
type NamingFacts struct {
	Reporter    string
	StaffMember string
}

// UnavailableError says a linked resource could not be checked because its
// service did not answer or does not offer the method yet.
type UnavailableError struct {
	Service string // e.g. "restriction-svc"
	Name    string // e.g. "restrictions/abc"
	Reason  string // e.g. "Unimplemented: method GetRestriction not implemented"
	// NotBuilt is true when the service answered Unimplemented.
	NotBuilt bool
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%s could not check %s (%s)", e.Service, e.Name, e.Reason)
}

// Unwrap makes it an apperr Unavailable.
func (e *UnavailableError) Unwrap() error { return apperr.ErrUnavailable }

// DamagedError says an item's stored content fails its checks.
type DamagedError struct {
	Name    string
	Problem string
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("%s is damaged: %s; its content cannot be served (run verify)", e.Name, e.Problem)
}

// Config holds the service's settings.
type Config struct {
	MaxBytes int64         // largest content accepted
	Keys     *seal.Keyring // master keys
	Logger   *slog.Logger
}

// Service runs the evidence use cases.
type Service struct {
	events        EventStore
	items         ReadModel
	content       ContentStore
	access        AccessLog
	verifications Verifications
	links         Links
	keys          *seal.Keyring
	maxBytes      int64
	logger        *slog.Logger
	now           func() time.Time
}

// New returns the service.
func New(cfg Config, events EventStore, items ReadModel, content ContentStore, access AccessLog, verifications Verifications, links Links) *Service {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{
		events: events, items: items, content: content, access: access, verifications: verifications, links: links,
		keys: cfg.Keys, maxBytes: cfg.MaxBytes, logger: logger, now: time.Now,
	}
}

// SetClock replaces the clock (tests of retention).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

func profileOf(who identity.Identity) (policy.Profile, error) {
	p, ok := policy.For(who.Organization)
	if !ok {
		return policy.Profile{}, apperr.Denied("organisation %q has no policy profile in this deployment", who.Organization)
	}
	return p, nil
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// newID returns a random id, or, for a request id, the same id every time,
// so a retried upload finds the item its first attempt stored.
func newID(org, uploader, requestID string) string {
	var b [10]byte
	if requestID == "" {
		_, _ = rand.Read(b[:])
	} else {
		sum := sha256.Sum256([]byte(org + "\x00" + uploader + "\x00" + requestID))
		copy(b[:], sum[:])
	}
	return idEncoding.EncodeToString(b[:])
}

func newRecordID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}

// load returns an item from its events (the record, never stale); another
// organisation's item is reported as missing.
func (s *Service) load(ctx context.Context, who identity.Identity, id string) (domain.Item, []eventlog.Event, error) {
	events, err := s.events.Load(ctx, id)
	if err != nil {
		return domain.Item{}, nil, err
	}
	if len(events) == 0 || events[0].Organization != who.Organization {
		return domain.Item{}, nil, apperr.NotFound("evidence evidence/%s not found", id)
	}
	it, err := domain.Fold(events)
	return it, events, err
}

// save updates the read model. The event is already the record, so a
// failure here is repaired at the next start (Rebuild) rather than failing
// a change that has been made.
func (s *Service) save(ctx context.Context, it domain.Item) {
	if err := s.items.Save(context.WithoutCancel(ctx), it); err != nil {
		s.logger.WarnContext(ctx, "read model not updated; repaired at next start", "evidence", it.ID, "error", err)
	}
}

// record writes access records. Reads are refused when they cannot be
// recorded: an unrecorded access must not happen (C76).
func (s *Service) record(ctx context.Context, recs ...domain.AccessRecord) error {
	now := s.now().UTC().Truncate(time.Millisecond)
	for i := range recs {
		recs[i].ID = newRecordID()
		recs[i].Time = now
	}
	if err := s.access.Record(context.WithoutCancel(ctx), recs...); err != nil {
		return fmt.Errorf("record access: %w", err)
	}
	return nil
}

func accessRecord(who identity.Identity, it domain.Item, action string, err error) domain.AccessRecord {
	r := domain.AccessRecord{Organization: it.Organization, Evidence: it.ID, Actor: who.StaffID, Action: action, Granted: err == nil}
	if err != nil {
		r.DenialReason = err.Error()
	}
	return r
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
		it, err := domain.Fold(events)
		if err != nil {
			return n, err
		}
		if err := s.items.Save(ctx, it); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
