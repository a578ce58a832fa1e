// Package gs2 is GS2's two services on the broker's core, as GS2's own SDKs
// call them: Accounts (GS2-Account: accounts with generated passwords,
// password takeovers, doTakeOver, the authentication whose signed body
// loginBySignature trades for a token, and ban statuses) and Auth (GS2-Auth:
// a trusted server's login by user ID, time-offset tokens, federation and
// its policy documents). It owns those rules and the password hashing they
// use; the users, links and token signing it stands on are the core's
// (package broker), and each service says in a small interface what it
// reads and writes. The policy language itself is broker/gs2policy.
package gs2
