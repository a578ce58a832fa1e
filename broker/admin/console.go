package admin

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
)

// ConsoleClientName names the support console's own OAuth2 client in the
// admin namespace. Staff sign in to the console through the broker's
// authorization-code flow, as players sign in to a game: the upstream
// providers' registered callbacks are the public listener's, so the
// console cannot run the upstream sign-in itself and is a client instead.
const ConsoleClientName = "support console"

// Lifetimes of the console client's tokens. The console redeems each code
// itself, keeps nothing it is given and revokes the session at once: the
// code only proves who signed in. Short lifetimes bound what a token that
// escaped that would be worth.
const (
	consoleAccessTTL  = time.Minute
	consoleRefreshTTL = time.Minute
)

// EnsureConsoleClient returns the support console's client: found by name
// in the admin namespace, created (with the namespace) on first start, and
// pointed at redirectURI when the console's address changed since. It is a
// public client with PKCE and the authorization_code grant alone, so that
// it holds no secret to leak and can obtain nothing but a code for the
// console's own callback.
//
// Two processes starting at once on a new database may each create one;
// both then work, and the next start uses the first by ID.
func (s *Tenants) EnsureConsoleClient(ctx context.Context, a Actor, redirectURI string) (broker.Client, error) {
	if err := a.everywhere("registering the support console"); err != nil {
		return broker.Client{}, err
	}
	c, err := s.findConsoleClient(ctx)
	switch {
	case errors.Is(err, broker.ErrNotFound):
		c, _, err = s.CreateClient(ctx, a, broker.ClientSpec{
			Namespace: AdminNamespace, Name: ConsoleClientName, Public: true,
			Grants: []string{broker.GrantAuthorizationCode}, RedirectURIs: []string{redirectURI},
			AccessTTL: consoleAccessTTL, RefreshTTL: consoleRefreshTTL,
		})
		return c, err
	case err != nil:
		return broker.Client{}, err
	case slices.Equal(c.RedirectURIs, []string{redirectURI}):
		return c, nil
	}
	uris := []string{redirectURI}
	c, _, err = s.UpdateClient(ctx, a, c.ID, broker.ClientChange{RedirectURIs: &uris})
	return c, err
}

// findConsoleClient is the first public client named ConsoleClientName in
// the admin namespace, by ID; ErrNotFound when there is none.
func (s *Tenants) findConsoleClient(ctx context.Context) (broker.Client, error) {
	ns, err := s.store.GetNamespaceByName(ctx, AdminNamespace)
	if err != nil {
		return broker.Client{}, err
	}
	after := ""
	for {
		page, err := s.store.PageClients(ctx, ns.ID, after, MaxLimit)
		if err != nil {
			return broker.Client{}, err
		}
		for _, c := range page {
			if c.Name == ConsoleClientName && c.Public {
				return c, nil
			}
		}
		if len(page) < MaxLimit {
			return broker.Client{}, broker.ErrNotFound
		}
		after = page[len(page)-1].ID
	}
}
