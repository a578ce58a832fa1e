package grants

import (
	"context"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// CodeRedeemer redeems authorization codes.
type CodeRedeemer interface {
	ExchangeCode(ctx context.Context, c broker.Client, code, redirectURI, verifier string, bind broker.Binding) (broker.Token, error)
}

// AuthorizationCode is RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5): the code
// the broker issued after the player signed in upstream, bound to the
// client, its redirect_uri and its code_challenge. The scope was fixed at
// the authorization request; a scope parameter here is ignored (§4.1.3 has
// none).
type AuthorizationCode struct {
	Redeemer CodeRedeemer
}

var _ Grant = AuthorizationCode{}

func (AuthorizationCode) Type() string { return broker.GrantAuthorizationCode }

func (g AuthorizationCode) Exchange(ctx context.Context, r Request) (broker.Token, error) {
	code := r.Form.Get("code")
	if code == "" {
		return broker.Token{}, missing("code")
	}
	if r.Form.Get("redirect_uri") == "" {
		return broker.Token{}, missing("redirect_uri")
	}
	return g.Redeemer.ExchangeCode(ctx, r.Client, code, r.Form.Get("redirect_uri"), r.Form.Get("code_verifier"), r.Binding)
}
