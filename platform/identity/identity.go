// Package identity says who is acting: a staff member of one organisation
// with some roles. The gateway authenticates people and signs an Identity
// into gRPC metadata; services verify that signature and deny by default.
//
// Both the gateway's bearer tokens and the gateway-to-service assertions are
// compact JWTs signed with HMAC-SHA256 (each with its own key and audience),
// so one small codec serves both. OIDC tokens from an identity provider come
// in a later issue and only change how the gateway authenticates.
package identity

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/contactguard/contactguard/platform/apperr"
)

// Audiences keep a bearer token from being replayed as a service assertion
// and the other way round.
const (
	AudienceGateway  = "contactguard-gateway"
	AudienceServices = "contactguard-services"
)

// RoleTelephony is the role of machine clients (the telephony system, the
// inbound e-mail gateway). Every service refuses it except on the methods
// it lists as machine methods (grpcserver.Options.MachineMethods).
const RoleTelephony = "telephony"

// MetadataKey is the gRPC metadata key carrying the signed assertion.
const MetadataKey = "x-cg-identity"

// Identity is the acting staff member.
type Identity struct {
	StaffID      string   `json:"sub"`
	Organization string   `json:"org"`
	Roles        []string `json:"roles"`
}

// HasAnyRole reports whether the identity holds at least one of roles.
func (id Identity) HasAnyRole(roles ...string) bool {
	for _, r := range roles {
		if slices.Contains(id.Roles, r) {
			return true
		}
	}
	return false
}

type claims struct {
	Identity
	Audience  string `json:"aud"`
	IssuedAt  int64  `json:"iat"`
	ExpiresAt int64  `json:"exp"`
}

// Codec signs and verifies identities for one audience with one key.
type Codec struct {
	Key      []byte
	Audience string
	TTL      time.Duration
	Now      func() time.Time // nil means time.Now
}

var (
	// ErrInvalidToken covers every reason a token is refused; the reason
	// itself is in the wrapped message, safe to show to the caller.
	ErrInvalidToken = errors.New("invalid token")
	jwtHeader       = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
)

func (c Codec) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Sign returns a token for id valid for the codec's TTL.
func (c Codec) Sign(id Identity) (string, error) {
	if id.StaffID == "" || id.Organization == "" {
		return "", errors.New("identity needs a staff id and an organisation")
	}
	now := c.now()
	payload, err := json.Marshal(claims{Identity: id, Audience: c.Audience, IssuedAt: now.Unix(), ExpiresAt: now.Add(c.TTL).Unix()})
	if err != nil {
		return "", err
	}
	signingInput := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(payload)
	return signingInput + "." + c.mac(signingInput), nil
}

func (c Codec) mac(signingInput string) string {
	m := hmac.New(sha256.New, c.Key)
	m.Write([]byte(signingInput))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// TokenError says why a token was refused; errors.Is(err, ErrInvalidToken)
// holds for it, and its message is the reason alone, safe to show.
type TokenError struct{ Reason string }

func (e *TokenError) Error() string { return e.Reason }

// Is makes every TokenError match ErrInvalidToken.
func (e *TokenError) Is(target error) bool { return target == ErrInvalidToken }

func invalid(reason string) error { return &TokenError{Reason: reason} }

// Verify checks signature, algorithm, audience and expiry and returns the
// identity.
func (c Codec) Verify(token string) (Identity, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Identity{}, invalid("token is not a JWT")
	}
	if parts[0] != jwtHeader {
		// Only our own header is accepted: no "alg":"none", no algorithm switch.
		return Identity{}, invalid("token algorithm is not accepted")
	}
	if !hmac.Equal([]byte(c.mac(parts[0]+"."+parts[1])), []byte(parts[2])) {
		return Identity{}, invalid("token signature is not valid")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return Identity{}, invalid("token payload is not base64url")
	}
	var cl claims
	if err := json.Unmarshal(payload, &cl); err != nil {
		return Identity{}, invalid("token payload is not JSON")
	}
	if cl.Audience != c.Audience {
		return Identity{}, invalid("token is for another audience")
	}
	if c.now().Unix() >= cl.ExpiresAt {
		return Identity{}, invalid("token has expired")
	}
	if cl.StaffID == "" || cl.Organization == "" {
		return Identity{}, invalid("token names no staff member or organisation")
	}
	return cl.Identity, nil
}

type contextKey struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, contextKey{}, id)
}

// FromContext returns the verified identity of the request.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(contextKey{}).(Identity)
	return id, ok
}

// Caller returns the verified identity of the request, or an apperr
// Unauthenticated error when it has none (a handler reached without one).
func Caller(ctx context.Context) (Identity, error) {
	id, ok := FromContext(ctx)
	if !ok {
		return Identity{}, apperr.Unauthenticated("no identity on the request")
	}
	return id, nil
}
