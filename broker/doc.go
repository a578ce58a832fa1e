// Package broker is Bridgekeeper's domain: namespaces, clients, users and their
// takeover links, signing keys, token issuance, refresh-token families and
// revocation. It knows the rules and nothing about HTTP; it defines the Store
// it needs and leaves SQL to broker/store/*.
package broker
