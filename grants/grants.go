package grants

import (
	"context"
	"net/url"
	"slices"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// Request is a token request after client authentication and policy.
type Request struct {
	Client broker.Client
	Form   url.Values // single-valued: the web layer refuses repeated parameters
	// Scope is the requested scope, already checked to be within the client's;
	// nil when the request named none.
	Scope []string
}

// Grant handles one grant_type.
type Grant interface {
	// Type is the full grant_type value.
	Type() string
	Exchange(ctx context.Context, r Request) (broker.Token, error)
}

// Authenticator checks client credentials.
type Authenticator interface {
	AuthenticateClient(ctx context.Context, id, secret string) (broker.Client, error)
}

// Dispatcher runs the shared pipeline and hands the request to its grant.
type Dispatcher struct {
	auth   Authenticator
	grants map[string]Grant
}

// NewDispatcher registers the grants explicitly; short names in
// broker.GrantShortNames resolve to their full types.
func NewDispatcher(auth Authenticator, gs ...Grant) *Dispatcher {
	d := &Dispatcher{auth: auth, grants: map[string]Grant{}}
	for _, g := range gs {
		d.grants[g.Type()] = g
	}
	return d
}

// Credentials are the client credentials the web layer parsed.
type Credentials struct {
	ID, Secret string
}

// Exchange authenticates the client, checks that it may use the grant and the
// requested scope, and runs the grant (RFC 6749 §3.2.1, §3.3, §5.2).
func (d *Dispatcher) Exchange(ctx context.Context, creds Credentials, form url.Values) (broker.Token, error) {
	grantType := form.Get("grant_type")
	if grantType == "" {
		return broker.Token{}, broker.InvalidRequest("grant_type is required")
	}
	if full, ok := broker.GrantShortNames[grantType]; ok {
		grantType = full
	}
	if creds.ID == "" {
		return broker.Token{}, broker.InvalidClient("client authentication is required", nil)
	}
	client, err := d.auth.AuthenticateClient(ctx, creds.ID, creds.Secret)
	if err != nil {
		return broker.Token{}, err
	}
	g, ok := d.grants[grantType]
	if !ok {
		return broker.Token{}, broker.UnsupportedGrantType("the grant_type is not supported")
	}
	if !slices.Contains(client.Grants, grantType) {
		return broker.Token{}, broker.UnauthorizedClient("the client is not allowed the " + grantType + " grant")
	}
	if client.Public && slices.Contains(broker.ConfidentialOnly, grantType) {
		return broker.Token{}, broker.UnauthorizedClient("a public client cannot use the " + grantType + " grant")
	}
	scope, err := broker.ParseScope(form.Get("scope"))
	if err != nil {
		return broker.Token{}, err
	}
	for _, s := range scope {
		if !slices.Contains(client.Scopes, s) {
			return broker.Token{}, broker.InvalidScope("the requested scope is not allowed for this client")
		}
	}
	return g.Exchange(ctx, Request{Client: client, Form: form, Scope: scope})
}
