package broker

import (
	"context"
	"fmt"
	"slices"
)

// SignInPlatform signs in the player whose platform identity a token
// exchange verified: the user linked as (client's namespace, slot,
// identifier), created with the link on first sight unless the client may
// not create players (ErrNoPlayer then). The tokens are a new session's,
// with an ID token when the scope asks for openid (the platform sign-in
// is the authentication it attests).
func (b *Broker) SignInPlatform(ctx context.Context, c Client, slot int, identifier string, scope []string, bind Binding) (Token, error) {
	tok, row, err := b.loginByLink(ctx, c, slot, identifier, scope, bind, !c.NoCreateUsers)
	if err != nil || !slices.Contains(scope, "openid") {
		return tok, err
	}
	if tok.IDToken, err = b.idToken(c, row, AuthCode{AuthTime: row.CreatedAt}); err != nil {
		return Token{}, fmt.Errorf("platform sign-in: %w", err)
	}
	return tok, nil
}
