package grants

import (
	"context"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// LinkLogin signs in (or creates) the user behind a takeover link.
type LinkLogin interface {
	LoginByLink(ctx context.Context, c broker.Client, slot int, identifier string, scope []string, bind broker.Binding) (broker.Token, error)
}

// ServerCustomID is the urn:bridgekeeper:params:oauth:grant-type:server_custom_id
// extension grant (RFC 6749 §4.5): a trusted game server vouches for a player
// ID of its own, as in Xsolla's server-side custom-ID login. The ID is looked
// up in the client's custom-ID takeover slot; the token's subject is always
// the broker's user ID, so a client can never mint the subject of a user
// linked another way.
type ServerCustomID struct {
	Login LinkLogin
}

var _ Grant = ServerCustomID{}

func (ServerCustomID) Type() string { return broker.GrantServerCustomID }

func (g ServerCustomID) Exchange(ctx context.Context, r Request) (broker.Token, error) {
	id := r.Form.Get("server_custom_id")
	if id == "" {
		return broker.Token{}, missing("server_custom_id")
	}
	if !broker.ValidCustomID(id) {
		return broker.Token{}, malformed("server_custom_id", "server_custom_id "+broker.CustomIDRule)
	}
	scope := r.Scope
	if scope == nil {
		scope = r.Client.Scopes
	}
	return g.Login.LoginByLink(ctx, r.Client, r.Client.CustomIDSlot, id, scope, r.Binding)
}
