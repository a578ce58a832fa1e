// Package web is Bridgekeeper's HTTP surface: gorilla/mux routes, middleware,
// the OAuth2 endpoints (token, introspection, revocation, discovery, JWKS),
// health and metrics. It is the only package that knows HTTP; each wire
// surface maps broker errors to its own error format in one place.
package web
