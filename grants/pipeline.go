package grants

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/url"
	"slices"

	oauth2errors "github.com/go-oauth2/oauth2/v4/errors"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// Request is a token request after client authentication and policy.
type Request struct {
	Client broker.Client
	Form   url.Values // single-valued: the web layer refuses repeated parameters
	// Scope is the requested scope, already checked to be within the client's;
	// nil when the request named none.
	Scope []string
	// Binding is the request's resource, checked against the client's, and
	// the key of its DPoP proof, verified.
	Binding broker.Binding
}

// Grant handles one grant_type.
type Grant interface {
	// Type is the full grant_type value.
	Type() string
	Exchange(ctx context.Context, r Request) (broker.Token, error)
}

// Clients is what the pipeline asks the broker about clients and tokens.
type Clients interface {
	AuthenticateClient(ctx context.Context, id, secret string) (broker.Client, error)
	VerifyAccess(ctx context.Context, token string) (broker.AccessClaims, error)
	Client(ctx context.Context, id string) (broker.Client, error)
}

// Caller is who calls, as a surface read it off the wire.
type Caller struct {
	// Addr is the caller's address, which the guards key on.
	Addr string
	// ID and Secret are client credentials, when the call sends them.
	ID, Secret string
	// Bearer is a trusted server's access token, when the call sends one;
	// ClaimedID is the client the call says it comes from besides
	// (GS2's X-GS2-CLIENT-ID), "" when it says nothing.
	Bearer, ClaimedID string
	// AssertionType and Assertion are a private_key_jwt client's
	// authentication (client_assertion_type, client_assertion).
	AssertionType, Assertion string
	// DPoP is the request's DPoP header; Method and URL are the request as
	// its proof must name it (htm, htu).
	DPoP, Method, URL string
}

// Pipeline is the one way to a token: every surface that mints one (the
// token endpoint's grants, GS2's project login and trusted-server calls,
// the Xsolla login) admits its caller here. The guards (address rate,
// failed-secret budget), client authentication, the client's rate limit,
// its allowance for the grant and the scope policy run here once; the ban
// check runs where the player is known, in the broker's issuance, inside
// the statement or transaction that writes the token.
type Pipeline struct {
	Config
	grants map[string]Grant
}

// Config is what the pipeline consults.
type Config struct {
	Clients Clients
	Limiter Limiter
	Limits  Limits
	// Log hears of failed client authentication.
	Log *slog.Logger
	// Proofs verifies DPoP proofs (dpop.Verifier); Assertions verifies
	// private_key_jwt client assertions (clientjwt.Verifier).
	Proofs     Proofs
	Assertions Assertions
}

// New builds the pipeline over the grants of the token endpoint, in one
// explicit list.
func New(cfg Config, gs ...Grant) *Pipeline {
	p := &Pipeline{Config: cfg, grants: map[string]Grant{}}
	for _, g := range gs {
		p.grants[g.Type()] = g
	}
	return p
}

// Token is the token endpoint (RFC 6749 §3.2): it admits the caller,
// authenticates the client (§3.2.1), checks that it may use the grant and
// the requested scope (§3.3), and runs the grant. Refusals carry their
// §5.2 code (*Error).
func (p *Pipeline) Token(ctx context.Context, caller Caller, form url.Values) (broker.Token, error) {
	g := p.guard(caller, "")
	if err := g.admit(ctx); err != nil {
		return broker.Token{}, err
	}
	grantType := form.Get("grant_type")
	if grantType == "" {
		return broker.Token{}, withCode(oauth2errors.ErrInvalidRequest, missing("grant_type"))
	}
	if full, ok := broker.GrantShortNames[grantType]; ok {
		grantType = full
	}
	c, err := p.authenticate(ctx, g, caller)
	if err != nil {
		return broker.Token{}, withCode(oauth2errors.ErrInvalidClient, err)
	}
	grant, ok := p.grants[grantType]
	if !ok {
		return broker.Token{}, withCode(oauth2errors.ErrUnsupportedGrantType, malformed("grant_type", "the grant_type is not supported"))
	}
	if err := allowed(c, grantType); err != nil {
		return broker.Token{}, withCode(oauth2errors.ErrUnauthorizedClient, err)
	}
	scope, err := broker.ParseScope(form.Get("scope"))
	if err == nil {
		err = withinClient(c, scope)
	}
	if err != nil {
		return broker.Token{}, withCode(oauth2errors.ErrInvalidScope, err)
	}
	bind, err := p.binding(ctx, c, caller, form.Get("resource"))
	if err == nil {
		err = p.spendProof(ctx, grant, &bind)
	}
	if err != nil {
		return broker.Token{}, err
	}
	tok, err := grant.Exchange(ctx, Request{Client: c, Form: form, Scope: scope, Binding: bind})
	if err != nil {
		return broker.Token{}, refused(err)
	}
	return tok, nil
}

// Confidential admits a confidential client by its credentials, for
// introspection (RFC 7662 §2.1). Refusals carry their §5.2 code.
func (p *Pipeline) Confidential(ctx context.Context, caller Caller) (broker.Client, error) {
	return p.endpoint(ctx, caller, false)
}

// Revoker admits the client of a revocation (RFC 7009 §2.1): a
// confidential client by its credentials, a public one by its client_id
// alone, so that a game without a secret can sign its player out. Either
// revokes only tokens issued to it.
func (p *Pipeline) Revoker(ctx context.Context, caller Caller) (broker.Client, error) {
	return p.endpoint(ctx, caller, true)
}

// endpoint admits the client of an OAuth2 endpoint that is not a grant.
func (p *Pipeline) endpoint(ctx context.Context, caller Caller, public bool) (broker.Client, error) {
	g := p.guard(caller, "")
	if err := g.admit(ctx); err != nil {
		return broker.Client{}, err
	}
	c, err := p.authenticate(ctx, g, caller)
	if err == nil && c.Public && !public {
		err = broker.Unauthenticated("a public client cannot call this endpoint", nil)
	}
	if err != nil {
		return broker.Client{}, withCode(oauth2errors.ErrInvalidClient, err)
	}
	return c, nil
}

// Server resolves a trusted server's Bearer access token to its client: a
// client's own token (not a player's) that verifies, of a confidential
// client that still exists in the token's namespace, that is allowed
// grant ("" for any) and within its rate. Refusals are unauthenticated
// (Field "accessToken", or "clientId" when ClaimedID names another client,
// with the reason: required, expired, invalid) or forbidden.
func (p *Pipeline) Server(ctx context.Context, caller Caller, grant string) (broker.Client, error) {
	refuse := func(field, reason, description string, cause error) (broker.Client, error) {
		return broker.Client{}, &broker.Error{Kind: broker.KindUnauthenticated, Field: field, Reason: reason, Description: description, Err: cause}
	}
	if caller.Bearer == "" {
		return refuse("accessToken", "required", "a Bearer access token is required", nil)
	}
	claims, err := p.Clients.VerifyAccess(ctx, caller.Bearer)
	switch {
	case broker.Unavailable(err):
		return broker.Client{}, err
	case errors.Is(err, broker.ErrTokenExpired):
		return refuse("accessToken", "expired", "the access token expired", err)
	case err != nil:
		return refuse("accessToken", "invalid", "the access token is invalid", err)
	case claims.UserID != "":
		// A player's token must never pass for the trusted server's.
		return refuse("accessToken", "invalid", "the access token is a player's, not a server's", nil)
	case caller.ClaimedID != "" && caller.ClaimedID != claims.ClientID:
		return refuse("clientId", "invalid", "the client named is not the token's", nil)
	}
	c, err := p.Clients.Client(ctx, claims.ClientID)
	switch {
	case errors.Is(err, broker.ErrNotFound):
		return refuse("accessToken", "invalid", "the token's client was deleted", nil)
	case err != nil:
		return broker.Client{}, err
	case c.Public || c.NamespaceID != claims.Namespace:
		return refuse("accessToken", "invalid", "the access token is not a trusted server's", nil)
	}
	if grant != "" {
		if err := allowed(c, grant); err != nil {
			return broker.Client{}, err
		}
	}
	return c, p.throttle(ctx, c)
}

// Guarded runs a password or signature check of the caller's under the
// guards (see Limits): refused up front when the address, or the pair of
// address and what the password protects (identifier, "" for nothing), has
// no failures left, and paid for when check fails: unauthenticated, or not
// found (a guess at what does not exist is a failed guess too). A failure
// when the identifier itself has none left is refused as rate limited.
func (p *Pipeline) Guarded(ctx context.Context, caller Caller, identifier string, check func() error) error {
	g := p.guard(caller, identifier)
	if err := g.admit(ctx); err != nil {
		return err
	}
	err := check()
	if k := broker.KindOf(err); k == broker.KindUnauthenticated || k == broker.KindNotFound {
		err = g.failed(ctx, err)
	}
	return err
}

// guard is the caller's guard, keyed on the client ID it presents,
// whether or not that client exists.
func (p *Pipeline) guard(caller Caller, identifier string) guard {
	return guard{limiter: p.Limiter, limits: p.Limits, addr: network(caller.Addr), client: caller.ID, identifier: identifier}
}

// authenticate checks the client's credentials, pays a failure to the
// guard, and holds the client to its rate. Only an authenticated client
// spends its own budget: anyone may know a client ID.
func (p *Pipeline) authenticate(ctx context.Context, g guard, caller Caller) (broker.Client, error) {
	var (
		c   broker.Client
		err error
	)
	switch {
	case caller.AssertionType != "" || caller.Assertion != "":
		c, err = p.authenticateAssertion(ctx, caller)
	case caller.ID == "":
		return broker.Client{}, broker.Unauthenticated("client authentication is required", nil)
	default:
		c, err = p.Clients.AuthenticateClient(ctx, caller.ID, caller.Secret)
	}
	if broker.KindOf(err) == broker.KindUnauthenticated {
		// An operator's trail of guessing; the secret is never logged, the
		// ID (the caller's choice) only bounded.
		p.Log.InfoContext(ctx, "client authentication failed", "client_id", truncate(caller.ID, 128), "addr", caller.Addr)
		err = g.failed(ctx, err)
	}
	if err != nil {
		return broker.Client{}, err
	}
	return c, p.throttle(ctx, c)
}

// throttle refuses a client over its RateLimit (requests per second,
// bursts of as many).
func (p *Pipeline) throttle(ctx context.Context, c broker.Client) error {
	if ok, wait := p.Limiter.Allow(ctx, "client:"+c.ID, c.RateLimit, int(math.Ceil(c.RateLimit))); !ok {
		return broker.RateLimited(wait)
	}
	return nil
}

// allowed refuses a client the grant it was not registered for, and a
// public client a grant only a confidential one may use.
func allowed(c broker.Client, grant string) error {
	if !slices.Contains(c.Grants, grant) {
		return &broker.Error{Kind: broker.KindForbidden, Field: "client_id", Description: "the client is not allowed the " + grant + " grant"}
	}
	if c.Public && slices.Contains(broker.ConfidentialOnly, grant) {
		return &broker.Error{Kind: broker.KindForbidden, Field: "client_id", Description: "a public client cannot use the " + grant + " grant"}
	}
	return nil
}

// withinClient refuses a scope the client is not registered for.
func withinClient(c broker.Client, scope []string) error {
	for _, s := range scope {
		if !slices.Contains(c.Scopes, s) {
			return broker.Invalid("scope", "the requested scope is not allowed for this client")
		}
	}
	return nil
}

// truncate bounds s to n bytes, for logs.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
