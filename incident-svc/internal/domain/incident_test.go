package domain

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/eventlog"
)

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func validReport() Report {
	return Report{
		Categories:  []string{"abuse"},
		Channel:     "phone",
		OccurTime:   now.Add(-time.Hour),
		Location:    "Phone line",
		Description: "Caller shouted and swore at the officer.",
	}
}

func TestReportValidationNamesTheField(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(r *Report)
		field string
	}{
		{"no category", func(r *Report) { r.Categories = nil }, "incident.categories"},
		{"unknown category", func(r *Report) { r.Categories = []string{"rudeness"} }, "incident.categories"},
		{"no channel", func(r *Report) { r.Channel = "" }, "incident.channel"},
		{"unknown channel", func(r *Report) { r.Channel = "fax" }, "incident.channel"},
		{"no time", func(r *Report) { r.OccurTime = time.Time{} }, "incident.occur_time"},
		{"future time", func(r *Report) { r.OccurTime = now.Add(time.Hour) }, "incident.occur_time"},
		{"ancient time", func(r *Report) { r.OccurTime = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC) }, "incident.occur_time"},
		{"empty description", func(r *Report) { r.Description = "   " }, "incident.description"},
		{"over-long description", func(r *Report) { r.Description = strings.Repeat("é", MaxDescription+1) }, "incident.description"},
		{"over-long location", func(r *Report) { r.Location = strings.Repeat("x", MaxShortText+1) }, "incident.location"},
		{"bad subject name", func(r *Report) { r.Subject = "bob" }, "incident.subject"},
		{"bad staff id", func(r *Report) { r.StaffInvolved = []string{"Not A Staff Id"} }, "incident.staff_involved[0]"},
		{"staff listed twice", func(r *Report) { r.StaffInvolved = []string{"hc-cso-2", "hc-cso-2"} }, "incident.staff_involved[1]"},
		{"witness without name", func(r *Report) { r.Witnesses = []Witness{{Contact: "07700 900123"}} }, "incident.witnesses[0].name"},
		{"witness bad staff id", func(r *Report) { r.Witnesses = []Witness{{StaffID: "??"}} }, "incident.witnesses[0].staff_id"},
		// C32: a warning before ending contact, or the reason why not.
		{"C32 ended without warning or reason", func(r *Report) { r.StaffActions = StaffActions{ContactEnded: true} }, "incident.staff_actions.warning_not_given_reason"},
		{"C32 reason although warned", func(r *Report) {
			r.StaffActions = StaffActions{ContactEnded: true, WarningGiven: true, WarningNotGivenReason: "x"}
		}, "incident.staff_actions.warning_not_given_reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validReport()
			tt.edit(&r)
			err := r.Validate("incident", now)
			var ae *apperr.Error
			if !errors.As(err, &ae) || !errors.Is(err, apperr.ErrInvalidArgument) {
				t.Fatalf("err = %v, want InvalidArgument", err)
			}
			if ae.Field != tt.field {
				t.Errorf("field = %q, want %q (%v)", ae.Field, tt.field, err)
			}
		})
	}
}

func TestValidReportsAreAccepted(t *testing.T) {
	tests := []struct {
		name string
		edit func(r *Report)
	}{
		{"minimal", func(*Report) {}},
		{"several categories, duplicates merged", func(r *Report) { r.Categories = []string{"abuse", "harassment", "abuse"} }},
		{"C32 ended after a warning", func(r *Report) { r.StaffActions = StaffActions{ContactEnded: true, WarningGiven: true} }},
		{"C32 ended without warning because unsafe", func(r *Report) {
			r.StaffActions = StaffActions{EndedDistressingContact: true, WarningNotGivenReason: "language was extreme"}
		}},
		{"C33 call paused", func(r *Report) { r.StaffActions = StaffActions{CallPaused: true} }},
		{"C34 ended because live-streamed", func(r *Report) {
			r.StaffActions = StaffActions{EndedRecordedOrStreamed: true, WarningGiven: true}
		}},
		{"witnesses and staff", func(r *Report) {
			r.StaffInvolved = []string{"hc-cso-2"}
			r.Witnesses = []Witness{{Name: "A member of the public"}, {StaffID: "hc-tl-1"}}
		}},
		{"small clock skew", func(r *Report) { r.OccurTime = now.Add(time.Minute) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validReport()
			tt.edit(&r)
			if err := r.Validate("incident", now); err != nil {
				t.Fatalf("refused: %v", err)
			}
		})
	}
}

func TestValidateNormalises(t *testing.T) {
	r := validReport()
	r.Categories = []string{"abuse", "violence", "abuse"}
	r.Description = "  spaced  "
	r.Witnesses = []Witness{{Name: " W One "}, {Name: "W Two"}}
	if err := r.Validate("incident", now); err != nil {
		t.Fatal(err)
	}
	if len(r.Categories) != 2 || r.Description != "spaced" || r.Witnesses[0].Name != "W One" || r.Witnesses[1].ID != "w2" {
		t.Errorf("not normalised: %+v", r)
	}
}

func TestFoldOfReportedIncident(t *testing.T) {
	r := validReport()
	e, err := ReportIncident("abc", "highland-council", "HC-2026-ABC", "hc-cso-1", r, now)
	if err != nil {
		t.Fatal(err)
	}
	inc, err := Fold([]eventlog.Event{e})
	if err != nil {
		t.Fatal(err)
	}
	if inc.ID != "abc" || inc.Reference != "HC-2026-ABC" || inc.Reporter != "hc-cso-1" || inc.State != StateReported ||
		inc.Version != 1 || !inc.CreateTime.Equal(now) || inc.Description != r.Description || inc.Organization != "highland-council" {
		t.Errorf("fold = %+v", inc)
	}
	if !inc.Involves("hc-cso-1") || inc.Involves("hc-cso-2") {
		t.Error("Involves is wrong")
	}
	e.Type = "incident.unknown"
	if _, err := Fold([]eventlog.Event{e}); err == nil {
		t.Error("unknown event type folded silently")
	}
}
