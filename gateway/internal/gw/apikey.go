package gw

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/policy"
)

// APIKey is one machine client (the telephony system, the inbound e-mail
// gateway): its name becomes the identity's staff id, with its
// organisation and role. Only a hash of the secret is kept.
type APIKey struct {
	Name         string
	Organization string
	Role         string
	hash         [sha256.Size]byte
}

// APIKeys authenticates machine clients by key (API_KEYS). A key may call
// only the contact check and record contact; restriction-svc enforces the
// same through the role (docs/adr/0005-contact-check.md).
type APIKeys struct {
	keys []APIKey
}

// MinAPIKeyBytes is the shortest secret accepted.
const MinAPIKeyBytes = 32

var (
	keyNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	keyRolePattern = regexp.MustCompile(`^[a-z][a-z_]{0,63}$`)
)

// apiKeyRoutes are the only routes an API key may call.
var apiKeyRoutes = map[string]bool{
	"POST /v1/contact:check":  true,
	"POST /v1/contact:record": true,
}

// ParseAPIKeys reads API_KEYS: comma-separated entries
// name=secret:organization:role, e.g.
// "telephony-hc=<secret>:highland-council:telephony". Secrets are at least
// 32 bytes and never appear in an error.
func ParseAPIKeys(spec string) (APIKeys, error) {
	var out APIKeys
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return out, nil
	}
	seen := map[string]bool{}
	for i, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		name, rest, ok := strings.Cut(entry, "=")
		if !ok {
			return APIKeys{}, fmt.Errorf("API_KEYS: entry %d is not name=secret:organization:role", i+1)
		}
		name = strings.TrimSpace(name)
		if !keyNamePattern.MatchString(name) {
			return APIKeys{}, fmt.Errorf("API_KEYS: entry %d: %q is not a client name (lower case letters, digits, . _ -)", i+1, name)
		}
		if seen[name] {
			return APIKeys{}, fmt.Errorf("API_KEYS: client %s is listed twice", name)
		}
		seen[name] = true
		// The secret may itself hold ':', so the organisation and role are
		// taken from the right.
		j := strings.LastIndex(rest, ":")
		if j < 0 {
			return APIKeys{}, fmt.Errorf("API_KEYS: %s: give secret:organization:role", name)
		}
		role := rest[j+1:]
		rest = rest[:j]
		j = strings.LastIndex(rest, ":")
		if j < 0 {
			return APIKeys{}, fmt.Errorf("API_KEYS: %s: give secret:organization:role", name)
		}
		secret, org := rest[:j], rest[j+1:]
		if len(secret) < MinAPIKeyBytes {
			return APIKeys{}, fmt.Errorf("API_KEYS: %s: the secret is %d bytes, at least %d are required", name, len(secret), MinAPIKeyBytes)
		}
		if _, ok := policy.For(org); !ok {
			return APIKeys{}, fmt.Errorf("API_KEYS: %s: organisation %q has no policy profile (one of %s)", name, org, strings.Join(policy.Organizations(), ", "))
		}
		if !keyRolePattern.MatchString(role) {
			return APIKeys{}, fmt.Errorf("API_KEYS: %s: %q is not a role", name, role)
		}
		out.keys = append(out.keys, APIKey{Name: name, Organization: org, Role: role, hash: sha256.Sum256([]byte(secret))})
	}
	return out, nil
}

// Len returns the number of keys.
func (k APIKeys) Len() int { return len(k.keys) }

// lookup finds the key with this secret. It compares against every key in
// constant time (hashes of equal length), so timing tells nothing.
func (k APIKeys) lookup(secret string) (APIKey, bool) {
	h := sha256.Sum256([]byte(secret))
	found := -1
	for i := range k.keys {
		if subtle.ConstantTimeCompare(h[:], k.keys[i].hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return APIKey{}, false
	}
	return k.keys[found], true
}

// presented returns the API key the request carries: X-API-Key, or
// Authorization: ApiKey <secret>.
func presented(r *http.Request) (string, bool) {
	if v := r.Header.Get("X-API-Key"); v != "" {
		return strings.TrimSpace(v), true
	}
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "ApiKey "); ok {
		return strings.TrimSpace(v), true
	}
	return "", false
}

// Or authenticates requests that carry an API key and passes them to next
// with the key's identity; requests without one go to bearer (the bearer
// token check).
func (k APIKeys) Or(bearer, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, ok := presented(r)
		if !ok {
			bearer.ServeHTTP(w, r)
			return
		}
		key, known := k.lookup(secret)
		if !known {
			w.Header().Set("WWW-Authenticate", `ApiKey realm="contactguard"`)
			writeError(w, http.StatusUnauthorized, 16, "API key refused")
			return
		}
		if !apiKeyRoutes[r.Method+" "+r.URL.Path] {
			writeError(w, http.StatusForbidden, 7, "an API key may only call POST /v1/contact:check and POST /v1/contact:record")
			return
		}
		id := identity.Identity{StaffID: key.Name, Organization: key.Organization, Roles: []string{key.Role}}
		next.ServeHTTP(w, r.WithContext(identity.NewContext(r.Context(), id)))
	})
}
