package oauth2

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	xoauth2 "golang.org/x/oauth2"

	"github.com/bridgekeeper/bridgekeeper/providers"
)

// Client authentication methods at the token endpoint (RFC 6749 §2.3.1,
// named as in OpenID Connect Core §9).
const (
	AuthStyleBasic = "basic" // client_secret_basic: HTTP Basic authentication
	AuthStylePost  = "post"  // client_secret_post: client_id and client_secret in the form
)

// Config configures one OAuth 2.0 platform. Every field but RedirectURL and
// HTTPClient is that of a config.Provider of type oauth2; RedirectURL is the
// broker's callback for this provider (its issuer + "/oauth2/callback/" +
// Name).
type Config struct {
	// Name is the configured provider name, copied into every Identity.
	Name string
	// Slot is the takeover slot the provider's identities are linked in.
	Slot int
	// AuthorizeURL, TokenURL and UserinfoURL are the platform's
	// authorization endpoint, token endpoint and the API that describes
	// the signed-in user (Mobage: People, .../people/@me/@self).
	AuthorizeURL, TokenURL, UserinfoURL string
	// UserIDField is where the user ID is in the user-info JSON: a key,
	// or keys joined by "." to descend into objects (Mobage: "entry.id");
	// a key made of digits indexes an array. The value must be a non-empty
	// string or an integer.
	UserIDField string
	// ClientID and ClientSecret are the broker's credentials at the
	// platform.
	ClientID, ClientSecret string
	// RedirectURL is the broker's callback, registered at the platform.
	RedirectURL string
	// Scopes are requested as given (RFC 6749 §3.3).
	Scopes []string
	// AuthStyle is AuthStyleBasic or AuthStylePost; empty means basic,
	// which every RFC 6749 server must accept (§2.3.1).
	AuthStyle string
	// HTTPClient makes every request to the platform; nil means a client
	// with a 30-second timeout.
	HTTPClient *http.Client
}

// Validate reports every problem with c at once, joined with errors.Join,
// one line per problem naming the setting by its configuration key. It does
// not contact the platform.
func (c Config) Validate() error {
	p := providers.NewProblems("oauth2", c.Name)
	p.Common(c.Name, c.Slot, c.ClientID, c.RedirectURL, c.Scopes)
	p.URL("authorize_url", c.AuthorizeURL)
	p.URL("token_url", c.TokenURL)
	p.URL("userinfo_url", c.UserinfoURL)
	if c.UserIDField == "" {
		p.Add("user_id_field must not be empty")
	} else if slices.Contains(strings.Split(c.UserIDField, "."), "") {
		p.Add("user_id_field %q has an empty key; want keys joined by \".\", such as entry.id", c.UserIDField)
	}
	if c.ClientSecret == "" {
		p.Add("client_secret must not be empty")
	}
	if c.AuthStyle != "" && c.AuthStyle != AuthStyleBasic && c.AuthStyle != AuthStylePost {
		p.Add("auth_style %q is not one of %s, %s", c.AuthStyle, AuthStyleBasic, AuthStylePost)
	}
	return p.Err()
}

// provider is an OAuth 2.0 platform with a user-info API.
type provider struct {
	name        string
	slot        int
	oauth2      xoauth2.Config
	userinfoURL string
	idPath      []string
	client      *http.Client
}

var _ providers.Provider = (*provider)(nil)

// New validates cfg and returns the platform as a provider; it makes no
// request. cfg is not modified or retained.
func New(cfg Config) (providers.Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client := providers.HTTPClient(cfg.HTTPClient)
	// An explicit style: x/oauth2's auto-detection would send the secret
	// the other way after any error, which a platform that accepts only
	// one method may count against the client.
	style := xoauth2.AuthStyleInHeader
	if cfg.AuthStyle == AuthStylePost {
		style = xoauth2.AuthStyleInParams
	}
	return &provider{
		name: cfg.Name,
		slot: cfg.Slot,
		oauth2: xoauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint:     xoauth2.Endpoint{AuthURL: cfg.AuthorizeURL, TokenURL: cfg.TokenURL, AuthStyle: style},
			RedirectURL:  cfg.RedirectURL,
			Scopes:       slices.Clone(cfg.Scopes),
		},
		userinfoURL: cfg.UserinfoURL,
		idPath:      strings.Split(cfg.UserIDField, "."),
		client:      client,
	}, nil
}

// AuthCodeURL is the platform's authorization endpoint with an
// authorization request (RFC 6749 §4.1.1: response_type code, client_id,
// redirect_uri, scope, state) and the PKCE S256 challenge of l.Verifier
// (RFC 7636 §4.3). There is no ID token, so l.Nonce is not used.
func (p *provider) AuthCodeURL(l providers.Login) string {
	return p.oauth2.AuthCodeURL(l.State, xoauth2.S256ChallengeOption(l.Verifier))
}

// Exchange redeems code at the token endpoint (RFC 6749 §4.1.3, with the
// PKCE verifier, RFC 7636 §4.5), asks the user-info API who the access
// token belongs to (RFC 6750 §2.1) and returns that user. The access and
// refresh tokens are dropped: the broker issues its own.
func (p *provider) Exchange(ctx context.Context, code string, l providers.Login) (providers.Identity, error) {
	if l.Verifier == "" {
		return providers.Identity{}, fmt.Errorf("oauth2 provider %q: login has no PKCE verifier", p.name)
	}
	ctx = context.WithValue(ctx, xoauth2.HTTPClient, p.client)
	tok, err := p.oauth2.Exchange(ctx, code, xoauth2.VerifierOption(l.Verifier))
	if err != nil {
		return providers.Identity{}, upstream(p.name, "token endpoint", err)
	}
	// RFC 6749 §7.1: the client must understand the token type to use
	// it; sending another kind as a Bearer token would be a guess.
	if !strings.EqualFold(tok.Type(), "Bearer") {
		return providers.Identity{}, upstream(p.name, "token response", fmt.Errorf("token_type %q is not Bearer", tok.TokenType))
	}
	info, err := fetchUserinfo(ctx, p.client, p.userinfoURL, tok.AccessToken)
	if err != nil {
		return providers.Identity{}, upstream(p.name, "userinfo", err)
	}
	sub, err := userID(info, p.idPath)
	if err != nil {
		return providers.Identity{}, upstream(p.name, "userinfo", err)
	}
	return providers.Identity{Provider: p.name, Slot: p.slot, Subject: sub, Claims: info}, nil
}

// upstream wraps err, a failure of the named provider at step, in
// [providers.ErrUpstream]; err stays reachable with errors.Is and errors.As.
func upstream(name, step string, err error) error {
	return fmt.Errorf("oauth2 provider %q: %s: %w: %w", name, step, providers.ErrUpstream, err)
}
