package web

import (
	"context"
	"net/http"
	"net/url"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/grants"
)

// introspectionResponse is RFC 7662 §2.2 plus the GS2 and namespace fields.
type introspectionResponse struct {
	Active               bool     `json:"active"`
	TokenType            string   `json:"token_type,omitempty"` // RFC 6749 §5.1's type: Bearer
	TokenUse             string   `json:"token_use,omitempty"`  // access_token | refresh_token
	Scope                string   `json:"scope,omitempty"`
	ClientID             string   `json:"client_id,omitempty"`
	Subject              string   `json:"sub,omitempty"`
	Audience             []string `json:"aud,omitempty"`
	Issuer               string   `json:"iss,omitempty"`
	JTI                  string   `json:"jti,omitempty"`
	IssuedAt             int64    `json:"iat,omitempty"`
	ExpiresAt            int64    `json:"exp,omitempty"`
	Namespace            string   `json:"namespace,omitempty"`
	UserID               string   `json:"userId,omitempty"`
	TimeOffset           *int     `json:"timeOffset,omitempty"`
	FederationFromUserID string   `json:"federationFromUserId,omitempty"`
	// Confirmation is a DPoP-bound token's key (RFC 9449 §6.2).
	Confirmation *broker.Confirmation `json:"cnf,omitempty"`
	// Allowed answers the request's action + resource against the token's
	// policy (GS2 federation); absent when no action was asked about.
	Allowed *bool `json:"allowed,omitempty"`
}

// authenticatedForm reads the form and admits the calling client by admit,
// for the endpoints that are not grants (RFC 7662 §2.1, RFC 7009 §2.1). It
// writes the error response itself and reports ok=false when it
// did.
func (s *Server) authenticatedForm(w http.ResponseWriter, r *http.Request,
	admit func(context.Context, grants.Caller) (broker.Client, error)) (broker.Client, url.Values, bool) {
	form, who, ok := s.clientRequest(w, r)
	if !ok {
		return broker.Client{}, nil, false
	}
	c, err := admit(r.Context(), who)
	if err == nil && form.Get("token") == "" {
		err = broker.Invalid("token", "token is required")
	}
	if err != nil {
		s.writeOAuthError(w, r, err)
		return broker.Client{}, nil, false
	}
	return c, form, true
}

// introspect is RFC 7662, plus one question a resource server may ask with
// the form fields action and resource: may this token do that? (GS2
// federation policies; a token without one is not restricted.)
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	c, form, ok := s.authenticatedForm(w, r, s.pipeline.Confidential)
	if !ok {
		return
	}
	in, err := s.broker.Introspect(r.Context(), c, form.Get("token"), form.Get("token_type_hint"))
	if err != nil {
		s.writeOAuthError(w, r, err)
		return
	}
	if !in.Active {
		writeJSON(w, http.StatusOK, introspectionResponse{})
		return
	}
	tokenType := ""
	var cnf *broker.Confirmation
	switch {
	case in.JKT != "":
		tokenType, cnf = broker.TokenTypeDPoP, &broker.Confirmation{JKT: in.JKT}
	case in.TokenUse == "access_token":
		tokenType = "Bearer"
	}
	var allowed *bool
	if action := form.Get("action"); action != "" {
		ok, err := s.gs2Auth.PolicyAllows(r.Context(), in.FederationPolicy, action, form.Get("resource"))
		if err != nil {
			s.writeOAuthError(w, r, err)
			return
		}
		allowed = &ok
	}
	writeJSON(w, http.StatusOK, introspectionResponse{
		Allowed: allowed, Active: true, TokenType: tokenType, TokenUse: in.TokenUse, Scope: in.Scope, ClientID: in.ClientID, Subject: in.Subject,
		Audience: in.Audience, Issuer: in.Issuer, JTI: in.JTI, IssuedAt: in.IssuedAt.Unix(),
		ExpiresAt: in.ExpiresAt.Unix(), Namespace: in.Namespace, UserID: in.UserID,
		TimeOffset: in.TimeOffset, FederationFromUserID: in.FederationFromUserID, Confirmation: cnf,
	})
}

// revoke is RFC 7009: 200 whether or not the token was known.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	c, form, ok := s.authenticatedForm(w, r, s.pipeline.Revoker)
	if !ok {
		return
	}
	if err := s.broker.Revoke(r.Context(), c, form.Get("token"), form.Get("token_type_hint")); err != nil {
		s.writeOAuthError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusOK)
}
