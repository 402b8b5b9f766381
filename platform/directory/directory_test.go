package directory

import (
	"testing"

	"github.com/contactguard/contactguard/platform/policy"
)

// The seed must be usable as a directory: unique ids, known organisations,
// line managers who exist in the same organisation, roles the profile knows.
func TestSeedIsConsistent(t *testing.T) {
	staff := Seed()
	byID := map[string]StaffMember{}
	for _, m := range staff {
		if _, dup := byID[m.ID]; dup {
			t.Errorf("duplicate id %s", m.ID)
		}
		byID[m.ID] = m
	}
	for _, m := range staff {
		p, ok := policy.For(m.Organization)
		if !ok {
			t.Errorf("%s: unknown organisation %q", m.ID, m.Organization)
			continue
		}
		if m.Email == "" || m.Name == "" {
			t.Errorf("%s: missing name or email", m.ID)
		}
		if m.LineManagerID != "" {
			lm, ok := byID[m.LineManagerID]
			if !ok || lm.Organization != m.Organization {
				t.Errorf("%s: line manager %q is not in the same organisation", m.ID, m.LineManagerID)
			}
		}
		for _, r := range m.Roles {
			if !p.KnowsRole(r) {
				t.Errorf("%s: role %q is not in the %s profile", m.ID, r, m.Organization)
			}
		}
	}
	if m, ok := Find("hc-cso-1"); !ok || m.LineManagerID != "hc-tl-1" {
		t.Errorf("Find(hc-cso-1) = %+v, %v", m, ok)
	}
}
