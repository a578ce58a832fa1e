// Package adminapi is the admin REST API (/admin/v1) of the admin
// listener: JSON over the operator's service (broker/admin), authenticated
// by the broker's own access tokens. A token must be a client's (not a
// player's), carry the scope bridgekeeper:admin, and its client must still
// exist; a client of the reserved "admin" namespace sees every namespace,
// any other sees its own.
//
// Every refusal is JSON in the shape of the OAuth2 error writer,
// {"error", "error_description", "field"}, from one writer (writeError);
// 401 and 403 carry WWW-Authenticate (RFC 6750 §3).
package adminapi
