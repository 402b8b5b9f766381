package domain

import (
	"fmt"
	"slices"
	"strings"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/identity"
	"github.com/contactguard/contactguard/platform/policy"
)

// Relations a staff member may hold to an item. The profile's
// evidence_readers says which of them let a staff member read it (C76).
const (
	RelUploader                 = "uploader"
	RelIncidentReporter         = "incident_reporter"
	RelIncidentStaffInvolved    = "incident_staff_involved"
	RelRestrictionAppealOfficer = "restriction_appeal_officer"
	RelNamedStaffMember         = "public_naming_staff_member"
	RelNamingReporter           = "public_naming_reporter"
	// The manager who recorded the review of the linked incident (C31).
	RelIncidentReviewer = "incident_reviewer"
	// The line manager of the linked incident's reporter: the person told
	// to review it, who needs the evidence to do so.
	RelReporterLineManager = "incident_reporter_line_manager"
	// The staff member who decided the linked restriction (C24).
	RelRestrictionDecider = "restriction_decider"
)

// IncidentRelations are the relations found by asking about the linked
// incident.
var IncidentRelations = []string{RelIncidentReporter, RelIncidentStaffInvolved, RelIncidentReviewer, RelReporterLineManager}

// RestrictionRelations are the relations found by asking about the linked
// restriction.
var RestrictionRelations = []string{RelRestrictionAppealOfficer, RelRestrictionDecider}

// Relations is what the services owning an item's links said about the
// caller, plus why a link could not be checked (shown when access is
// denied, so a refusal caused by a service being down says so).
type Relations struct {
	Held      []string
	Unchecked []string // e.g. "restriction-svc answered Unimplemented for restrictions/x"
}

// Add records a relation the caller holds.
func (r *Relations) Add(rel string) {
	if !slices.Contains(r.Held, rel) {
		r.Held = append(r.Held, rel)
	}
}

// Grants reports whether a profile lets rel read items.
func Grants(p policy.Profile, rel string) bool { return slices.Contains(p.EvidenceReaders, rel) }

// GrantsAny reports whether a profile lets any of rels read items.
func GrantsAny(p policy.Profile, rels []string) bool {
	return slices.ContainsFunc(rels, func(r string) bool { return Grants(p, r) })
}

// ReadsWholeOrganisation reports whether who may read every item of their
// organisation (the profile's read_organisation_evidence roles).
func ReadsWholeOrganisation(p policy.Profile, who identity.Identity) bool {
	return p.Allows(policy.ReadOrganisationEvidence, who.Roles)
}

// CanRead decides whether who may read the metadata and content of it,
// given the relations found. Deny by default: another organisation's item
// does not exist for the caller (not found), and within the organisation
// only the profile's roles and relations grant access.
func CanRead(p policy.Profile, who identity.Identity, it Item, rel Relations) error {
	if it.Organization != who.Organization {
		return apperr.NotFound("evidence %s not found", it.Name())
	}
	if ReadsWholeOrganisation(p, who) {
		return nil
	}
	for _, r := range rel.Held {
		if Grants(p, r) {
			return nil
		}
	}
	msg := fmt.Sprintf("%s is need-to-know (C76): it can be read by %s", it.Name(), describeReaders(p))
	if len(rel.Unchecked) > 0 {
		msg += "; could not check: " + strings.Join(rel.Unchecked, "; ")
	}
	return apperr.Denied("%s", msg)
}

var relationText = map[string]string{
	RelUploader:                 "the uploader",
	RelIncidentReporter:         "the reporter of the linked incident",
	RelIncidentStaffInvolved:    "staff involved in the linked incident",
	RelRestrictionAppealOfficer: "the appeal officer of the linked restriction",
	RelIncidentReviewer:         "the manager who reviewed the linked incident",
	RelReporterLineManager:      "the line manager of the linked incident's reporter",
	RelRestrictionDecider:       "the decider of the linked restriction",
	RelNamedStaffMember:         "the staff member named publicly",
	RelNamingReporter:           "the reporter of the staff-named-publicly case",
}

func describeReaders(p policy.Profile) string {
	var parts []string
	for _, r := range p.EvidenceReaders {
		if t, ok := relationText[r]; ok {
			parts = append(parts, t)
		}
	}
	if roles := p.RolesFor(policy.ReadOrganisationEvidence); len(roles) > 0 {
		parts = append(parts, "and staff with the role "+strings.Join(roles, " or "))
	}
	if len(parts) == 0 {
		return "nobody under this organisation's profile"
	}
	return strings.Join(parts, ", ")
}

// CanReadAccessLog decides whether who may list access records (auditors).
func CanReadAccessLog(p policy.Profile, who identity.Identity) error {
	if p.Allows(policy.ReadAccessLog, who.Roles) {
		return nil
	}
	return apperr.Denied("the evidence access log is read by staff with the role %s", strings.Join(p.RolesFor(policy.ReadAccessLog), " or "))
}

// CanVerifyAll decides whether who may verify every item of the
// organisation: auditors and the organisation's evidence readers.
func CanVerifyAll(p policy.Profile, who identity.Identity) error {
	if p.Allows(policy.ReadAccessLog, who.Roles) || ReadsWholeOrganisation(p, who) {
		return nil
	}
	roles := append(slices.Clone(p.RolesFor(policy.ReadAccessLog)), p.RolesFor(policy.ReadOrganisationEvidence)...)
	return apperr.Denied("verifying all evidence is for staff with the role %s", strings.Join(roles, " or "))
}

// CanManageRetention decides whether who may mark items for deletion and
// delete them.
func CanManageRetention(p policy.Profile, who identity.Identity) error {
	if p.Allows(policy.ManageEvidenceRetention, who.Roles) {
		return nil
	}
	return apperr.Denied("evidence retention is managed by staff with the role %s", strings.Join(p.RolesFor(policy.ManageEvidenceRetention), " or "))
}
