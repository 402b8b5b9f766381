package domain

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/contactguard/contactguard/platform/contactid"
)

// Treatments the contact check answers (restriction/v1 Treatment).
const (
	TreatAllow                 = "allow"
	TreatAutomatedService      = "automated_service"
	TreatRouteToOfficer        = "route_to_officer"
	TreatRouteToRepresentative = "route_to_representative"
	TreatRouteToOtherStaff     = "route_to_other_staff"
	TreatRefuseLimitReached    = "refuse_limit_reached"
	TreatRefuseOutsideWindow   = "refuse_outside_window"
	TreatRefuseChannel         = "refuse_channel"
)

// Fail modes: what the check answers for what it cannot know without its
// stores (CHECK_FAIL_MODE).
const (
	FailAllow     = "allow"
	FailAutomated = "automated"
)

// IdentifierKind says which kind of identifier a contact on channel comes
// with: phone numbers for calls, e-mail addresses for e-mail (and for
// anything written with an @), handles for social media, postal addresses
// for letters and paper forms; in person and online forms give a phone
// number or an e-mail address.
func IdentifierKind(channel, identifier string) string {
	switch channel {
	case Phone:
		return contactid.Phone
	case SocialMedia:
		return contactid.Social
	}
	if strings.Contains(identifier, "@") {
		return contactid.Email
	}
	switch channel {
	case PostLetter, PaperForm:
		return contactid.Postal
	case Email:
		return contactid.Email
	}
	return contactid.Phone
}

// channelBit gives each channel one bit, so sets of channels are masks.
func channelBit(c string) uint16 {
	if i := slices.Index(Channels, c); i >= 0 {
		return 1 << i
	}
	return 0
}

func channelMask(chans []string) uint16 {
	var m uint16
	for _, c := range chans {
		m |= channelBit(c)
	}
	return m
}

const allChannels = uint16(1)<<7 - 1

type compiledWindow struct {
	days       uint8 // bit d (1..7) set; 0 = every day
	start, end int   // minutes of the day
}

type compiledWindows struct {
	channels uint16
	loc      *time.Location
	windows  []compiledWindow
}

// Limit is a volume limit as the check applies it.
type Limit struct {
	Channel     string // "" all channels together
	MaxContacts int
	Period      time.Duration
}

// Compiled is one restriction in force as the check sees it: its rules
// turned into masks and numbers once, so each check is a few comparisons.
type Compiled struct {
	ID           string
	Organization string
	Subject      string
	Version      int64
	Start, End   time.Time // End zero: open-ended

	allowed     uint16 // channels_only; 0 = no such rule
	automated   uint16
	officer     string
	rep         string
	repContact  string
	withhold    bool
	maxDuration time.Duration
	limits      []Limit
	windows     []compiledWindows
	noContact   []string
}

// HasLimits reports whether the check needs the contact counters.
func (c *Compiled) HasLimits() bool { return len(c.limits) > 0 }

// Compile prepares r for the check; it returns nil when r is not in force.
func Compile(r Restriction) *Compiled {
	if !r.InForce() {
		return nil
	}
	c := &Compiled{ID: r.ID, Organization: r.Organization, Subject: r.Subject, Version: r.Version, Start: r.StartTime, End: r.EndTime}
	for _, rule := range r.Rules {
		switch rule.Kind {
		case KindChannelsOnly:
			m := channelMask(rule.Channels)
			if c.allowed == 0 {
				c.allowed = m
			} else {
				c.allowed &= m
			}
			if c.allowed == 0 {
				c.allowed = 1 << 15 // no channel at all: a bit no channel has
			}
		case KindAutomatedService:
			if len(rule.Channels) == 0 {
				c.automated |= channelBit(Phone)
			}
			c.automated |= channelMask(rule.Channels)
		case KindNamedOfficer:
			c.officer = rule.StaffID
		case KindThirdPartyOnly:
			c.rep, c.repContact = rule.Representative, rule.Contact
		case KindWithholdStaffDetails:
			c.withhold = true
		case KindCallDurationLimit:
			if c.maxDuration == 0 || rule.MaxDuration < c.maxDuration {
				c.maxDuration = rule.MaxDuration
			}
		case KindVolumeLimit:
			c.limits = append(c.limits, Limit{Channel: rule.Channel, MaxContacts: rule.MaxContacts, Period: rule.Period})
		case KindTimeWindows:
			cw := compiledWindows{channels: channelMask(rule.Channels), loc: time.UTC}
			if cw.channels == 0 {
				cw.channels = allChannels
			}
			if loc, err := time.LoadLocation(rule.TimeZone); err == nil {
				cw.loc = loc
			}
			for _, w := range rule.Windows {
				x := compiledWindow{start: clockMinutes(w.Start), end: clockMinutes(w.End)}
				for _, d := range w.Days {
					x.days |= 1 << d
				}
				cw.windows = append(cw.windows, x)
			}
			c.windows = append(c.windows, cw)
		case KindStaffNoContact:
			c.noContact = append(c.noContact, rule.StaffIDs...)
		}
	}
	return c
}

func clockMinutes(hhmm string) int {
	h, _ := strconv.Atoi(hhmm[:2])
	m, _ := strconv.Atoi(hhmm[3:])
	return h*60 + m
}

// Applies reports whether the restriction is in force at t.
func (c *Compiled) Applies(t time.Time) bool {
	return !t.Before(c.Start) && (c.End.IsZero() || t.Before(c.End))
}

// Contact is one contact to check.
type Contact struct {
	Organization string
	Channel      string
	StaffID      string
	Time         time.Time
}

// Counter is one volume counter a check reads or a record counts: per
// organisation, subject, channel ("all" for every channel) and calendar
// period.
type Counter struct {
	Key         string // without the deployment's prefix
	MaxContacts int
	PeriodEnd   time.Time
	Period      time.Duration
}

// periodAnchor starts the calendar periods on a Monday at 00:00 UTC
// (1970-01-05), so weekly limits run Monday to Sunday and daily ones from
// midnight.
const periodAnchor = 4 * 24 * 60 * 60

// PeriodBounds returns the calendar period of length p holding t. Periods
// of whole days follow the UK calendar (Europe/London): a day starts at
// local midnight and a week on Monday, in summer as in winter, so such a
// period lasts 23 or 25 hours across a clock change. Shorter periods are
// plain multiples of p from the anchor.
func PeriodBounds(t time.Time, p time.Duration) (start, end time.Time) {
	const day = 24 * time.Hour
	if p%day == 0 {
		loc := london()
		local := t.In(loc)
		// Days since the anchor Monday, counted on the local calendar.
		days := int64(time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, time.UTC).Unix()-periodAnchor) / 86400
		span := int64(p / day)
		n := days / span
		if days < 0 && days%span != 0 {
			n--
		}
		first := time.Date(1970, 1, 5, 0, 0, 0, 0, loc).AddDate(0, 0, int(n*span))
		return first.UTC(), first.AddDate(0, 0, int(span)).UTC()
	}
	secs := int64(p / time.Second)
	n := (t.Unix() - periodAnchor) / secs
	if t.Unix() < periodAnchor && (t.Unix()-periodAnchor)%secs != 0 {
		n--
	}
	start = time.Unix(periodAnchor+n*secs, 0).UTC()
	return start, start.Add(p)
}

// Counters lists the counters that apply to a contact on channel at t for
// the given restrictions (in force at t), merging equal ones and keeping
// the lowest limit.
func Counters(list []*Compiled, channel string, t time.Time) []Counter {
	var out []Counter
	for _, c := range list {
		if !c.Applies(t) {
			continue
		}
		for _, l := range c.limits {
			if l.Channel != "" && l.Channel != channel {
				continue
			}
			ch := l.Channel
			if ch == "" {
				ch = "all"
			}
			start, end := PeriodBounds(t, l.Period)
			key := fmt.Sprintf("%s:%s:%s:%d:%d", c.Organization, c.Subject, ch, int64(l.Period/time.Second), start.Unix())
			if i := slices.IndexFunc(out, func(x Counter) bool { return x.Key == key }); i >= 0 {
				out[i].MaxContacts = min(out[i].MaxContacts, l.MaxContacts)
				continue
			}
			out = append(out, Counter{Key: key, MaxContacts: l.MaxContacts, PeriodEnd: end, Period: l.Period})
		}
	}
	return out
}

// Answer is the check's answer. It carries no reasons and no incident details.
type Answer struct {
	Treatment   string
	RouteTo     string
	MaxDuration time.Duration
	Withhold    bool
	NextAllowed time.Time
	Degraded    bool
}

// Allow is the answer for a caller without restrictions.
var Allow = Answer{Treatment: TreatAllow}

// Evaluate answers the check for a contact given the restrictions in force
// for the caller's subject(s), the current counts of counters (same order
// as Counters returned; nil when none apply), and whether the counts could
// be read. When they could not, the volume limit is answered per failMode
// and the answer is marked degraded.
//
// The most protective treatment wins: a channel not allowed (C23.1), then a
// time outside the windows (C23.5), then a volume limit reached (C23.5),
// then the automated service (C23.4), then routing to the representative
// (C23.3), to the named officer (C23.1) or away from staff who asked for no
// contact (C68). Call duration limits (C23.5) and withholding staff details
// (C23.2) accompany any answer.
func Evaluate(list []*Compiled, ct Contact, counters []Counter, counts []int64, countsOK bool, failMode string) Answer {
	var a Answer
	var (
		refuseChannel, automated, outsideWindow bool
		nextWindow                              time.Time
		officer, rep, repContact                string
		noContact                               bool
	)
	bit := channelBit(ct.Channel)
	for _, c := range list {
		if !c.Applies(ct.Time) {
			continue
		}
		if c.allowed != 0 && c.allowed&bit == 0 {
			refuseChannel = true
		}
		if c.automated&bit != 0 {
			automated = true
		}
		for _, w := range c.windows {
			if w.channels&bit == 0 {
				continue
			}
			if open, next := w.open(ct.Time); !open {
				outsideWindow = true
				if nextWindow.IsZero() || next.After(nextWindow) {
					nextWindow = next // the latest: the caller must wait for every window
				}
			}
		}
		if c.officer != "" && c.officer != ct.StaffID {
			officer = c.officer
		}
		if c.rep != "" {
			rep, repContact = c.rep, c.repContact
		}
		if ct.StaffID != "" && slices.Contains(c.noContact, ct.StaffID) {
			noContact = true
		}
		if c.withhold {
			a.Withhold = true
		}
		if c.maxDuration > 0 && ct.Channel == Phone && (a.MaxDuration == 0 || c.maxDuration < a.MaxDuration) {
			a.MaxDuration = c.maxDuration
		}
	}
	switch {
	case refuseChannel:
		a.Treatment = TreatRefuseChannel
		return a
	case outsideWindow:
		a.Treatment, a.NextAllowed = TreatRefuseOutsideWindow, nextWindow
		return a
	}
	if len(counters) > 0 {
		if !countsOK {
			a.Degraded = true
			if failMode == FailAutomated {
				a.Treatment = TreatAutomatedService
				return a
			}
		} else {
			var reached bool
			var until time.Time
			for i, c := range counters {
				if i < len(counts) && counts[i] >= int64(c.MaxContacts) {
					reached = true
					if c.PeriodEnd.After(until) {
						until = c.PeriodEnd
					}
				}
			}
			if reached {
				a.Treatment, a.NextAllowed = TreatRefuseLimitReached, until
				return a
			}
		}
	}
	switch {
	case automated:
		a.Treatment = TreatAutomatedService
	case rep != "":
		a.Treatment, a.RouteTo = TreatRouteToRepresentative, repContact
		if a.RouteTo == "" {
			a.RouteTo = rep
		}
	case officer != "":
		a.Treatment, a.RouteTo = TreatRouteToOfficer, officer
	case noContact:
		a.Treatment = TreatRouteToOtherStaff
	default:
		a.Treatment = TreatAllow
	}
	return a
}

// open reports whether t falls in one of the windows, and if not, when the
// next one opens (within the coming 8 days).
func (w compiledWindows) open(t time.Time) (bool, time.Time) {
	local := t.In(w.loc)
	if w.inside(local) {
		return true, time.Time{}
	}
	var next time.Time
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, w.loc)
	for d := 0; d <= 8 && next.IsZero(); d++ {
		date := day.AddDate(0, 0, d)
		wd := isoWeekday(date)
		for _, x := range w.windows {
			if x.days != 0 && x.days&(1<<wd) == 0 {
				continue
			}
			at := time.Date(date.Year(), date.Month(), date.Day(), x.start/60, x.start%60, 0, 0, w.loc)
			if at.After(local) && (next.IsZero() || at.Before(next)) {
				next = at
			}
		}
	}
	return false, next.UTC()
}

func (w compiledWindows) inside(local time.Time) bool {
	wd := isoWeekday(local)
	m := local.Hour()*60 + local.Minute()
	for _, x := range w.windows {
		if (x.days == 0 || x.days&(1<<wd) != 0) && m >= x.start && m < x.end {
			return true
		}
	}
	return false
}

// isoWeekday is 1 for Monday .. 7 for Sunday.
func isoWeekday(t time.Time) int {
	if wd := int(t.Weekday()); wd != 0 {
		return wd
	}
	return 7
}

// Marker is the staff-facing marker of a subject (C76): the minimum
// front-line staff need to apply its restrictions, no incident details.
type Marker struct {
	Subject         string
	Restricted      bool
	Instructions    []string
	AllowedChannels []string
	NamedOfficer    string
	Representative  string
	Withhold        bool
	Restrictions    []string
}

// MarkerFor builds the marker from the subject's restrictions in force at now.
func MarkerFor(subject string, rs []Restriction, now time.Time) Marker {
	m := Marker{Subject: subject}
	var allowed []string
	for _, r := range rs {
		if !r.InForce() || now.Before(r.StartTime) || (!r.EndTime.IsZero() && !now.Before(r.EndTime)) {
			continue
		}
		m.Restricted = true
		m.Restrictions = append(m.Restrictions, r.Name())
		for _, rule := range r.Rules {
			if s := rule.Instruction(); s != "" && !slices.Contains(m.Instructions, s) {
				m.Instructions = append(m.Instructions, s)
			}
			switch rule.Kind {
			case KindChannelsOnly:
				if allowed == nil {
					allowed = slices.Clone(rule.Channels)
				} else {
					allowed = slices.DeleteFunc(allowed, func(c string) bool { return !slices.Contains(rule.Channels, c) })
				}
			case KindNamedOfficer:
				m.NamedOfficer = rule.StaffID
			case KindThirdPartyOnly:
				m.Representative = rule.Representative
			case KindWithholdStaffDetails:
				m.Withhold = true
			}
		}
	}
	m.AllowedChannels = allowed
	return m
}
