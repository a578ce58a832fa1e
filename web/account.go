package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/grants"
	"github.com/bridgekeeper/bridgekeeper/platforms"
)

// bearer authenticates a protected call by its access token (RFC 6750 §2.1)
// and requires a user's token. It answers a failure itself (§3: 401 with a
// challenge; "The access token expired" for an expired one, as Mobage
// Connect says it) and reports ok=false.
//
// A DPoP-bound token comes with the DPoP scheme and a proof of its key
// (RFC 9449 §7.1); presented as a Bearer token it is refused.
func (s *Server) bearer(w http.ResponseWriter, r *http.Request) (broker.AccessClaims, bool) {
	realm := `Bearer realm="bridgekeeper"`
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	dpop := strings.EqualFold(scheme, broker.TokenTypeDPoP)
	if dpop {
		realm = `DPoP realm="bridgekeeper"`
	}
	if token == "" || (!dpop && !strings.EqualFold(scheme, "Bearer")) {
		s.writeOAuthError(w, r, &oauthError{status: http.StatusUnauthorized, code: "invalid_request",
			description: "a Bearer or DPoP access token is required", challenge: realm})
		return broker.AccessClaims{}, false
	}
	var (
		claims broker.AccessClaims
		err    error
	)
	if dpop {
		claims, err = s.dpopAccess(r, token)
	} else {
		claims, err = s.broker.VerifyAccess(r.Context(), token)
	}
	code, desc := "invalid_token", "The access token is invalid"
	switch e := broker.Refusal(err); {
	case broker.Unavailable(err):
		s.writeOAuthError(w, r, err)
		return broker.AccessClaims{}, false
	case e != nil && e.Field == "DPoP":
		code, desc = "invalid_dpop_proof", e.Description
	case errors.Is(err, broker.ErrBoundToken):
		desc = "The access token is DPoP-bound: present it with the DPoP scheme and a proof"
	case errors.Is(err, broker.ErrTokenExpired):
		desc = "The access token expired"
	case err == nil && claims.UserID == "":
		desc = "The access token is not a player's"
	case err == nil:
		return claims, true
	}
	s.writeOAuthError(w, r, &oauthError{status: http.StatusUnauthorized, code: code, description: desc,
		challenge: realm + `, error="` + code + `", error_description="` + desc + `"`})
	return broker.AccessClaims{}, false
}

// dpopAccess verifies a token presented with the DPoP scheme: its proof,
// which must cover the token (ath), and the token's binding to the proof's
// key.
func (s *Server) dpopAccess(r *http.Request, token string) (broker.AccessClaims, error) {
	who := s.caller(r)
	if err := s.readProof(r, &who); err != nil {
		return broker.AccessClaims{}, err
	}
	if who.DPoP == "" {
		return broker.AccessClaims{}, broker.ErrDPoPRequired
	}
	jkt, err := s.pipeline.ProofKey(r.Context(), who, token)
	if err != nil {
		return broker.AccessClaims{}, err
	}
	return s.broker.VerifyAccessDPoP(r.Context(), token, jkt)
}

// userinfo is OIDC Core §5.3 for the broker's own user.
func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	claims, ok := s.bearer(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"sub": claims.Subject, "userId": claims.UserID, "namespace": claims.Namespace,
	})
}

type linkJSON struct {
	Slot       int    `json:"slot"`
	Provider   string `json:"provider,omitempty"`
	Identifier string `json:"identifier"`
	CreatedAt  int64  `json:"createdAt"` // Unix ms, as GS2
}

// links lists the player's takeover links.
func (s *Server) links(w http.ResponseWriter, r *http.Request) {
	claims, ok := s.bearer(w, r)
	if !ok {
		return
	}
	ls, err := s.broker.Links(r.Context(), claims.UserID)
	if err != nil {
		s.writeOAuthError(w, r, err)
		return
	}
	out := make([]linkJSON, 0, len(ls))
	for _, l := range ls {
		out = append(out, linkJSON{Slot: l.Slot, Provider: s.slotNames[l.Slot], Identifier: l.Identifier, CreatedAt: l.CreatedAt.UnixMilli()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": out})
}

// The policy actions of linking: a link is a way into the account, so a
// federated token, restricted by its policy, may add or remove one only
// when its policy allows it, on the player's account's GRN; else the
// identity linked would sign in unrestricted.
const (
	actionLink   = "Bridgekeeper:Link"
	actionUnlink = "Bridgekeeper:Unlink"
)

// mayChangeLinks refuses a restricted token whose policy does not allow
// action (RFC 6750 §3.1 insufficient_scope).
func (s *Server) mayChangeLinks(r *http.Request, claims broker.AccessClaims, action string) error {
	if claims.FederationPolicy == "" {
		return nil // the player's own token
	}
	ns, err := s.broker.Namespace(r.Context(), claims.Namespace)
	if err != nil {
		return err
	}
	ok, err := s.gs2Auth.PolicyAllows(r.Context(), claims.FederationPolicy, action, s.gs2GRN("account:"+ns.Name+":account:"+claims.UserID))
	if err != nil || ok {
		return err
	}
	desc := "the token's policy does not allow " + action
	return &oauthError{status: http.StatusForbidden, code: "insufficient_scope", description: desc,
		challenge: `Bearer realm="bridgekeeper", error="insufficient_scope", error_description="` + desc + `"`}
}

// unlink removes one link, never the last way in.
func (s *Server) unlink(w http.ResponseWriter, r *http.Request) {
	claims, ok := s.bearer(w, r)
	if !ok {
		return
	}
	slot, err := strconv.Atoi(mux.Vars(r)["slot"])
	if err != nil {
		err = broker.Invalid("slot", "slot must be a number")
	} else if err = s.mayChangeLinks(r, claims, actionUnlink); err == nil {
		err = s.broker.Unlink(r.Context(), claims.UserID, slot)
	}
	if err != nil {
		s.writeOAuthError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// startLink links a further identity to the signed-in player. With a
// subject_token (and subject_token_type) of a platform provider, the
// platform verifies it and the link is made at once; else, for a browser
// provider, it records the request and answers the URL the game opens in a
// browser. Form: provider, and optionally redirect_uri (registered for the
// token's client) and state, where the browser returns when done.
func (s *Server) startLink(w http.ResponseWriter, r *http.Request) {
	claims, ok := s.bearer(w, r)
	if !ok {
		return
	}
	err := s.mayChangeLinks(r, claims, actionLink)
	var form url.Values
	if err == nil {
		form, err = s.readForm(w, r)
	}
	if err == nil && form.Get("subject_token") != "" {
		err = s.linkPlatform(w, r, claims, form)
	} else if err == nil {
		var id string
		if id, err = s.readLinkRequest(r, claims, form); err == nil {
			writeJSON(w, http.StatusOK, map[string]any{
				"url": s.broker.Issuer() + "/oauth2/link?request=" + id, "expires_in": int(broker.AuthRequestTTL / time.Second),
			})
		}
	}
	if err != nil {
		s.writeOAuthError(w, r, err)
	}
}

// linkPlatform links the platform identity the subject_token proves, and
// answers the link.
func (s *Server) linkPlatform(w http.ResponseWriter, r *http.Request, claims broker.AccessClaims, form url.Values) error {
	name, tokenType := form.Get("provider"), form.Get("subject_token_type")
	i := slices.IndexFunc(s.platforms, func(p grants.Platform) bool { return p.Name == name })
	switch {
	case i < 0:
		return broker.Invalid("provider", "provider is not a platform provider")
	case !slices.Contains(s.platforms[i].Verifier.TokenTypes(), tokenType):
		return broker.Invalid("subject_token_type", "provider "+name+" does not accept "+tokenType)
	}
	p := s.platforms[i]
	id, err := p.Verifier.Verify(r.Context(), platforms.Request{Token: form.Get("subject_token"), TokenType: tokenType, Nonce: form.Get("nonce")})
	if err == nil {
		err = s.broker.Link(r.Context(), claims.Namespace, claims.UserID, p.Slot, id.UserID)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, linkJSON{Slot: p.Slot, Provider: p.Name, Identifier: id.UserID, CreatedAt: s.now().UnixMilli()})
	return nil
}

// readLinkRequest starts the browser link request of form.
func (s *Server) readLinkRequest(r *http.Request, claims broker.AccessClaims, form url.Values) (string, error) {
	up, known := s.upstreams[form.Get("provider")]
	if !known {
		return "", broker.Invalid("provider", "provider is not configured")
	}
	c, err := s.broker.Client(r.Context(), claims.ClientID)
	if err != nil {
		return "", err
	}
	return s.authz.StartLink(r.Context(), c, claims.UserID, up.Slot, up.Name, form.Get("redirect_uri"), form.Get("state"))
}

// linkRedirect is the URL startLink answers. Opening it spends that URL and
// re-issues the request under a fresh ID bound to this browser, which then
// goes to the upstream.
func (s *Server) linkRedirect(w http.ResponseWriter, r *http.Request) {
	id, req, err := s.authz.ReissueAuthorization(r.Context(), r.URL.Query().Get("request"))
	up, ok := s.upstreams[req.Provider]
	if err != nil || !ok || req.LinkUserID == "" {
		s.errorPage(w, r, http.StatusBadRequest, "This link request has expired or was already used. Please start again from the game.")
		return
	}
	s.toUpstream(w, r, up, id)
}

// BrokerSlots are the takeover slots these options link identities in,
// the upstream providers', the social platforms' and the platform sign-in
// providers': with the custom-ID
// slots, the broker's own (broker.NewSlots).
func (o Options) BrokerSlots() []int {
	var slots []int
	for _, up := range o.Upstreams {
		slots = append(slots, up.Slot)
	}
	for _, slot := range o.SocialSlots {
		slots = append(slots, slot)
	}
	for _, p := range o.Platforms {
		slots = append(slots, p.Slot)
	}
	return slots
}
