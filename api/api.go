// Package api holds Bridgekeeper's HTTP contract: the OpenAPI 3.1 document
// of every public surface (OAuth2 and OpenID Connect, the device grant and
// its pages, account links, GS2, Xsolla, health and metrics).
//
// The document is embedded so that the server can serve it and the tests
// can check every request and answer of the web tests against it
// (internal/openapitest): it is kept true by those tests, not by hand.
package api

import _ "embed"

// Document is openapi.yaml, the OpenAPI 3.1 document. Callers must not
// modify it.
//
//go:embed openapi.yaml
var Document []byte
