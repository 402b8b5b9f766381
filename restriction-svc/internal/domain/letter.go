package domain

import (
	"bytes"
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/policy"
)

// Letter kinds.
const (
	LetterDecision      = "decision"
	LetterAppealOutcome = "appeal_outcome"
	LetterReviewOutcome = "review_outcome"
	LetterVariation     = "variation"
	LetterLifted        = "lifted"
)

// LetterKinds lists every kind of letter.
var LetterKinds = []string{LetterDecision, LetterAppealOutcome, LetterReviewOutcome, LetterVariation, LetterLifted}

// Letter is a letter to the subject, stored with the restriction.
type Letter struct {
	ID                 string    `json:"id"`
	Kind               string    `json:"kind"`
	SubjectLine        string    `json:"subject_line"`
	HTML               string    `json:"html"`
	Text               string    `json:"text"`
	Creator            string    `json:"creator"`
	CreateTime         time.Time `json:"-"`
	RestrictionVersion int64     `json:"restriction_version"`
}

// SubjectInfo is what a letter needs to know of its addressee.
type SubjectInfo struct {
	DisplayName string
}

// FormatDate writes a date the way a letter does: "Monday 14 December 2026"
// (UK time).
func FormatDate(t time.Time) string { return t.In(london()).Format("Monday 2 January 2006") }

type section struct {
	Heading string
	Paras   []string
	Bullets []string
}

// arrangement says one rule to the subject, in plain neutral words (C71).
func (r Rule) arrangement() string {
	switch r.Kind {
	case KindChannelsOnly:
		return "You can contact us only by " + channelWords(r.Channels) + "."
	case KindNamedOfficer:
		return "Please contact us only through your named officer, who is your single point of contact."
	case KindWithholdStaffDetails:
		return "Our staff will not give you their names or direct contact details."
	case KindThirdPartyOnly:
		return "Please contact us only through your representative, " + r.Representative + "."
	case KindAutomatedService:
		chans := r.Channels
		if len(chans) == 0 || slices.Equal(chans, []string{Phone}) {
			return "Your phone calls will be answered by our automated service."
		}
		return "Your contact by " + channelWords(chans) + " will be handled by our automated service."
	case KindVolumeLimit:
		by := ""
		if r.Channel != "" {
			by = " by " + strings.ReplaceAll(r.Channel, "_", " ")
		}
		return fmt.Sprintf("You can contact us%s up to %d times a %s.", by, r.MaxContacts, periodWords(r.Period))
	case KindCallDurationLimit:
		return fmt.Sprintf("Phone calls with you will last no longer than %d minutes.", int(r.MaxDuration.Minutes()))
	case KindTimeWindows:
		s := "You can contact us only at these times: " + windowWords(r) + "."
		if len(r.Channels) > 0 {
			s = "By " + channelWords(r.Channels) + ", you can contact us only at these times: " + windowWords(r) + "."
		}
		return s
	case KindComplaintsRestricted:
		s := "Your use of our complaints process is restricted."
		if r.Terms != "" {
			s = "Your use of our complaints process is restricted: " + r.Terms
		}
		return s
	case KindStaffNoContact:
		return "Some members of staff will not deal with you directly; another member of staff will help you instead."
	}
	return ""
}

func arrangements(rules []Rule) []string {
	out := make([]string, 0, len(rules))
	for _, r := range rules {
		out = append(out, r.arrangement())
	}
	return out
}

func roleWords(p policy.Profile, decision string) string {
	roles := p.RolesFor(decision)
	words := make([]string, len(roles))
	for i, r := range roles {
		words[i] = strings.ReplaceAll(r, "_", " ")
	}
	switch len(words) {
	case 0:
		return "a senior officer"
	case 1:
		return "the " + words[0]
	}
	return "the " + strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

func (r Restriction) durationSection() section {
	s := section{Heading: "How long the arrangements last"}
	start := "These arrangements start on " + FormatDate(r.StartTime)
	if r.EndTime.IsZero() {
		s.Paras = append(s.Paras, start+" and have no fixed end date.")
		if r.NoEndReason != "" {
			s.Paras = append(s.Paras, "This is because: "+r.NoEndReason)
		}
	} else {
		s.Paras = append(s.Paras, start+" and end on "+FormatDate(r.EndTime)+".")
	}
	return s
}

func (r Restriction) reviewSection() section {
	s := section{Heading: "When we will review them"}
	switch {
	case !r.NextReviewTime.IsZero():
		s.Paras = append(s.Paras, "We will review these arrangements by "+FormatDate(r.NextReviewTime)+
			". We will look at whether they are still needed, and we will write to you with the outcome.")
	case r.ReviewWaivedReason != "":
		s.Paras = append(s.Paras, "We will not review these arrangements on a fixed date. This is because: "+r.ReviewWaivedReason)
	}
	return s
}

func (r Restriction) appealSection(p policy.Profile, now time.Time) section {
	s := section{Heading: "How to appeal"}
	if r.AppealDeadline.IsZero() || now.After(r.AppealDeadline) {
		return section{}
	}
	s.Paras = append(s.Paras,
		"If you disagree with this decision, you can appeal. Tell any member of our staff, in writing or by phone, that you want to appeal and why, by "+
			FormatDate(r.AppealDeadline)+".",
		"Your appeal will be decided by "+roleWords(p, policy.HearAppeal)+", who took no part in this decision. We will write to you with the outcome and the reasons.")
	return s
}

// RenderLetter renders a letter of kind from the restriction in plain,
// neutral language (C71): what was decided and why, the arrangements, how
// long, when they will be reviewed, and how to appeal and by when.
func RenderLetter(r Restriction, kind string, subject SubjectInfo, p policy.Profile, now time.Time) (Letter, error) {
	if r.Decision == nil || r.Decision.Outcome != OutcomeImposed {
		return Letter{}, apperr.Precondition("restriction %s has not been imposed; there is no decision to write about", r.Reference)
	}
	var title string
	var secs []section
	switch kind {
	case LetterDecision:
		title = "Our decision about how you contact us"
		secs = append(secs,
			section{Heading: "What we have decided", Paras: []string{
				"We have decided to change, for a time, the way you can contact " + p.Name + ".",
				"Our reasons: " + r.Decision.Reasons,
			}},
			section{Heading: "Why", Paras: nonEmpty("What happened: "+r.Behaviour, prefixed("Why we think these arrangements are fair and necessary: ", r.Proportionality))},
			section{Heading: "The arrangements", Bullets: arrangements(r.Rules)},
			r.durationSection(), r.reviewSection(), r.appealSection(p, now))
	case LetterAppealOutcome:
		var last *Appeal
		for i := range r.Appeals {
			if r.Appeals[i].State == AppealDecided {
				last = &r.Appeals[i]
			}
		}
		if last == nil {
			return Letter{}, apperr.Precondition("restriction %s has no decided appeal", r.Reference)
		}
		title = "The outcome of your appeal"
		secs = append(secs, section{Heading: "What we have decided", Paras: []string{outcomeWords(last.Outcome), "Our reasons: " + last.Reasons}})
		secs = append(secs, r.remaining()...)
	case LetterReviewOutcome:
		if len(r.Reviews) == 0 {
			return Letter{}, apperr.Precondition("restriction %s has not been reviewed", r.Reference)
		}
		last := r.Reviews[len(r.Reviews)-1]
		title = "The outcome of our review"
		secs = append(secs, section{Heading: "What we have decided", Paras: []string{"We have reviewed the arrangements for your contact with us. " + outcomeWords(last.Outcome), "Our reasons: " + last.Reasons}})
		secs = append(secs, r.remaining()...)
		if r.State != StateLifted {
			secs = append(secs, r.appealSection(p, now))
		}
	case LetterVariation:
		if len(r.Variations) == 0 {
			return Letter{}, apperr.Precondition("restriction %s has not been varied", r.Reference)
		}
		last := r.Variations[len(r.Variations)-1]
		title = "A change to the arrangements for your contact with us"
		secs = append(secs, section{Heading: "What we have decided", Paras: []string{"We have changed the arrangements for your contact with us.", "Our reasons: " + last.Reasons}})
		secs = append(secs, r.remaining()...)
		secs = append(secs, r.appealSection(p, now))
	case LetterLifted:
		if r.State != StateLifted || r.Lift == nil && !slices.ContainsFunc(r.Appeals, func(a Appeal) bool { return a.Outcome == OutcomeLifted }) &&
			!slices.ContainsFunc(r.Reviews, func(rv Review) bool { return rv.Outcome == OutcomeLifted }) {
			return Letter{}, apperr.Precondition("restriction %s is %s, not lifted", r.Reference, r.State)
		}
		title = "The arrangements for your contact with us have ended"
		reasons := ""
		if r.Lift != nil {
			reasons = r.Lift.Reasons
		}
		secs = append(secs, section{Heading: "What we have decided", Paras: nonEmpty("We have ended the arrangements for your contact with us. You can contact us in the usual way again.", prefixed("Our reasons: ", reasons))})
	case "":
		return Letter{}, apperr.Invalid("kind", "say which letter to write (one of %s)", strings.Join(LetterKinds, ", "))
	default:
		return Letter{}, apperr.Invalid("kind", "unknown kind of letter %q (one of %s)", kind, strings.Join(LetterKinds, ", "))
	}
	name := subject.DisplayName
	if name == "" {
		name = "customer"
	}
	doc := letterDoc{
		Organization: p.Name, Title: title, Reference: r.Reference, Date: FormatDate(now),
		Greeting: "Dear " + name + ",", Sections: compact(secs),
	}
	var html bytes.Buffer
	if err := letterHTML.Execute(&html, doc); err != nil {
		return Letter{}, fmt.Errorf("render letter: %w", err)
	}
	return Letter{
		Kind: kind, SubjectLine: fmt.Sprintf("%s: %s (reference %s)", p.Name, title, r.Reference),
		HTML: html.String(), Text: doc.text(), RestrictionVersion: r.Version,
	}, nil
}

// remaining describes the arrangements as they now stand, or that none remain.
func (r Restriction) remaining() []section {
	if !r.InForce() {
		return []section{{Paras: []string{"You can contact us in the usual way again."}}}
	}
	return []section{{Heading: "The arrangements now", Bullets: arrangements(r.Rules)}, r.durationSection(), r.reviewSection()}
}

func outcomeWords(outcome string) string {
	switch outcome {
	case OutcomeUpheld, OutcomeContinued:
		return "The arrangements stay as they are."
	case OutcomeVaried:
		return "We have changed the arrangements. They are set out below."
	case OutcomeLifted:
		return "We have ended the arrangements. You can contact us in the usual way again."
	}
	return ""
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

func nonEmpty(parts ...string) []string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

func compact(secs []section) []section {
	var out []section
	for _, s := range secs {
		if len(s.Paras) > 0 || len(s.Bullets) > 0 {
			out = append(out, s)
		}
	}
	return out
}

type letterDoc struct {
	Organization, Title, Reference, Date, Greeting string
	Sections                                       []section
}

func (d letterDoc) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n%s\nReference: %s\n\n%s\n\n", d.Organization, d.Date, d.Reference, d.Greeting)
	fmt.Fprintf(&b, "%s\n\n", d.Title)
	for _, s := range d.Sections {
		if s.Heading != "" {
			fmt.Fprintf(&b, "%s\n%s\n", s.Heading, strings.Repeat("-", len(s.Heading)))
		}
		for _, p := range s.Paras {
			fmt.Fprintf(&b, "%s\n", p)
		}
		for _, p := range s.Bullets {
			fmt.Fprintf(&b, "  - %s\n", p)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "Yours sincerely,\n%s\n", d.Organization)
	return b.String()
}

var letterHTML = template.Must(template.New("letter").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body>
<p>{{.Organization}}</p>
<p>{{.Date}}<br>Reference: {{.Reference}}</p>
<p>{{.Greeting}}</p>
<h1>{{.Title}}</h1>
{{range .Sections}}{{if .Heading}}<h2>{{.Heading}}</h2>
{{end}}{{range .Paras}}<p>{{.}}</p>
{{end}}{{if .Bullets}}<ul>
{{range .Bullets}}<li>{{.}}</li>
{{end}}</ul>
{{end}}{{end}}<p>Yours sincerely,<br>{{.Organization}}</p>
</body></html>
`))
