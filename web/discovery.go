package web

import (
	"net/http"
	"slices"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// metadata is RFC 8414 / OpenID Connect Discovery 1.0 §3.
type metadata struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	IntrospectionEndpoint             string   `json:"introspection_endpoint"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	DeviceAuthorizationEndpoint       string   `json:"device_authorization_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	IntrospectionAuthMethods          []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationAuthMethods             []string `json:"revocation_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	AuthorizationResponseIss          bool     `json:"authorization_response_iss_parameter_supported"`
	TokenEndpointAuthSigningAlgs      []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	DPoPSigningAlgs                   []string `json:"dpop_signing_alg_values_supported,omitempty"`
}

func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	iss := s.broker.Issuer()
	auth := []string{"client_secret_basic", "client_secret_post"}
	var assertionAlgs, dpopAlgs []string
	if a := s.pipeline.Assertions; a != nil {
		auth, assertionAlgs = append(auth, "private_key_jwt"), a.Algs()
	}
	if p := s.pipeline.Proofs; p != nil {
		dpopAlgs = p.Algs()
	}
	// Public clients (PKCE) authenticate with their client_id alone.
	tokenAuth := append(slices.Clip(auth), "none")
	writeJSON(w, http.StatusOK, metadata{
		Issuer:                            iss,
		AuthorizationEndpoint:             iss + "/oauth2/authorize",
		TokenEndpoint:                     iss + "/oauth2/token",
		UserinfoEndpoint:                  iss + "/userinfo",
		IntrospectionEndpoint:             iss + "/oauth2/introspect",
		RevocationEndpoint:                iss + "/oauth2/revoke",
		DeviceAuthorizationEndpoint:       iss + "/oauth2/device_authorization",
		JWKSURI:                           iss + "/.well-known/jwks.json",
		GrantTypesSupported:               []string{broker.GrantAuthorizationCode, broker.GrantRefreshToken, broker.GrantClientCredentials, broker.GrantServerCustomID, broker.GrantTokenExchange, broker.GrantDeviceCode},
		ResponseTypesSupported:            []string{"code"},
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  s.broker.Keys().Algs(),
		TokenEndpointAuthMethodsSupported: tokenAuth,
		IntrospectionAuthMethods:          auth,
		RevocationAuthMethods:             auth,
		CodeChallengeMethodsSupported:     []string{"S256"},
		ScopesSupported:                   []string{"openid"},
		AuthorizationResponseIss:          true,
		TokenEndpointAuthSigningAlgs:      assertionAlgs,
		DPoPSigningAlgs:                   dpopAlgs,
	})
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	// Short enough that a rotated key reaches verifiers quickly.
	w.Header().Set("Cache-Control", "public, max-age=60")
	_, _ = w.Write(s.broker.Keys().JWKS())
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz is ready when the database answers.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if err := s.broker.Ping(r.Context()); err != nil {
		s.log.WarnContext(r.Context(), "not ready", "err", err)
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
