package domain

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/contactid"
	"github.com/contactguard/contactguard/platform/eventlog"
	"github.com/contactguard/contactguard/platform/policy"
)

// SubjectAggregateType names subjects in the event log. Subject events
// share incident-svc's event store with incidents, so they are relayed on
// the incident stream.
const SubjectAggregateType = "subject"

// Event types recorded for a subject. Their payload is a SubjectRecord: the
// whole subject after the change (docs/development.md: restriction-svc
// relies on name, kind, display_name, identifiers and representative).
const (
	EventSubjectCreated = "subject.created"
	EventSubjectUpdated = "subject.updated"
)

// Representative kinds (C8.2, C23.3).
const (
	RepresentativeRepresentative = "representative"
	RepresentativeAdvocate       = "advocate"
)

// SubjectKinds lists the kinds of subject (policy-map.md section 1).
var SubjectKinds = []string{SubjectServiceUser, SubjectStakeholder, SubjectOrganisation, SubjectAdvocate, SubjectElectedMember}

// IdentifierKinds lists the kinds of contact identifier, as platform/contactid names them.
var IdentifierKinds = []string{contactid.Phone, contactid.Email, contactid.Social, contactid.Postal}

// Limits on what is recorded of a subject.
const (
	MaxSubjectName     = 200
	MaxOtherNames      = 20
	MaxIdentifiers     = 20
	MaxIdentifierValue = 320
	MaxPlatform        = 40
	MaxLabel           = 50
	MaxRelationship    = 100
	MaxNeeds           = 20
	MaxNeedText        = 500
)

var subjectIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Identifier is one way of contacting or identifying a subject.
type Identifier struct {
	Kind string `json:"kind" bson:"kind"`
	// Value is the normalised form (platform/contactid), the one matched.
	Value string `json:"value" bson:"value"`
	// Entered is the value as staff typed it, e.g. "01463 702000".
	Entered  string `json:"entered,omitempty" bson:"entered"`
	Platform string `json:"platform,omitempty" bson:"platform"`
	Label    string `json:"label,omitempty" bson:"label"`
}

// Keys returns the lookup keys of the identifier (contactid.Key): its
// normalised form and, for a social handle on a named platform, the bare
// handle too, so a lookup without the platform still finds it.
func (id Identifier) Keys() []string {
	keys := []string{contactid.Key(id.Kind, id.Value)}
	if id.Kind == contactid.Social {
		if _, handle, ok := strings.Cut(id.Value, ":"); ok {
			keys = append(keys, contactid.Key(contactid.Social, handle))
		}
	}
	return keys
}

// Representative is a subject's nominated representative or advocate
// (C8.2, C23.3): a person named here, or another subject.
type Representative struct {
	Kind string `json:"kind,omitempty" bson:"kind"`
	// Name is the representative's name as shown to staff.
	Name string `json:"name" bson:"name"`
	// Subject is "subjects/{id}" when the representative is also a subject.
	Subject      string       `json:"subject,omitempty" bson:"subject"`
	Identifiers  []Identifier `json:"identifiers" bson:"identifiers"`
	Relationship string       `json:"relationship,omitempty" bson:"relationship"`
}

// SubjectDetails is what staff record of a subject.
type SubjectDetails struct {
	Kind        string       `json:"kind" bson:"kind"`
	DisplayName string       `json:"display_name" bson:"display_name"`
	GivenName   string       `json:"given_name,omitempty" bson:"given_name"`
	FamilyName  string       `json:"family_name,omitempty" bson:"family_name"`
	OtherNames  []string     `json:"other_names,omitempty" bson:"other_names"`
	Identifiers []Identifier `json:"identifiers" bson:"identifiers"`
	// Representative is nil when none is nominated (JSON null in events).
	Representative *Representative `json:"representative" bson:"representative"`
	// Reasonable adjustments (C19) and support needs (C8.2) are shown to
	// every staff member handling contact with the subject.
	ReasonableAdjustments   []string `json:"reasonable_adjustments,omitempty" bson:"reasonable_adjustments"`
	SupportNeeds            []string `json:"support_needs,omitempty" bson:"support_needs"`
	ChildInEducationSetting bool     `json:"child_in_education_setting" bson:"child_in_education_setting"`
}

// SubjectRecord is the payload of subject.created and subject.updated: the
// whole subject after the change, so a consumer can replace what it holds.
type SubjectRecord struct {
	// Name is "subjects/{id}".
	Name string `json:"name"`
	SubjectDetails
	// ChangedFields and Reason say what an update changed and why.
	ChangedFields []string `json:"changed_fields,omitempty"`
	Reason        string   `json:"reason,omitempty"`
}

// Subject is the current state of a subject: a fold of its events.
type Subject struct {
	ID             string `bson:"_id"`
	Organization   string `bson:"organization"`
	SubjectDetails `bson:",inline"`
	Creator        string    `bson:"creator"`
	CreateTime     time.Time `bson:"create_time"`
	UpdateTime     time.Time `bson:"update_time"`
	Version        int64     `bson:"version"`
	// Counts of incidents and correspondence warnings are not kept yet: they
	// stay zero until incidents emit what they are to be counted from.
}

// SubjectName returns the resource name of subject id.
func SubjectName(id string) string { return "subjects/" + id }

// Name is the subject's resource name.
func (s Subject) Name() string { return SubjectName(s.ID) }

// ValidSubjectID reports whether id can be the id of a subject.
func ValidSubjectID(id string) bool { return subjectIDPattern.MatchString(id) }

// IdentifierKeys returns the lookup keys of all the subject's own
// identifiers (not its representative's), without repeats.
func (d SubjectDetails) IdentifierKeys() []string {
	var keys []string
	for _, id := range d.Identifiers {
		for _, k := range id.Keys() {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// NormalizeIdentifier returns id with Value set to the normalised form of
// what was entered, or an InvalidArgument naming field (e.g.
// "subject.identifiers[0]"). A social handle entered with a separate
// platform is normalised as "platform:handle".
func NormalizeIdentifier(field string, id Identifier) (Identifier, error) {
	id.Entered = strings.TrimSpace(id.Entered)
	id.Platform = strings.ToLower(strings.TrimSpace(id.Platform))
	id.Label = strings.TrimSpace(id.Label)
	if id.Kind == "" {
		return id, apperr.Invalid(field+".type", "say what kind of identifier this is (one of %s)", strings.Join(IdentifierKinds, ", "))
	}
	if !slices.Contains(IdentifierKinds, id.Kind) {
		return id, apperr.Invalid(field+".type", "unknown kind of identifier %q (one of %s)", id.Kind, strings.Join(IdentifierKinds, ", "))
	}
	if id.Entered == "" {
		return id, apperr.Invalid(field+".value", "is empty: give the %s", id.Kind)
	}
	if err := maxLen(field+".value", id.Entered, MaxIdentifierValue); err != nil {
		return id, err
	}
	if err := maxLen(field+".platform", id.Platform, MaxPlatform); err != nil {
		return id, err
	}
	if err := maxLen(field+".label", id.Label, MaxLabel); err != nil {
		return id, err
	}
	if id.Platform != "" && id.Kind != contactid.Social {
		return id, apperr.Invalid(field+".platform", "only social media handles have a platform")
	}
	value := id.Entered
	if id.Platform != "" && !strings.Contains(value, ":") {
		value = id.Platform + ":" + value
	}
	normalized, err := contactid.Normalize(id.Kind, value)
	if err != nil {
		return id, apperr.Invalid(field+".value", "%s", err.Error())
	}
	id.Value = normalized
	if id.Kind == contactid.Social {
		if platform, _, ok := strings.Cut(normalized, ":"); ok {
			id.Platform = platform
		}
	}
	return id, nil
}

func normalizeIdentifiers(field string, ids []Identifier, limit int) ([]Identifier, error) {
	if len(ids) > limit {
		return nil, apperr.Invalid(field, "at most %d identifiers", limit)
	}
	out := make([]Identifier, 0, len(ids))
	seen := map[string]int{}
	for i, id := range ids {
		f := fmt.Sprintf("%s[%d]", field, i)
		n, err := NormalizeIdentifier(f, id)
		if err != nil {
			return nil, err
		}
		key := contactid.Key(n.Kind, n.Value)
		if j, dup := seen[key]; dup {
			return nil, apperr.Invalid(f+".value", "is the same %s as %s[%d] (%s)", n.Kind, field, j, n.Value)
		}
		seen[key] = i
		out = append(out, n)
	}
	return out, nil
}

func cleanTexts(field string, texts []string, maxItems, maxText int) ([]string, error) {
	if len(texts) > maxItems {
		return nil, apperr.Invalid(field, "at most %d entries", maxItems)
	}
	var out []string
	for i, t := range texts {
		t = strings.TrimSpace(t)
		f := fmt.Sprintf("%s[%d]", field, i)
		if t == "" {
			return nil, apperr.Invalid(f, "is empty")
		}
		if err := maxLen(f, t, maxText); err != nil {
			return nil, err
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// Validate checks the details as received at the edge and normalises them
// (trimmed text, normalised identifiers), naming the field at fault;
// prefix is the path of the subject in the request, e.g. "subject". It
// checks the policy profile covers the kind (elected members, section 7).
// A child in an education setting may be recorded: it is the incident
// that the profile refuses (Report).
func (d *SubjectDetails) Validate(prefix string, p policy.Profile) error {
	field := func(name string) string { return prefix + "." + name }
	d.DisplayName = strings.Join(strings.Fields(d.DisplayName), " ")
	d.GivenName = strings.TrimSpace(d.GivenName)
	d.FamilyName = strings.TrimSpace(d.FamilyName)

	if d.Kind == "" {
		return apperr.Invalid(field("kind"), "say what kind of subject this is (one of %s)", strings.Join(SubjectKinds, ", "))
	}
	if !slices.Contains(SubjectKinds, d.Kind) {
		return apperr.Invalid(field("kind"), "unknown kind of subject %q (one of %s)", d.Kind, strings.Join(SubjectKinds, ", "))
	}
	if err := CheckCovered(p, field("kind"), d.Kind, false); err != nil {
		return err
	}
	if d.DisplayName == "" {
		return apperr.Invalid(field("display_name"), "give the name staff know the subject by")
	}
	for name, v := range map[string]string{"display_name": d.DisplayName, "given_name": d.GivenName, "family_name": d.FamilyName} {
		if err := maxLen(field(name), v, MaxSubjectName); err != nil {
			return err
		}
	}
	var err error
	if d.OtherNames, err = cleanTexts(field("other_names"), d.OtherNames, MaxOtherNames, MaxSubjectName); err != nil {
		return err
	}
	if d.Identifiers, err = normalizeIdentifiers(field("identifiers"), d.Identifiers, MaxIdentifiers); err != nil {
		return err
	}
	if d.ReasonableAdjustments, err = cleanTexts(field("reasonable_adjustments"), d.ReasonableAdjustments, MaxNeeds, MaxNeedText); err != nil {
		return err
	}
	if d.SupportNeeds, err = cleanTexts(field("support_needs"), d.SupportNeeds, MaxNeeds, MaxNeedText); err != nil {
		return err
	}
	if d.Representative != nil {
		return d.Representative.validate(field("representative"))
	}
	return nil
}

func (r *Representative) validate(prefix string) error {
	field := func(name string) string { return prefix + "." + name }
	r.Name = strings.Join(strings.Fields(r.Name), " ")
	r.Subject = strings.TrimSpace(r.Subject)
	r.Relationship = strings.TrimSpace(r.Relationship)
	switch r.Kind {
	case "":
		r.Kind = RepresentativeRepresentative
	case RepresentativeRepresentative, RepresentativeAdvocate:
	default:
		return apperr.Invalid(field("kind"), "unknown kind of representative %q (representative or advocate)", r.Kind)
	}
	if r.Name == "" && r.Subject == "" {
		return apperr.Invalid(field("display_name"), "give the representative's name, or the subject they are recorded as")
	}
	if err := maxLen(field("display_name"), r.Name, MaxSubjectName); err != nil {
		return err
	}
	if err := maxLen(field("relationship"), r.Relationship, MaxRelationship); err != nil {
		return err
	}
	if r.Subject != "" && !subjectNameRegex.MatchString(r.Subject) {
		return apperr.Invalid(field("subject"), "must be a subject name such as subjects/abc123, got %q", r.Subject)
	}
	var err error
	r.Identifiers, err = normalizeIdentifiers(field("identifiers"), r.Identifiers, MaxIdentifiers)
	return err
}

// SubjectFields are the paths of SubjectDetails an update may name.
var SubjectFields = []string{
	"kind", "display_name", "given_name", "family_name", "other_names", "identifiers",
	"representative", "reasonable_adjustments", "support_needs", "child_in_education_setting",
}

// RepresentativeFields are the paths within "representative" an update
// may name (e.g. "representative.display_name").
var RepresentativeFields = []string{"kind", "display_name", "subject", "identifiers", "relationship"}

// subjectOutputOnly are paths the service sets; an update naming them is
// not refused but they are ignored (AIP-203), so a client may send back a
// whole subject it read.
var subjectOutputOnly = []string{"name", "organization", "create_time", "update_time", "version", "incident_count", "warning_count", "creator"}

// CheckSubjectPaths checks an update mask; "*" stands for every field. It
// returns the paths to apply, without repeats and without output-only
// fields.
func CheckSubjectPaths(field string, paths []string) ([]string, error) {
	if len(paths) == 0 {
		return nil, apperr.Invalid(field, "name the fields to change (some of %s, or *)", strings.Join(SubjectFields, ", "))
	}
	var out []string
	for _, p := range paths {
		sub, isRep := strings.CutPrefix(p, "representative.")
		switch {
		case p == "*":
			return slices.Clone(SubjectFields), nil
		case slices.Contains(subjectOutputOnly, p):
			continue
		case isRep && !slices.Contains(RepresentativeFields, sub):
			return nil, apperr.Invalid(field, "unknown field %q (representative has %s)", p, strings.Join(RepresentativeFields, ", "))
		case !isRep && !slices.Contains(SubjectFields, p):
			return nil, apperr.Invalid(field, "unknown field %q (one of %s)", p, strings.Join(SubjectFields, ", "))
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// Apply returns d with the fields named in paths taken from in.
func (d SubjectDetails) Apply(in SubjectDetails, paths []string) SubjectDetails {
	for _, p := range paths {
		switch p {
		case "kind":
			d.Kind = in.Kind
		case "display_name":
			d.DisplayName = in.DisplayName
		case "given_name":
			d.GivenName = in.GivenName
		case "family_name":
			d.FamilyName = in.FamilyName
		case "other_names":
			d.OtherNames = in.OtherNames
		case "identifiers":
			d.Identifiers = in.Identifiers
		case "representative":
			d.Representative = in.Representative
		case "reasonable_adjustments":
			d.ReasonableAdjustments = in.ReasonableAdjustments
		case "support_needs":
			d.SupportNeeds = in.SupportNeeds
		case "child_in_education_setting":
			d.ChildInEducationSetting = in.ChildInEducationSetting
		default:
			if sub, ok := strings.CutPrefix(p, "representative."); ok {
				d.Representative = d.Representative.apply(in.Representative, sub)
			}
		}
	}
	return d
}

// apply returns a copy of r (nil: none yet) with field taken from in.
func (r *Representative) apply(in *Representative, field string) *Representative {
	var out, from Representative
	if r != nil {
		out = *r
	}
	if in != nil {
		from = *in
	}
	switch field {
	case "kind":
		out.Kind = from.Kind
	case "display_name":
		out.Name = from.Name
	case "subject":
		out.Subject = from.Subject
	case "identifiers":
		out.Identifiers = from.Identifiers
	case "relationship":
		out.Relationship = from.Relationship
	}
	return &out
}

// changedFields lists the fields whose value differs between a and b.
func changedFields(a, b SubjectDetails) []string {
	var out []string
	for _, p := range SubjectFields {
		var x, y SubjectDetails
		x, y = x.Apply(a, []string{p}), y.Apply(b, []string{p})
		if !equalDetails(x, y) {
			out = append(out, p)
		}
	}
	return out
}

func equalDetails(a, b SubjectDetails) bool {
	eqRep := func(x, y *Representative) bool {
		if x == nil || y == nil {
			return x == y
		}
		return x.Kind == y.Kind && x.Name == y.Name && x.Subject == y.Subject && x.Relationship == y.Relationship &&
			slices.Equal(x.Identifiers, y.Identifiers)
	}
	return a.Kind == b.Kind && a.DisplayName == b.DisplayName && a.GivenName == b.GivenName && a.FamilyName == b.FamilyName &&
		slices.Equal(a.OtherNames, b.OtherNames) && slices.Equal(a.Identifiers, b.Identifiers) &&
		eqRep(a.Representative, b.Representative) && slices.Equal(a.ReasonableAdjustments, b.ReasonableAdjustments) &&
		slices.Equal(a.SupportNeeds, b.SupportNeeds) && a.ChildInEducationSetting == b.ChildInEducationSetting
}

// CreateSubject returns the first event of a new subject. d must have been
// validated.
func CreateSubject(id, org, creator string, d SubjectDetails, now time.Time) (eventlog.Event, error) {
	return eventlog.Next(nil, eventlog.Change{
		AggregateType: SubjectAggregateType, AggregateID: id, Type: EventSubjectCreated,
		Organization: org, Actor: creator, Time: now,
		Data: SubjectRecord{Name: SubjectName(id), SubjectDetails: withEmptyLists(d)},
	})
}

// UpdateSubject returns the event recording that actor changed the subject
// (whose events are history) to d, or ok false when nothing changes. d
// must have been validated.
func UpdateSubject(history []eventlog.Event, actor string, d SubjectDetails, reason string, now time.Time) (e eventlog.Event, ok bool, err error) {
	current, err := FoldSubject(history)
	if err != nil {
		return eventlog.Event{}, false, err
	}
	if err := maxLen("reason", strings.TrimSpace(reason), MaxReason); err != nil {
		return eventlog.Event{}, false, err
	}
	changed := changedFields(current.SubjectDetails, d)
	if len(changed) == 0 {
		return eventlog.Event{}, false, nil
	}
	e, err = eventlog.Next(history, eventlog.Change{
		AggregateType: SubjectAggregateType, AggregateID: current.ID, Type: EventSubjectUpdated,
		Organization: current.Organization, Actor: actor, Time: now,
		Data: SubjectRecord{Name: current.Name(), SubjectDetails: withEmptyLists(d), ChangedFields: changed, Reason: strings.TrimSpace(reason)},
	})
	return e, err == nil, err
}

// withEmptyLists makes identifier lists JSON arrays rather than null, as
// the event contract promises a list.
func withEmptyLists(d SubjectDetails) SubjectDetails {
	if d.Identifiers == nil {
		d.Identifiers = []Identifier{}
	}
	if d.Representative != nil && d.Representative.Identifiers == nil {
		r := *d.Representative
		r.Identifiers = []Identifier{}
		d.Representative = &r
	}
	return d
}

// FoldSubject rebuilds a subject from its events.
func FoldSubject(events []eventlog.Event) (Subject, error) {
	var s Subject
	for _, e := range events {
		if e.AggregateType != SubjectAggregateType {
			return Subject{}, fmt.Errorf("%s is a %s, not a subject", e.AggregateID, e.AggregateType)
		}
		var p SubjectRecord
		if err := e.Decode(&p); err != nil {
			return Subject{}, err
		}
		switch e.Type {
		case EventSubjectCreated:
			s = Subject{ID: e.AggregateID, Organization: e.Organization, Creator: e.Actor, CreateTime: e.Time}
		case EventSubjectUpdated:
		default:
			return Subject{}, fmt.Errorf("subject %s: unknown event type %q", e.AggregateID, e.Type)
		}
		s.SubjectDetails = p.SubjectDetails
		s.UpdateTime = e.Time
		s.Version = e.Seq
	}
	return s, nil
}
