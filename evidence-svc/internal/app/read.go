package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/contactguard/contactguard/evidence-svc/internal/domain"
	"github.com/contactguard/contactguard/evidence-svc/internal/seal"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/policy"
)

// View is an item as shown: its metadata and its last verification.
type View struct {
	Item             domain.Item
	LastVerification *domain.Verification
}

func (s *Service) view(ctx context.Context, it domain.Item) (View, error) {
	v, err := s.verifications.Get(ctx, []string{it.ID})
	if err != nil {
		return View{}, err
	}
	out := View{Item: it}
	if x, ok := v[it.ID]; ok {
		out.LastVerification = &x
	}
	return out, nil
}

// Get returns an item's metadata (never a preview of its content) to a
// caller who may read it, and records the read, allowed or not.
func (s *Service) Get(ctx context.Context, who identity.Identity, id string) (View, error) {
	p, err := profileOf(who)
	if err != nil {
		return View{}, err
	}
	it, _, err := s.load(ctx, who, id)
	if err != nil {
		return View{}, err
	}
	authErr := s.authorize(ctx, p, who, it)
	if err := s.record(ctx, accessRecord(who, it, domain.ActionMetadataRead, authErr)); err != nil {
		return View{}, err
	}
	if authErr != nil {
		return View{}, authErr
	}
	return s.view(ctx, it)
}

// List returns a page of the items the caller may read, newest first, and
// records a metadata read of each item listed.
func (s *Service) List(ctx context.Context, who identity.Identity, q Query) ([]View, string, error) {
	p, err := profileOf(who)
	if err != nil {
		return nil, "", err
	}
	switch {
	case q.PageSize < 0 || q.PageSize > 500:
		return nil, "", apperr.Invalid("page_size", "must be between 0 and 500, got %d", q.PageSize)
	case q.PageSize == 0:
		q.PageSize = 50
	}
	q.Organization = who.Organization
	q.Visible = nil
	if !domain.ReadsWholeOrganisation(p, who) {
		if q.Visible, err = s.visibility(ctx, p, who, q); err != nil {
			return nil, "", err
		}
	}
	items, next, err := s.items.List(ctx, q)
	if err != nil {
		return nil, "", err
	}
	if len(items) == 0 {
		return nil, next, nil
	}
	ids := make([]string, len(items))
	recs := make([]domain.AccessRecord, len(items))
	for i, it := range items {
		ids[i] = it.ID
		recs[i] = accessRecord(who, it, domain.ActionMetadataRead, nil)
	}
	if err := s.record(ctx, recs...); err != nil {
		return nil, "", err
	}
	verified, err := s.verifications.Get(ctx, ids)
	if err != nil {
		return nil, "", err
	}
	out := make([]View, len(items))
	for i, it := range items {
		out[i] = View{Item: it}
		if v, ok := verified[it.ID]; ok {
			out[i].LastVerification = &v
		}
	}
	return out, next, nil
}

// visibility finds what a caller without the organisation-wide role may
// list: what they uploaded, the items of incidents they reported or are
// involved in, and, when the list is asked for one incident, restriction
// or case, its items if they hold a reading relation to it (a reviewer or
// the reporter's line manager lists an incident's items this way).
func (s *Service) visibility(ctx context.Context, p policy.Profile, who identity.Identity, q Query) (*Visibility, error) {
	v := &Visibility{}
	if domain.Grants(p, domain.RelUploader) {
		v.Uploader = who.StaffID
	}
	if domain.GrantsAny(p, domain.IncidentRelations) {
		if q.Incident != "" {
			// One incident: ask about it alone.
			probe := domain.Item{Organization: who.Organization, Draft: domain.Draft{Incident: q.Incident}}
			if s.authorize(ctx, p, who, probe) == nil {
				v.Incidents = []string{q.Incident}
			}
		} else {
			names, err := s.links.IncidentsOf(ctx, who.StaffID)
			if err != nil {
				if _, ok := errors.AsType[*UnavailableError](err); ok {
					return nil, &apperr.Error{Kind: apperr.ErrUnavailable, Message: "cannot list evidence now: " + err.Error()}
				}
				return nil, err
			}
			v.Incidents = names
		}
	}
	if q.Restriction != "" {
		probe := domain.Item{Organization: who.Organization, Draft: domain.Draft{Restriction: q.Restriction}}
		if s.authorize(ctx, p, who, probe) == nil {
			v.Restrictions = []string{q.Restriction}
		}
	}
	if q.PublicNaming != "" {
		probe := domain.Item{Organization: who.Organization, Draft: domain.Draft{PublicNaming: q.PublicNaming}}
		if s.authorize(ctx, p, who, probe) == nil {
			v.PublicNamings = []string{q.PublicNaming}
		}
	}
	return v, nil
}

// Download returns an item's metadata and a reader of its content to a
// caller who may read it. A distressing item needs the acknowledgement
// (C75). Every attempt is recorded, with the acknowledgement. The reader
// checks every segment as it goes and the hash and size at the end; it
// fails with a DamagedError rather than serve altered content unnoticed.
func (s *Service) Download(ctx context.Context, who identity.Identity, id string, acknowledged bool) (View, io.ReadCloser, error) {
	p, err := profileOf(who)
	if err != nil {
		return View{}, nil, err
	}
	it, _, err := s.load(ctx, who, id)
	if err != nil {
		return View{}, nil, err
	}
	refusal := s.authorize(ctx, p, who, it)
	switch {
	case refusal != nil:
	case !it.HasContent():
		refusal = apperr.Precondition("%s was deleted on %s after its retention period; only its tombstone (hash %s) remains", it.Name(), it.DeleteTime.UTC().Format("2006-01-02"), it.SHA256)
	case it.Distressing && !acknowledged:
		refusal = apperr.Precondition("%s is marked distressing (C75): it opens only with an explicit acknowledgement. "+
			"Download it again with acknowledge_distressing=true (REST: ?acknowledgeDistressing=true) once you are ready to see distressing material; "+
			"support is available from your line manager and the employee assistance programme", it.Name())
	}
	rec := accessRecord(who, it, domain.ActionDownload, refusal)
	rec.AcknowledgedDistressing = acknowledged
	if err := s.record(ctx, rec); err != nil {
		return View{}, nil, err
	}
	if refusal != nil {
		return View{}, nil, refusal
	}
	v, err := s.view(ctx, it)
	if err != nil {
		return View{}, nil, err
	}
	r, err := s.openPlain(ctx, it)
	if err != nil {
		return View{}, nil, err
	}
	return v, r, nil
}

// openPlain opens an item's content for reading as plaintext.
func (s *Service) openPlain(ctx context.Context, it domain.Item) (*plainReader, error) {
	cr, err := s.content.Open(ctx, it.FileID)
	if err != nil {
		if errors.Is(err, apperr.ErrNotFound) {
			return nil, &DamagedError{Name: it.Name(), Problem: "its stored content is missing"}
		}
		return nil, err
	}
	info := cr.Info()
	dataKey, err := s.keys.Unwrap([]byte(it.FileID), info.Envelope)
	if err != nil {
		_ = cr.Close(context.WithoutCancel(ctx))
		if errors.Is(err, seal.ErrUnknownKey) {
			return nil, fmt.Errorf("%s: %w", it.Name(), err) // a configuration fault: Internal, logged
		}
		return nil, &DamagedError{Name: it.Name(), Problem: err.Error()}
	}
	sr, err := seal.NewReader(cr, dataKey, info.NoncePrefix, []byte(it.FileID), info.SealedSize)
	clear(dataKey)
	if err != nil {
		_ = cr.Close(context.WithoutCancel(ctx))
		return nil, &DamagedError{Name: it.Name(), Problem: err.Error()}
	}
	return &plainReader{ctx: ctx, it: it, src: sr, closer: cr, hash: sha256.New(), chunkSize: info.ChunkSize}, nil
}

// plainReader yields plaintext, turning every integrity failure into a
// DamagedError, and checks size and hash at the end.
type plainReader struct {
	ctx       context.Context
	it        domain.Item
	src       io.Reader
	closer    ContentReader
	hash      hash.Hash
	n         int64
	chunkSize int64
}

func (r *plainReader) Read(p []byte) (int, error) {
	n, err := r.src.Read(p)
	r.hash.Write(p[:n])
	r.n += int64(n)
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, io.EOF):
		if r.n != r.it.Size {
			return n, &DamagedError{Name: r.it.Name(), Problem: fmt.Sprintf("it holds %d bytes, %d were stored", r.n, r.it.Size)}
		}
		if got := hex.EncodeToString(r.hash.Sum(nil)); got != r.it.SHA256 {
			return n, &DamagedError{Name: r.it.Name(), Problem: fmt.Sprintf("its SHA-256 is %s, %s was taken at upload", got, r.it.SHA256)}
		}
		return n, io.EOF
	}
	if se, ok := errors.AsType[*seal.SegmentError](err); ok {
		problem := se.Error()
		if r.chunkSize > 0 {
			problem = fmt.Sprintf("segment %d (GridFS chunk %d) fails authentication: the stored content was altered or damaged", se.Index, se.Offset/r.chunkSize)
		}
		return n, &DamagedError{Name: r.it.Name(), Problem: problem}
	}
	if errors.Is(err, seal.ErrTruncated) || errors.Is(err, seal.ErrTrailing) || errors.Is(err, apperr.ErrNotFound) {
		return n, &DamagedError{Name: r.it.Name(), Problem: err.Error()}
	}
	if d, ok := errors.AsType[*DamagedError](err); ok {
		return n, d
	}
	return n, err
}

func (r *plainReader) Close() error { return r.closer.Close(context.WithoutCancel(r.ctx)) }

// Verify checks one item's stored content against the hash taken at
// upload. Those who may read the item and auditors may verify it.
func (s *Service) Verify(ctx context.Context, who identity.Identity, id string) (domain.Verification, error) {
	p, err := profileOf(who)
	if err != nil {
		return domain.Verification{}, err
	}
	it, _, err := s.load(ctx, who, id)
	if err != nil {
		return domain.Verification{}, err
	}
	refusal := domain.CanReadAccessLog(p, who)
	if refusal != nil {
		refusal = s.authorize(ctx, p, who, it)
	}
	if refusal == nil && !it.HasContent() {
		refusal = apperr.Precondition("%s was deleted after its retention period; its tombstone keeps the hash %s", it.Name(), it.SHA256)
	}
	if err := s.record(ctx, accessRecord(who, it, domain.ActionVerify, refusal)); err != nil {
		return domain.Verification{}, err
	}
	if refusal != nil {
		return domain.Verification{}, refusal
	}
	return s.verify(ctx, it)
}

// verify reads an item's content through every check and saves the result.
func (s *Service) verify(ctx context.Context, it domain.Item) (domain.Verification, error) {
	v := domain.Verification{Evidence: it.ID, Organization: it.Organization, Expected: it.SHA256, Time: s.now().UTC()}
	r, err := s.openPlain(ctx, it)
	if err == nil {
		_, err = io.Copy(io.Discard, r)
		if err == nil {
			v.Intact, v.Actual = true, hex.EncodeToString(r.hash.Sum(nil))
		}
		_ = r.Close()
	}
	if err != nil {
		d, ok := errors.AsType[*DamagedError](err)
		if !ok {
			return domain.Verification{}, err
		}
		v.Problem = d.Problem
	}
	if err := s.verifications.Save(context.WithoutCancel(ctx), v); err != nil {
		return domain.Verification{}, err
	}
	return v, nil
}

// VerifyAllResult sums up a verification of many items.
type VerifyAllResult struct {
	Checked  int64
	Failures []domain.Verification
}

// VerifyAll verifies every item of the caller's organisation that still
// has content (auditors and organisation-wide readers).
func (s *Service) VerifyAll(ctx context.Context, who identity.Identity) (VerifyAllResult, error) {
	p, err := profileOf(who)
	if err != nil {
		return VerifyAllResult{}, err
	}
	if err := domain.CanVerifyAll(p, who); err != nil {
		return VerifyAllResult{}, err
	}
	return s.VerifyStored(ctx, who.Organization, who.StaffID)
}

// VerifyStored verifies every item with content of org ("" for every
// organisation: the verify command), recording each check as done by actor.
func (s *Service) VerifyStored(ctx context.Context, org, actor string) (VerifyAllResult, error) {
	var res VerifyAllResult
	q := Query{Organization: org, PageSize: 100}
	for {
		items, next, err := s.items.List(ctx, q)
		if err != nil {
			return res, err
		}
		for _, it := range items {
			if !it.HasContent() {
				continue
			}
			v, err := s.verify(ctx, it)
			if err != nil {
				return res, err
			}
			res.Checked++
			if !v.Intact {
				res.Failures = append(res.Failures, v)
			}
			rec := domain.AccessRecord{Organization: it.Organization, Evidence: it.ID, Actor: actor, Action: domain.ActionVerify, Granted: true}
			if err := s.record(ctx, rec); err != nil {
				return res, err
			}
		}
		if next == "" {
			return res, nil
		}
		q.PageToken = next
	}
}

// ListAccess returns access records to auditors: of one item, or of every
// item with id "-".
func (s *Service) ListAccess(ctx context.Context, who identity.Identity, id string, q AccessQuery) ([]domain.AccessRecord, string, error) {
	p, err := profileOf(who)
	if err != nil {
		return nil, "", err
	}
	if err := domain.CanReadAccessLog(p, who); err != nil {
		return nil, "", err
	}
	switch {
	case q.PageSize < 0 || q.PageSize > 500:
		return nil, "", apperr.Invalid("page_size", "must be between 0 and 500, got %d", q.PageSize)
	case q.PageSize == 0:
		q.PageSize = 100
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return nil, "", apperr.Invalid("end_time", "must be after start_time")
	}
	q.Organization = who.Organization
	q.Evidence = ""
	if id != "-" {
		if _, _, err := s.load(ctx, who, id); err != nil {
			return nil, "", err
		}
		q.Evidence = id
	}
	return s.access.List(ctx, q)
}

// VerifyItem verifies one item of any organisation for an operator
// command (no caller; recorded as done by actor).
func (s *Service) VerifyItem(ctx context.Context, id, actor string) (domain.Verification, error) {
	events, err := s.events.Load(ctx, id)
	if err != nil {
		return domain.Verification{}, err
	}
	if len(events) == 0 {
		return domain.Verification{}, apperr.NotFound("evidence evidence/%s not found", id)
	}
	it, err := domain.Fold(events)
	if err != nil {
		return domain.Verification{}, err
	}
	if !it.HasContent() {
		return domain.Verification{}, apperr.Precondition("%s was deleted after its retention period; its tombstone keeps the hash %s", it.Name(), it.SHA256)
	}
	v, err := s.verify(ctx, it)
	if err != nil {
		return v, err
	}
	rec := domain.AccessRecord{Organization: it.Organization, Evidence: it.ID, Actor: actor, Action: domain.ActionVerify, Granted: true}
	return v, s.record(ctx, rec)
}
