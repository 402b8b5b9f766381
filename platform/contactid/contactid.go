// Package contactid normalises the identifiers a customer contacts the
// organisation with, so that the register, the restrictions and the
// real-time contact check agree on one form: phone numbers in E.164 (UK
// numbers may be written nationally: "01463 702000", "+44 1463 702000"
// and "0044 1463702000" are one number), email addresses lower-cased,
// social media handles lower-cased without the leading @, postal addresses
// with their whitespace collapsed.
package contactid

import (
	"fmt"
	"net/mail"
	"regexp"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Kinds of identifier.
const (
	Phone  = "phone"
	Email  = "email"
	Social = "social"
	Postal = "postal"
)

// DefaultRegion is assumed for numbers written without a country code.
const DefaultRegion = "GB"

var (
	handlePattern = regexp.MustCompile(`^[a-z0-9_.\-]{1,100}$`)
	platformName  = regexp.MustCompile(`^[a-z0-9][a-z0-9 _.\-]{0,39}$`)
)

// Normalize returns the canonical form of value, or an error a person can
// act on ("is not a phone number: ..."). For social handles value may be
// "platform:handle" (e.g. "x:@someone"); the platform is kept.
func Normalize(kind, value string) (string, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return "", fmt.Errorf("is empty")
	}
	if len(value) > 320 {
		return "", fmt.Errorf("is %d characters long; at most 320 are allowed", len(value))
	}
	switch kind {
	case Phone:
		return NormalizePhone(value)
	case Email:
		addr, err := mail.ParseAddress(value)
		if err != nil || addr.Address != value && addr.Name != "" || !strings.Contains(addr.Address, "@") {
			return "", fmt.Errorf("is not an email address: %q", value)
		}
		domain := addr.Address[strings.LastIndex(addr.Address, "@")+1:]
		if !strings.Contains(domain, ".") {
			return "", fmt.Errorf("is not an email address (no domain): %q", value)
		}
		return strings.ToLower(addr.Address), nil
	case Social:
		platform, handle, found := strings.Cut(value, ":")
		if !found {
			platform, handle = "", value
		}
		platform = strings.ToLower(strings.TrimSpace(platform))
		handle = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(handle), "@"))
		if !handlePattern.MatchString(handle) {
			return "", fmt.Errorf("is not a social media handle: %q", value)
		}
		if platform == "" {
			return handle, nil
		}
		if !platformName.MatchString(platform) {
			return "", fmt.Errorf("has an unreadable platform name: %q", value)
		}
		return platform + ":" + handle, nil
	case Postal:
		return strings.ToLower(strings.Join(strings.Fields(value), " ")), nil
	}
	return "", fmt.Errorf("unknown kind of identifier %q (one of phone, email, social, postal)", kind)
}

// NormalizePhone returns value in E.164, refusing what cannot be a number.
func NormalizePhone(value string) (string, error) {
	n, err := phonenumbers.Parse(value, DefaultRegion)
	// A valid number, or a possible one of full length: numbers reserved for
	// drama and tests (07700 900xxx) are not "valid" but are real shapes;
	// fragments such as "1234" are refused.
	if err != nil || !phonenumbers.IsValidNumber(n) && !(phonenumbers.IsPossibleNumber(n) && len(phonenumbers.GetNationalSignificantNumber(n)) >= 9) {
		return "", fmt.Errorf("is not a phone number: %q (write it as 01463 702000 or +44 1463 702000)", value)
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// Key is the lookup key of a normalised identifier: "phone:+441463702000".
func Key(kind, normalized string) string { return kind + ":" + normalized }
