package grants

import (
	"context"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// ClientIssuer issues tokens whose subject is the client itself.
type ClientIssuer interface {
	IssueClientToken(ctx context.Context, c broker.Client, scope []string, bind broker.Binding) (broker.Token, error)
}

// ClientCredentials is RFC 6749 §4.4: a confidential client gets an access
// token for itself, and no refresh token (§4.4.3). Without a scope parameter
// the client gets every scope it is registered for (§3.3 default).
type ClientCredentials struct {
	Issuer ClientIssuer
}

var _ Grant = ClientCredentials{}

func (ClientCredentials) Type() string { return broker.GrantClientCredentials }

func (g ClientCredentials) Exchange(ctx context.Context, r Request) (broker.Token, error) {
	scope := r.Scope
	if scope == nil {
		scope = r.Client.Scopes
	}
	return g.Issuer.IssueClientToken(ctx, r.Client, scope, r.Binding)
}
