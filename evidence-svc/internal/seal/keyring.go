// Package seal encrypts evidence at rest (docs/adr/0006-evidence-encryption.md).
//
// Each item gets a fresh random 256-bit data key. The content is cut into
// 64 KiB segments, each sealed with AES-256-GCM under the data key; the
// nonce is a random per-item prefix plus the segment counter, and the
// additional data binds the file id, the segment index and whether it is the
// last segment, so a reordered, dropped, duplicated or truncated segment
// fails to open. The data key is wrapped (AES-256-GCM) by a master key from
// the environment, named by a key id so that master keys can be rotated: new
// items use the active key, old items keep naming theirs until re-wrapped.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// KeySize is the size of master and data keys (AES-256).
const KeySize = 32

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$`)

// Keyring holds the master keys by id and names the active one, which wraps
// the data keys of new items.
type Keyring struct {
	keys   map[string][]byte
	active string
}

// ParseKeyring reads the master keys: activeKey (base64 of 32 bytes) wraps
// the data keys of new items under the id activeID (default "k1");
// otherKeys, a comma-separated list of id=base64, are older (or upcoming)
// keys that items may still name, kept until every item is re-wrapped.
// Errors never contain key material.
func ParseKeyring(activeKey, activeID, otherKeys string) (*Keyring, error) {
	activeKey, activeID, otherKeys = strings.TrimSpace(activeKey), strings.TrimSpace(activeID), strings.TrimSpace(otherKeys)
	if activeKey == "" {
		return nil, errors.New("EVIDENCE_MASTER_KEY is required: 32 random bytes in base64 (openssl rand -base64 32)")
	}
	if activeID == "" {
		activeID = "k1"
	}
	if !keyIDPattern.MatchString(activeID) {
		return nil, fmt.Errorf("EVIDENCE_MASTER_KEY_ID %q must be 1-32 letters, digits, '.', '_' or '-'", activeID)
	}
	key, err := decodeKey(activeKey)
	if err != nil {
		return nil, fmt.Errorf("EVIDENCE_MASTER_KEY %v", err)
	}
	kr := &Keyring{keys: map[string][]byte{activeID: key}, active: activeID}
	if otherKeys == "" {
		return kr, nil
	}
	for i, entry := range strings.Split(otherKeys, ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(entry), "=")
		if !ok {
			return nil, fmt.Errorf("EVIDENCE_MASTER_KEYS: entry %d is not id=base64", i+1)
		}
		id = strings.TrimSpace(id)
		if !keyIDPattern.MatchString(id) {
			return nil, fmt.Errorf("EVIDENCE_MASTER_KEYS: entry %d: id %q must be 1-32 letters, digits, '.', '_' or '-'", i+1, id)
		}
		if _, dup := kr.keys[id]; dup {
			return nil, fmt.Errorf("EVIDENCE_MASTER_KEYS: key id %q is given twice (or is the active EVIDENCE_MASTER_KEY_ID)", id)
		}
		key, err := decodeKey(strings.TrimSpace(b64))
		if err != nil {
			return nil, fmt.Errorf("EVIDENCE_MASTER_KEYS: key %q %v", id, err)
		}
		kr.keys[id] = key
	}
	return kr, nil
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("decodes to %d bytes; it must be %d random bytes in base64 (openssl rand -base64 32)", len(b), KeySize)
			}
			return b, nil
		}
	}
	return nil, errors.New("is not base64 (openssl rand -base64 32)")
}

// Active returns the id of the key that wraps new data keys.
func (k *Keyring) Active() string { return k.active }

// IDs lists the key ids, sorted.
func (k *Keyring) IDs() []string {
	ids := make([]string, 0, len(k.keys))
	for id := range k.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Has reports whether the keyring holds key id.
func (k *Keyring) Has(id string) bool { _, ok := k.keys[id]; return ok }

// Envelope is a data key wrapped by a master key, as stored with the item.
type Envelope struct {
	KeyID   string // master key id
	Wrapped []byte // nonce || AES-256-GCM(data key) || tag
}

func wrapAAD(fileID []byte, keyID string) []byte {
	return fmt.Appendf(nil, "contactguard/evidence/data-key/v1\x00%x\x00%s", fileID, keyID)
}

func gcm(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Wrap seals dataKey for the item stored under fileID with the active key.
func (k *Keyring) Wrap(fileID, dataKey []byte) (Envelope, error) {
	return k.wrapWith(k.active, fileID, dataKey)
}

func (k *Keyring) wrapWith(keyID string, fileID, dataKey []byte) (Envelope, error) {
	aead, err := gcm(k.keys[keyID])
	if err != nil {
		return Envelope{}, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(dataKey)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return Envelope{}, err
	}
	return Envelope{KeyID: keyID, Wrapped: aead.Seal(nonce, nonce, dataKey, wrapAAD(fileID, keyID))}, nil
}

// ErrUnknownKey means an item names a master key the keyring does not hold.
var ErrUnknownKey = errors.New("master key not configured")

// Unwrap opens an envelope of the item stored under fileID.
func (k *Keyring) Unwrap(fileID []byte, e Envelope) ([]byte, error) {
	key, ok := k.keys[e.KeyID]
	if !ok {
		return nil, fmt.Errorf("%w: the item's data key is wrapped with master key %q, which is neither EVIDENCE_MASTER_KEY (%q) nor in EVIDENCE_MASTER_KEYS", ErrUnknownKey, e.KeyID, k.active)
	}
	aead, err := gcm(key)
	if err != nil {
		return nil, err
	}
	if len(e.Wrapped) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("wrapped data key is too short")
	}
	n := aead.NonceSize()
	dk, err := aead.Open(nil, e.Wrapped[:n], e.Wrapped[n:], wrapAAD(fileID, e.KeyID))
	if err != nil {
		return nil, fmt.Errorf("data key does not open with master key %q: wrong key or damaged envelope", e.KeyID)
	}
	if len(dk) != KeySize {
		return nil, errors.New("data key has the wrong size")
	}
	return dk, nil
}

// Rewrap returns the envelope wrapped with the active key, and whether it
// changed (false when it already uses the active key).
func (k *Keyring) Rewrap(fileID []byte, e Envelope) (Envelope, bool, error) {
	if e.KeyID == k.active {
		return e, false, nil
	}
	dk, err := k.Unwrap(fileID, e)
	if err != nil {
		return e, false, err
	}
	ne, err := k.Wrap(fileID, dk)
	if err != nil {
		return e, false, err
	}
	return ne, true, nil
}

// NewDataKey returns a fresh random data key and nonce prefix for one item.
func NewDataKey() (key, noncePrefix []byte, err error) {
	key = make([]byte, KeySize)
	noncePrefix = make([]byte, NoncePrefixSize)
	if _, err := rand.Read(key); err != nil {
		return nil, nil, err
	}
	if _, err := rand.Read(noncePrefix); err != nil {
		return nil, nil, err
	}
	return key, noncePrefix, nil
}
