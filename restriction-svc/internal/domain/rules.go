// Package domain holds the rules of restrictions on contact ("active
// management", policy-map.md section 3, C22-C25, C64, C68, C71, C76, C77)
// and of the real-time contact check. It does no I/O: the application layer
// loads events, asks the domain for the next change, and appends it.
package domain

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/contactid"
)

// Channels of inbound contact (restriction/v1 ContactChannel without the prefix).
const (
	Phone       = "phone"
	Email       = "email"
	PostLetter  = "letter"
	InPerson    = "in_person"
	OnlineForm  = "online_form"
	SocialMedia = "social_media"
	PaperForm   = "paper_form"
)

// Channels lists every channel in a fixed order.
var Channels = []string{Phone, Email, PostLetter, InPerson, OnlineForm, SocialMedia, PaperForm}

// Kinds of rule (C23, C64, C68); combinable.
const (
	KindChannelsOnly         = "channels_only"          // C23.1
	KindNamedOfficer         = "named_officer"          // C23.1
	KindWithholdStaffDetails = "withhold_staff_details" // C23.2
	KindThirdPartyOnly       = "third_party_only"       // C23.3
	KindAutomatedService     = "automated_service"      // C23.4
	KindVolumeLimit          = "volume_limit"           // C23.5
	KindCallDurationLimit    = "call_duration_limit"    // C23.5
	KindTimeWindows          = "time_windows"           // C23.5
	KindComplaintsRestricted = "complaints_restricted"  // C64
	KindStaffNoContact       = "staff_no_contact"       // C68
)

// Kinds lists every kind of rule.
var Kinds = []string{
	KindChannelsOnly, KindNamedOfficer, KindWithholdStaffDetails, KindThirdPartyOnly, KindAutomatedService,
	KindVolumeLimit, KindCallDurationLimit, KindTimeWindows, KindComplaintsRestricted, KindStaffNoContact,
}

// Limits on rule parameters.
const (
	MaxRules        = 20
	MaxVolume       = 10000
	MinPeriod       = time.Hour
	MaxPeriod       = 366 * 24 * time.Hour
	MaxCallDuration = 8 * time.Hour
	MaxWindows      = 21
	MaxShortText    = 300
	MaxText         = 5000
	MaxPeople       = 50
	DefaultTimeZone = "Europe/London"
)

var (
	staffIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	clockPattern   = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
)

// Window is a weekly time window: days (1 Monday .. 7 Sunday; empty means
// every day) from Start to End ("HH:MM", end exclusive).
type Window struct {
	Days  []int  `json:"days,omitempty" bson:"days"`
	Start string `json:"start" bson:"start"`
	End   string `json:"end" bson:"end"`
}

// Rule is one arrangement of a restriction. Kind says which fields apply.
type Rule struct {
	Kind string `json:"kind" bson:"kind"`
	// channels_only: the channels allowed; automated_service: the channels
	// routed (empty means phone); time_windows: the channels the windows
	// apply to (empty means all).
	Channels []string `json:"channels,omitempty" bson:"channels"`
	// named_officer.
	StaffID string `json:"staff_id,omitempty" bson:"staff_id"`
	// third_party_only.
	Representative string `json:"representative,omitempty" bson:"representative"`
	Contact        string `json:"contact,omitempty" bson:"contact"`
	// volume_limit: Channel "" means all channels together.
	Channel     string        `json:"channel,omitempty" bson:"channel"`
	MaxContacts int           `json:"max_contacts,omitempty" bson:"max_contacts"`
	Period      time.Duration `json:"period,omitempty" bson:"period"`
	// call_duration_limit.
	MaxDuration time.Duration `json:"max_duration,omitempty" bson:"max_duration"`
	// time_windows.
	Windows  []Window `json:"windows,omitempty" bson:"windows"`
	TimeZone string   `json:"time_zone,omitempty" bson:"time_zone"`
	// complaints_restricted.
	Terms string `json:"terms,omitempty" bson:"terms"`
	// staff_no_contact.
	StaffIDs []string `json:"staff_ids,omitempty" bson:"staff_ids"`
}

// ValidateRules checks rules as received, naming the field at fault
// (prefix is the path of the list, e.g. "restriction.rules"). It normalises
// them in place: time zone defaulted, lists de-duplicated, contact details
// normalised.
func ValidateRules(prefix string, rules []Rule) error {
	if len(rules) == 0 {
		return apperr.Invalid(prefix, "give at least one rule (one of %s)", strings.Join(Kinds, ", "))
	}
	if len(rules) > MaxRules {
		return apperr.Invalid(prefix, "at most %d rules", MaxRules)
	}
	for i := range rules {
		if err := rules[i].validate(fmt.Sprintf("%s[%d]", prefix, i)); err != nil {
			return err
		}
	}
	return nil
}

func (r *Rule) validate(prefix string) error {
	field := func(name string) string { return prefix + "." + r.Kind + "." + name }
	switch r.Kind {
	case KindChannelsOnly:
		if len(r.Channels) == 0 {
			return apperr.Invalid(field("channels"), "name at least one channel the subject may use")
		}
		return validateChannels(field("channels"), &r.Channels)
	case KindNamedOfficer:
		if !staffIDPattern.MatchString(r.StaffID) {
			return apperr.Invalid(field("staff_id"), "give the staff id of the named officer, got %q", r.StaffID)
		}
	case KindWithholdStaffDetails:
	case KindThirdPartyOnly:
		r.Representative = strings.TrimSpace(r.Representative)
		if r.Representative == "" {
			return apperr.Invalid(field("representative"), "name the representative or advocate")
		}
		if err := maxLen(field("representative"), r.Representative, MaxShortText); err != nil {
			return err
		}
		if c := strings.TrimSpace(r.Contact); c != "" {
			kind := contactid.Phone
			if strings.Contains(c, "@") {
				kind = contactid.Email
			}
			n, err := contactid.Normalize(kind, c)
			if err != nil {
				return apperr.Invalid(field("contact"), "%v", err)
			}
			r.Contact = n
		}
	case KindAutomatedService:
		return validateChannels(field("channels"), &r.Channels)
	case KindVolumeLimit:
		if r.Channel != "" && !slices.Contains(Channels, r.Channel) {
			return apperr.Invalid(field("channel"), "unknown channel %q (one of %s)", r.Channel, strings.Join(Channels, ", "))
		}
		if r.MaxContacts < 1 || r.MaxContacts > MaxVolume {
			return apperr.Invalid(field("max_contacts"), "must be between 1 and %d, got %d", MaxVolume, r.MaxContacts)
		}
		if r.Period < MinPeriod || r.Period > MaxPeriod {
			return apperr.Invalid(field("period"), "must be between 1 hour and 366 days, got %s", r.Period)
		}
		if r.Period%time.Hour != 0 {
			return apperr.Invalid(field("period"), "must be whole hours, got %s", r.Period)
		}
	case KindCallDurationLimit:
		if r.MaxDuration <= 0 || r.MaxDuration > MaxCallDuration {
			return apperr.Invalid(field("max_duration"), "must be positive and at most 8 hours, got %s", r.MaxDuration)
		}
		if r.MaxDuration%time.Second != 0 {
			return apperr.Invalid(field("max_duration"), "must be whole seconds, got %s", r.MaxDuration)
		}
	case KindTimeWindows:
		return r.validateWindows(field)
	case KindComplaintsRestricted:
		r.Terms = strings.TrimSpace(r.Terms)
		return maxLen(field("terms"), r.Terms, MaxText)
	case KindStaffNoContact:
		if len(r.StaffIDs) == 0 {
			return apperr.Invalid(field("staff_ids"), "give the staff id of each staff member who asked for no contact")
		}
		return validateStaffIDs(field("staff_ids"), r.StaffIDs)
	case "":
		return apperr.Invalid(prefix, "choose the kind of rule (one of %s)", strings.Join(Kinds, ", "))
	default:
		return apperr.Invalid(prefix, "unknown kind of rule %q (one of %s)", r.Kind, strings.Join(Kinds, ", "))
	}
	return nil
}

func (r *Rule) validateWindows(field func(string) string) error {
	if len(r.Windows) == 0 {
		return apperr.Invalid(field("windows"), "give at least one time window")
	}
	if len(r.Windows) > MaxWindows {
		return apperr.Invalid(field("windows"), "at most %d windows", MaxWindows)
	}
	if r.TimeZone == "" {
		r.TimeZone = DefaultTimeZone
	}
	if _, err := time.LoadLocation(r.TimeZone); err != nil {
		return apperr.Invalid(field("time_zone"), "unknown time zone %q (an IANA name such as Europe/London)", r.TimeZone)
	}
	for i, w := range r.Windows {
		wf := fmt.Sprintf("%s[%d]", field("windows"), i)
		for j, d := range w.Days {
			if d < 1 || d > 7 {
				return apperr.Invalid(fmt.Sprintf("%s.days[%d]", wf, j), "unknown weekday %d", d)
			}
		}
		if !clockPattern.MatchString(w.Start) {
			return apperr.Invalid(wf+".start", "must be a time of day HH:MM, got %q", w.Start)
		}
		if !clockPattern.MatchString(w.End) {
			return apperr.Invalid(wf+".end", "must be a time of day HH:MM, got %q", w.End)
		}
		if w.End <= w.Start {
			return apperr.Invalid(wf+".end", "must be after start (%s), got %s", w.Start, w.End)
		}
	}
	return validateChannels(field("channels"), &r.Channels)
}

func validateChannels(field string, chans *[]string) error {
	var out []string
	for i, c := range *chans {
		if !slices.Contains(Channels, c) {
			return apperr.Invalid(fmt.Sprintf("%s[%d]", field, i), "unknown channel %q (one of %s)", c, strings.Join(Channels, ", "))
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	*chans = out
	return nil
}

func validateStaffIDs(field string, ids []string) error {
	if len(ids) > MaxPeople {
		return apperr.Invalid(field, "at most %d staff members", MaxPeople)
	}
	for i, id := range ids {
		if !staffIDPattern.MatchString(id) {
			return apperr.Invalid(fmt.Sprintf("%s[%d]", field, i), "is not a staff id: %q", id)
		}
		if slices.Contains(ids[:i], id) {
			return apperr.Invalid(fmt.Sprintf("%s[%d]", field, i), "staff member %q is listed twice", id)
		}
	}
	return nil
}

func maxLen(field, v string, n int) error {
	if c := utf8.RuneCountInString(v); c > n {
		return apperr.Invalid(field, "is %d characters long; at most %d are allowed", c, n)
	}
	return nil
}

// HasComplaintsRule reports whether rules restrict the complaints process
// (C64), which only the profile's restrict_complaints_process roles decide.
func HasComplaintsRule(rules []Rule) bool {
	return slices.ContainsFunc(rules, func(r Rule) bool { return r.Kind == KindComplaintsRestricted })
}

// AffectedChannels lists the channels whose handling the rules change, for
// sharing (C77: phone restrictions to the Service Centre, e-mail ones to
// online monitors) and for the events other services read.
func AffectedChannels(rules []Rule) []string {
	set := map[string]bool{}
	all := func() {
		for _, c := range Channels {
			set[c] = true
		}
	}
	for _, r := range rules {
		switch r.Kind {
		case KindChannelsOnly:
			for _, c := range Channels {
				if !slices.Contains(r.Channels, c) {
					set[c] = true
				}
			}
		case KindAutomatedService:
			if len(r.Channels) == 0 {
				set[Phone] = true
			}
			for _, c := range r.Channels {
				set[c] = true
			}
		case KindVolumeLimit:
			if r.Channel == "" {
				all()
			} else {
				set[r.Channel] = true
			}
		case KindCallDurationLimit:
			set[Phone] = true
		case KindTimeWindows:
			if len(r.Channels) == 0 {
				all()
			}
			for _, c := range r.Channels {
				set[c] = true
			}
		case KindNamedOfficer, KindThirdPartyOnly, KindWithholdStaffDetails, KindStaffNoContact:
			all()
		}
	}
	out := []string{}
	for _, c := range Channels {
		if set[c] {
			out = append(out, c)
		}
	}
	return out
}

// StaffNamed lists the staff the rules name (named officer, staff who asked
// for no contact), so events can say who is involved.
func StaffNamed(rules []Rule) []string {
	var out []string
	for _, r := range rules {
		if r.StaffID != "" && !slices.Contains(out, r.StaffID) {
			out = append(out, r.StaffID)
		}
		for _, s := range r.StaffIDs {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

var weekdayNames = []string{"", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

func channelWords(chans []string) string {
	words := make([]string, len(chans))
	for i, c := range chans {
		words[i] = strings.ReplaceAll(c, "_", " ")
	}
	return strings.Join(words, ", ")
}

func periodWords(d time.Duration) string {
	switch {
	case d%(7*24*time.Hour) == 0 && d/(7*24*time.Hour) == 1:
		return "week"
	case d%(7*24*time.Hour) == 0:
		return fmt.Sprintf("%d weeks", d/(7*24*time.Hour))
	case d%(24*time.Hour) == 0 && d/(24*time.Hour) == 1:
		return "day"
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d == time.Hour:
		return "hour"
	}
	return fmt.Sprintf("%d hours", d/time.Hour)
}

func windowWords(r Rule) string {
	var parts []string
	for _, w := range r.Windows {
		days := "every day"
		if len(w.Days) > 0 {
			names := make([]string, len(w.Days))
			for i, d := range w.Days {
				names[i] = weekdayNames[d]
			}
			days = strings.Join(names, ", ")
		}
		parts = append(parts, fmt.Sprintf("%s %s-%s", days, w.Start, w.End))
	}
	return strings.Join(parts, "; ") + " (" + r.TimeZone + ")"
}

// Instruction is the staff-facing instruction for one rule (C76): what to
// do, nothing of why.
func (r Rule) Instruction() string {
	switch r.Kind {
	case KindChannelsOnly:
		return "Contact only by: " + channelWords(r.Channels)
	case KindNamedOfficer:
		return "Contact only with the named officer " + r.StaffID
	case KindWithholdStaffDetails:
		return "Do not give staff names or direct contact details"
	case KindThirdPartyOnly:
		s := "Contact only through the representative " + r.Representative
		if r.Contact != "" {
			s += " (" + r.Contact + ")"
		}
		return s
	case KindAutomatedService:
		chans := r.Channels
		if len(chans) == 0 {
			chans = []string{Phone}
		}
		if len(chans) == 1 && chans[0] == Phone {
			return "Route calls to the automated line"
		}
		return "Route to the automated service: " + channelWords(chans)
	case KindVolumeLimit:
		ch := "contacts"
		if r.Channel != "" {
			ch = strings.ReplaceAll(r.Channel, "_", " ") + " contacts"
		}
		return fmt.Sprintf("At most %d %s per %s", r.MaxContacts, ch, periodWords(r.Period))
	case KindCallDurationLimit:
		return fmt.Sprintf("End calls after %d minutes", int(r.MaxDuration.Minutes()))
	case KindTimeWindows:
		s := "Contact only " + windowWords(r)
		if len(r.Channels) > 0 {
			s += " by " + channelWords(r.Channels)
		}
		return s
	case KindComplaintsRestricted:
		s := "Complaints process restricted"
		if r.Terms != "" {
			s += ": " + r.Terms
		}
		return s
	case KindStaffNoContact:
		return "No contact with staff members " + strings.Join(r.StaffIDs, ", ") + ": pass contact to a colleague"
	}
	return ""
}
