package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/bridgekeeper/bridgekeeper/config"
	"github.com/bridgekeeper/bridgekeeper/providers"
	"github.com/bridgekeeper/bridgekeeper/providers/oauth2"
	"github.com/bridgekeeper/bridgekeeper/providers/oidc"
	"github.com/bridgekeeper/bridgekeeper/web"
)

// upstreams builds the configured identity providers. An OIDC provider's
// discovery runs now, so that a wrong issuer stops serve at start.
func upstreams(ctx context.Context, cfg config.Config) ([]web.Upstream, error) {
	var out []web.Upstream
	for _, p := range cfg.Providers {
		if slices.Contains(config.PlatformTypes, p.Type) {
			continue // platformSignIns
		}
		redirect := cfg.Issuer + "/oauth2/callback/" + p.Name
		var (
			prov providers.Provider
			err  error
		)
		switch p.Type {
		case "oidc":
			prov, err = oidc.New(ctx, oidc.Config{
				Name: p.Name, Slot: p.Slot, Issuer: p.Issuer, ClientID: p.ClientID, ClientSecret: p.ClientSecret,
				RedirectURL: redirect, Scopes: p.Scopes,
			})
		case "oauth2":
			prov, err = oauth2.New(oauth2.Config{
				Name: p.Name, Slot: p.Slot, AuthorizeURL: p.AuthorizeURL, TokenURL: p.TokenURL,
				UserinfoURL: p.UserinfoURL, UserIDField: p.UserIDField, ClientID: p.ClientID,
				ClientSecret: p.ClientSecret, RedirectURL: redirect, Scopes: p.Scopes, AuthStyle: p.AuthStyle,
			})
		default:
			err = fmt.Errorf("type %q is not oidc or oauth2", p.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("providers: %s: %w", p.Name, err)
		}
		out = append(out, web.Upstream{Name: p.Name, Slot: p.Slot, Provider: prov})
	}
	return out, nil
}
