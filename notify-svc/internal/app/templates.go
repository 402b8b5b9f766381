package app

import (
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
)

// message is what every template may use. It deliberately has no field
// for the description of the behaviour, the customer's details or any
// evidence: an email cannot leak what it was never given.
type message struct {
	Organization  string
	RecipientName string
	Reference     string
	Link          string
	Reason        string
	Outcome       string // of a manager review, in words
	DebriefDue    bool
}

type template struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

func newTemplate(subject, text, html string) template {
	return template{
		subject: texttemplate.Must(texttemplate.New("subject").Parse(subject)),
		text:    texttemplate.Must(texttemplate.New("text").Parse(text)),
		html:    htmltemplate.Must(htmltemplate.New("html").Parse(html)),
	}
}

func (t template) render(m message) (subject, text, html string, err error) {
	var s, tx, h strings.Builder
	if err = t.subject.Execute(&s, m); err != nil {
		return
	}
	if err = t.text.Execute(&tx, m); err != nil {
		return
	}
	if err = t.html.Execute(&h, m); err != nil {
		return
	}
	return s.String(), tx.String(), h.String(), nil
}

const footerText = `
This email holds only a reference and a link. The details are in ContactGuard, open to those who need them.
{{.Organization}}
`

const footerHTML = `<p style="color:#555">This email holds only a reference and a link. The details are in ContactGuard, open to those who need them.<br>{{.Organization}}</p>`

// templates by event type.
var templates = map[string]template{
	"incident.reported": newTemplate(
		`Incident {{.Reference}} reported: your review is needed`,
		`Dear {{.RecipientName}},

An incident of unacceptable behaviour has been reported ({{.Reason}}).

Reference: {{.Reference}}
What is needed of you: review the incident, decide whether the register is updated and what happens next, and offer the staff member a debrief.

Open it in ContactGuard: {{.Link}}
`+footerText,
		`<p>Dear {{.RecipientName}},</p>
<p>An incident of unacceptable behaviour has been reported ({{.Reason}}).</p>
<p><strong>Reference:</strong> {{.Reference}}<br>
<strong>What is needed of you:</strong> review the incident, decide whether the register is updated and what happens next, and offer the staff member a debrief.</p>
<p><a href="{{.Link}}">Open {{.Reference}} in ContactGuard</a></p>
`+footerHTML),
	"incident.zero_tolerance": newTemplate(
		`Zero-tolerance incident {{.Reference}}: action needed`,
		`Dear {{.RecipientName}},

An incident of threats, violence or abuse has been recorded under zero tolerance ({{.Reason}}).

Reference: {{.Reference}}
What is needed of you: make sure the staff member is safe and supported, and that the police decision is recorded: a decision not to report a physical threat can only be taken by a manager who is not the person threatened.

Open it in ContactGuard: {{.Link}}
`+footerText,
		`<p>Dear {{.RecipientName}},</p>
<p>An incident of threats, violence or abuse has been recorded under zero tolerance ({{.Reason}}).</p>
<p><strong>Reference:</strong> {{.Reference}}<br>
<strong>What is needed of you:</strong> make sure the staff member is safe and supported, and that the police decision is recorded: a decision not to report a physical threat can only be taken by a manager who is not the person threatened.</p>
<p><a href="{{.Link}}">Open {{.Reference}} in ContactGuard</a></p>
`+footerHTML),
	"incident.staff_named_publicly": newTemplate(
		`Staff member named publicly: {{.Reference}}`,
		`Dear {{.RecipientName}},

Material naming or targeting a member of staff has been found online ({{.Reason}}).

Reference: {{.Reference}}
What is needed of you: read the case, which holds the link and the screenshots (they are attached to the case, not to this email), and take the steps the policy gives your role. Share it no wider than needed.

Open it in ContactGuard: {{.Link}}
`+footerText,
		`<p>Dear {{.RecipientName}},</p>
<p>Material naming or targeting a member of staff has been found online ({{.Reason}}).</p>
<p><strong>Reference:</strong> {{.Reference}}<br>
<strong>What is needed of you:</strong> read the case, which holds the link and the screenshots (they are attached to the case, not to this email), and take the steps the policy gives your role. Share it no wider than needed.</p>
<p><a href="{{.Link}}">Open {{.Reference}} in ContactGuard</a></p>
`+footerHTML),
	"incident.reviewed": newTemplate(
		`Incident {{.Reference}}: the manager review is recorded`,
		`Dear {{.RecipientName}},

The manager review of an incident you were involved in is recorded ({{.Reason}}).

Reference: {{.Reference}}
Outcome: {{.Outcome}}
{{if .DebriefDue}}What is offered to you: a debrief with your line manager, with the actions you agree noted, and the employee assistance programme. You may also ask for a short time away from contact, or to have no further contact with this customer.
{{else}}Nothing is needed of you; the details are in ContactGuard.
{{end}}
Open it in ContactGuard: {{.Link}}
`+footerText,
		`<p>Dear {{.RecipientName}},</p>
<p>The manager review of an incident you were involved in is recorded ({{.Reason}}).</p>
<p><strong>Reference:</strong> {{.Reference}}<br>
<strong>Outcome:</strong> {{.Outcome}}</p>
{{if .DebriefDue}}<p><strong>What is offered to you:</strong> a debrief with your line manager, with the actions you agree noted, and the employee assistance programme. You may also ask for a short time away from contact, or to have no further contact with this customer.</p>
{{else}}<p>Nothing is needed of you; the details are in ContactGuard.</p>
{{end}}<p><a href="{{.Link}}">Open {{.Reference}} in ContactGuard</a></p>
`+footerHTML),
	"incident.debrief_reminder": newTemplate(
		`Reminder: a debrief is offered to you ({{.Reference}})`,
		`Dear {{.RecipientName}},

After the incident {{.Reference}} ({{.Reason}}) you are offered a debrief with your line manager, and the employee assistance programme is there for you. No debrief has been recorded yet.

You may also ask for a short time away from contact, or to have no further contact with this customer.

Open it in ContactGuard: {{.Link}}
`+footerText,
		`<p>Dear {{.RecipientName}},</p>
<p>After the incident {{.Reference}} ({{.Reason}}) you are offered a debrief with your line manager, and the employee assistance programme is there for you. No debrief has been recorded yet.</p>
<p>You may also ask for a short time away from contact, or to have no further contact with this customer.</p>
<p><a href="{{.Link}}">Open {{.Reference}} in ContactGuard</a></p>
`+footerHTML),
	"restriction.decided": newTemplate(
		`Restriction {{.Reference}} decided: please apply it`,
		`Dear {{.RecipientName}},

A restriction on a customer's contact has been decided ({{.Reason}}).

Reference: {{.Reference}}
What is needed of you: read the staff marker in ContactGuard and apply the arrangements it gives when this customer makes contact. It holds only what you need to apply it.

Open it in ContactGuard: {{.Link}}
`+footerText,
		`<p>Dear {{.RecipientName}},</p>
<p>A restriction on a customer's contact has been decided ({{.Reason}}).</p>
<p><strong>Reference:</strong> {{.Reference}}<br>
<strong>What is needed of you:</strong> read the staff marker in ContactGuard and apply the arrangements it gives when this customer makes contact. It holds only what you need to apply it.</p>
<p><a href="{{.Link}}">Open {{.Reference}} in ContactGuard</a></p>
`+footerHTML),
	"restriction.review_due": newTemplate(
		`Restriction {{.Reference}} is due for review`,
		`Dear {{.RecipientName}},

A restriction on a customer's contact is due for review ({{.Reason}}).

Reference: {{.Reference}}
What is needed of you: review whether the restriction is still needed and proportionate, and record the outcome (C25).

Open it in ContactGuard: {{.Link}}
`+footerText,
		`<p>Dear {{.RecipientName}},</p>
<p>A restriction on a customer's contact is due for review ({{.Reason}}).</p>
<p><strong>Reference:</strong> {{.Reference}}<br>
<strong>What is needed of you:</strong> review whether the restriction is still needed and proportionate, and record the outcome (C25).</p>
<p><a href="{{.Link}}">Open {{.Reference}} in ContactGuard</a></p>
`+footerHTML),
	"restriction.appeal_lodged": newTemplate(
		`Appeal against restriction {{.Reference}}`,
		`Dear {{.RecipientName}},

An appeal against a restriction on a customer's contact has been lodged ({{.Reason}}).

Reference: {{.Reference}}
What is needed of you: hear the appeal and record its outcome (upheld, varied or lifted) with your reasons; you must not be the person who decided the restriction (C24).

Open it in ContactGuard: {{.Link}}
`+footerText,
		`<p>Dear {{.RecipientName}},</p>
<p>An appeal against a restriction on a customer's contact has been lodged ({{.Reason}}).</p>
<p><strong>Reference:</strong> {{.Reference}}<br>
<strong>What is needed of you:</strong> hear the appeal and record its outcome (upheld, varied or lifted) with your reasons; you must not be the person who decided the restriction (C24).</p>
<p><a href="{{.Link}}">Open {{.Reference}} in ContactGuard</a></p>
`+footerHTML),
	"restriction.appeal_assigned": newTemplate(
		`Appeal against restriction {{.Reference}} assigned to you`,
		`Dear {{.RecipientName}},

An appeal against a restriction on a customer's contact has been assigned to you ({{.Reason}}).

Reference: {{.Reference}}
What is needed of you: hear the appeal and record its outcome (upheld, varied or lifted) with your reasons (C24).

Open it in ContactGuard: {{.Link}}
`+footerText,
		`<p>Dear {{.RecipientName}},</p>
<p>An appeal against a restriction on a customer's contact has been assigned to you ({{.Reason}}).</p>
<p><strong>Reference:</strong> {{.Reference}}<br>
<strong>What is needed of you:</strong> hear the appeal and record its outcome (upheld, varied or lifted) with your reasons (C24).</p>
<p><a href="{{.Link}}">Open {{.Reference}} in ContactGuard</a></p>
`+footerHTML),
	"restriction.appeal_decided": newTemplate(
		`Appeal against restriction {{.Reference}} decided`,
		`Dear {{.RecipientName}},

The appeal against a restriction on a customer's contact has been decided ({{.Reason}}).

Reference: {{.Reference}}
What is needed of you: read the outcome in ContactGuard; if the restriction was varied or lifted, apply the new arrangements.

Open it in ContactGuard: {{.Link}}
`+footerText,
		`<p>Dear {{.RecipientName}},</p>
<p>The appeal against a restriction on a customer's contact has been decided ({{.Reason}}).</p>
<p><strong>Reference:</strong> {{.Reference}}<br>
<strong>What is needed of you:</strong> read the outcome in ContactGuard; if the restriction was varied or lifted, apply the new arrangements.</p>
<p><a href="{{.Link}}">Open {{.Reference}} in ContactGuard</a></p>
`+footerHTML),
}
