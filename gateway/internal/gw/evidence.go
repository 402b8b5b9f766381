package gw

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/contactguard/contactguard/platform/grpcserver"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/logging"
	evidencev1 "github.com/contactguard/contactguard/proto/evidence/v1"
)

// Evidence files pass through the gateway as bytes, never whole in memory:
//
//   - POST /v1/evidence:upload with multipart/form-data: metadata fields
//     first, then one file part, streamed in chunks to evidence-svc's
//     client-streaming UploadEvidence (other content types keep the
//     generated JSON-stream handler). The JSON body limit does not apply;
//     evidence-svc enforces EVIDENCE_MAX_BYTES.
//   - GET /v1/evidence/{id}:download answers with the content itself:
//     Content-Type as detected at upload, Content-Disposition naming the
//     stored file name (which starts with "DISTRESSING - " for distressing
//     items), the SHA-256 in X-Evidence-Sha256. Without
//     ?acknowledgeDistressing=true a distressing item is refused with 400
//     (FAILED_PRECONDITION) saying why.
const (
	uploadPath = "/v1/evidence:upload"
	// maxFieldBytes bounds each metadata field of a multipart upload.
	maxFieldBytes = 64 << 10
	// uploadChunkBytes is the content carried by each gRPC message.
	uploadChunkBytes = 256 << 10
)

type evidenceRoutes struct {
	cfg       Config
	client    evidencev1.EvidenceServiceClient
	mux       *runtime.ServeMux
	marshaler runtime.Marshaler
	logger    *slog.Logger
}

// newEvidenceRoutes registers the download route on mux. Call it after the
// generated handlers are registered: grpc-gateway tries the handler
// registered last first, so this one wins over the generated JSON-stream
// download. The connection is closed when ctx ends.
func newEvidenceRoutes(ctx context.Context, cfg Config, mux *runtime.ServeMux, logger *slog.Logger) (*evidenceRoutes, error) {
	conn, err := grpc.NewClient(cfg.EvidenceAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("evidence-svc client: %w", err)
	}
	go func() {
		<-ctx.Done()
		_ = conn.Close()
	}()
	r := &evidenceRoutes{
		cfg: cfg, client: evidencev1.NewEvidenceServiceClient(conn), mux: mux, logger: logger,
		marshaler: &runtime.JSONPb{MarshalOptions: protojson.MarshalOptions{EmitUnpopulated: true}},
	}
	if err := mux.HandlePath(http.MethodGet, "/v1/{name=evidence/*}:download", r.download); err != nil {
		return nil, err
	}
	return r, nil
}

// wrap serves multipart uploads itself and passes every other request to
// next.
func (r *evidenceRoutes) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPost && req.URL.Path == uploadPath {
			if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); mt == "multipart/form-data" {
				r.upload(w, req)
				return
			}
		}
		next.ServeHTTP(w, req)
	})
}

// outgoing is the metadata every call to a service carries: the request id
// and the caller's signed identity (as runtime.WithMetadata in New).
func (r *evidenceRoutes) outgoing(ctx context.Context) context.Context {
	md := metadata.Pairs(grpcserver.RequestIDKey, logging.RequestID(ctx))
	if id, ok := identity.FromContext(ctx); ok {
		if assertion, err := r.cfg.Identities.Sign(id); err == nil {
			md.Set(identity.MetadataKey, assertion)
		}
	}
	return metadata.NewOutgoingContext(ctx, md)
}

func (r *evidenceRoutes) fail(w http.ResponseWriter, req *http.Request, err error) {
	runtime.HTTPError(req.Context(), r.mux, r.marshaler, w, req, err)
}

func badRequest(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// upload streams a multipart upload through to evidence-svc. Metadata
// fields come first (each at most 64 KiB), then the file part; a body cut
// off before its end cancels the stream, so evidence-svc stores nothing.
func (r *evidenceRoutes) upload(w http.ResponseWriter, req *http.Request) {
	mr, err := req.MultipartReader()
	if err != nil {
		r.fail(w, req, badRequest("the body is not multipart/form-data: %v", err))
		return
	}
	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	meta := &evidencev1.Evidence{}
	requestID := ""
	var stream grpc.ClientStreamingClient[evidencev1.UploadEvidenceRequest, evidencev1.Evidence]
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			cancel()
			r.fail(w, req, badRequest("the multipart body is malformed or was cut off before its end (%v); nothing was stored", err))
			return
		}
		if part.FileName() == "" && part.FormName() != "file" {
			if stream != nil {
				cancel()
				r.fail(w, req, badRequest("field %q comes after the file: send the metadata fields first, then the file part", part.FormName()))
				return
			}
			value, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
			switch {
			case err != nil:
				r.fail(w, req, badRequest("the multipart body was cut off in field %q; nothing was stored", part.FormName()))
				return
			case len(value) > maxFieldBytes:
				r.fail(w, req, badRequest("field %q is larger than %d KiB: metadata is short; the content goes in the file part", part.FormName(), maxFieldBytes>>10))
				return
			}
			if err := setField(meta, &requestID, part.FormName(), string(value)); err != nil {
				r.fail(w, req, err)
				return
			}
			continue
		}
		if stream != nil {
			cancel()
			r.fail(w, req, badRequest("one file per upload: the second file part %q is not accepted", part.FileName()))
			return
		}
		if meta.GetOriginalFilename() == "" {
			meta.OriginalFilename = part.FileName()
		}
		if stream, err = r.client.UploadEvidence(r.outgoing(ctx)); err != nil {
			r.fail(w, req, err)
			return
		}
		if err := stream.Send(&evidencev1.UploadEvidenceRequest{Payload: &evidencev1.UploadEvidenceRequest_Evidence{Evidence: meta}, RequestId: requestID}); err != nil && !errors.Is(err, io.EOF) {
			r.fail(w, req, err)
			return
		}
		if err := sendContent(stream, part); err != nil {
			cancel() // evidence-svc sees the stream cancelled and keeps nothing
			r.fail(w, req, err)
			return
		}
	}
	if stream == nil {
		r.fail(w, req, badRequest("no file: send the content as a file part, e.g. curl -F kind=EVIDENCE_KIND_SCREENSHOT -F incident=incidents/ID -F file=@shot.png"))
		return
	}
	out, err := stream.CloseAndRecv()
	if err != nil {
		r.fail(w, req, err)
		return
	}
	b, err := r.marshaler.Marshal(out)
	if err != nil {
		r.fail(w, req, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// sendContent streams the file part in chunks. It stops early when
// evidence-svc has answered (Send returns io.EOF: CloseAndRecv has the
// answer) and fails when the body ends before the part does.
func sendContent(stream grpc.ClientStreamingClient[evidencev1.UploadEvidenceRequest, evidencev1.Evidence], part io.Reader) error {
	for {
		// A fresh buffer per message: a sent message must not change.
		buf := make([]byte, uploadChunkBytes)
		n, err := fill(part, buf)
		if n > 0 {
			if serr := stream.Send(&evidencev1.UploadEvidenceRequest{Payload: &evidencev1.UploadEvidenceRequest_Chunk{Chunk: buf[:n]}}); serr != nil {
				if errors.Is(serr, io.EOF) {
					return nil
				}
				return serr
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			return nil
		default:
			return badRequest("the upload was cut off before the end of the file (%v); nothing was stored", err)
		}
	}
}

// fill reads into buf until it is full or r fails. Unlike io.ReadFull it
// keeps io.EOF (the part ended) apart from io.ErrUnexpectedEOF (the body
// was cut off).
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// setField sets one metadata field of a multipart upload. Names are the
// JSON names of Evidence (camelCase or snake_case); "evidence" holds all
// of them as a JSON object; requestId is the idempotency key.
func setField(m *evidencev1.Evidence, requestID *string, name, value string) error {
	v := strings.TrimSpace(value)
	switch name {
	case "evidence", "metadata":
		if err := (protojson.UnmarshalOptions{}).Unmarshal([]byte(value), m); err != nil {
			return badRequest("field %q is not an Evidence JSON object: %v", name, err)
		}
	case "kind":
		k, ok := evidencev1.EvidenceKind_value[strings.ToUpper(v)]
		if !ok {
			k, ok = evidencev1.EvidenceKind_value["EVIDENCE_KIND_"+strings.ToUpper(v)]
		}
		if !ok {
			return badRequest("kind: unknown kind %q (e.g. EVIDENCE_KIND_SCREENSHOT or screenshot)", v)
		}
		m.Kind = evidencev1.EvidenceKind(k)
	case "originalFilename", "original_filename":
		m.OriginalFilename = v
	case "captureTime", "capture_time":
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return badRequest("captureTime: must be an RFC 3339 time such as 2026-11-23T09:30:00Z, got %q", v)
		}
		m.CaptureTime = timestamppb.New(t)
	case "capturedBy", "captured_by":
		m.CapturedBy = v
	case "sourceUrl", "source_url":
		m.SourceUrl = v
	case "description":
		m.Description = v
	case "incident":
		m.Incident = v
	case "restriction":
		m.Restriction = v
	case "publicNaming", "public_naming":
		m.PublicNaming = v
	case "distressing":
		b, err := strconv.ParseBool(v)
		if err != nil && v != "on" && v != "yes" && v != "no" && v != "off" {
			return badRequest("distressing: must be true or false, got %q", v)
		}
		m.Distressing = b || v == "on" || v == "yes"
	case "requestId", "request_id":
		*requestID = v
	default:
		return badRequest("unknown field %q: use kind, incident, restriction, publicNaming, description, sourceUrl, captureTime, capturedBy, originalFilename, distressing, requestId, then file", name)
	}
	return nil
}

// download streams an item's content as the response body.
func (r *evidenceRoutes) download(w http.ResponseWriter, req *http.Request, params map[string]string) {
	ack := false
	for _, key := range []string{"acknowledgeDistressing", "acknowledge_distressing"} {
		if v := req.URL.Query().Get(key); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				r.fail(w, req, badRequest("%s: must be true or false, got %q", key, v))
				return
			}
			ack = b
		}
	}
	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	stream, err := r.client.DownloadEvidence(r.outgoing(ctx), &evidencev1.DownloadEvidenceRequest{Name: params["name"], AcknowledgeDistressing: ack})
	if err != nil {
		r.fail(w, req, err)
		return
	}
	first, err := stream.Recv()
	if err != nil {
		r.fail(w, req, err)
		return
	}
	meta := first.GetEvidence()
	if meta == nil {
		r.fail(w, req, status.Error(codes.Internal, "evidence-svc sent content before the metadata"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", meta.GetContentType())
	h.Set("Content-Length", strconv.FormatInt(meta.GetSizeBytes(), 10))
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": meta.GetFilename()}))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Evidence-Sha256", meta.GetSha256())
	h.Set("X-Evidence-Distressing", strconv.FormatBool(meta.GetDistressing()))
	w.WriteHeader(http.StatusOK)
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			// Headers are sent: end the response short of its Content-Length,
			// so the client sees a failed transfer, never a complete file.
			r.logger.ErrorContext(req.Context(), "evidence download failed mid-stream", "name", params["name"], "error", status.Convert(err).Message())
			return
		}
		if _, err := w.Write(msg.GetChunk()); err != nil {
			return // the client went away
		}
	}
}
