package app

import (
	"context"
	"errors"
	"time"

	"github.com/contactguard/contactguard/evidence-svc/internal/domain"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/policy"
)

// SystemRetention is the actor recorded when the retention job deletes
// content whose retention period has passed.
const SystemRetention = "system:retention"

// MarkForDeletion marks an item of a lifted or expired restriction for
// deletion after the profile's retention period. The restriction's state
// is asked of restriction-svc; if it cannot answer, nothing is marked.
func (s *Service) MarkForDeletion(ctx context.Context, who identity.Identity, id, reason string) (View, error) {
	p, err := profileOf(who)
	if err != nil {
		return View{}, err
	}
	it, history, err := s.load(ctx, who, id)
	if err != nil {
		return View{}, err
	}
	refusal := domain.CanManageRetention(p, who)
	state := ""
	if refusal == nil && it.Restriction != "" && it.State == domain.StateActive {
		f, err := s.links.Restriction(ctx, it.Restriction)
		switch u, unavailable := errors.AsType[*UnavailableError](err); {
		case err == nil:
			state = f.State
		case unavailable:
			refusal = apperr.Precondition("cannot confirm that %s is lifted or expired, so %s is not marked: %s", it.Restriction, it.Name(), u.Error())
		case errors.Is(err, apperr.ErrNotFound), errors.Is(err, apperr.ErrPermissionDenied):
			refusal = apperr.Precondition("cannot read %s to confirm it is lifted or expired: %s", it.Restriction, err.Error())
		default:
			return View{}, err
		}
	}
	var e eventlog.Event
	if refusal == nil {
		e, refusal = domain.MarkForDeletion(history, it, who.StaffID, reason, state, retention(p), s.now())
	}
	if !isRefusal(refusal) {
		return View{}, refusal
	}
	if err := s.record(ctx, accessRecord(who, it, domain.ActionMarkForDeletion, refusal)); err != nil {
		return View{}, err
	}
	if refusal != nil {
		return View{}, refusal
	}
	return s.apply(ctx, history, e)
}

func retention(p policy.Profile) time.Duration {
	return time.Duration(p.EvidenceRetentionDays) * 24 * time.Hour
}

// isRefusal reports whether err is nil or a refusal worth recording (not
// an internal failure).
func isRefusal(err error) bool {
	return err == nil || errors.Is(err, apperr.ErrPermissionDenied) || errors.Is(err, apperr.ErrFailedPrecondition) || errors.Is(err, apperr.ErrInvalidArgument)
}

// apply appends e to history and updates the read model.
func (s *Service) apply(ctx context.Context, history []eventlog.Event, e eventlog.Event) (View, error) {
	if err := s.events.Append(ctx, e); err != nil {
		return View{}, err
	}
	it, err := domain.Fold(append(history, e))
	if err != nil {
		return View{}, err
	}
	s.save(ctx, it)
	return s.view(ctx, it)
}

// Delete deletes the content of an item marked for deletion whose
// retention period has passed. The item stays as a tombstone with its hash.
func (s *Service) Delete(ctx context.Context, who identity.Identity, id string) (View, error) {
	p, err := profileOf(who)
	if err != nil {
		return View{}, err
	}
	it, history, err := s.load(ctx, who, id)
	if err != nil {
		return View{}, err
	}
	refusal := domain.CanManageRetention(p, who)
	var e eventlog.Event
	if refusal == nil {
		e, refusal = domain.Delete(history, it, who.StaffID, s.now())
	}
	if !isRefusal(refusal) {
		return View{}, refusal
	}
	if err := s.record(ctx, accessRecord(who, it, domain.ActionDelete, refusal)); err != nil {
		return View{}, err
	}
	if refusal != nil {
		return View{}, refusal
	}
	return s.deleteContent(ctx, history, e, it)
}

// deleteContent records the deletion (the commit point), then deletes the
// content. A crash in between leaves a tombstone whose content the sweep
// deletes.
func (s *Service) deleteContent(ctx context.Context, history []eventlog.Event, e eventlog.Event, it domain.Item) (View, error) {
	v, err := s.apply(ctx, history, e)
	if err != nil {
		return View{}, err
	}
	if err := s.content.Delete(context.WithoutCancel(ctx), it.FileID); err != nil {
		s.logger.ErrorContext(ctx, "content of a deleted item not removed yet; the sweep will", "evidence", it.ID, "error", err)
	}
	return v, nil
}

// PurgeDue deletes the content of every item whose retention period has
// passed, as the retention job; it returns how many it deleted.
func (s *Service) PurgeDue(ctx context.Context) (int, error) {
	due, err := s.items.Due(ctx, s.now(), 100)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, stale := range due {
		history, err := s.events.Load(ctx, stale.ID)
		if err != nil {
			return n, err
		}
		it, err := domain.Fold(history)
		if err != nil {
			return n, err
		}
		e, err := domain.Delete(history, it, SystemRetention, s.now())
		if err != nil {
			continue // changed since the read model was written
		}
		if _, err := s.deleteContent(ctx, history, e, it); err != nil {
			if errors.Is(err, apperr.ErrConflict) {
				continue // another replica did it
			}
			return n, err
		}
		rec := domain.AccessRecord{Organization: it.Organization, Evidence: it.ID, Actor: SystemRetention, Action: domain.ActionDelete, Granted: true}
		if err := s.record(ctx, rec); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// SweepResult counts what a sweep removed.
type SweepResult struct {
	AbortedUploads int // partial or uncommitted uploads deleted
	Committed      int // pending records of uploads that had in fact completed
	Tombstones     int // content of deleted items removed
}

// Sweep removes what crashes left behind: uploads pending since before
// olderThan (their content is deleted unless an event refers to it), and
// content still stored for tombstones.
func (s *Service) Sweep(ctx context.Context, olderThan time.Time) (SweepResult, error) {
	var res SweepResult
	stale, err := s.content.StalePending(ctx, olderThan)
	if err != nil {
		return res, err
	}
	for _, up := range stale {
		events, err := s.events.Load(ctx, up.ItemID)
		if err != nil {
			return res, err
		}
		committed := false
		if len(events) > 0 {
			if it, err := domain.Fold(events); err == nil && it.FileID == up.FileID {
				committed = true
			}
		}
		if committed {
			res.Committed++
		} else {
			if err := s.content.Delete(ctx, up.FileID); err != nil {
				return res, err
			}
			res.AbortedUploads++
		}
		if err := s.content.DropPending(ctx, up.FileID); err != nil {
			return res, err
		}
	}
	deleted, err := s.items.DeletedFileIDs(ctx)
	if err != nil || len(deleted) == 0 {
		return res, err
	}
	stored, err := s.content.FileIDs(ctx)
	if err != nil {
		return res, err
	}
	for _, f := range stored {
		if _, ok := deleted[f]; ok {
			if err := s.content.Delete(ctx, f); err != nil {
				return res, err
			}
			res.Tombstones++
		}
	}
	return res, nil
}

// RewrapResult counts a key rotation pass.
type RewrapResult struct {
	Rewrapped int
	Current   int // already under the active key
}

// Rewrap re-wraps every stored data key with the active master key, so old
// master keys can be removed. Content and hashes are untouched.
func (s *Service) Rewrap(ctx context.Context) (RewrapResult, error) {
	var res RewrapResult
	envs, err := s.content.Envelopes(ctx)
	if err != nil {
		return res, err
	}
	for fileID, env := range envs {
		ne, changed, err := s.keys.Rewrap([]byte(fileID), env)
		if err != nil {
			return res, err
		}
		if !changed {
			res.Current++
			continue
		}
		if err := s.content.SetEnvelope(ctx, fileID, ne); err != nil {
			return res, err
		}
		res.Rewrapped++
	}
	return res, nil
}
