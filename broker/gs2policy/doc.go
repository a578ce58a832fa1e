// Package gs2policy is GS2's policy language (GS2-Auth federation): which
// actions on which resources a federated token may perform. It parses and
// validates a document, reporting every problem at once, and answers
// whether a policy allows an action on a resource (an explicit Deny wins,
// else an Allow is needed; '*' matches any run of characters). It imports
// nothing of the project: the broker stores documents and evaluates them
// through it.
package gs2policy
