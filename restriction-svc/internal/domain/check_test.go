package domain

import (
	"testing"
	"time"
)

// compiled returns the check's view of a restriction with rules, imposed
// now by the council team leader.
func compiled(t *testing.T, rules ...Rule) *Compiled {
	t.Helper()
	c := Compile(imposed(t, "hc-tl-1", rules...).r)
	if c == nil {
		t.Fatal("not compiled")
	}
	return c
}

func check(list []*Compiled, channel, staff string, at time.Time) Answer {
	return Evaluate(list, Contact{Organization: "highland-council", Channel: channel, StaffID: staff, Time: at}, nil, nil, true, FailAllow)
}

var soon = now.Add(time.Minute)

// C23.1: contact only through the given channels; others are refused.
func TestC23_1_ChannelsOnlyRefusesOtherChannels(t *testing.T) {
	c := compiled(t, Rule{Kind: KindChannelsOnly, Channels: []string{Email}})
	if a := check([]*Compiled{c}, Email, "", soon); a.Treatment != TreatAllow {
		t.Errorf("email: %s", a.Treatment)
	}
	if a := check([]*Compiled{c}, Phone, "", soon); a.Treatment != TreatRefuseChannel {
		t.Errorf("phone: %s", a.Treatment)
	}
}

// C23.1: contact only with a named officer: others route to the officer.
func TestC23_1_NamedOfficerRoutesToTheOfficer(t *testing.T) {
	c := compiled(t, Rule{Kind: KindNamedOfficer, StaffID: "hc-sup-1"})
	if a := check([]*Compiled{c}, Phone, "hc-cso-1", soon); a.Treatment != TreatRouteToOfficer || a.RouteTo != "hc-sup-1" {
		t.Errorf("to another officer: %+v", a)
	}
	if a := check([]*Compiled{c}, Phone, "", soon); a.Treatment != TreatRouteToOfficer {
		t.Errorf("to nobody in particular: %+v", a)
	}
	if a := check([]*Compiled{c}, Phone, "hc-sup-1", soon); a.Treatment != TreatAllow {
		t.Errorf("to the named officer: %+v", a)
	}
}

// C23.2: staff names and direct contact details withheld.
func TestC23_2_WithholdStaffDetailsAccompaniesTheAnswer(t *testing.T) {
	c := compiled(t, Rule{Kind: KindWithholdStaffDetails})
	if a := check([]*Compiled{c}, Phone, "", soon); a.Treatment != TreatAllow || !a.Withhold {
		t.Errorf("%+v", a)
	}
}

// C23.3: contact only through a representative or advocate.
func TestC23_3_ThirdPartyOnlyRoutesToTheRepresentative(t *testing.T) {
	p := proposal(Rule{Kind: KindThirdPartyOnly, Representative: "Highland Advocacy", Contact: "01463 711 000"})
	if err := ValidateProposal("restriction", &p, true); err != nil {
		t.Fatal(err)
	}
	if p.Rules[0].Contact != "+441463711000" {
		t.Fatalf("contact not normalised: %q", p.Rules[0].Contact)
	}
	c := compiled(t, p.Rules...)
	if a := check([]*Compiled{c}, Email, "", soon); a.Treatment != TreatRouteToRepresentative || a.RouteTo != "+441463711000" {
		t.Errorf("%+v", a)
	}
}

// C23.4: phone calls directed to an automated service; other channels not.
func TestC23_4_PhoneCallsGoToTheAutomatedService(t *testing.T) {
	c := compiled(t, automatedPhone)
	if a := check([]*Compiled{c}, Phone, "", soon); a.Treatment != TreatAutomatedService {
		t.Errorf("phone: %+v", a)
	}
	if a := check([]*Compiled{c}, Email, "", soon); a.Treatment != TreatAllow {
		t.Errorf("email: %+v", a)
	}
	// Not before it starts, not once it ends.
	if a := check([]*Compiled{c}, Phone, "", now.Add(-time.Hour)); a.Treatment != TreatAllow {
		t.Errorf("before the start: %+v", a)
	}
}

// C23.5: at most N contacts per period per channel: "3 calls per week"
// refuses the 4th, until the next week.
func TestC23_5_VolumeLimitRefusesOnceReached(t *testing.T) {
	week := 7 * 24 * time.Hour
	c := compiled(t, Rule{Kind: KindVolumeLimit, Channel: Phone, MaxContacts: 3, Period: week})
	at := time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC) // Wednesday
	ctrs := Counters([]*Compiled{c}, Phone, at)
	if len(ctrs) != 1 || ctrs[0].MaxContacts != 3 {
		t.Fatalf("counters %+v", ctrs)
	}
	if want := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC); !ctrs[0].PeriodEnd.Equal(want) {
		t.Errorf("week ends %s, want Monday %s", ctrs[0].PeriodEnd, want)
	}
	if len(Counters([]*Compiled{c}, Email, at)) != 0 {
		t.Error("a phone limit counts e-mails")
	}
	ct := Contact{Channel: Phone, Time: at}
	if a := Evaluate([]*Compiled{c}, ct, ctrs, []int64{2}, true, FailAllow); a.Treatment != TreatAllow {
		t.Errorf("third call: %+v", a)
	}
	a := Evaluate([]*Compiled{c}, ct, ctrs, []int64{3}, true, FailAllow)
	if a.Treatment != TreatRefuseLimitReached || !a.NextAllowed.Equal(ctrs[0].PeriodEnd) {
		t.Errorf("fourth call: %+v", a)
	}
	// Counters unreachable: the configured fail mode answers, marked degraded.
	if a := Evaluate([]*Compiled{c}, ct, ctrs, nil, false, FailAllow); a.Treatment != TreatAllow || !a.Degraded {
		t.Errorf("fail allow: %+v", a)
	}
	if a := Evaluate([]*Compiled{c}, ct, ctrs, nil, false, FailAutomated); a.Treatment != TreatAutomatedService || !a.Degraded {
		t.Errorf("fail automated: %+v", a)
	}
	// A limit over all channels counts every channel, and two limits on one
	// counter keep the lower.
	d := compiled(t, Rule{Kind: KindVolumeLimit, MaxContacts: 5, Period: week}, Rule{Kind: KindVolumeLimit, MaxContacts: 2, Period: week})
	if ctrs := Counters([]*Compiled{d}, Email, at); len(ctrs) != 1 || ctrs[0].MaxContacts != 2 {
		t.Errorf("all-channel counters %+v", ctrs)
	}
}

// C23.5: calls at most M minutes.
func TestC23_5_CallDurationLimitEndsCalls(t *testing.T) {
	c := compiled(t, Rule{Kind: KindCallDurationLimit, MaxDuration: 15 * time.Minute}, Rule{Kind: KindCallDurationLimit, MaxDuration: 10 * time.Minute})
	if a := check([]*Compiled{c}, Phone, "", soon); a.Treatment != TreatAllow || a.MaxDuration != 10*time.Minute {
		t.Errorf("%+v", a)
	}
	if a := check([]*Compiled{c}, Email, "", soon); a.MaxDuration != 0 {
		t.Errorf("e-mail with a call limit: %+v", a)
	}
}

// C23.5: contact only in given time windows; outside, refused until the
// next window opens.
func TestC23_5_TimeWindowsRefuseOutsideAndSayWhenNext(t *testing.T) {
	c := compiled(t, Rule{Kind: KindTimeWindows, Windows: []Window{{Days: []int{2, 4}, Start: "10:00", End: "12:00"}}, Channels: []string{Phone}})
	tue := time.Date(2026, 11, 24, 10, 30, 0, 0, time.UTC) // Tuesday 10:30 GMT
	if a := check([]*Compiled{c}, Phone, "", tue); a.Treatment != TreatAllow {
		t.Errorf("inside: %+v", a)
	}
	a := check([]*Compiled{c}, Phone, "", tue.Add(2*time.Hour))
	if want := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC); a.Treatment != TreatRefuseOutsideWindow || !a.NextAllowed.Equal(want) {
		t.Errorf("outside: %+v, want next %s", a, want)
	}
	if a := check([]*Compiled{c}, Email, "", tue.Add(2*time.Hour)); a.Treatment != TreatAllow {
		t.Errorf("windows for phone applied to e-mail: %+v", a)
	}
	// British Summer Time: 10:00 in London is 09:00 UTC in July.
	july := time.Date(2026, 7, 7, 9, 30, 0, 0, time.UTC) // Tuesday
	if a := check([]*Compiled{c}, Phone, "", july); a.Treatment != TreatAllow {
		t.Errorf("summer time: %+v", a)
	}
}

// C68: a staff member's own no-contact request is honoured when routing.
func TestC68_StaffNoContactRoutesToOtherStaff(t *testing.T) {
	c := compiled(t, Rule{Kind: KindStaffNoContact, StaffIDs: []string{"hc-cso-1"}})
	if a := check([]*Compiled{c}, Phone, "hc-cso-1", soon); a.Treatment != TreatRouteToOtherStaff {
		t.Errorf("to the staff member: %+v", a)
	}
	if a := check([]*Compiled{c}, Phone, "hc-cso-2", soon); a.Treatment != TreatAllow {
		t.Errorf("to a colleague: %+v", a)
	}
}

// C23: rules combine; the most protective treatment wins.
func TestC23_CombinedRulesMostProtectiveWins(t *testing.T) {
	c := compiled(t,
		Rule{Kind: KindChannelsOnly, Channels: []string{Phone, Email}},
		automatedPhone,
		Rule{Kind: KindNamedOfficer, StaffID: "hc-sup-1"},
		Rule{Kind: KindCallDurationLimit, MaxDuration: 10 * time.Minute},
	)
	if a := check([]*Compiled{c}, Phone, "", soon); a.Treatment != TreatAutomatedService || a.MaxDuration != 10*time.Minute {
		t.Errorf("phone: %+v", a)
	}
	if a := check([]*Compiled{c}, Email, "", soon); a.Treatment != TreatRouteToOfficer {
		t.Errorf("email: %+v", a)
	}
	if a := check([]*Compiled{c}, PostLetter, "", soon); a.Treatment != TreatRefuseChannel {
		t.Errorf("letter: %+v", a)
	}
	if a := check(nil, Phone, "", soon); a != Allow {
		t.Errorf("no restrictions: %+v", a)
	}
}

func TestIdentifierKindFollowsTheChannel(t *testing.T) {
	for _, tt := range []struct{ channel, id, want string }{
		{Phone, "01463 702000", "phone"}, {Email, "a@b.org", "email"}, {SocialMedia, "x:@someone", "social"},
		{PostLetter, "1 High St", "postal"}, {InPerson, "a@b.org", "email"}, {InPerson, "07700 900123", "phone"},
	} {
		if got := IdentifierKind(tt.channel, tt.id); got != tt.want {
			t.Errorf("IdentifierKind(%s, %s) = %s, want %s", tt.channel, tt.id, got, tt.want)
		}
	}
}

func TestPeriodBoundsAreCalendarPeriods(t *testing.T) {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	at := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, london) }
	tests := []struct {
		name       string
		t          time.Time
		period     time.Duration
		start, end time.Time
	}{
		{"winter week runs Monday to Monday", at(2026, 11, 29, 23, 59), 7 * 24 * time.Hour, at(2026, 11, 23, 0, 0), at(2026, 11, 30, 0, 0)},
		{"winter day starts at midnight", at(2026, 11, 29, 23, 59), 24 * time.Hour, at(2026, 11, 29, 0, 0), at(2026, 11, 30, 0, 0)},
		{"summer day starts at local midnight, not 01:00", at(2026, 7, 14, 0, 30), 24 * time.Hour, at(2026, 7, 14, 0, 0), at(2026, 7, 15, 0, 0)},
		{"summer week starts Monday local midnight", at(2026, 7, 13, 0, 30), 7 * 24 * time.Hour, at(2026, 7, 13, 0, 0), at(2026, 7, 20, 0, 0)},
		{"the day the clocks go forward lasts 23 hours", at(2026, 3, 29, 12, 0), 24 * time.Hour, at(2026, 3, 29, 0, 0), at(2026, 3, 30, 0, 0)},
		{"hourly periods are plain hours", at(2026, 11, 24, 10, 59), time.Hour, at(2026, 11, 24, 10, 0), at(2026, 11, 24, 11, 0)},
	}
	for _, tt := range tests {
		s, e := PeriodBounds(tt.t, tt.period)
		if !s.Equal(tt.start) || !e.Equal(tt.end) {
			t.Errorf("%s: %s - %s, want %s - %s", tt.name, s.In(london), e.In(london), tt.start, tt.end)
		}
	}
}
