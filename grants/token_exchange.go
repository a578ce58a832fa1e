package grants

import (
	"context"
	"slices"
	"strings"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/platforms"
)

// PlatformSignIn signs in the player behind a verified platform identity.
type PlatformSignIn interface {
	SignInPlatform(ctx context.Context, c broker.Client, slot int, identifier string, scope []string, bind broker.Binding) (broker.Token, error)
}

// Platform is a configured provider that token exchange accepts
// credentials of.
type Platform struct {
	Name     string // the provider parameter
	Slot     int    // the takeover slot its identities are linked in
	Verifier platforms.Verifier
}

// TokenExchange is RFC 8693 token exchange for platform sign-in: a game
// client trades the credential its platform's SDK gave it (the
// subject_token) for the broker's tokens. The platform verifies the
// credential; the identity it vouches for is the link identifier in the
// provider's slot. Delegation (actor_token) is not offered, and only access
// tokens are issued (with a refresh token, as every sign-in).
type TokenExchange struct {
	Platforms []Platform
	SignIn    PlatformSignIn
}

var _ Grant = TokenExchange{}

func (TokenExchange) Type() string { return broker.GrantTokenExchange }

// issuedTokenType is the only requested_token_type served (§2.1).
const issuedTokenType = platforms.TokenTypeAccessToken

func (g TokenExchange) Exchange(ctx context.Context, r Request) (broker.Token, error) {
	token, tokenType := r.Form.Get("subject_token"), r.Form.Get("subject_token_type")
	switch {
	case token == "":
		return broker.Token{}, missing("subject_token")
	case tokenType == "":
		return broker.Token{}, missing("subject_token_type")
	case r.Form.Get("actor_token") != "" || r.Form.Get("actor_token_type") != "":
		return broker.Token{}, malformed("actor_token", "actor_token (delegation) is not supported")
	case r.Form.Get("requested_token_type") != "" && r.Form.Get("requested_token_type") != issuedTokenType:
		return broker.Token{}, malformed("requested_token_type", "requested_token_type: only "+issuedTokenType+" can be issued")
	}
	p, err := g.platform(r.Form.Get("provider"), tokenType)
	if err != nil {
		return broker.Token{}, err
	}
	id, err := p.Verifier.Verify(ctx, platforms.Request{Token: token, TokenType: tokenType, Nonce: r.Form.Get("nonce")})
	if err != nil {
		return broker.Token{}, err
	}
	scope := r.Scope
	if scope == nil {
		scope = r.Client.Scopes
	}
	tok, err := g.SignIn.SignInPlatform(ctx, r.Client, p.Slot, id.UserID, scope, r.Binding)
	tok.IssuedTokenType = issuedTokenType
	return tok, err
}

// platform is the provider named, which must accept tokenType, or when
// none is named the one provider that accepts it.
func (g TokenExchange) platform(name, tokenType string) (Platform, error) {
	if name != "" {
		i := slices.IndexFunc(g.Platforms, func(p Platform) bool { return p.Name == name })
		switch {
		case i < 0:
			return Platform{}, malformed("provider", "provider "+name+" is not configured for token exchange")
		case !slices.Contains(g.Platforms[i].Verifier.TokenTypes(), tokenType):
			return Platform{}, malformed("subject_token_type", "provider "+name+" does not accept "+tokenType+
				" (it accepts "+strings.Join(g.Platforms[i].Verifier.TokenTypes(), ", ")+")")
		}
		return g.Platforms[i], nil
	}
	var accepting []Platform
	for _, p := range g.Platforms {
		if slices.Contains(p.Verifier.TokenTypes(), tokenType) {
			accepting = append(accepting, p)
		}
	}
	switch len(accepting) {
	case 0:
		return Platform{}, malformed("subject_token_type", "no provider accepts "+tokenType)
	case 1:
		return accepting[0], nil
	}
	return Platform{}, broker.InvalidBecause("provider", reasonRequest, "provider is required: several providers accept "+tokenType)
}
