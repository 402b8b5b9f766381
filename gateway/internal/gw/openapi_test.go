package gw

import (
	"encoding/json"
	"slices"
	"testing"

	evidencev1 "github.com/contactguard/contactguard/proto/evidence/v1"
)

// sampleValue is a valid value for an upload field.
func sampleValue(field string) string {
	switch field {
	case "kind":
		return "EVIDENCE_KIND_SCREENSHOT"
	case "distressing":
		return "true"
	case "captureTime":
		return "2026-11-23T09:30:00Z"
	}
	return "x"
}

// The served document describes the evidence routes as the gateway serves
// them: a multipart upload with a file part, and a download of bytes.
func TestOpenAPIDescribesEvidenceRoutesAsServed(t *testing.T) {
	docs, err := openAPIDocs()
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Paths map[string]map[string]struct {
			Consumes   []string `json:"consumes"`
			Produces   []string `json:"produces"`
			Parameters []struct {
				Name     string   `json:"name"`
				In       string   `json:"in"`
				Type     string   `json:"type"`
				Required bool     `json:"required"`
				Enum     []string `json:"enum"`
			} `json:"parameters"`
			Responses map[string]struct {
				Schema map[string]any `json:"schema"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(docs["contactguard.swagger.json"], &d); err != nil {
		t.Fatal(err)
	}
	up := d.Paths["/v1/evidence:upload"]["post"]
	if !slices.Equal(up.Consumes, []string{"multipart/form-data"}) {
		t.Errorf("upload consumes %v", up.Consumes)
	}
	params := map[string]bool{}
	for _, p := range up.Parameters {
		if p.In != "formData" {
			t.Errorf("parameter %s is in %s, want formData", p.Name, p.In)
		}
		params[p.Name] = true
		if p.Name == "file" && (p.Type != "file" || !p.Required) {
			t.Errorf("file parameter: %+v", p)
		}
		if p.Name == "kind" && (!slices.Contains(p.Enum, "EVIDENCE_KIND_SCREENSHOT") || slices.Contains(p.Enum, "EVIDENCE_KIND_UNSPECIFIED")) {
			t.Errorf("kind enum: %v", p.Enum)
		}
	}
	// Every field the upload route accepts (setField) is described.
	for _, name := range []string{"kind", "incident", "restriction", "publicNaming", "distressing", "description", "sourceUrl", "captureTime", "capturedBy", "originalFilename", "requestId", "file"} {
		if !params[name] {
			t.Errorf("upload does not describe %s", name)
		}
		if name != "file" {
			if err := setField(new(evidencev1.Evidence), new(string), name, sampleValue(name)); err != nil {
				t.Errorf("described field %s is refused by the route: %v", name, err)
			}
		}
	}
	down := d.Paths["/v1/{name}:download"]["get"]
	if !slices.Equal(down.Produces, []string{"application/octet-stream"}) || down.Responses["200"].Schema["type"] != "file" {
		t.Errorf("download: produces %v, 200 schema %v", down.Produces, down.Responses["200"].Schema)
	}
}
