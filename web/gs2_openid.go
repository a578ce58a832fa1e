package web

import (
	"errors"
	"net/http"
	"slices"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/grants"
	"github.com/bridgekeeper/bridgekeeper/platforms"
)

// GS2-Account's OpenID Connect takeovers: createTakeOverOpenIdConnect (and
// ...AndByUserId) links the identity an ID token proves to a player, and
// doTakeOverOpenIdConnect trades an ID token for that player's account. The
// token is verified by the platform sign-in provider configured for the
// slot (GS2's type) whose verifier takes ID tokens (type id_token); the
// platform's user ID is the takeover's userIdentifier — the same link
// token exchange signs that identity in with.

// actionCreateTakeOverOpenIDConnect is the policy action of the /me/ call.
const actionCreateTakeOverOpenIDConnect = "Gs2Account:CreateTakeOverOpenIdConnect"

// gs2IDTokenPlatform is the provider of slot that verifies ID tokens; a
// slot without one (a password takeover's, a browser provider's, a Steam
// provider's) is refused as a type that has no OpenID Connect.
func (s *Server) gs2IDTokenPlatform(slot int) (grants.Platform, error) {
	i := slices.IndexFunc(s.platforms, func(p grants.Platform) bool {
		return p.Slot == slot && slices.Contains(p.Verifier.TokenTypes(), platforms.TokenTypeIDToken)
	})
	if i < 0 {
		return grants.Platform{}, gs2Refuse(http.StatusBadRequest, "takeOver", "type", "noProvider")
	}
	return s.platforms[i], nil
}

// gs2VerifyIDToken has slot's provider verify idToken and answers the user
// ID it names. A token the platform refuses (another audience or issuer,
// expired, unsigned, a bad signature) is a 401 about idToken: GS2 answers a
// credential that proves nothing with 401 (a wrong password, a bad
// signature), which its SDKs raise as UnauthorizedException — "sign in
// again", not "fix the request". A platform that cannot be asked is the
// writer's 503.
func (s *Server) gs2VerifyIDToken(r *http.Request, slot int, idToken string) (string, error) {
	p, err := s.gs2IDTokenPlatform(slot)
	if err != nil {
		return "", err
	}
	if idToken == "" {
		return "", gs2Refuse(http.StatusBadRequest, "takeOver", "idToken", "required")
	}
	id, err := p.Verifier.Verify(r.Context(), platforms.Request{Token: idToken, TokenType: platforms.TokenTypeIDToken})
	if broker.KindOf(err) == broker.KindInvalid {
		s.log.DebugContext(r.Context(), "gs2 id token refused", "provider", p.Name, "err", err)
		return "", gs2Refuse(http.StatusUnauthorized, "takeOver", "idToken", "invalid")
	}
	return id.UserID, err
}

// gs2CreateTakeOverOpenIDConnect is createTakeOverOpenIdConnect and
// createTakeOverOpenIdConnectAndByUserId: body type and idToken. The
// identity of another player, or a second identity in a slot the player
// uses, is a 409 (gs2TakeOverError).
func (s *Server) gs2CreateTakeOverOpenIDConnect(w http.ResponseWriter, r *http.Request) error {
	const model = "takeOver"
	call, err := s.gs2TakeOverUser(r, actionCreateTakeOverOpenIDConnect)
	if err != nil {
		return err
	}
	body, err := s.readGS2Body(w, r, model)
	if err != nil {
		return err
	}
	slot, hasSlot, err1 := body.int("type")
	idToken, _, err2 := body.str("idToken")
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	if !hasSlot {
		return gs2Refuse(http.StatusBadRequest, model, "type", "required")
	}
	identifier, err := s.gs2VerifyIDToken(r, slot, idToken)
	if err != nil {
		return err
	}
	l, err := s.gs2Accounts.CreateTakeOverOpenIDConnect(r.Context(), s.broker, call.client.NamespaceID, call.userID, slot, identifier)
	if err != nil {
		return gs2NotFoundAs(err, "account", "userId")
	}
	writeJSON(w, http.StatusOK, map[string]any{"item": s.gs2TakeOver(call.ns, l)})
	return nil
}

// gs2DoTakeOverOpenIDConnect is doTakeOverOpenIdConnect: the account of
// the player the ID token's identity is linked to, with a new password as
// doTakeOver's (GS2's answer is the Account alone: the SDK then
// authenticates with that password). An identity no player holds is a 404.
func (s *Server) gs2DoTakeOverOpenIDConnect(w http.ResponseWriter, r *http.Request) error {
	const model = "takeOver"
	c, ns, err := s.gs2Namespace(r, "")
	if err != nil {
		return err
	}
	slot, err := gs2Slot(r)
	if err != nil {
		return err
	}
	body, err := s.readGS2Body(w, r, model)
	if err != nil {
		return err
	}
	idToken, _, err := body.str("idToken")
	if err != nil {
		return err
	}
	identifier, err := s.gs2VerifyIDToken(r, slot, idToken)
	if err != nil {
		return err
	}
	a, password, err := s.gs2Accounts.DoTakeOverOpenIDConnect(r.Context(), c.NamespaceID, slot, identifier)
	if errors.Is(err, broker.ErrNotFound) {
		return gs2Refuse(http.StatusNotFound, model, "userIdentifier", "notFound")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"item": s.gs2Account(ns, a, nil, password)})
	return nil
}
