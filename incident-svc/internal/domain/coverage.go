package domain

import (
	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/policy"
)

// Subject kinds (policy-map.md section 1).
const (
	SubjectServiceUser   = "service_user"
	SubjectStakeholder   = "stakeholder"
	SubjectOrganisation  = "organisation"
	SubjectAdvocate      = "advocate"
	SubjectElectedMember = "elected_member"
)

// CheckCovered says whether the policy covers engagement with a subject of
// this kind: elected members only where the profile covers internal
// customers, and never a child or young person in an education setting
// where the profile excludes them (they fall under the Promoting Positive
// Relationships framework instead).
func CheckCovered(p policy.Profile, field, kind string, childInEducationSetting bool) error {
	if kind == SubjectElectedMember && !p.CoversElectedMembers {
		return apperr.Invalid(field, "the %s policy (%s) does not cover elected members as customers", p.Name, p.Policy)
	}
	if childInEducationSetting && p.ExcludesEducationSettingChildren {
		return apperr.Invalid(field, "children and young people in an education setting are not covered by %s's %s policy: "+
			"follow the Promoting Positive Relationships framework instead", p.Name, p.Policy)
	}
	return nil
}
