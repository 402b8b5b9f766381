package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"
)

func key(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, KeySize)) }

func sealAll(t *testing.T, plain, dk, prefix, fileID []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, dk, prefix, fileID)
	if err != nil {
		t.Fatal(err)
	}
	// Odd write sizes cross segment boundaries.
	for rest := plain; len(rest) > 0; {
		n := min(len(rest), 7777)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if int64(out.Len()) != SealedSize(int64(len(plain))) {
		t.Fatalf("sealed %d bytes into %d, SealedSize says %d", len(plain), out.Len(), SealedSize(int64(len(plain))))
	}
	return out.Bytes()
}

func open(sealed, dk, prefix, fileID []byte) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(sealed), dk, prefix, fileID, int64(len(sealed)))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestRoundTripAtSegmentBoundaries(t *testing.T) {
	dk, prefix, err := NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	fileID := []byte("file-1")
	for _, size := range []int{1, 100, SegmentSize - 1, SegmentSize, SegmentSize + 1, 3 * SegmentSize, 3*SegmentSize + 5} {
		plain := make([]byte, size)
		_, _ = rand.Read(plain)
		got, err := open(sealAll(t, plain, dk, prefix, fileID), dk, prefix, fileID)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("size %d: round trip failed: %v", size, err)
		}
	}
}

func TestTamperingIsDetected(t *testing.T) {
	dk, prefix, _ := NewDataKey()
	fileID := []byte("file-1")
	plain := make([]byte, 3*SegmentSize+100) // four segments
	_, _ = rand.Read(plain)
	sealed := sealAll(t, plain, dk, prefix, fileID)
	seg := func(i int) []byte {
		end := min((i+1)*SealedSegmentSize, len(sealed))
		return sealed[i*SealedSegmentSize : end]
	}
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	flipped := bytes.Clone(sealed)
	flipped[SealedSegmentSize+10] ^= 1
	swapped := join(seg(0), seg(2), seg(1), seg(3))
	// Dropping the final segment: the new final segment was sealed as "not last".
	truncatedAtBoundary := join(seg(0), seg(1), seg(2))
	duplicated := join(seg(0), seg(0), seg(1), seg(2), seg(3))

	tests := []struct {
		name    string
		data    []byte
		fileID  []byte
		wantSeg int64
	}{
		{"a flipped bit", flipped, fileID, 1},
		{"swapped segments", swapped, fileID, 1},
		{"dropped last segment", truncatedAtBoundary, fileID, 2},
		{"duplicated segment", duplicated, fileID, 1},
		{"moved to another file", sealed, []byte("file-2"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := open(tt.data, dk, prefix, tt.fileID)
			var se *SegmentError
			if !errors.As(err, &se) || se.Index != tt.wantSeg {
				t.Fatalf("err = %v, want segment %d to fail", err, tt.wantSeg)
			}
		})
	}

	// Stored size says more than is there.
	r, _ := NewReader(bytes.NewReader(sealed[:len(sealed)-50]), dk, prefix, fileID, int64(len(sealed)))
	if _, err := io.ReadAll(r); !errors.Is(err, ErrTruncated) {
		t.Fatalf("short content: err = %v, want ErrTruncated", err)
	}
	// Extra bytes after the last segment.
	r, _ = NewReader(bytes.NewReader(append(bytes.Clone(sealed), 0)), dk, prefix, fileID, int64(len(sealed)))
	if _, err := io.ReadAll(r); !errors.Is(err, ErrTrailing) {
		t.Fatalf("trailing bytes: err = %v, want ErrTrailing", err)
	}
	// Another data key.
	other, _, _ := NewDataKey()
	if _, err := open(sealed, other, prefix, fileID); err == nil {
		t.Fatal("opened with another data key")
	}
}

func TestKeyringParsingAndRotation(t *testing.T) {
	refused := []struct{ name, active, id, others string }{
		{"no key", "", "", ""},
		{"short key", base64.StdEncoding.EncodeToString([]byte("short")), "", ""},
		{"not base64", "%%%", "", ""},
		{"bad id", key(1), "a b", ""},
		{"old key without id", key(1), "", key(2)},
		{"old key reusing the active id", key(1), "k1", "k1=" + key(2)},
		{"old key twice", key(1), "k2", "k1=" + key(2) + ",k1=" + key(3)},
	}
	for _, tt := range refused {
		_, err := ParseKeyring(tt.active, tt.id, tt.others)
		if err == nil {
			t.Errorf("%s: accepted", tt.name)
			continue
		}
		for _, secret := range []string{key(1), key(2), "short"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: the error echoes key material: %v", tt.name, err)
			}
		}
	}

	old, err := ParseKeyring(key(1), "", "")
	if err != nil || old.Active() != "k1" {
		t.Fatalf("single key: %v, active %q", err, old.Active())
	}
	fileID := []byte("f")
	dk, _, _ := NewDataKey()
	env, err := old.Wrap(fileID, dk)
	if err != nil || env.KeyID != "k1" {
		t.Fatalf("wrap: %v %v", env.KeyID, err)
	}
	if _, err := old.Unwrap([]byte("g"), env); err == nil {
		t.Fatal("envelope opened for another file")
	}

	// Rotation: k2 becomes active, k1 stays readable until items are re-wrapped.
	both, err := ParseKeyring(key(2), "k2", " k1="+key(1))
	if err != nil {
		t.Fatal(err)
	}
	got, err := both.Unwrap(fileID, env)
	if err != nil || !bytes.Equal(got, dk) {
		t.Fatalf("old envelope under the new keyring: %v", err)
	}
	re, changed, err := both.Rewrap(fileID, env)
	if err != nil || !changed || re.KeyID != "k2" {
		t.Fatalf("rewrap: %v %v %v", re.KeyID, changed, err)
	}
	if _, changed, _ := both.Rewrap(fileID, re); changed {
		t.Fatal("rewrap of an envelope under the active key changed it")
	}
	newOnly, _ := ParseKeyring(key(2), "k2", "")
	if got, err := newOnly.Unwrap(fileID, re); err != nil || !bytes.Equal(got, dk) {
		t.Fatalf("re-wrapped envelope without the old key: %v", err)
	}
	if _, err := newOnly.Unwrap(fileID, env); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old envelope after the old key is removed: err = %v, want ErrUnknownKey", err)
	}
}
