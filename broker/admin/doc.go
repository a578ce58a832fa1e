// Package admin is the operator's side of the broker: what support staff
// and operators do to namespaces, clients, keys and players, and the audit
// trail of it. The admin API, the support console and the CLI all call
// these functions, so none of them holds logic the others lack.
//
// Every action that changes something runs in one transaction with the
// audit event that records it: both commit, or neither does. An Actor
// whose NamespaceID is set sees and changes that namespace only; what lies
// outside it is reported as not found, so that its existence does not
// leak.
package admin
