package oidc

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/bridgekeeper/bridgekeeper/providers"
)

// Config configures one OpenID Connect upstream. Name, Slot, Issuer,
// ClientID, ClientSecret and Scopes are those of a config.Provider of type
// oidc; RedirectURL is the broker's callback for this provider (its issuer +
// "/oauth2/callback/" + Name).
type Config struct {
	// Name is the configured provider name, copied into every Identity.
	Name string
	// Slot is the takeover slot the provider's identities are linked in.
	Slot int
	// Issuer is the upstream's issuer identifier; discovery fetches
	// Issuer + "/.well-known/openid-configuration", and the document's
	// issuer must equal it exactly (OpenID Connect Discovery 1.0 §4.3).
	Issuer string
	// ClientID and ClientSecret are the broker's credentials at the
	// upstream. ClientSecret may be empty for a public client.
	ClientID, ClientSecret string
	// RedirectURL is the broker's callback, registered at the upstream.
	RedirectURL string
	// Scopes are requested in addition to openid, which is always
	// requested first (OpenID Connect Core §3.1.2.1).
	Scopes []string
	// HTTPClient makes every request to the upstream; nil means a client
	// with a 30-second timeout.
	HTTPClient *http.Client
}

// Validate reports every problem with c at once, joined with errors.Join,
// one line per problem naming the setting by its configuration key. It does
// not contact the upstream.
func (c Config) Validate() error {
	p := providers.NewProblems("oidc", c.Name)
	p.Common(c.Name, c.Slot, c.ClientID, c.RedirectURL, c.Scopes)
	if p.URL("issuer", c.Issuer) {
		if u, _ := url.Parse(c.Issuer); u.RawQuery != "" || u.Fragment != "" {
			// OpenID Connect Core §2: the issuer has no query or fragment.
			p.Add("issuer %q must not have a query or fragment", c.Issuer)
		}
	}
	return p.Err()
}

// provider is an OpenID Connect upstream after discovery.
type provider struct {
	name     string
	slot     int
	clientID string
	oauth2   oauth2.Config
	verifier *gooidc.IDTokenVerifier
	client   *http.Client
}

var _ providers.Provider = (*provider)(nil)

// New validates cfg, discovers the upstream from cfg.Issuer (OpenID Connect
// Discovery 1.0 §4) and returns it as a provider. A discovery failure wraps
// [providers.ErrUpstream]. cfg is not modified or retained.
func New(ctx context.Context, cfg Config) (providers.Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client := providers.HTTPClient(cfg.HTTPClient)
	// The client given here is also the one go-oidc keeps for fetching the
	// signing keys later.
	up, err := gooidc.NewProvider(gooidc.ClientContext(ctx, client), cfg.Issuer)
	if err != nil {
		return nil, upstream(cfg.Name, "discovery", err)
	}
	endpoint := up.Endpoint()
	if endpoint.AuthURL == "" || endpoint.TokenURL == "" {
		return nil, upstream(cfg.Name, "discovery", errors.New("the document names no authorization_endpoint or token_endpoint"))
	}
	var meta struct {
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := up.Claims(&meta); err != nil {
		return nil, upstream(cfg.Name, "discovery", err)
	}
	endpoint.AuthStyle = authStyle(meta.AuthMethods)

	return &provider{
		name:     cfg.Name,
		slot:     cfg.Slot,
		clientID: cfg.ClientID,
		oauth2: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint:     endpoint,
			RedirectURL:  cfg.RedirectURL,
			Scopes:       scopes(cfg.Scopes),
		},
		// The verifier checks signature, iss, aud and exp (OpenID Connect
		// Core §3.1.3.7 steps 2, 3, 6, 9); Exchange checks azp and nonce.
		verifier: up.Verifier(&gooidc.Config{ClientID: cfg.ClientID}),
		client:   client,
	}, nil
}

// scopes returns openid followed by the configured scopes without repeats,
// in a new slice. openid comes first because some providers (mockoidc among
// them) only issue an ID token when it is the first scope.
func scopes(configured []string) []string {
	s := []string{gooidc.ScopeOpenID}
	for _, c := range configured {
		if !slices.Contains(s, c) {
			s = append(s, c)
		}
	}
	return s
}

// authStyle picks how the client authenticates to the token endpoint from
// the discovery document (OpenID Connect Discovery 1.0 §3,
// token_endpoint_auth_methods_supported). When it advertises exactly one of
// client_secret_basic and client_secret_post, that one is used; otherwise
// (both, or neither listed) x/oauth2 tries basic first and falls back to post,
// remembering what worked, since some providers advertise methods they do
// not accept.
func authStyle(methods []string) oauth2.AuthStyle {
	basic := slices.Contains(methods, "client_secret_basic")
	post := slices.Contains(methods, "client_secret_post")
	switch {
	case basic && !post:
		return oauth2.AuthStyleInHeader
	case post && !basic:
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleAutoDetect
}

// AuthCodeURL is the upstream's authorization endpoint with an
// authorization code request (OpenID Connect Core §3.1.2.1): response_type
// code, client_id, redirect_uri, scope, state, nonce, and the PKCE S256
// challenge of l.Verifier (RFC 7636 §4.3), so a code intercepted on its way
// back is useless without the verifier.
func (p *provider) AuthCodeURL(l providers.Login) string {
	return p.oauth2.AuthCodeURL(l.State, gooidc.Nonce(l.Nonce), oauth2.S256ChallengeOption(l.Verifier))
}

// Exchange redeems code at the token endpoint (OpenID Connect Core §3.1.3.1,
// with the PKCE verifier, RFC 7636 §4.5), verifies the ID token it returns
// (§3.1.3.7) and that its nonce is l.Nonce (§3.1.3.7 step 11, so an ID token
// from another sign-in cannot be replayed into this one), and returns the
// identity it names.
func (p *provider) Exchange(ctx context.Context, code string, l providers.Login) (providers.Identity, error) {
	if l.Nonce == "" || l.Verifier == "" {
		// A broker bug, not the upstream's: without them the checks
		// below would prove nothing.
		return providers.Identity{}, fmt.Errorf("oidc provider %q: login has no nonce or PKCE verifier", p.name)
	}
	ctx = gooidc.ClientContext(ctx, p.client)
	tok, err := p.oauth2.Exchange(ctx, code, oauth2.VerifierOption(l.Verifier))
	if err != nil {
		return providers.Identity{}, upstream(p.name, "token endpoint", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return providers.Identity{}, upstream(p.name, "token response", errors.New("no id_token"))
	}
	idToken, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		return providers.Identity{}, upstream(p.name, "ID token", err)
	}
	if subtle.ConstantTimeCompare([]byte(idToken.Nonce), []byte(l.Nonce)) != 1 {
		return providers.Identity{}, upstream(p.name, "ID token", errors.New("nonce does not match this sign-in"))
	}
	if idToken.Subject == "" {
		return providers.Identity{}, upstream(p.name, "ID token", errors.New("no sub claim"))
	}
	var claims map[string]any
	if err := idToken.Claims(&claims); err != nil {
		return providers.Identity{}, upstream(p.name, "ID token claims", err)
	}
	// §3.1.3.7 steps 4-5: an ID token issued to another party that merely
	// lists us among its audiences is not ours. go-oidc leaves azp to us.
	if azp, ok := claims["azp"]; ok && azp != p.clientID {
		return providers.Identity{}, upstream(p.name, "ID token", fmt.Errorf("authorized party %v is not this client", azp))
	}
	return providers.Identity{Provider: p.name, Slot: p.slot, Subject: idToken.Subject, Claims: claims}, nil
}

// upstream wraps err, a failure of the named provider at step, in
// [providers.ErrUpstream]; err stays reachable with errors.Is and errors.As.
func upstream(name, step string, err error) error {
	return fmt.Errorf("oidc provider %q: %s: %w: %w", name, step, providers.ErrUpstream, err)
}
