// Package steamtest is a fake of Valve's Steam Web API, speaking
// ISteamUserAuth/AuthenticateUserTicket as Steam does, for tests of code
// that verifies Steam tickets: register a ticket with Issue, point the
// verifier's APIURL at URL, and the fake answers as Steam would for that
// ticket, key and AppID. It serves on loopback and closes itself when the
// test ends.
package steamtest
