// Package console is the support console of the admin listener
// (/console/): server-rendered pages (html/template, no script) where
// support staff find players and act on them, and operators manage
// clients and signing keys, over the operator's service (broker/admin).
//
// Staff sign in through one of the broker's upstream providers, by the
// broker's own authorization-code flow (signin.go); only the identities
// listed in console.admins are let in, and every refusal is audited.
// Sessions live in the process's memory (sessions.go) behind an HttpOnly,
// SameSite=Strict cookie, Secure when the console is reached over https.
//
// Every change is asked first and confirmed (actions.go): a GET shows what
// will happen and changes nothing; only the confirmation's POST, carrying
// the session's CSRF token (compared in constant time) from the console's
// own origin, makes the change, and redirects to a page that shows the
// outcome once. Every page carries a Content-Security-Policy that allows
// no script, styles only from the console's stylesheet, and forms posting
// only to the console.
package console
