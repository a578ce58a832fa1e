package web

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// bearer authenticates a protected call by its access token (RFC 6750 §2.1)
// and requires a user's token. It answers a failure itself (§3: 401 with a
// challenge; "The access token expired" for an expired one, as Mobage
// Connect says it) and reports ok=false.
func (s *Server) bearer(w http.ResponseWriter, r *http.Request) (broker.AccessClaims, bool) {
	const realm = `Bearer realm="bridgekeeper"`
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		w.Header().Set("WWW-Authenticate", realm)
		writeJSON(w, http.StatusUnauthorized, oauthErrorBody{Error: "invalid_request", Description: "a Bearer access token is required"})
		return broker.AccessClaims{}, false
	}
	claims, err := s.broker.VerifyAccess(r.Context(), token)
	if broker.Unavailable(err) {
		s.writeOAuthError(w, r, err, false)
		return broker.AccessClaims{}, false
	}
	desc := "The access token is invalid"
	switch {
	case errors.Is(err, broker.ErrTokenExpired):
		desc = "The access token expired"
	case err == nil && claims.UserID == "":
		err, desc = errors.New("client token"), "The access token is not a player's"
	case err == nil:
		return claims, true
	}
	w.Header().Set("WWW-Authenticate", realm+`, error="invalid_token", error_description="`+desc+`"`)
	writeJSON(w, http.StatusUnauthorized, oauthErrorBody{Error: "invalid_token", Description: desc})
	return broker.AccessClaims{}, false
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
		s.apiError(w, r, err)
		return
	}
	out := make([]linkJSON, 0, len(ls))
	for _, l := range ls {
		out = append(out, linkJSON{Slot: l.Slot, Provider: s.slotNames[l.Slot], Identifier: l.Identifier, CreatedAt: l.CreatedAt.UnixMilli()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": out})
}

// unlink removes one link, never the last way in.
func (s *Server) unlink(w http.ResponseWriter, r *http.Request) {
	claims, ok := s.bearer(w, r)
	if !ok {
		return
	}
	slot, err := strconv.Atoi(mux.Vars(r)["slot"])
	if err != nil || slot < broker.MinSlot || slot > broker.MaxSlot {
		writeJSON(w, http.StatusBadRequest, oauthErrorBody{Error: "invalid_request", Description: "slot must be 0..1024"})
		return
	}
	if err := s.broker.Unlink(r.Context(), claims.UserID, slot); err != nil {
		s.apiError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// startLink begins linking a further provider to the signed-in player: it
// records the request and answers the URL the game opens in a browser.
// Form: provider, and optionally redirect_uri (registered for the token's
// client) and state, where the browser returns when done.
func (s *Server) startLink(w http.ResponseWriter, r *http.Request) {
	claims, ok := s.bearer(w, r)
	if !ok {
		return
	}
	form, err := s.readForm(w, r)
	if err != nil {
		s.writeOAuthError(w, r, err, false)
		return
	}
	up, known := s.upstreams[form.Get("provider")]
	if !known {
		writeJSON(w, http.StatusBadRequest, oauthErrorBody{Error: "invalid_request", Description: "provider is not configured"})
		return
	}
	c, err := s.broker.Client(r.Context(), claims.ClientID)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	redirectURI := form.Get("redirect_uri")
	if redirectURI != "" && broker.CheckRedirect(c, redirectURI) != nil {
		writeJSON(w, http.StatusBadRequest, oauthErrorBody{Error: "invalid_request", Description: "redirect_uri is not registered for this client"})
		return
	}
	// A user has one link per slot: a taken slot is a conflict now, not
	// after a trip to the upstream.
	if ls, err := s.broker.Links(r.Context(), claims.UserID); err != nil {
		s.apiError(w, r, err)
		return
	} else if slices.ContainsFunc(ls, func(l broker.Link) bool { return l.Slot == up.Slot }) {
		writeJSON(w, http.StatusConflict, oauthErrorBody{Error: "conflict", Description: "the player already has a link for this provider; remove it first"})
		return
	}
	id, err := s.broker.StartAuthorization(r.Context(), c, redirectURI, nil,
		broker.AuthorizeRequest{State: form.Get("state")}, up.Name, claims.UserID)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"url": s.broker.Issuer() + "/oauth2/link?request=" + id, "expires_in": int(broker.AuthRequestTTL / time.Second),
	})
}

// linkRedirect is the URL startLink answers. Opening it spends that URL and
// re-issues the request under a fresh ID bound to this browser, which then
// goes to the upstream.
func (s *Server) linkRedirect(w http.ResponseWriter, r *http.Request) {
	id, req, err := s.broker.ReissueAuthorization(r.Context(), r.URL.Query().Get("request"))
	up, ok := s.upstreams[req.Provider]
	if err != nil || !ok || req.LinkUserID == "" {
		s.errorPage(w, r, http.StatusBadRequest, "This link request has expired or was already used. Please start again from the game.")
		return
	}
	s.toUpstream(w, r, up, id)
}

// apiError maps broker errors of the JSON APIs to statuses.
func (s *Server) apiError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, broker.ErrNotFound):
		writeJSON(w, http.StatusNotFound, oauthErrorBody{Error: "not_found", Description: "no such link"})
	case errors.Is(err, broker.ErrLastLink):
		writeJSON(w, http.StatusConflict, oauthErrorBody{Error: "conflict", Description: "the last way to sign in cannot be removed"})
	case errors.Is(err, broker.ErrLinkConflict):
		writeJSON(w, http.StatusConflict, oauthErrorBody{Error: "conflict", Description: "this identity is already linked to another user"})
	default:
		s.writeOAuthError(w, r, err, false)
	}
}
