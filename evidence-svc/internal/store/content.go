package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/contactguard/contactguard/evidence-svc/internal/app"
	"github.com/contactguard/contactguard/evidence-svc/internal/seal"
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/mongox"
)

// Bucket is the GridFS bucket holding evidence content: collections
// "evidence.files" and "evidence.chunks", in the standard GridFS layout, so
// mongofiles and every driver's GridFS reader see the (sealed) files.
const Bucket = "evidence"

const (
	// ChunkSize holds eight sealed 64 KiB segments (512 KiB of content),
	// twice GridFS's default: FerretDB's cost is mostly per document, and a
	// damaged chunk still names a small range.
	ChunkSize = 8 * seal.SealedSegmentSize
	// batchChunks is how many chunks one insert carries (2 MiB). One batch
	// is in flight while the next fills,
	// so receiving, sealing and writing overlap; memory stays at about two
	// batches per upload. (The driver's GridFS upload buffers 16 MiB per
	// stream.)
	batchChunks = 4
	// readBatch is the cursor batch size of downloads (about 1 MiB), with
	// as much read ahead. The driver's GridFS download asks for default
	// batches, which FerretDB answers with all remaining chunks at once:
	// over its 48 MB message limit for files above about 26 MiB.
	readBatch = 2
)

// Content stores sealed content in GridFS, and records uploads in progress
// in "evidence_uploads" so a sweep can remove what a crash left behind.
type Content struct {
	files, chunks, pending *mongo.Collection
	free                   chan []byte
}

// NewContent returns the content store in db.
func NewContent(db *mongo.Database) *Content {
	return &Content{
		files:   db.Collection(Bucket + ".files"),
		chunks:  db.Collection(Bucket + ".chunks"),
		pending: db.Collection("evidence_uploads"),
		free:    make(chan []byte, 64),
	}
}

// EnsureIndexes creates the GridFS indexes (as drivers do) and the one of
// pending uploads.
func (s *Content) EnsureIndexes(ctx context.Context) error {
	if err := mongox.EnsureIndexes(ctx, s.chunks, mongo.IndexModel{
		Keys: bson.D{{Key: "files_id", Value: 1}, {Key: "n", Value: 1}}, Options: options.Index().SetUnique(true),
	}); err != nil {
		return err
	}
	if err := mongox.EnsureIndexes(ctx, s.files, mongo.IndexModel{Keys: bson.D{{Key: "filename", Value: 1}, {Key: "uploadDate", Value: 1}}}); err != nil {
		return err
	}
	return mongox.EnsureIndexes(ctx, s.pending, mongo.IndexModel{Keys: bson.D{{Key: "started", Value: 1}}})
}

// fileMeta is the metadata of a GridFS file: how to open it.
type fileMeta struct {
	Item         string `bson:"item"`
	Organization string `bson:"organization"`
	Scheme       string `bson:"scheme"`
	KeyID        string `bson:"key_id"`
	WrappedKey   []byte `bson:"wrapped_key"`
	NoncePrefix  []byte `bson:"nonce_prefix"`
	PlainSize    int64  `bson:"plain_size"`
}

type fileDoc struct {
	ID         bson.ObjectID `bson:"_id"`
	Length     int64         `bson:"length"`
	ChunkSize  int32         `bson:"chunkSize"`
	UploadDate time.Time     `bson:"uploadDate"`
	Filename   string        `bson:"filename"`
	Metadata   fileMeta      `bson:"metadata"`
}

type pendingDoc struct {
	FileID       string    `bson:"_id"`
	Item         string    `bson:"item"`
	Organization string    `bson:"organization"`
	Started      time.Time `bson:"started"`
}

func parseID(fileID string) (bson.ObjectID, error) {
	id, err := bson.ObjectIDFromHex(fileID)
	if err != nil {
		return id, fmt.Errorf("file id %q: %w", fileID, err)
	}
	return id, nil
}

func (s *Content) buffer() []byte {
	select {
	case b := <-s.free:
		return b[:0]
	default:
		return make([]byte, 0, ChunkSize)
	}
}

func (s *Content) release(b []byte) {
	select {
	case s.free <- b:
	default:
	}
}

// Create starts a new file for itemID.
func (s *Content) Create(ctx context.Context, itemID, org string) (app.ContentWriter, error) {
	id := bson.NewObjectID()
	doc := pendingDoc{FileID: id.Hex(), Item: itemID, Organization: org, Started: time.Now().UTC()}
	if _, err := s.pending.InsertOne(ctx, doc); err != nil {
		return nil, fmt.Errorf("record pending upload: %w", err)
	}
	return &writer{s: s, ctx: ctx, id: id}, nil
}

type chunk struct {
	n    int32
	data []byte
}

// writer cuts sealed bytes into chunks and inserts them in batches, one
// batch in flight while the next fills.
type writer struct {
	s        *Content
	ctx      context.Context
	id       bson.ObjectID
	cur      []byte
	batch    []chunk
	n        int32
	length   int64
	inflight chan error
	err      error
	done     bool
}

func (w *writer) FileID() string { return w.id.Hex() }

func (w *writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	written := 0
	for len(p) > 0 {
		if w.cur == nil {
			w.cur = w.s.buffer()
		}
		n := copy(w.cur[len(w.cur):ChunkSize], p)
		w.cur = w.cur[:len(w.cur)+n]
		p = p[n:]
		written += n
		if len(w.cur) == ChunkSize {
			if err := w.push(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

func (w *writer) push() error {
	w.batch = append(w.batch, chunk{n: w.n, data: w.cur})
	w.length += int64(len(w.cur))
	w.n++
	w.cur = nil
	if len(w.batch) == batchChunks {
		return w.flush()
	}
	return nil
}

// flush waits for the batch in flight and sends the current one.
func (w *writer) flush() error {
	if err := w.wait(); err != nil {
		return err
	}
	if len(w.batch) == 0 {
		return nil
	}
	batch := w.batch
	w.batch = nil
	done := make(chan error, 1)
	w.inflight = done
	go func() {
		docs := make([]any, len(batch))
		for i, c := range batch {
			docs[i] = bson.D{
				{Key: "_id", Value: bson.NewObjectID()},
				{Key: "files_id", Value: w.id},
				{Key: "n", Value: c.n},
				{Key: "data", Value: bson.Binary{Subtype: 0x00, Data: c.data}},
			}
		}
		_, err := w.s.chunks.InsertMany(w.ctx, docs)
		for _, c := range batch {
			w.s.release(c.data)
		}
		if err != nil {
			err = fmt.Errorf("store evidence chunks: %w", err)
		}
		done <- err
	}()
	return nil
}

func (w *writer) wait() error {
	if w.inflight != nil {
		if err := <-w.inflight; err != nil && w.err == nil {
			w.err = err
		}
		w.inflight = nil
	}
	return w.err
}

// Commit writes the last chunks and the file document.
func (w *writer) Commit(ctx context.Context, info app.FileInfo) error {
	if w.err != nil {
		return w.err
	}
	if len(w.cur) > 0 {
		w.batch = append(w.batch, chunk{n: w.n, data: w.cur})
		w.length += int64(len(w.cur))
		w.n++
		w.cur = nil
	}
	if err := w.flush(); err != nil {
		return err
	}
	if err := w.wait(); err != nil {
		return err
	}
	if w.length != info.SealedSize {
		return fmt.Errorf("stored %d sealed bytes, expected %d", w.length, info.SealedSize)
	}
	doc := fileDoc{
		ID: w.id, Length: w.length, ChunkSize: ChunkSize, UploadDate: time.Now().UTC(), Filename: info.ItemID,
		Metadata: fileMeta{
			Item: info.ItemID, Organization: info.Organization, Scheme: info.Scheme,
			KeyID: info.Envelope.KeyID, WrappedKey: info.Envelope.Wrapped, NoncePrefix: info.NoncePrefix, PlainSize: info.PlainSize,
		},
	}
	if _, err := w.s.files.InsertOne(ctx, doc); err != nil {
		return fmt.Errorf("store evidence file document: %w", err)
	}
	w.done = true
	return nil
}

// Abort deletes the chunks and file document written so far and the
// pending record.
func (w *writer) Abort(ctx context.Context) error {
	_ = w.wait()
	if w.cur != nil {
		w.s.release(w.cur)
		w.cur = nil
	}
	w.err = errors.New("upload aborted")
	if err := w.s.Delete(ctx, w.id.Hex()); err != nil {
		return err
	}
	return w.s.DropPending(ctx, w.id.Hex())
}

// Open returns a reader of a file's sealed bytes.
func (s *Content) Open(ctx context.Context, fileID string) (app.ContentReader, error) {
	id, err := parseID(fileID)
	if err != nil {
		return nil, err
	}
	var doc fileDoc
	if err := s.files.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc); err != nil {
		if mongox.IsNotFound(err) {
			return nil, apperr.NotFound("stored content %s not found", fileID)
		}
		return nil, fmt.Errorf("open evidence file %s: %w", fileID, err)
	}
	cur, err := s.chunks.Find(ctx, bson.D{{Key: "files_id", Value: id}},
		options.Find().SetSort(bson.D{{Key: "n", Value: 1}}).SetBatchSize(readBatch))
	if err != nil {
		return nil, fmt.Errorf("open evidence chunks %s: %w", fileID, err)
	}
	m := doc.Metadata
	rctx, cancel := context.WithCancel(ctx)
	r := &reader{cancel: cancel, chunks: make(chan fetched, readBatch), done: make(chan struct{}), info: app.FileInfo{
		FileID: fileID, ItemID: m.Item, Organization: m.Organization, Scheme: m.Scheme,
		Envelope: seal.Envelope{KeyID: m.KeyID, Wrapped: m.WrappedKey}, NoncePrefix: m.NoncePrefix,
		PlainSize: m.PlainSize, SealedSize: doc.Length, ChunkSize: int64(doc.ChunkSize),
	}}
	go r.fetch(rctx, cur)
	return r, nil
}

type fetched struct {
	data []byte
	err  error
}

// reader yields chunks in order and fails on a missing one. A goroutine
// reads ahead (one cursor batch, about 1 MiB), so the next chunks arrive
// while the last are opened and sent.
type reader struct {
	cancel context.CancelFunc
	chunks chan fetched
	done   chan struct{}
	info   app.FileInfo
	data   []byte
	err    error
}

func (r *reader) fetch(ctx context.Context, cur *mongo.Cursor) {
	defer close(r.done)
	defer close(r.chunks)
	defer cur.Close(context.WithoutCancel(ctx))
	send := func(f fetched) bool {
		select {
		case r.chunks <- f:
			return true
		case <-ctx.Done():
			return false
		}
	}
	var row struct {
		N    int32  `bson:"n"`
		Data []byte `bson:"data"`
	}
	for next := int32(0); cur.Next(ctx); next++ {
		row.Data = nil
		if err := cur.Decode(&row); err != nil {
			send(fetched{err: fmt.Errorf("decode evidence chunk: %w", err)})
			return
		}
		if row.N != next {
			send(fetched{err: fmt.Errorf("%w: GridFS chunk %d is missing", seal.ErrTruncated, next)})
			return
		}
		if !send(fetched{data: row.Data}) {
			return
		}
	}
	if err := cur.Err(); err != nil && ctx.Err() == nil {
		send(fetched{err: fmt.Errorf("read evidence chunks: %w", err)})
	}
}

func (r *reader) Info() app.FileInfo { return r.info }

func (r *reader) Read(p []byte) (int, error) {
	for len(r.data) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		f, ok := <-r.chunks
		switch {
		case !ok:
			r.err = io.EOF // the sealed reader knows whether bytes are missing
		case f.err != nil:
			r.err = f.err
		default:
			r.data = f.data
		}
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// Close stops the read-ahead and closes the cursor.
func (r *reader) Close(context.Context) error {
	r.cancel()
	<-r.done
	return nil
}

// Delete removes a file document and its chunks.
func (s *Content) Delete(ctx context.Context, fileID string) error {
	id, err := parseID(fileID)
	if err != nil {
		return err
	}
	if _, err := s.files.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return fmt.Errorf("delete evidence file %s: %w", fileID, err)
	}
	if _, err := s.chunks.DeleteMany(ctx, bson.D{{Key: "files_id", Value: id}}); err != nil {
		return fmt.Errorf("delete evidence chunks %s: %w", fileID, err)
	}
	return nil
}

// StalePending lists uploads pending since before t.
func (s *Content) StalePending(ctx context.Context, before time.Time) ([]app.PendingUpload, error) {
	cur, err := s.pending.Find(ctx, bson.D{{Key: "started", Value: bson.D{{Key: "$lt", Value: before}}}})
	if err != nil {
		return nil, fmt.Errorf("find pending uploads: %w", err)
	}
	var docs []pendingDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("find pending uploads: %w", err)
	}
	out := make([]app.PendingUpload, len(docs))
	for i, d := range docs {
		out[i] = app.PendingUpload{FileID: d.FileID, ItemID: d.Item, Organization: d.Organization, Started: d.Started}
	}
	return out, nil
}

// DropPending forgets a pending upload.
func (s *Content) DropPending(ctx context.Context, fileID string) error {
	if _, err := s.pending.DeleteOne(ctx, bson.D{{Key: "_id", Value: fileID}}); err != nil {
		return fmt.Errorf("drop pending upload %s: %w", fileID, err)
	}
	return nil
}

// FileIDs lists every stored file's id.
func (s *Content) FileIDs(ctx context.Context) ([]string, error) {
	cur, err := s.files.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("list evidence files: %w", err)
	}
	var rows []struct {
		ID bson.ObjectID `bson:"_id"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, fmt.Errorf("list evidence files: %w", err)
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.ID.Hex()
	}
	return out, nil
}

// Envelopes lists every file's wrapped data key.
func (s *Content) Envelopes(ctx context.Context) (map[string]seal.Envelope, error) {
	cur, err := s.files.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "metadata", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("list evidence keys: %w", err)
	}
	var rows []struct {
		ID       bson.ObjectID `bson:"_id"`
		Metadata fileMeta      `bson:"metadata"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, fmt.Errorf("list evidence keys: %w", err)
	}
	out := make(map[string]seal.Envelope, len(rows))
	for _, r := range rows {
		out[r.ID.Hex()] = seal.Envelope{KeyID: r.Metadata.KeyID, Wrapped: r.Metadata.WrappedKey}
	}
	return out, nil
}

// SetEnvelope replaces a file's wrapped data key. Only key rotation writes
// file documents after upload, so the read-modify-write is not raced.
func (s *Content) SetEnvelope(ctx context.Context, fileID string, e seal.Envelope) error {
	id, err := parseID(fileID)
	if err != nil {
		return err
	}
	var doc fileDoc
	if err := s.files.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc); err != nil {
		return fmt.Errorf("read evidence file %s: %w", fileID, err)
	}
	doc.Metadata.KeyID, doc.Metadata.WrappedKey = e.KeyID, e.Wrapped
	if _, err := s.files.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "metadata", Value: doc.Metadata}}}}); err != nil {
		return fmt.Errorf("re-wrap evidence key %s: %w", fileID, err)
	}
	return nil
}
