package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/contactguard/contactguard/evidence-svc/internal/domain"
	"github.com/contactguard/contactguard/evidence-svc/internal/seal"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/identity"
)

// copyBufferSize is the read size while streaming content through.
const copyBufferSize = 256 << 10

// Upload stores a new item: it checks the metadata and the caller's right
// to the linked records, then streams content through the type check, the
// hash and the sealing into GridFS. Nothing is kept unless every step
// succeeds: on any failure the partial file is deleted, and a crash leaves
// a pending record that the next sweep removes. With a request id, a retry
// returns the item the first attempt stored.
func (s *Service) Upload(ctx context.Context, who identity.Identity, d domain.Draft, requestID string, content io.Reader) (domain.Item, error) {
	p, err := profileOf(who)
	if err != nil {
		return domain.Item{}, err
	}
	now := s.now()
	if err := d.Validate("evidence", who.StaffID, now); err != nil {
		return domain.Item{}, err
	}
	if len(requestID) > 100 {
		return domain.Item{}, apperr.Invalid("request_id", "at most 100 characters")
	}
	id := newID(who.Organization, who.StaffID, requestID)
	if requestID != "" {
		if it, ok, err := s.existing(ctx, who, id); err != nil || ok {
			return it, err
		}
	}
	if err := s.checkLinks(ctx, p, d); err != nil {
		return domain.Item{}, err
	}

	w, err := s.content.Create(ctx, id, who.Organization)
	if err != nil {
		return domain.Item{}, err
	}
	c, err := s.store(ctx, w, id, who.Organization, content)
	if err != nil {
		if aerr := w.Abort(context.WithoutCancel(ctx)); aerr != nil {
			s.logger.ErrorContext(ctx, "partial upload not deleted; the sweep will remove it", "file", w.FileID(), "error", aerr)
		}
		return domain.Item{}, err
	}

	e, err := domain.Upload(id, who.Organization, who.StaffID, d, c, s.now())
	if err == nil {
		err = s.events.Append(ctx, e)
	}
	if err != nil {
		s.discard(ctx, w.FileID())
		if requestID != "" && errors.Is(err, apperr.ErrConflict) {
			// A concurrent attempt with the same request id won.
			if it, ok, lerr := s.existing(ctx, who, id); lerr != nil || ok {
				return it, lerr
			}
		}
		return domain.Item{}, err
	}
	if err := s.content.DropPending(context.WithoutCancel(ctx), w.FileID()); err != nil {
		s.logger.WarnContext(ctx, "pending upload record not dropped; the sweep will", "file", w.FileID(), "error", err)
	}
	it, err := domain.Fold([]eventlog.Event{e})
	if err != nil {
		return domain.Item{}, err
	}
	s.save(ctx, it)
	if err := s.record(ctx, accessRecord(who, it, domain.ActionUpload, nil)); err != nil {
		s.logger.ErrorContext(ctx, "upload stored but not recorded in the access log", "evidence", it.ID, "error", err)
	}
	return it, nil
}

// existing returns the item id if its upload already happened.
func (s *Service) existing(ctx context.Context, who identity.Identity, id string) (domain.Item, bool, error) {
	events, err := s.events.Load(ctx, id)
	if err != nil || len(events) == 0 {
		return domain.Item{}, false, err
	}
	if events[0].Organization != who.Organization || events[0].Actor != who.StaffID {
		return domain.Item{}, false, apperr.Conflict("request_id was already used for another upload; use a new one")
	}
	it, err := domain.Fold(events)
	return it, err == nil, err
}

// discard deletes committed content that no event refers to.
func (s *Service) discard(ctx context.Context, fileID string) {
	ctx = context.WithoutCancel(ctx)
	if err := s.content.Delete(ctx, fileID); err != nil {
		s.logger.ErrorContext(ctx, "unused upload not deleted; the sweep will remove it", "file", fileID, "error", err)
		return
	}
	_ = s.content.DropPending(ctx, fileID)
}

// store streams content into w: type check on the first bytes, SHA-256 of
// the plaintext, size limit, sealing. It commits the file document only
// when all the content arrived and passed.
func (s *Service) store(ctx context.Context, w ContentWriter, id, org string, content io.Reader) (domain.Content, error) {
	fileID := []byte(w.FileID())
	dataKey, prefix, err := seal.NewDataKey()
	if err != nil {
		return domain.Content{}, err
	}
	env, err := s.keys.Wrap(fileID, dataKey)
	if err != nil {
		return domain.Content{}, err
	}
	sealer, err := seal.NewWriter(w, dataKey, prefix, fileID)
	if err != nil {
		return domain.Content{}, err
	}
	clear(dataKey)

	limited := &limitReader{r: content, left: s.maxBytes}
	head := make([]byte, domain.SniffLen)
	n, err := io.ReadFull(limited, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return domain.Content{}, err
	}
	contentType, err := domain.DetectContentType(head[:n])
	if err != nil {
		return domain.Content{}, err
	}
	hash := sha256.New()
	out := io.MultiWriter(hash, sealer)
	if _, err := out.Write(head[:n]); err != nil {
		return domain.Content{}, err
	}
	if n == len(head) {
		if _, err := io.CopyBuffer(out, limited, make([]byte, copyBufferSize)); err != nil {
			return domain.Content{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return domain.Content{}, err
	}
	if err := sealer.Close(); err != nil {
		return domain.Content{}, err
	}
	size := sealer.Written()
	info := FileInfo{
		FileID: w.FileID(), ItemID: id, Organization: org, Scheme: seal.Scheme,
		Envelope: env, NoncePrefix: prefix, PlainSize: size, SealedSize: seal.SealedSize(size),
	}
	if err := w.Commit(ctx, info); err != nil {
		return domain.Content{}, err
	}
	return domain.Content{FileID: w.FileID(), ContentType: contentType, Size: size, SHA256: hex.EncodeToString(hash.Sum(nil))}, nil
}

// limitReader fails once more than left bytes are read.
type limitReader struct {
	r    io.Reader
	left int64
	read int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.read += int64(n)
	if l.read > l.left {
		return 0, apperr.Invalid("content", "is larger than the limit of %s (EVIDENCE_MAX_BYTES); nothing was stored", humanBytes(l.left))
	}
	return n, err
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
