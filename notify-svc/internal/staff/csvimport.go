package staff

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"regexp"
	"slices"
	"strings"

	"github.com/contactguard/contactguard/platform/apperr"
	"github.com/contactguard/contactguard/platform/policy"
)

// MaxImportRows bounds one import; an HR export of a council fits well.
const MaxImportRows = 20000

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// columns maps the header names an HR export may use to our fields.
var columns = map[string]string{
	"id": "id", "staff_id": "id", "employee_id": "id", "employee id": "id", "staff id": "id",
	"name": "name", "full_name": "name", "full name": "name",
	"email": "email", "email_address": "email", "email address": "email",
	"organization": "organization", "organisation": "organization",
	"line_manager_id": "line_manager_id", "line manager id": "line_manager_id", "manager_id": "line_manager_id", "line manager": "line_manager_id",
	"roles": "roles", "role": "roles",
	"team": "team", "department": "team",
}

var requiredColumns = []string{"id", "name", "email", "line_manager_id", "roles"}

// ParseCSV reads an HR export of org's staff: a header row, then one row
// per person. Every row is checked before anything is applied: the first
// problem is reported with its line number and nothing is imported. Line
// managers must be in the file or already in the directory (known).
func ParseCSV(r io.Reader, p policy.Profile, known func(id string) bool) ([]Member, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, apperr.Invalid("csv", "is empty: the first line must name the columns (%s)", strings.Join(requiredColumns, ", "))
	}
	if err != nil {
		return nil, apperr.Invalid("csv", "line 1: %v", err)
	}
	index := map[string]int{}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		field, ok := columns[name]
		if !ok {
			return nil, apperr.Invalid("csv", "line 1: unknown column %q (expected %s, team, organization)", h, strings.Join(requiredColumns, ", "))
		}
		if _, dup := index[field]; dup {
			return nil, apperr.Invalid("csv", "line 1: column %q appears twice", h)
		}
		index[field] = i
	}
	for _, c := range requiredColumns {
		if _, ok := index[c]; !ok {
			return nil, apperr.Invalid("csv", "line 1: the column %q is missing", c)
		}
	}
	var members []Member
	lines := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return nil, apperr.Invalid("csv", "line %d: %v", line, err)
		}
		if len(members) >= MaxImportRows {
			return nil, apperr.Invalid("csv", "more than %d rows; split the file", MaxImportRows)
		}
		if len(rec) != len(header) {
			return nil, apperr.Invalid("csv", "line %d: %d fields, the header has %d", line, len(rec), len(header))
		}
		get := func(field string) string {
			if i, ok := index[field]; ok {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		m := Member{
			ID: strings.ToLower(get("id")), Organization: p.ID, Name: get("name"), Email: strings.ToLower(get("email")),
			LineManagerID: strings.ToLower(get("line_manager_id")), Team: get("team"),
		}
		bad := func(format string, args ...any) error {
			return apperr.Invalid("csv", "line %d: %s", line, fmt.Sprintf(format, args...))
		}
		if org := get("organization"); org != "" && org != p.ID {
			return nil, bad("organisation %q: you can only import staff of %s", org, p.ID)
		}
		switch {
		case !idPattern.MatchString(m.ID):
			return nil, bad("id %q is not a staff id (lower-case letters, digits, . _ -)", get("id"))
		case m.Name == "" || len(m.Name) > 200:
			return nil, bad("name is missing or longer than 200 characters")
		case len(m.Team) > 200:
			return nil, bad("team is longer than 200 characters")
		case m.LineManagerID != "" && !idPattern.MatchString(m.LineManagerID):
			return nil, bad("line_manager_id %q is not a staff id", m.LineManagerID)
		case m.LineManagerID == m.ID:
			return nil, bad("%s cannot be their own line manager", m.ID)
		}
		if addr, err := mail.ParseAddress(m.Email); err != nil || addr.Address != m.Email {
			return nil, bad("email %q is not an email address", get("email"))
		}
		for _, role := range strings.Split(get("roles"), ";") {
			role = strings.ToLower(strings.TrimSpace(role))
			if role == "" {
				continue
			}
			if !p.KnowsRole(role) {
				return nil, bad("role %q is not a role of %s (one of %s)", role, p.Name, strings.Join(p.Roles, ", "))
			}
			if !slices.Contains(m.Roles, role) {
				m.Roles = append(m.Roles, role)
			}
		}
		if !slices.Contains(m.Roles, "staff") {
			m.Roles = append([]string{"staff"}, m.Roles...)
		}
		if first, dup := lines[m.ID]; dup {
			return nil, bad("staff id %s is already on line %d", m.ID, first)
		}
		lines[m.ID] = line
		members = append(members, m)
	}
	for _, m := range members {
		if m.LineManagerID == "" {
			continue
		}
		if _, inFile := lines[m.LineManagerID]; !inFile && !known(m.LineManagerID) {
			return nil, apperr.Invalid("csv", "line %d: line manager %s is neither in the file nor in the directory", lines[m.ID], m.LineManagerID)
		}
	}
	return members, nil
}
