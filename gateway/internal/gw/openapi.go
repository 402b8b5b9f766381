package gw

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"strings"

	evidencev1 "github.com/contactguard/contactguard/proto/evidence/v1"
	"github.com/contactguard/contactguard/proto/openapi"
)

// openAPIDocs returns the OpenAPI documents to serve, by file name. The
// merged document is corrected where the gateway serves a route itself
// (evidence.go): protoc-gen-openapiv2 describes the upload as one JSON
// message of the gRPC stream and the download as a stream of JSON
// messages, while over REST the upload is multipart/form-data and the
// download the file's bytes.
func openAPIDocs() (map[string][]byte, error) {
	docs := map[string][]byte{}
	err := fs.WalkDir(openapi.FS, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(openapi.FS, name)
		if err != nil {
			return err
		}
		if name == openapi.MergedFile {
			if b, err = describeEvidenceRoutes(b); err != nil {
				return fmt.Errorf("openapi %s: %w", name, err)
			}
		}
		docs[name] = b
		return nil
	})
	return docs, err
}

// describeEvidenceRoutes rewrites the upload and download operations of a
// Swagger 2.0 document as the gateway serves them.
func describeEvidenceRoutes(doc []byte) ([]byte, error) {
	var d map[string]any
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	paths, _ := d["paths"].(map[string]any)
	upload, _ := paths["/v1/evidence:upload"].(map[string]any)
	post, _ := upload["post"].(map[string]any)
	download, _ := paths["/v1/{name}:download"].(map[string]any)
	get, _ := download["get"].(map[string]any)
	if post == nil || get == nil {
		return nil, fmt.Errorf("the evidence upload or download operation is missing")
	}

	var kinds []string
	for v := range len(evidencev1.EvidenceKind_name) {
		if v > 0 {
			kinds = append(kinds, evidencev1.EvidenceKind_name[int32(v)])
		}
	}
	text := func(name, description string) map[string]any {
		return map[string]any{"name": name, "in": "formData", "type": "string", "description": description}
	}
	post["consumes"] = []string{"multipart/form-data"}
	post["summary"] = "Uploads an evidence item as multipart/form-data, streamed through to evidence-svc"
	post["description"] = "Send the metadata fields first and the file part last; nothing is stored unless the whole file " +
		"arrives and passes the checks (content type detected from the bytes against an allow-list, size limit, " +
		"linked records that exist and that you may read). A field may also be given as one JSON object in " +
		"\"evidence\". Example: curl -F kind=EVIDENCE_KIND_SCREENSHOT -F incident=incidents/ID -F distressing=true -F file=@shot.png"
	post["parameters"] = []any{
		map[string]any{"name": "kind", "in": "formData", "type": "string", "required": true, "enum": kinds, "description": "What the item is."},
		text("incident", "The incident it belongs to: incidents/{id}."),
		text("restriction", "The restriction it belongs to: restrictions/{id}."),
		text("publicNaming", "The staff-named-publicly case it belongs to: publicNamings/{id}."),
		map[string]any{"name": "distressing", "in": "formData", "type": "boolean", "description": "Distressing material (C75): its file name is marked and downloads need an acknowledgement."},
		text("description", "What it shows, factually."),
		text("sourceUrl", "Where online material was found."),
		map[string]any{"name": "captureTime", "in": "formData", "type": "string", "format": "date-time", "description": "When it was captured (RFC 3339)."},
		text("capturedBy", "Staff id of who captured it (default: you)."),
		text("originalFilename", "File name to record (default: the file part's)."),
		text("requestId", "Idempotency key: a retry with the same key returns the first item."),
		map[string]any{"name": "file", "in": "formData", "type": "file", "required": true, "description": "The content; the last part of the body."},
	}
	get["produces"] = []string{"application/octet-stream"}
	get["summary"] = "Downloads an evidence item's content, as stored, with its SHA-256 in X-Evidence-Sha256"
	if responses, ok := get["responses"].(map[string]any); ok {
		responses["200"] = map[string]any{
			"description": "The file. Content-Disposition gives the stored file name (distressing items start with DISTRESSING).",
			"schema":      map[string]any{"type": "file"},
		}
	}
	return json.MarshalIndent(d, "", "  ")
}

// serveOpenAPI serves /openapi/ (the merged document) and /openapi/{file}.
func serveOpenAPI(docs map[string][]byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/openapi/")
		if name == "" {
			name = openapi.MergedFile
		}
		b, ok := docs[name]
		if !ok {
			writeError(w, http.StatusNotFound, 5, "no such OpenAPI document; see /openapi/")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}
}
