// Package openapi holds the OpenAPI (Swagger 2.0) document generated from the
// protos by protoc-gen-openapiv2, for the gateway to serve.
package openapi

import "embed"

// FS holds the generated OpenAPI documents (*.swagger.json) at its root.
//
//go:embed *.swagger.json
var FS embed.FS

// MergedFile is the name in FS of the document covering every service.
const MergedFile = "contactguard.swagger.json"
