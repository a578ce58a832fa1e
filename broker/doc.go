// Package broker is Bridgekeeper's core domain: namespaces, clients, users
// and their takeover links, bans, token issuance, refresh-token families,
// introspection and revocation (Broker). Two services in the package work
// on the core for the browser and console flows: Authorizations (the
// authorization-code flow through upstream providers, and linking another
// upstream identity) and Devices (the device authorization grant). It
// knows the rules and nothing about HTTP or OAuth2 libraries; its errors
// carry a Kind that each surface maps to its wire errors.
//
// Beside it: broker/keys (the KEK and signing keys), broker/gs2 (GS2-Account
// and GS2-Auth), broker/xsolla (the custom-ID login and attributes) and
// broker/gs2policy (GS2's policy language). The services take the core
// through small interfaces and say in their own what they persist. Store
// is everything persisted, in role interfaces of six methods or fewer;
// broker/store/postgres and broker/store/sqlite implement it and
// broker/store/storetest is the one conformance suite both pass.
package broker
