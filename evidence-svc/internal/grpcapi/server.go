// Package grpcapi is evidence-svc's transport: it maps the protobuf API to
// the use cases and back, and streams content in and out in chunks.
package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/contactguard/contactguard/evidence-svc/internal/app"
	"github.com/contactguard/contactguard/evidence-svc/internal/domain"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/identity"
	evidencev1 "github.com/contactguard/contactguard/proto/evidence/v1"
)

const (
	// MaxMetadataBytes bounds the first message of an upload (the metadata).
	MaxMetadataBytes = 16 << 10
	// downloadChunk is the content size of each download message.
	downloadChunk = 256 << 10
)

// Server implements evidencev1.EvidenceServiceServer.
type Server struct {
	evidencev1.UnimplementedEvidenceServiceServer
	svc           *app.Service
	uploadTimeout time.Duration
}

// New returns the server over svc; an upload must end within uploadTimeout.
func New(svc *app.Service, uploadTimeout time.Duration) *Server {
	return &Server{svc: svc, uploadTimeout: uploadTimeout}
}

var evidenceName = regexp.MustCompile(`^evidence/([0-9a-z]{1,64})$`)

func parseName(field, name string) (string, error) {
	m := evidenceName.FindStringSubmatch(name)
	if m == nil {
		return "", apperr.Invalid(field, "must be an evidence name such as evidence/abc123, got %q", clip(name))
	}
	return m[1], nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// transportError maps the errors only this transport knows: damaged
// content is DataLoss with what is wrong.
func transportError(err error) error {
	if d, ok := errors.AsType[*app.DamagedError](err); ok {
		return status.Error(codes.DataLoss, d.Error())
	}
	return err
}

func kindToDomain(k evidencev1.EvidenceKind) string {
	if k == evidencev1.EvidenceKind_EVIDENCE_KIND_UNSPECIFIED {
		return ""
	}
	name := k.String()
	if _, ok := evidencev1.EvidenceKind_name[int32(k)]; !ok {
		return fmt.Sprintf("unknown(%d)", int32(k))
	}
	return strings.ToLower(strings.TrimPrefix(name, "EVIDENCE_KIND_"))
}

func kindFromDomain(k string) evidencev1.EvidenceKind {
	return evidencev1.EvidenceKind(evidencev1.EvidenceKind_value["EVIDENCE_KIND_"+strings.ToUpper(k)])
}

func stateToDomain(s evidencev1.Evidence_State) string {
	if s == evidencev1.Evidence_STATE_UNSPECIFIED {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(s.String(), "STATE_"))
}

func stateFromDomain(s string) evidencev1.Evidence_State {
	return evidencev1.Evidence_State(evidencev1.Evidence_State_value["STATE_"+strings.ToUpper(s)])
}

func ts(t interface{ IsZero() bool }) bool { return !t.IsZero() }

func draftFromProto(in *evidencev1.Evidence) domain.Draft {
	d := domain.Draft{
		Kind: kindToDomain(in.GetKind()), OriginalFilename: in.GetOriginalFilename(), CapturedBy: in.GetCapturedBy(),
		SourceURL: in.GetSourceUrl(), Description: in.GetDescription(), Incident: in.GetIncident(),
		Restriction: in.GetRestriction(), PublicNaming: in.GetPublicNaming(), Distressing: in.GetDistressing(),
	}
	if d.Kind == "" && in.GetKind() != evidencev1.EvidenceKind_EVIDENCE_KIND_UNSPECIFIED {
		d.Kind = fmt.Sprintf("unknown(%d)", int32(in.GetKind()))
	}
	if in.GetCaptureTime() != nil {
		d.CaptureTime = in.GetCaptureTime().AsTime()
	}
	return d
}

func verificationToProto(v domain.Verification) *evidencev1.VerifyEvidenceResponse {
	return &evidencev1.VerifyEvidenceResponse{
		Name: "evidence/" + v.Evidence, Intact: v.Intact, ExpectedSha256: v.Expected, ActualSha256: v.Actual,
		Problem: v.Problem, VerifyTime: timestamppb.New(v.Time),
	}
}

// toProto maps an item to the API. It carries metadata only: nothing of
// the content, so no preview of a distressing item.
func toProto(v app.View) *evidencev1.Evidence {
	it := v.Item
	out := &evidencev1.Evidence{
		Name: it.Name(), Organization: it.Organization, Kind: kindFromDomain(it.Kind),
		OriginalFilename: it.OriginalFilename, Filename: it.Filename, ContentType: it.ContentType,
		SizeBytes: it.Size, Sha256: it.SHA256, CapturedBy: it.CapturedBy, SourceUrl: it.SourceURL,
		Description: it.Description, Incident: it.Incident, Restriction: it.Restriction,
		PublicNaming: it.PublicNaming, Distressing: it.Distressing, Uploader: it.Uploader,
		CreateTime: timestamppb.New(it.CreateTime), State: stateFromDomain(it.State),
		DeletionReason: it.DeletionReason, MarkedBy: it.MarkedBy, DeletedBy: it.DeletedBy,
	}
	if ts(it.CaptureTime) {
		out.CaptureTime = timestamppb.New(it.CaptureTime)
	}
	if ts(it.DeleteAfter) {
		out.DeleteAfterTime = timestamppb.New(it.DeleteAfter)
	}
	if ts(it.DeleteTime) {
		out.DeleteTime = timestamppb.New(it.DeleteTime)
	}
	if v.LastVerification != nil {
		out.LastVerification = verificationToProto(*v.LastVerification)
	}
	return out
}

// chunks reads an upload's content from the stream after its first
// message. A goroutine receives, so the next message arrives while the
// last is sealed and stored, and a stalled client meets the upload's
// deadline instead of holding the upload open.
type chunks struct {
	ctx  context.Context
	msgs chan received
	data []byte
}

type received struct {
	msg *evidencev1.UploadEvidenceRequest
	err error
}

func receive(stream grpc.ClientStreamingServer[evidencev1.UploadEvidenceRequest, evidencev1.Evidence], out chan<- received, done <-chan struct{}) {
	for {
		msg, err := stream.Recv()
		select {
		case out <- received{msg, err}:
		case <-done:
			return
		}
		if err != nil {
			return
		}
	}
}

func (c *chunks) Read(p []byte) (int, error) {
	for len(c.data) == 0 {
		var r received
		select {
		case r = <-c.msgs:
		case <-c.ctx.Done():
			if errors.Is(c.ctx.Err(), context.DeadlineExceeded) {
				return 0, apperr.Invalid("content", "the upload did not finish in time (EVIDENCE_UPLOAD_TIMEOUT); nothing was stored")
			}
			return 0, fmt.Errorf("upload cancelled before its end: %w", c.ctx.Err())
		}
		if r.err != nil {
			if errors.Is(r.err, io.EOF) {
				return 0, io.EOF
			}
			// The client went away or cancelled: a truncated upload.
			return 0, fmt.Errorf("upload stream broken before its end: %w", r.err)
		}
		if r.msg.GetEvidence() != nil {
			return 0, apperr.Invalid("evidence", "only the first message carries the metadata; the following ones carry chunks")
		}
		c.data = r.msg.GetChunk()
	}
	n := copy(p, c.data)
	c.data = c.data[n:]
	return n, nil
}

// UploadEvidence stores an item: the first message carries the metadata,
// the following ones the content.
func (s *Server) UploadEvidence(stream grpc.ClientStreamingServer[evidencev1.UploadEvidenceRequest, evidencev1.Evidence]) error {
	ctx, cancel := context.WithTimeout(stream.Context(), s.uploadTimeout)
	defer cancel()
	who, err := identity.Caller(ctx)
	if err != nil {
		return err
	}
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return apperr.Invalid("evidence", "the upload is empty: send the metadata, then the content")
	}
	if err != nil {
		return err
	}
	if size := proto.Size(first); size > MaxMetadataBytes {
		return apperr.Invalid("evidence", "the metadata is %d bytes; at most %d are allowed (send the content in the following messages)", size, MaxMetadataBytes)
	}
	in := first.GetEvidence()
	if in == nil {
		return apperr.Invalid("evidence", "the first message must carry the metadata (evidence), not content")
	}
	if org := in.GetOrganization(); org != "" && org != who.Organization {
		return apperr.Denied("evidence.organization: you can only add evidence for your own organisation (%s)", who.Organization)
	}
	msgs, done := make(chan received, 2), make(chan struct{})
	defer close(done)
	go receive(stream, msgs, done)
	it, err := s.svc.Upload(ctx, who, draftFromProto(in), first.GetRequestId(), &chunks{ctx: ctx, msgs: msgs})
	if err != nil {
		return err
	}
	return stream.SendAndClose(toProto(app.View{Item: it}))
}

// GetEvidence returns an item's metadata.
func (s *Server) GetEvidence(ctx context.Context, req *evidencev1.GetEvidenceRequest) (*evidencev1.Evidence, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	v, err := s.svc.Get(ctx, who, id)
	if err != nil {
		return nil, err
	}
	return toProto(v), nil
}

// ListEvidence lists the items the caller may read.
func (s *Server) ListEvidence(ctx context.Context, req *evidencev1.ListEvidenceRequest) (*evidencev1.ListEvidenceResponse, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	q := app.Query{
		Incident: req.GetIncident(), Restriction: req.GetRestriction(), PublicNaming: req.GetPublicNaming(),
		Kind: kindToDomain(req.GetKind()), State: stateToDomain(req.GetState()),
		PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(),
	}
	views, next, err := s.svc.List(ctx, who, q)
	if err != nil {
		return nil, err
	}
	resp := &evidencev1.ListEvidenceResponse{NextPageToken: next}
	for _, v := range views {
		resp.Evidence = append(resp.Evidence, toProto(v))
	}
	return resp, nil
}

// DownloadEvidence streams an item: the metadata, then the content.
func (s *Server) DownloadEvidence(req *evidencev1.DownloadEvidenceRequest, stream grpc.ServerStreamingServer[evidencev1.DownloadEvidenceResponse]) error {
	ctx := stream.Context()
	who, err := identity.Caller(ctx)
	if err != nil {
		return err
	}
	id, err := parseName("name", req.GetName())
	if err != nil {
		return err
	}
	v, r, err := s.svc.Download(ctx, who, id, req.GetAcknowledgeDistressing())
	if err != nil {
		return transportError(err)
	}
	defer r.Close()
	if err := stream.Send(&evidencev1.DownloadEvidenceResponse{Payload: &evidencev1.DownloadEvidenceResponse_Evidence{Evidence: toProto(v)}}); err != nil {
		return err
	}
	for {
		// A fresh buffer per message: a sent message must not change.
		buf := make([]byte, downloadChunk)
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if serr := stream.Send(&evidencev1.DownloadEvidenceResponse{Payload: &evidencev1.DownloadEvidenceResponse_Chunk{Chunk: buf[:n]}}); serr != nil {
				return serr
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil
		default:
			return transportError(err)
		}
	}
}

// VerifyEvidence verifies one item against its hash.
func (s *Server) VerifyEvidence(ctx context.Context, req *evidencev1.VerifyEvidenceRequest) (*evidencev1.VerifyEvidenceResponse, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	v, err := s.svc.Verify(ctx, who, id)
	if err != nil {
		return nil, err
	}
	return verificationToProto(v), nil
}

// VerifyAllEvidence verifies every item of the caller's organisation.
func (s *Server) VerifyAllEvidence(ctx context.Context, _ *evidencev1.VerifyAllEvidenceRequest) (*evidencev1.VerifyAllEvidenceResponse, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	res, err := s.svc.VerifyAll(ctx, who)
	if err != nil {
		return nil, err
	}
	out := &evidencev1.VerifyAllEvidenceResponse{Checked: res.Checked, Failed: int64(len(res.Failures))}
	for _, f := range res.Failures {
		out.Failures = append(out.Failures, verificationToProto(f))
	}
	return out, nil
}

var actions = map[string]evidencev1.AccessRecord_Action{
	domain.ActionMetadataRead:    evidencev1.AccessRecord_ACTION_METADATA_READ,
	domain.ActionDownload:        evidencev1.AccessRecord_ACTION_DOWNLOAD,
	domain.ActionVerify:          evidencev1.AccessRecord_ACTION_VERIFY,
	domain.ActionMarkForDeletion: evidencev1.AccessRecord_ACTION_MARK_FOR_DELETION,
	domain.ActionDelete:          evidencev1.AccessRecord_ACTION_DELETE,
	domain.ActionUpload:          evidencev1.AccessRecord_ACTION_UPLOAD,
}

// ListAccessRecords lists the access log of one item or of all ("evidence/-").
func (s *Server) ListAccessRecords(ctx context.Context, req *evidencev1.ListAccessRecordsRequest) (*evidencev1.ListAccessRecordsResponse, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	id := "-"
	if req.GetParent() != "evidence/-" {
		if id, err = parseName("parent", req.GetParent()); err != nil {
			return nil, apperr.Invalid("parent", "must be evidence/{id} or evidence/- for every item, got %q", clip(req.GetParent()))
		}
	}
	q := app.AccessQuery{Actor: req.GetActor(), PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()}
	if req.GetStartTime() != nil {
		q.From = req.GetStartTime().AsTime()
	}
	if req.GetEndTime() != nil {
		q.To = req.GetEndTime().AsTime()
	}
	recs, next, err := s.svc.ListAccess(ctx, who, id, q)
	if err != nil {
		return nil, err
	}
	resp := &evidencev1.ListAccessRecordsResponse{NextPageToken: next}
	for _, r := range recs {
		resp.AccessRecords = append(resp.AccessRecords, &evidencev1.AccessRecord{
			Name:     "evidence/" + r.Evidence + "/accessRecords/" + r.ID,
			Evidence: "evidence/" + r.Evidence, Actor: r.Actor, Action: actions[r.Action],
			AccessTime: timestamppb.New(r.Time), Granted: r.Granted,
			AcknowledgedDistressing: r.AcknowledgedDistressing, DenialReason: r.DenialReason,
		})
	}
	return resp, nil
}

// MarkEvidenceForDeletion marks an item of a lifted or expired restriction
// for deletion after the retention period.
func (s *Server) MarkEvidenceForDeletion(ctx context.Context, req *evidencev1.MarkEvidenceForDeletionRequest) (*evidencev1.Evidence, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	v, err := s.svc.MarkForDeletion(ctx, who, id, req.GetReason())
	if err != nil {
		return nil, err
	}
	return toProto(v), nil
}

// DeleteEvidence deletes the content of an item whose retention has passed;
// its tombstone stays.
func (s *Server) DeleteEvidence(ctx context.Context, req *evidencev1.DeleteEvidenceRequest) (*evidencev1.Evidence, error) {
	who, err := identity.Caller(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	v, err := s.svc.Delete(ctx, who, id)
	if err != nil {
		return nil, err
	}
	return toProto(v), nil
}
