package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/bridgekeeper/bridgekeeper/config"
	"github.com/bridgekeeper/bridgekeeper/grants"
	"github.com/bridgekeeper/bridgekeeper/platforms"
	"github.com/bridgekeeper/bridgekeeper/platforms/gamecenter"
	"github.com/bridgekeeper/bridgekeeper/platforms/idtoken"
	"github.com/bridgekeeper/bridgekeeper/platforms/oauth2token"
	"github.com/bridgekeeper/bridgekeeper/platforms/steam"
)

// platformSignIns builds the verifiers of the platform providers (token
// exchange) of the configuration, in its order. None of them reaches its
// platform before the first sign-in, so serve starts while one is down.
func platformSignIns(cfg config.Config) ([]grants.Platform, error) {
	var out []grants.Platform
	for _, p := range cfg.Providers {
		var (
			v   platforms.Verifier
			err error
		)
		timeout := time.Duration(p.Timeout)
		switch p.Type {
		case "steam":
			v, err = steamVerifier(p, timeout)
		case "id_token":
			v, err = idtoken.New(idtoken.Config{
				Name: p.Name, Issuer: p.Issuer, JWKSURL: p.JWKSURL, Audiences: p.Audiences,
				AllowedAlgs: p.AllowedAlgs, UserIDClaim: p.UserIDClaim, Timeout: timeout,
			})
		case "oauth2_token":
			v, err = oauth2token.New(oauth2token.Config{
				Name: p.Name, UserinfoURL: p.UserinfoURL, UserIDField: p.UserIDField, TokenInfoURL: p.TokenInfoURL,
				ApplicationField: p.ApplicationField, ApplicationID: p.ApplicationID, Timeout: timeout,
			})
		case "gamecenter":
			v, err = gameCenterVerifier(p, timeout)
		default:
			continue // a browser provider (upstreams)
		}
		if err != nil {
			return nil, fmt.Errorf("providers: %s: %w", p.Name, err)
		}
		out = append(out, grants.Platform{Name: p.Name, Slot: p.Slot, Verifier: v})
	}
	return out, nil
}

func steamVerifier(p config.Provider, timeout time.Duration) (platforms.Verifier, error) {
	key := p.PublisherKey
	if p.PublisherKeyFile != "" {
		if key != "" {
			return nil, errors.New("publisher_key and publisher_key_file are both set; set only one")
		}
		b, err := os.ReadFile(p.PublisherKeyFile)
		if err != nil {
			return nil, fmt.Errorf("publisher_key_file: %w", err) // names the path, not the content
		}
		key = strings.TrimSpace(string(b))
	}
	rejectPublisherBanned := p.RejectPublisherBanned == nil || *p.RejectPublisherBanned
	return steam.New(steam.Config{
		Name: p.Name, AppID: p.AppID, PublisherKey: key, Identity: p.Identity, APIURL: p.APIURL,
		RejectVACBanned: p.RejectVACBanned, RejectPublisherBanned: rejectPublisherBanned,
		FamilySharing: p.FamilySharing, Timeout: timeout,
	})
}

func gameCenterVerifier(p config.Provider, timeout time.Duration) (platforms.Verifier, error) {
	roots, err1 := certPool("roots_file", p.RootsFile)
	intermediates, err2 := certPool("intermediates_file", p.IntermediatesFile)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return gamecenter.New(gamecenter.Config{
		Name: p.Name, BundleIDs: p.BundleIDs, KeyHosts: p.KeyHosts, Roots: roots, Intermediates: intermediates,
		Organizations: p.Organizations, MaxAge: time.Duration(p.MaxAge), Timeout: timeout,
	})
}

// certPool reads the PEM certificates of the file named by setting key;
// nil (the verifier's default) when file is "".
func certPool(key, file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %q holds no PEM certificate", key, file)
	}
	return pool, nil
}
