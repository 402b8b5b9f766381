package domain

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/policy"
)

func subjProfile(t *testing.T, org string) policy.Profile {
	t.Helper()
	p, ok := policy.For(org)
	if !ok {
		t.Fatalf("no profile %s", org)
	}
	return p
}

func subjWantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	var e *apperr.Error
	if !errors.As(err, &e) || !errors.Is(err, apperr.ErrInvalidArgument) || e.Field != field {
		t.Fatalf("err = %v, want InvalidArgument naming %s", err, field)
	}
}

func TestIdentifiersAreNormalised(t *testing.T) {
	tests := []struct {
		kind, entered, platform string
		want                    string
		wantKeys                []string
	}{
		{"phone", "01463 702000", "", "+441463702000", []string{"phone:+441463702000"}},
		{"phone", "+44 1463 702000", "", "+441463702000", []string{"phone:+441463702000"}},
		{"phone", "01463702000", "", "+441463702000", []string{"phone:+441463702000"}},
		{"phone", "+1 415 555 2671", "", "+14155552671", []string{"phone:+14155552671"}},
		{"email", "Jo.Bloggs@Example.ORG", "", "jo.bloggs@example.org", []string{"email:jo.bloggs@example.org"}},
		{"social", "@SomeOne", "", "someone", []string{"social:someone"}},
		{"social", "@SomeOne", "X", "x:someone", []string{"social:x:someone", "social:someone"}},
		{"social", "facebook:@SomeOne", "", "facebook:someone", []string{"social:facebook:someone", "social:someone"}},
		{"postal", " 1  High Street\nInverness ", "", "1 high street inverness", []string{"postal:1 high street inverness"}},
	}
	for _, tt := range tests {
		got, err := NormalizeIdentifier("subject.identifiers[0]", Identifier{Kind: tt.kind, Entered: tt.entered, Platform: tt.platform})
		if err != nil {
			t.Errorf("%s %q: %v", tt.kind, tt.entered, err)
			continue
		}
		if got.Value != tt.want || !slices.Equal(got.Keys(), tt.wantKeys) {
			t.Errorf("%s %q = %q %v, want %q %v", tt.kind, tt.entered, got.Value, got.Keys(), tt.want, tt.wantKeys)
		}
		if got.Entered != strings.TrimSpace(tt.entered) {
			t.Errorf("entered value not kept: %q", got.Entered)
		}
	}
}

func validSubject() SubjectDetails {
	return SubjectDetails{
		Kind: SubjectServiceUser, DisplayName: "  Jo   Bloggs ",
		Identifiers: []Identifier{{Kind: "phone", Entered: "01463 702000"}, {Kind: "email", Entered: "Jo@Example.org"}},
	}
}

func TestSubjectValidationNamesTheField(t *testing.T) {
	hc := subjProfile(t, "highland-council")
	long := strings.Repeat("a", 201)
	tests := []struct {
		name  string
		edit  func(d *SubjectDetails)
		field string
	}{
		{"no kind", func(d *SubjectDetails) { d.Kind = "" }, "subject.kind"},
		{"unknown kind", func(d *SubjectDetails) { d.Kind = "unknown(9)" }, "subject.kind"},
		{"no display name", func(d *SubjectDetails) { d.DisplayName = "  " }, "subject.display_name"},
		{"over-long display name", func(d *SubjectDetails) { d.DisplayName = long }, "subject.display_name"},
		{"over-long family name", func(d *SubjectDetails) { d.FamilyName = long }, "subject.family_name"},
		{"over-long other name", func(d *SubjectDetails) { d.OtherNames = []string{"Jo", long} }, "subject.other_names[1]"},
		{"empty other name", func(d *SubjectDetails) { d.OtherNames = []string{" "} }, "subject.other_names[0]"},
		{"too many other names", func(d *SubjectDetails) { d.OtherNames = make([]string, MaxOtherNames+1) }, "subject.other_names"},
		{"malformed phone", func(d *SubjectDetails) { d.Identifiers[0].Entered = "call me" }, "subject.identifiers[0].value"},
		{"malformed email", func(d *SubjectDetails) { d.Identifiers[1].Entered = "jo at example" }, "subject.identifiers[1].value"},
		{"empty value", func(d *SubjectDetails) { d.Identifiers[1].Entered = "" }, "subject.identifiers[1].value"},
		{"over-long value", func(d *SubjectDetails) { d.Identifiers[1].Entered = strings.Repeat("a", 321) + "@x.org" }, "subject.identifiers[1].value"},
		{"no identifier type", func(d *SubjectDetails) { d.Identifiers[0].Kind = "" }, "subject.identifiers[0].type"},
		{"unknown identifier type", func(d *SubjectDetails) { d.Identifiers[0].Kind = "fax" }, "subject.identifiers[0].type"},
		{"platform on a phone", func(d *SubjectDetails) { d.Identifiers[0].Platform = "x" }, "subject.identifiers[0].platform"},
		{"over-long label", func(d *SubjectDetails) { d.Identifiers[0].Label = long }, "subject.identifiers[0].label"},
		{"same number twice", func(d *SubjectDetails) {
			d.Identifiers = append(d.Identifiers, Identifier{Kind: "phone", Entered: "+44 1463 702000"})
		}, "subject.identifiers[2].value"},
		{"too many identifiers", func(d *SubjectDetails) { d.Identifiers = make([]Identifier, MaxIdentifiers+1) }, "subject.identifiers"},
		{"representative without a name", func(d *SubjectDetails) { d.Representative = &Representative{} }, "subject.representative.display_name"},
		{"representative of unknown kind", func(d *SubjectDetails) { d.Representative = &Representative{Name: "A", Kind: "lawyer"} }, "subject.representative.kind"},
		{"representative bad subject", func(d *SubjectDetails) { d.Representative = &Representative{Subject: "people/1"} }, "subject.representative.subject"},
		{"representative bad phone", func(d *SubjectDetails) {
			d.Representative = &Representative{Name: "A", Identifiers: []Identifier{{Kind: "phone", Entered: "nope"}}}
		}, "subject.representative.identifiers[0].value"},
		{"over-long relationship", func(d *SubjectDetails) { d.Representative = &Representative{Name: "A", Relationship: long} }, "subject.representative.relationship"},
		{"over-long adjustment", func(d *SubjectDetails) { d.ReasonableAdjustments = []string{strings.Repeat("a", MaxNeedText+1)} }, "subject.reasonable_adjustments[0]"},
		{"too many support needs", func(d *SubjectDetails) { d.SupportNeeds = make([]string, MaxNeeds+1) }, "subject.support_needs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := validSubject()
			tt.edit(&d)
			subjWantInvalid(t, d.Validate("subject", hc), tt.field)
		})
	}
	d := validSubject()
	d.Representative = &Representative{Name: " Ann  Advocate ", Kind: RepresentativeAdvocate, Identifiers: []Identifier{{Kind: "email", Entered: "Ann@Advocacy.org"}}}
	d.ReasonableAdjustments = []string{" Large print letters ", "Large print letters"}
	if err := d.Validate("subject", hc); err != nil {
		t.Fatal(err)
	}
	if d.DisplayName != "Jo Bloggs" || d.Representative.Name != "Ann Advocate" || d.Representative.Identifiers[0].Value != "ann@advocacy.org" ||
		!slices.Equal(d.ReasonableAdjustments, []string{"Large print letters"}) || d.Identifiers[0].Value != "+441463702000" {
		t.Errorf("not normalised: %+v %+v", d, d.Representative)
	}
}

// Section 1 and 7: elected members are covered (as internal customers) by
// the council's policy only. A child in an education setting may be
// recorded as a subject in both; the council refuses their incidents
// (CheckCovered at Report, coverage_test.go).
func TestSection1_SubjectKindsCoveredPerOrganisation(t *testing.T) {
	tests := []struct {
		org     string
		kind    string
		child   bool
		refused string
	}{
		{"highland-council", SubjectElectedMember, false, ""},
		{"valuation-board", SubjectElectedMember, false, "elected members"},
		{"highland-council", SubjectServiceUser, true, ""},
		{"valuation-board", SubjectServiceUser, true, ""},
		{"valuation-board", SubjectOrganisation, false, ""},
		{"highland-council", SubjectAdvocate, false, ""},
		{"valuation-board", SubjectStakeholder, false, ""},
	}
	for _, tt := range tests {
		d := validSubject()
		d.Kind, d.ChildInEducationSetting = tt.kind, tt.child
		err := d.Validate("subject", subjProfile(t, tt.org))
		if tt.refused == "" {
			if err != nil {
				t.Errorf("%s %s: %v", tt.org, tt.kind, err)
			}
			continue
		}
		subjWantInvalid(t, err, "subject.kind")
		if !strings.Contains(err.Error(), tt.refused) {
			t.Errorf("%s %s: %v does not mention %q", tt.org, tt.kind, err, tt.refused)
		}
	}
}

func TestUpdateMaskPaths(t *testing.T) {
	for _, bad := range [][]string{nil, {}, {"colour"}, {"representative.colour"}, {"identifiers.0"}, {"display_name", "subject.kind"}} {
		if _, err := CheckSubjectPaths("update_mask", bad); err == nil {
			t.Errorf("%v accepted", bad)
		} else {
			subjWantInvalid(t, err, "update_mask")
		}
	}
	got, err := CheckSubjectPaths("update_mask", []string{"display_name", "identifiers", "display_name"})
	if err != nil || !slices.Equal(got, []string{"display_name", "identifiers"}) {
		t.Errorf("got %v, %v", got, err)
	}
	all, err := CheckSubjectPaths("update_mask", []string{"*"})
	if err != nil || len(all) != len(SubjectFields) {
		t.Errorf("* = %v, %v", all, err)
	}
	// Output-only fields, as in a subject sent back whole, are ignored (AIP-203).
	got, err = CheckSubjectPaths("update_mask", []string{"name", "version", "display_name", "incident_count"})
	if err != nil || !slices.Equal(got, []string{"display_name"}) {
		t.Errorf("got %v, %v", got, err)
	}
	// Fields within the representative, as grpc-gateway derives them from a PATCH body.
	current := SubjectDetails{Representative: &Representative{Name: "Sam", Relationship: "son", Identifiers: []Identifier{{Kind: "phone", Entered: "07700 900123"}}}}
	paths, err := CheckSubjectPaths("update_mask", []string{"representative.display_name", "representative.kind"})
	if err != nil {
		t.Fatal(err)
	}
	next := current.Apply(SubjectDetails{Representative: &Representative{Name: "Samuel", Kind: RepresentativeAdvocate, Relationship: "ignored"}}, paths)
	if r := next.Representative; r.Name != "Samuel" || r.Kind != RepresentativeAdvocate || r.Relationship != "son" || len(r.Identifiers) != 1 ||
		current.Representative.Name != "Sam" {
		t.Errorf("representative = %+v (was %+v)", r, current.Representative)
	}
	if r := (SubjectDetails{}).Apply(SubjectDetails{Representative: &Representative{Name: "New"}}, []string{"representative.display_name"}).Representative; r == nil || r.Name != "New" {
		t.Errorf("new representative by field: %+v", r)
	}
}

// C73: every change is an event with who and what; the payload is the
// contract restriction-svc consumes (docs/development.md).
func TestSubjectEventsCarryTheContract(t *testing.T) {
	hc := subjProfile(t, "highland-council")
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	d := validSubject()
	if err := d.Validate("subject", hc); err != nil {
		t.Fatal(err)
	}
	created, err := CreateSubject("s1", "highland-council", "hc-cso-1", d, now)
	if err != nil {
		t.Fatal(err)
	}
	if created.Type != EventSubjectCreated || created.AggregateType != SubjectAggregateType || created.Seq != 1 {
		t.Fatalf("created = %+v", created)
	}
	var payload struct {
		Name        string `json:"name"`
		Kind        string `json:"kind"`
		DisplayName string `json:"display_name"`
		Identifiers []struct {
			Kind  string `json:"kind"`
			Value string `json:"value"`
		} `json:"identifiers"`
		Representative *struct {
			Name        string            `json:"name"`
			Identifiers []json.RawMessage `json:"identifiers"`
		} `json:"representative"`
	}
	if err := json.Unmarshal([]byte(created.Payload), &payload); err != nil {
		t.Fatal(err)
	}
	if payload.Name != "subjects/s1" || payload.Kind != "service_user" || payload.DisplayName != "Jo Bloggs" ||
		len(payload.Identifiers) != 2 || payload.Identifiers[0].Kind != "phone" || payload.Identifiers[0].Value != "+441463702000" ||
		payload.Identifiers[1].Value != "jo@example.org" || payload.Representative != nil {
		t.Errorf("created payload = %s", created.Payload)
	}

	// Nothing changes: no event.
	if _, ok, err := UpdateSubject([]eventlog.Event{created}, "hc-cso-2", d, "", now); ok || err != nil {
		t.Errorf("no-op update: ok=%v err=%v", ok, err)
	}
	next := d.Apply(SubjectDetails{
		Representative: &Representative{Kind: RepresentativeRepresentative, Name: "Sam Bloggs", Relationship: "son",
			Identifiers: []Identifier{{Kind: "phone", Entered: "07700 900123"}}},
		SupportNeeds: []string{"Needs an interpreter (Gaelic)"},
		DisplayName:  "ignored: not in the mask",
	}, []string{"representative", "support_needs"})
	if err := next.Validate("subject", hc); err != nil {
		t.Fatal(err)
	}
	updated, ok, err := UpdateSubject([]eventlog.Event{created}, "hc-cso-2", next, " son nominated by phone ", now.Add(time.Hour))
	if err != nil || !ok {
		t.Fatalf("update: %v %v", ok, err)
	}
	var rec SubjectRecord
	if err := updated.Decode(&rec); err != nil {
		t.Fatal(err)
	}
	if updated.Type != EventSubjectUpdated || updated.Seq != 2 || updated.Actor != "hc-cso-2" ||
		!slices.Equal(rec.ChangedFields, []string{"representative", "support_needs"}) || rec.Reason != "son nominated by phone" ||
		rec.Representative.Name != "Sam Bloggs" || rec.Representative.Identifiers[0].Value != "+447700900123" || rec.DisplayName != "Jo Bloggs" {
		t.Errorf("updated = %s", updated.Payload)
	}
	subj, err := FoldSubject([]eventlog.Event{created, updated})
	if err != nil {
		t.Fatal(err)
	}
	if subj.Version != 2 || subj.Creator != "hc-cso-1" || subj.Name() != "subjects/s1" || !subj.CreateTime.Equal(now) ||
		subj.Representative.Relationship != "son" || subj.SupportNeeds[0] != "Needs an interpreter (Gaelic)" {
		t.Errorf("folded = %+v", subj)
	}
	if _, _, err := UpdateSubject([]eventlog.Event{created}, "hc-cso-2", next, strings.Repeat("r", MaxReason+1), now); err == nil {
		t.Error("over-long reason accepted")
	} else {
		subjWantInvalid(t, err, "reason")
	}
	// Incidents share the event store: their events are never folded as a subject.
	inc, _ := eventlog.Next(nil, eventlog.Change{AggregateType: AggregateType, AggregateID: "i1", Type: EventReported, Data: map[string]any{}})
	if _, err := FoldSubject([]eventlog.Event{inc}); err == nil {
		t.Error("an incident folded as a subject")
	}
}
