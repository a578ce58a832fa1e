package grants

import (
	"context"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// Refresher rotates refresh tokens.
type Refresher interface {
	Refresh(ctx context.Context, c broker.Client, token string, scope []string, bind broker.Binding) (broker.Token, error)
}

// RefreshToken is RFC 6749 §6 with rotation on every use and reuse detection
// (OAuth 2.0 Security BCP §4.14.2); the rules live in broker.Broker.Refresh.
type RefreshToken struct {
	Refresher Refresher
}

var _ Grant = RefreshToken{}

// spendsProof: the rotation spends the DPoP proof's jti with the successor
// (broker.Rotation.Proof).
func (RefreshToken) spendsProof() {}

func (RefreshToken) Type() string { return broker.GrantRefreshToken }

func (g RefreshToken) Exchange(ctx context.Context, r Request) (broker.Token, error) {
	rt := r.Form.Get("refresh_token")
	if rt == "" {
		return broker.Token{}, missing("refresh_token")
	}
	return g.Refresher.Refresh(ctx, r.Client, rt, r.Scope, r.Binding)
}
