package policy

import (
	"testing"
	"time"
)

// policy-map.md section 7: who decides, hears appeals and restricts the
// complaints process differs between the two organisations.
func TestProfilesDifferAsThePoliciesSay(t *testing.T) {
	hc, ok1 := For("highland-council")
	vb, ok2 := For("valuation-board")
	if !ok1 || !ok2 {
		t.Fatal("both profiles must load")
	}
	tests := []struct {
		name     string
		p        Profile
		decision string
		roles    []string
		want     bool
	}{
		{"C24 council team leader decides restriction", hc, DecideRestriction, []string{"staff", "team_leader"}, true},
		{"C24 council officer cannot decide", hc, DecideRestriction, []string{"staff"}, false},
		{"B board line manager decides restriction", vb, DecideRestriction, []string{"staff", "line_manager"}, true},
		{"B board has no team leaders", vb, DecideRestriction, []string{"team_leader"}, false},
		{"C24 council appeal to head of service", hc, HearAppeal, []string{"head_of_service"}, true},
		{"C24 council manager cannot hear appeal", hc, HearAppeal, []string{"manager"}, false},
		{"B appeal to the Assessor", vb, HearAppeal, []string{"assessor"}, true},
		{"B depute assessor cannot hear appeal", vb, HearAppeal, []string{"depute_assessor"}, false},
		{"C64 council chief executive restricts complaints", hc, RestrictComplaintsProcess, []string{"depute_chief_executive"}, true},
		{"C64 council manager cannot restrict complaints", hc, RestrictComplaintsProcess, []string{"manager"}, false},
		{"B depute assessor restricts complaints", vb, RestrictComplaintsProcess, []string{"depute_assessor"}, true},
		{"unknown decision is denied", hc, "launch_rockets", []string{"chief_executive"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Allows(tt.decision, tt.roles); got != tt.want {
				t.Errorf("Allows = %v, want %v", got, tt.want)
			}
		})
	}
	if !hc.ExcludesEducationSettingChildren || vb.ExcludesEducationSettingChildren {
		t.Error("only the council excludes children in an education setting")
	}
	if len(Organizations()) != 2 {
		t.Errorf("Organizations = %v", Organizations())
	}
}

func TestEveryDecisionRoleIsAKnownRole(t *testing.T) {
	for _, id := range Organizations() {
		p, _ := For(id)
		for decision, roles := range p.Decisions {
			for _, r := range roles {
				if !p.KnowsRole(r) {
					t.Errorf("%s: decision %s names unknown role %q", id, decision, r)
				}
			}
		}
	}
}

// Working-day deadlines (the appeal deadline, C24) skip the organisation's
// public holidays; both profiles carry the Scottish ones.
func TestPublicHolidays(t *testing.T) {
	for _, id := range Organizations() {
		p, _ := For(id)
		if !p.IsPublicHoliday(time.Date(2026, 12, 25, 0, 0, 0, 0, time.UTC)) || !p.IsPublicHoliday(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)) {
			t.Errorf("%s: Christmas Day and St Andrew's Day 2026 are not public holidays", id)
		}
		if p.IsPublicHoliday(time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("%s: an ordinary Tuesday is a public holiday", id)
		}
	}
}
