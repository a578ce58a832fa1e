// Package steam verifies Steam Web API tickets for RFC 8693 token
// exchange: the hex ticket a game gets from the Steamworks SDK's
// ISteamUser::GetAuthTicketForWebApi is checked with Valve's
// ISteamUserAuth/AuthenticateUserTicket, called with the publisher Web API
// key, and the SteamID it vouches for becomes the identity.
//
// The publisher key and the ticket travel in the query string, as Valve
// documents; no error this package returns carries that URL, so neither can
// reach a log or a caller.
//
// Package steamtest is a fake of that Web API for tests.
package steam
