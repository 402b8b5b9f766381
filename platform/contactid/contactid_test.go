package contactid

import "testing"

func TestNormalize(t *testing.T) {
	tests := []struct {
		kind, in, want string
		ok             bool
	}{
		{Phone, "01463 702000", "+441463702000", true},
		{Phone, "+44 1463 702000", "+441463702000", true},
		{Phone, "0044 1463 702000", "+441463702000", true},
		{Phone, "+441463702000", "+441463702000", true},
		{Phone, "07700 900123", "+447700900123", true},
		{Phone, "(01463) 702-000", "+441463702000", true},
		{Phone, "+1 415 555 2671", "+14155552671", true},
		{Phone, "abc", "", false},
		{Phone, "123", "", false},
		{Phone, "1234", "", false},
		{Phone, "0146", "", false},
		{Phone, "", "", false},
		{Email, "Jo.Bloggs@Example.ORG", "jo.bloggs@example.org", true},
		{Email, " jo@example.org ", "jo@example.org", true},
		{Email, "not-an-email", "", false},
		{Email, "jo@localhost", "", false},
		{Social, "@SomeOne", "someone", true},
		{Social, "X:@SomeOne", "x:someone", true},
		{Social, "bad handle!", "", false},
		{Postal, " 1  High Street\nInverness ", "1 high street inverness", true},
		{"fax", "123", "", false},
	}
	for _, tt := range tests {
		got, err := Normalize(tt.kind, tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Normalize(%s, %q) = %q, %v; want %q ok=%v", tt.kind, tt.in, got, err, tt.want, tt.ok)
		}
	}
	if Key(Phone, "+441463702000") != "phone:+441463702000" {
		t.Error("Key")
	}
}
