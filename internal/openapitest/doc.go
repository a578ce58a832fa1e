// Package openapitest checks HTTP exchanges against Bridgekeeper's OpenAPI
// document (package api), so that the document cannot drift from the code:
// the web tests' server listens through Listener, which sees every
// exchange whoever the client, and any other client can send through
// Transport. Routing, parameters, security and statuses are checked with
// kin-openapi (openapi3filter); bodies with the JSON Schema 2020-12
// validator kin-openapi uses for OpenAPI 3.1, compiled once (bodies.go).
// A mismatch fails the test that made the exchange.
package openapitest
