package domain

import (
	"errors"
	"strings"
	"testing"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/policy"
)

// policy-map.md section 1 and 7: the council excludes children in an
// education setting (PPR framework) and covers elected members; the board
// mentions neither, so covers no elected members and excludes no children.
func TestSection1_WhoIsCovered(t *testing.T) {
	hc, _ := policy.For("highland-council")
	vb, _ := policy.For("valuation-board")
	tests := []struct {
		name    string
		p       policy.Profile
		kind    string
		child   bool
		refused string
	}{
		{"council refuses a child in an education setting", hc, SubjectServiceUser, true, "Promoting Positive Relationships"},
		{"board records a child's incident", vb, SubjectServiceUser, true, ""},
		{"council covers elected members", hc, SubjectElectedMember, false, ""},
		{"board does not cover elected members", vb, SubjectElectedMember, false, "elected members"},
		{"service user covered in both", vb, SubjectServiceUser, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckCovered(tt.p, "incident.subject", tt.kind, tt.child)
			if tt.refused == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, apperr.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.refused) {
				t.Errorf("err = %v, want InvalidArgument mentioning %q", err, tt.refused)
			}
		})
	}
}
