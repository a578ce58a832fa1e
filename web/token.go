package web

import (
	"cmp"
	"net/http"
)

// tokenResponse is RFC 6749 §5.1 plus GS2's userId and expire (Unix ms).
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	// IssuedTokenType is RFC 8693 §2.2.1's, for token exchange.
	IssuedTokenType string `json:"issued_token_type,omitempty"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	RefreshToken    string `json:"refresh_token,omitempty"`
	Scope           string `json:"scope,omitempty"`
	IDToken         string `json:"id_token,omitempty"`
	UserID          string `json:"userId,omitempty"`
	Expire          int64  `json:"expire,omitempty"`
}

// token is the token endpoint (RFC 6749 §3.2), also served at Mobage
// Connect's /connect/1.0/api/token.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	form, who, ok := s.clientRequest(w, r)
	if !ok {
		return
	}
	tok, err := s.pipeline.Token(r.Context(), who, form)
	if err != nil {
		s.writeOAuthError(w, r, err)
		return
	}
	resp := tokenResponse{
		AccessToken: tok.AccessToken, IssuedTokenType: tok.IssuedTokenType, TokenType: cmp.Or(tok.TokenType, "Bearer"), ExpiresIn: tok.ExpiresIn,
		RefreshToken: tok.RefreshToken, Scope: tok.Scope, IDToken: tok.IDToken, UserID: tok.UserID,
	}
	if !tok.Expire.IsZero() {
		resp.Expire = tok.Expire.UnixMilli()
	}
	writeJSON(w, http.StatusOK, resp)
}
