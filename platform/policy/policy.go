// Package policy holds each organisation's policy profile: data, not code,
// naming which roles may take which decision and who is told of what
// (policy-map.md section 7). Every service asks the profile; none names an
// organisation in code.
package policy

import (
	"embed"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"
)

// Decisions that a profile grants to roles.
const (
	ReviewIncident                   = "review_incident"
	DecideCorrespondenceUnacceptable = "decide_correspondence_unacceptable"
	DecidePoliceNotReported          = "decide_police_not_reported"
	DecideRestriction                = "decide_restriction"
	HearAppeal                       = "hear_appeal"
	RestrictComplaintsProcess        = "restrict_complaints_process"
	RequestMaterialRemoval           = "request_material_removal"
	PersonalRecordDecision           = "personal_record_decision"
	ReadOrganisationEvidence         = "read_organisation_evidence"
	ReadAccessLog                    = "read_access_log"
	ManageEvidenceRetention          = "manage_evidence_retention"
	ManageDeliveries                 = "manage_deliveries"
	ImportStaff                      = "import_staff"
)

// Recipients names who is emailed for an event: "line_manager" (of the
// staff member the event is about) or "role:<role>" (everyone with it).
type Recipients struct {
	To []string `json:"to"`
	Cc []string `json:"cc"`
}

// Profile is one organisation's policy profile.
type Profile struct {
	ID                               string                `json:"id"`
	Name                             string                `json:"name"`
	Policy                           string                `json:"policy"`
	ReferencePrefix                  string                `json:"reference_prefix"`
	MailFrom                         string                `json:"mail_from"`
	Roles                            []string              `json:"roles"`
	Decisions                        map[string][]string   `json:"decisions"`
	Notifications                    map[string]Recipients `json:"notifications"`
	CoversElectedMembers             bool                  `json:"covers_elected_members"`
	ExcludesEducationSettingChildren bool                  `json:"excludes_education_setting_children"`
	AppealDeadlineWorkingDays        int                   `json:"appeal_deadline_working_days"`
	// PublicHolidays are the organisation's closed days ("2026-12-25"),
	// which working-day deadlines skip. Keep them current each year.
	PublicHolidays              []string `json:"public_holidays"`
	ReviewRestartsOnNewIncident bool     `json:"review_restarts_on_new_incident"`
	// EvidenceReaders names who, besides the read_organisation_evidence
	// roles, may read an evidence item, by their relation to it (C76):
	// "uploader", "incident_reporter", "incident_staff_involved",
	// "incident_reviewer", "incident_reporter_line_manager",
	// "restriction_decider", "restriction_appeal_officer",
	// "public_naming_staff_member", "public_naming_reporter". Relations not
	// listed grant nothing.
	EvidenceReaders []string `json:"evidence_readers"`
	// EvidenceRetentionDays is how long an evidence item marked for deletion
	// (its restriction lifted or expired) is kept before its content may be
	// deleted; a tombstone with the hash stays.
	EvidenceRetentionDays int `json:"evidence_retention_days"`
	// RestrictionSharing names, per channel a restriction affects, who must
	// be told of it (C77), e.g. "phone": ["role:service_centre"].
	RestrictionSharing map[string][]string `json:"restriction_sharing"`
}

// Allows reports whether someone holding roles may take decision. Unknown
// decisions are refused (deny by default).
func (p Profile) Allows(decision string, roles []string) bool {
	for _, r := range p.Decisions[decision] {
		if slices.Contains(roles, r) {
			return true
		}
	}
	return false
}

// RolesFor lists the roles that may take decision, for error messages.
func (p Profile) RolesFor(decision string) []string { return p.Decisions[decision] }

// KnowsRole reports whether role exists in this profile.
func (p Profile) KnowsRole(role string) bool { return slices.Contains(p.Roles, role) }

//go:embed *.json
var files embed.FS

var profiles = load()

func load() map[string]Profile {
	entries, err := files.ReadDir(".")
	if err != nil {
		panic(err)
	}
	out := map[string]Profile{}
	for _, e := range entries {
		b, err := files.ReadFile(e.Name())
		if err != nil {
			panic(err)
		}
		var p Profile
		if err := json.Unmarshal(b, &p); err != nil {
			panic(fmt.Sprintf("policy: %s: %v", e.Name(), err))
		}
		for _, day := range p.PublicHolidays {
			if _, err := time.Parse(time.DateOnly, day); err != nil {
				panic(fmt.Sprintf("policy: %s: public holiday %q is not a date such as 2026-12-25", e.Name(), day))
			}
		}
		out[p.ID] = p
	}
	return out
}

// IsPublicHoliday reports whether day (its calendar date as given) is one
// of the organisation's public holidays.
func (p Profile) IsPublicHoliday(day time.Time) bool {
	return slices.Contains(p.PublicHolidays, day.Format(time.DateOnly))
}

// For returns the profile of organisation id.
func For(id string) (Profile, bool) {
	p, ok := profiles[id]
	return p, ok
}

// Organizations lists the ids of every profile, sorted.
func Organizations() []string {
	ids := make([]string, 0, len(profiles))
	for id := range profiles {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
