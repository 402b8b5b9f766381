// Package config reads a service's settings from the environment. A Loader
// collects every problem before failing, so an operator sees all bad
// variables at once, each named with what is wrong and what is expected.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Loader reads variables through a lookup function (os.LookupEnv by default)
// and records one message per bad variable.
type Loader struct {
	lookup   func(string) (string, bool)
	problems []string
}

// New returns a Loader over the process environment.
func New() *Loader { return &Loader{lookup: os.LookupEnv} }

// NewFromMap returns a Loader over a fixed map; tests use it.
func NewFromMap(env map[string]string) *Loader {
	return &Loader{lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
}

func (l *Loader) get(name string) (string, bool) {
	v, ok := l.lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

func (l *Loader) fail(name, format string, args ...any) {
	l.problems = append(l.problems, name+": "+fmt.Sprintf(format, args...))
}

// String returns the variable or def when unset.
func (l *Loader) String(name, def string) string {
	if v, ok := l.get(name); ok {
		return v
	}
	return def
}

// Required returns the variable and records a problem when it is unset.
func (l *Loader) Required(name, meaning string) string {
	v, ok := l.get(name)
	if !ok {
		l.fail(name, "is required (%s)", meaning)
	}
	return v
}

// Secret returns a required secret of at least minLen bytes. The value never
// appears in a message.
func (l *Loader) Secret(name string, minLen int) []byte {
	v, ok := l.get(name)
	switch {
	case !ok:
		l.fail(name, "is required (a secret of at least %d bytes, e.g. from `openssl rand -base64 48`)", minLen)
	case len(v) < minLen:
		l.fail(name, "is too short: %d bytes, at least %d are required", len(v), minLen)
	}
	return []byte(v)
}

// Bool accepts true/false/1/0/yes/no.
func (l *Loader) Bool(name string, def bool) bool {
	v, ok := l.get(name)
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "true", "1", "yes", "on":
		return true
	case "false", "0", "no", "off":
		return false
	}
	l.fail(name, "must be true or false, got %q", v)
	return def
}

// Int returns a whole number within [minimum, maximum].
func (l *Loader) Int(name string, def, minimum, maximum int) int {
	v, ok := l.get(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < minimum || n > maximum {
		l.fail(name, "must be a whole number between %d and %d, got %q", minimum, maximum, v)
		return def
	}
	return n
}

// Duration returns a positive Go duration such as 30s or 5m.
func (l *Loader) Duration(name string, def time.Duration) time.Duration {
	v, ok := l.get(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		l.fail(name, "must be a positive duration such as 30s or 5m, got %q", v)
		return def
	}
	return d
}

// OneOf returns the variable when it is one of allowed.
func (l *Loader) OneOf(name, def string, allowed ...string) string {
	v, ok := l.get(name)
	if !ok {
		return def
	}
	if !slices.Contains(allowed, v) {
		l.fail(name, "must be one of %s, got %q", strings.Join(allowed, ", "), v)
		return def
	}
	return v
}

// Addr returns a host:port listen or dial address. An empty value is allowed
// only when def is empty (meaning "off").
func (l *Loader) Addr(name, def string) string {
	v := l.String(name, def)
	if v == "" {
		return v
	}
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		l.fail(name, "must be host:port such as 127.0.0.1:9091 or :8080, got %q", v)
		return def
	}
	return v
}

// URL returns an absolute URL with one of the given schemes.
func (l *Loader) URL(name, def string, schemes ...string) string {
	v := l.String(name, def)
	if v == "" {
		return v
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || !slices.Contains(schemes, u.Scheme) {
		// The URL may hold a password: never echo it.
		l.fail(name, "must be a URL starting with %s://", strings.Join(schemes, ":// or "))
		return def
	}
	return v
}

// Err returns every problem found, one per line, or nil.
func (l *Loader) Err() error {
	if len(l.problems) == 0 {
		return nil
	}
	return errors.New("configuration is not valid:\n  " + strings.Join(l.problems, "\n  "))
}

// Service holds the settings every gRPC service shares.
type Service struct {
	GRPCAddr     string
	MetricsAddr  string
	MongoURI     string
	MongoDB      string
	RedisURL     string
	StreamPrefix string
	IdentityKey  []byte
	LogLevel     string
}

// LoadService reads the shared settings; name is the short service name used
// for the default database ("incident" gives contactguard_incident).
func LoadService(l *Loader, name, defaultGRPC, defaultMetrics string) Service {
	return Service{
		GRPCAddr:     l.Addr("GRPC_ADDR", defaultGRPC),
		MetricsAddr:  l.Addr("METRICS_ADDR", defaultMetrics),
		MongoURI:     l.URL("MONGO_URI", "", "mongodb", "mongodb+srv"),
		MongoDB:      l.String("MONGO_DB", "contactguard_"+name),
		RedisURL:     l.URL("REDIS_URL", "", "redis", "rediss", "unix"),
		StreamPrefix: l.String("REDIS_STREAM_PREFIX", "cg"),
		IdentityKey:  l.Secret("IDENTITY_KEY", 32),
		LogLevel:     l.OneOf("LOG_LEVEL", "info", "debug", "info", "warn", "error"),
	}
}

// RequireStores records problems for the stores every service needs.
func (s Service) RequireStores(l *Loader) {
	if s.MongoURI == "" {
		l.fail("MONGO_URI", "is required (e.g. mongodb://127.0.0.1:27017/)")
	}
	if s.RedisURL == "" {
		l.fail("REDIS_URL", "is required (e.g. redis://127.0.0.1:6379/0)")
	}
}
