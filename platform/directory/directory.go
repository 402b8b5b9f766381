// Package directory holds the seeded staff directory of both organisations
// (development and tests). notify-svc imports it into its own directory at
// start; the gateway's dev mode issues tokens for its members. Production
// replaces it with the HR export.
package directory

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

// StaffMember is one person in the directory.
type StaffMember struct {
	ID            string   `json:"id" bson:"_id"`
	Organization  string   `json:"organization" bson:"organization"`
	Name          string   `json:"name" bson:"name"`
	Email         string   `json:"email" bson:"email"`
	LineManagerID string   `json:"line_manager_id" bson:"line_manager_id"`
	Roles         []string `json:"roles" bson:"roles"`
	Team          string   `json:"team" bson:"team"`
}

//go:embed seed.json
var seedJSON []byte

var seed = mustParse(seedJSON)

func mustParse(b []byte) []StaffMember {
	var doc struct {
		Staff []StaffMember `json:"staff"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		panic(fmt.Sprintf("directory: seed.json: %v", err))
	}
	return doc.Staff
}

// Seed returns a copy of the seeded staff.
func Seed() []StaffMember {
	out := make([]StaffMember, len(seed))
	copy(out, seed)
	return out
}

// Find returns the seeded member with id.
func Find(id string) (StaffMember, bool) {
	for _, m := range seed {
		if m.ID == id {
			return m, true
		}
	}
	return StaffMember{}, false
}
