// Package xsolla is the Xsolla-style server-side custom-ID login (POST
// /users/login/server_custom_id): a trusted game server vouches for its
// own player ID, and the player's attributes, nickname and social profile
// are kept with the login. The player is the one the server_custom_id
// grant signs in (the same takeover slot of the same client), so both
// surfaces share users; finding or creating that user and signing the
// token are the core's (package broker), through Core.
package xsolla
