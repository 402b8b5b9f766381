package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoaderReportsEveryBadVariable(t *testing.T) {
	l := NewFromMap(map[string]string{
		"PORT_ADDR": "nonsense",
		"COUNT":     "-3",
		"WAIT":      "soon",
		"MODE":      "loud",
		"FLAG":      "perhaps",
		"KEY":       "short-secret-value",
		"DB":        "http://example.org",
	})
	l.Addr("PORT_ADDR", ":1")
	l.Int("COUNT", 1, 0, 10)
	l.Duration("WAIT", time.Second)
	l.OneOf("MODE", "a", "a", "b")
	l.Bool("FLAG", false)
	l.Secret("KEY", 32)
	l.URL("DB", "", "mongodb")
	l.Required("MISSING", "the thing")
	err := l.Err()
	if err == nil {
		t.Fatal("expected an error")
	}
	for _, name := range []string{"PORT_ADDR", "COUNT", "WAIT", "MODE", "FLAG", "KEY", "DB", "MISSING"} {
		if !strings.Contains(err.Error(), name+":") {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
	if strings.Contains(err.Error(), "short-secret-value") {
		t.Error("a secret leaked into the error message")
	}
}

func TestLoaderDefaultsAndValues(t *testing.T) {
	l := NewFromMap(map[string]string{"COUNT": "7", "FLAG": "yes", "WAIT": "2s", "ADDR": "127.0.0.1:99"})
	if got := l.Int("COUNT", 1, 0, 10); got != 7 {
		t.Errorf("Int = %d", got)
	}
	if !l.Bool("FLAG", false) {
		t.Error("Bool = false")
	}
	if got := l.Duration("WAIT", time.Second); got != 2*time.Second {
		t.Errorf("Duration = %v", got)
	}
	if got := l.Addr("ADDR", ""); got != "127.0.0.1:99" {
		t.Errorf("Addr = %q", got)
	}
	if got := l.String("UNSET", "def"); got != "def" {
		t.Errorf("String = %q", got)
	}
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadServiceRequiresStoresAndKey(t *testing.T) {
	l := NewFromMap(map[string]string{})
	s := LoadService(l, "incident", ":9091", "")
	s.RequireStores(l)
	err := l.Err()
	if err == nil {
		t.Fatal("expected an error")
	}
	for _, name := range []string{"MONGO_URI", "REDIS_URL", "IDENTITY_KEY"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("missing %s in %v", name, err)
		}
	}
	if s.MongoDB != "contactguard_incident" {
		t.Errorf("MongoDB default = %q", s.MongoDB)
	}
}
