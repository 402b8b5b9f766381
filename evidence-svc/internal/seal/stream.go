package seal

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

const (
	// SegmentSize is the plaintext size of every segment but the last.
	SegmentSize = 64 << 10
	// Overhead is what sealing adds to each segment (the GCM tag).
	Overhead = 16
	// SealedSegmentSize is the stored size of a full segment.
	SealedSegmentSize = SegmentSize + Overhead
	// NoncePrefixSize is the random per-item part of each nonce; the other
	// four bytes count segments.
	NoncePrefixSize = 8
	// Scheme names this format in the stored metadata.
	Scheme = "aes-256-gcm/segments-64k/v1"
)

// SealedSize returns the stored size of plain bytes of content.
func SealedSize(plain int64) int64 {
	if plain <= 0 {
		return Overhead
	}
	segments := (plain + SegmentSize - 1) / SegmentSize
	return plain + segments*Overhead
}

func segmentAAD(dst, fileID []byte, index uint64, last bool) []byte {
	dst = append(dst[:0], "contactguard/evidence/segment/v1\x00"...)
	dst = append(dst, fileID...)
	dst = binary.BigEndian.AppendUint64(dst, index)
	if last {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func segmentNonce(dst, prefix []byte, index uint64) []byte {
	dst = append(dst[:0], prefix...)
	return binary.BigEndian.AppendUint32(dst, uint32(index))
}

func newAEAD(dataKey, noncePrefix []byte) (cipher.AEAD, error) {
	if len(dataKey) != KeySize {
		return nil, fmt.Errorf("data key is %d bytes, want %d", len(dataKey), KeySize)
	}
	if len(noncePrefix) != NoncePrefixSize {
		return nil, fmt.Errorf("nonce prefix is %d bytes, want %d", len(noncePrefix), NoncePrefixSize)
	}
	return gcm(dataKey)
}

// Writer seals plaintext written to it into segments written to dst. It
// holds at most one segment. Close seals the last segment; without Close
// the stored content is incomplete and will not open.
type Writer struct {
	dst    io.Writer
	aead   cipher.AEAD
	prefix []byte
	fileID []byte
	buf    []byte // plaintext of the pending segment
	out    []byte // sealed segment
	aad    []byte
	nonce  []byte
	index  uint64
	n      int64
	closed bool
}

// NewWriter returns a Writer sealing with dataKey for the item stored under
// fileID.
func NewWriter(dst io.Writer, dataKey, noncePrefix, fileID []byte) (*Writer, error) {
	aead, err := newAEAD(dataKey, noncePrefix)
	if err != nil {
		return nil, err
	}
	return &Writer{
		dst: dst, aead: aead, prefix: noncePrefix, fileID: fileID,
		buf: make([]byte, 0, SegmentSize), out: make([]byte, 0, SealedSegmentSize),
	}, nil
}

// Write buffers p and seals every segment known not to be the last.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errors.New("seal: write after close")
	}
	written := 0
	for len(p) > 0 {
		if len(w.buf) == SegmentSize {
			// More data follows, so the pending segment is not the last.
			if err := w.seal(false); err != nil {
				return written, err
			}
		}
		n := copy(w.buf[len(w.buf):SegmentSize], p)
		w.buf = w.buf[:len(w.buf)+n]
		p = p[n:]
		written += n
		w.n += int64(n)
	}
	return written, nil
}

func (w *Writer) seal(last bool) error {
	if w.index > math.MaxUint32 {
		return errors.New("seal: content has too many segments")
	}
	w.nonce = segmentNonce(w.nonce, w.prefix, w.index)
	w.aad = segmentAAD(w.aad, w.fileID, w.index, last)
	w.out = w.aead.Seal(w.out[:0], w.nonce, w.buf, w.aad)
	if _, err := w.dst.Write(w.out); err != nil {
		return err
	}
	w.index++
	w.buf = w.buf[:0]
	return nil
}

// Close seals the last segment (it does not close dst).
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	return w.seal(true)
}

// Written returns the plaintext bytes written so far.
func (w *Writer) Written() int64 { return w.n }

// SegmentError says which segment failed to open: the stored content was
// altered, reordered or damaged.
type SegmentError struct {
	Index  int64
	Offset int64 // of the segment in the stored content
}

func (e *SegmentError) Error() string {
	return fmt.Sprintf("segment %d (stored bytes %d-%d) fails authentication", e.Index, e.Offset, e.Offset+SealedSegmentSize-1)
}

// ErrTruncated means the stored content is shorter than its recorded size.
var ErrTruncated = errors.New("stored content ends before its last segment")

// ErrTrailing means the stored content continues after its last segment.
var ErrTrailing = errors.New("stored content continues after its last segment")

// Reader opens content sealed by Writer, whose stored size is sealedLen. It
// returns plaintext only from segments that opened, and fails at the first
// segment that does not.
type Reader struct {
	src      io.Reader
	aead     cipher.AEAD
	prefix   []byte
	fileID   []byte
	segments int64
	sealed   int64
	index    int64
	in       []byte
	plain    []byte
	pending  []byte
	aad      []byte
	nonce    []byte
	err      error
}

// NewReader returns a Reader of the content stored under fileID.
func NewReader(src io.Reader, dataKey, noncePrefix, fileID []byte, sealedLen int64) (*Reader, error) {
	aead, err := newAEAD(dataKey, noncePrefix)
	if err != nil {
		return nil, err
	}
	if sealedLen < Overhead {
		return nil, fmt.Errorf("stored content is %d bytes, shorter than one sealed segment", sealedLen)
	}
	return &Reader{
		src: src, aead: aead, prefix: noncePrefix, fileID: fileID, sealed: sealedLen,
		segments: (sealedLen + SealedSegmentSize - 1) / SealedSegmentSize,
		in:       make([]byte, SealedSegmentSize), plain: make([]byte, 0, SegmentSize),
	}, nil
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.pending) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.err = r.next()
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

// next opens the next segment into pending, or returns io.EOF after the
// last one once it has checked that nothing follows it.
func (r *Reader) next() error {
	if r.index == r.segments {
		var one [1]byte
		if n, _ := io.ReadFull(r.src, one[:]); n > 0 {
			return ErrTrailing
		}
		return io.EOF
	}
	offset := r.index * SealedSegmentSize
	size := min(int64(SealedSegmentSize), r.sealed-offset)
	if size < Overhead {
		return &SegmentError{Index: r.index, Offset: offset}
	}
	buf := r.in[:size]
	if n, err := io.ReadFull(r.src, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w (segment %d has %d of %d bytes)", ErrTruncated, r.index, n, size)
		}
		return err
	}
	last := r.index == r.segments-1
	r.nonce = segmentNonce(r.nonce, r.prefix, uint64(r.index))
	r.aad = segmentAAD(r.aad, r.fileID, uint64(r.index), last)
	plain, err := r.aead.Open(r.plain[:0], r.nonce, buf, r.aad)
	if err != nil {
		return &SegmentError{Index: r.index, Offset: offset}
	}
	r.pending = plain
	r.index++
	return nil
}
