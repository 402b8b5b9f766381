package identity

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCodecRoundTripAndRefusals(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	c := Codec{Key: []byte(strings.Repeat("k", 32)), Audience: AudienceServices, TTL: time.Minute, Now: clock}
	id := Identity{StaffID: "hc-cso-1", Organization: "highland-council", Roles: []string{"staff"}}
	tok, err := c.Sign(id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Verify(tok)
	if err != nil || got.StaffID != id.StaffID || got.Organization != id.Organization || !got.HasAnyRole("staff") {
		t.Fatalf("Verify = %v, %v", got, err)
	}

	otherKey := c
	otherKey.Key = []byte(strings.Repeat("x", 32))
	otherAudience := c
	otherAudience.Audience = AudienceGateway
	later := c
	later.Now = func() time.Time { return now.Add(2 * time.Minute) }
	parts := strings.Split(tok, ".")
	tests := map[string]struct {
		codec Codec
		token string
	}{
		"wrong key":        {otherKey, tok},
		"wrong audience":   {otherAudience, tok},
		"expired":          {later, tok},
		"not a jwt":        {c, "abc"},
		"alg none":         {c, "eyJhbGciOiJub25lIn0." + parts[1] + "."},
		"tampered payload": {c, parts[0] + "." + parts[1] + "x." + parts[2]},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := tt.codec.Verify(tt.token); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("Verify err = %v, want ErrInvalidToken", err)
			}
		})
	}
}

func TestSignNeedsStaffAndOrganisation(t *testing.T) {
	c := Codec{Key: []byte(strings.Repeat("k", 32)), Audience: AudienceServices, TTL: time.Minute}
	if _, err := c.Sign(Identity{StaffID: "x"}); err == nil {
		t.Error("signed an identity without an organisation")
	}
}
