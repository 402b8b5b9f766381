package app

import (
	"strings"
	"testing"

	"github.com/contactguard/contactguard/platform/policy"
)

// Every event a profile says to email about has a template: a rule
// without one would drop the policy's notification.
func TestEveryNotificationRuleHasATemplate(t *testing.T) {
	for _, org := range policy.Organizations() {
		p, _ := policy.For(org)
		for eventType := range p.Notifications {
			tmpl, ok := templates[eventType]
			if !ok {
				t.Errorf("%s: rule for %s has no template", org, eventType)
				continue
			}
			subject, text, html, err := tmpl.render(message{Organization: p.Name, RecipientName: "A Person", Reference: "REF-1", Link: "https://portal/x", Reason: "why"})
			if err != nil {
				t.Fatalf("%s: %v", eventType, err)
			}
			for _, part := range []string{subject, text, html} {
				if !strings.Contains(part, "REF-1") {
					t.Errorf("%s: a part lacks the reference: %q", eventType, part)
				}
			}
			if !strings.Contains(text, "https://portal/x") || !strings.Contains(html, "https://portal/x") {
				t.Errorf("%s: the link is missing", eventType)
			}
		}
	}
}
