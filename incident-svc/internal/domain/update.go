package domain

import (
	"slices"
	"strings"
	"time"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/eventlog"
)

// UpdatablePaths are the report's fields that UpdateIncident may change.
var UpdatablePaths = []string{
	"categories", "channel", "occur_time", "location", "subject", "staff_involved", "witnesses", "description",
	"staff_actions", "zero_tolerance", "physical_threat", "source_url", "platform", "aimed_at_third_party",
}

// ApplyUpdate corrects the report: the fields in mask take their value
// from patch. Only the reporter or a manager may correct it, with a reason,
// and the whole report must still be valid. Nothing is overwritten
// silently: the event keeps the report after the change and the reason,
// and the earlier versions stay in the timeline.
func ApplyUpdate(inc Incident, a Actor, patch Report, mask []string, reason string, now time.Time) (Updated, error) {
	if err := inc.open(); err != nil {
		return Updated{}, err
	}
	if inc.Reporter != a.StaffID && !a.isManager() {
		return Updated{}, apperr.Denied("only the reporter or a manager may correct incident %s", inc.Reference)
	}
	if len(mask) == 0 {
		return Updated{}, apperr.Invalid("update_mask", "list the fields to change (any of %s)", strings.Join(UpdatablePaths, ", "))
	}
	if err := required("reason", reason, MaxReason); err != nil {
		return Updated{}, err
	}
	next := inc.Report
	next.Categories = slices.Clone(next.Categories)
	for _, path := range mask {
		switch path {
		case "categories":
			next.Categories = patch.Categories
		case "channel":
			next.Channel = patch.Channel
		case "occur_time":
			next.OccurTime = patch.OccurTime
		case "location":
			next.Location = patch.Location
		case "subject":
			next.Subject = patch.Subject
		case "staff_involved":
			next.StaffInvolved = patch.StaffInvolved
		case "witnesses":
			next.Witnesses = patch.Witnesses
		case "description":
			next.Description = patch.Description
		case "staff_actions":
			next.StaffActions = patch.StaffActions
		case "zero_tolerance":
			next.ZeroTolerance = patch.ZeroTolerance
		case "physical_threat":
			next.PhysicalThreat = patch.PhysicalThreat
		case "source_url":
			next.SourceURL = patch.SourceURL
		case "platform":
			next.Platform = patch.Platform
		case "aimed_at_third_party":
			next.AimedAtThird = patch.AimedAtThird
		default:
			return Updated{}, apperr.Invalid("update_mask", "cannot change %q (any of %s)", path, strings.Join(UpdatablePaths, ", "))
		}
	}
	if err := next.Validate("incident", now); err != nil {
		return Updated{}, err
	}
	if slices.Contains(mask, "witnesses") && len(inc.WitnessStatements) > 0 {
		return Updated{}, apperr.Precondition("witness statements are already requested: add witnesses with RequestWitnessStatement instead")
	}
	return Updated{Facts: Incident{Reference: inc.Reference, Reporter: inc.Reporter, Report: next}.Facts(), Report: next, ChangedFields: mask, Reason: reason}, nil
}

// Summary is a short line for the timeline. It never repeats the
// description of the behaviour or a statement: the timeline is read by
// everyone who may read the incident, the details stay in the record.
func Summary(e eventlog.Event) (summary, reason string) {
	var p struct {
		Outcome       string   `json:"outcome"`
		Reasons       string   `json:"reasons"`
		Reason        string   `json:"reason"`
		ChangedFields []string `json:"changed_fields"`
		Statement     struct {
			WitnessID string `json:"witness_id"`
			State     string `json:"state"`
		} `json:"statement"`
		Action struct {
			Kind string `json:"kind"`
		} `json:"action"`
		Support struct {
			Kind    string `json:"kind"`
			StaffID string `json:"staff_id"`
		} `json:"support"`
		Decision struct {
			Unacceptable bool   `json:"unacceptable"`
			Recorded     bool   `json:"recorded"`
			Reason       string `json:"reason"`
		} `json:"decision"`
		Closure struct {
			Reason string `json:"reason"`
		} `json:"closure"`
	}
	_ = e.Decode(&p)
	human := func(s string) string { return strings.ReplaceAll(s, "_", " ") }
	switch e.Type {
	case EventReported:
		return "Incident reported", ""
	case EventUpdated:
		return "Report corrected: " + strings.Join(p.ChangedFields, ", "), p.Reason
	case EventReviewed:
		return "Manager review: " + human(p.Outcome), p.Reasons
	case EventPoliceDecisionRecorded:
		return "Police decision: " + human(p.Outcome), p.Reason
	case EventWitnessRequested:
		return "Witness statement requested from " + p.Statement.WitnessID, ""
	case EventWitnessRecorded:
		return "Witness statement " + p.Statement.State + " (" + p.Statement.WitnessID + ")", ""
	case EventRestorativeRecorded:
		return "Restorative action: " + human(p.Action.Kind), ""
	case EventCorrespondenceDecided:
		if p.Decision.Unacceptable {
			return "Correspondence decided unacceptable", p.Decision.Reason
		}
		return "Correspondence decided acceptable", p.Decision.Reason
	case EventOnlineActionRecorded:
		return "Online action: " + human(p.Action.Kind), ""
	case EventStaffSupportRecorded:
		return "Staff support: " + human(p.Support.Kind) + " for " + p.Support.StaffID, ""
	case EventOutsideContactDecided:
		if p.Decision.Recorded {
			return "Contact outside the office: recorded", p.Decision.Reason
		}
		return "Contact outside the office: not recorded", p.Decision.Reason
	case EventClosed:
		return "Incident closed", p.Closure.Reason
	}
	return human(strings.TrimPrefix(e.Type, e.AggregateType+".")), ""
}
