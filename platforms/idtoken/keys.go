package idtoken

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/platforms"
)

const (
	// MinRefetch is the least time between two fetches of a key set once
	// one is cached: a token with an unknown kid (a key rotated in, or a
	// made-up one) costs the platform at most one request a minute.
	MinRefetch = time.Minute
	// RetryAfterFailure is the least time between attempts while no key set
	// was ever fetched, so that a platform down at start-up is not asked
	// (and waited for) on every request.
	RetryAfterFailure = 5 * time.Second
	// KeysMaxAge is how long a key set is used before the next Verify
	// refetches it even though every kid is known, so that a key the
	// platform withdrew (compromised, retired) stops verifying. When that
	// refetch fails the old set stays in use.
	KeysMaxAge = time.Hour
)

// keysFor answers the issuer's keys that a token with that kid (or, without
// one, that alg) may be signed with, refetching the key set when it has none
// (at most as often as MinRefetch allows). An empty answer means the key is
// unknown.
func (v *Verifier) keysFor(ctx context.Context, kid, alg string) ([]jose.JSONWebKey, error) {
	v.mu.Lock()
	keys, fetched := v.keys, v.fetched
	v.mu.Unlock()

	switch {
	case keys == nil:
		var err error
		if keys, err = v.refresh(ctx); err != nil {
			return nil, err
		}
	case v.now().Sub(fetched) >= KeysMaxAge:
		// A failed refresh leaves the cached set, still good for known kids.
		if fresh, err := v.refresh(ctx); err == nil {
			keys = fresh
		}
	}
	if found := candidates(keys, kid, alg); len(found) > 0 {
		return found, nil
	}
	keys, err := v.refresh(ctx)
	if err != nil {
		// The key may be one the platform rotated in: its outage is no
		// reason to call the token forged.
		return nil, err
	}
	return candidates(keys, kid, alg), nil
}

// candidates are the keys with that kid, or when kid is "" those that fit
// alg (RFC 7515 §4.1.4: kid is optional).
func candidates(keys []jose.JSONWebKey, kid, alg string) []jose.JSONWebKey {
	var found []jose.JSONWebKey
	for _, k := range keys {
		if (kid != "" && k.KeyID == kid) || (kid == "" && fits(k, alg)) {
			found = append(found, k)
		}
	}
	return found
}

// fits reports whether k may verify a signature made with alg (RFC 7518
// §3.1): its alg, when the set names one, is that alg, and its type and
// curve are the ones alg uses.
func fits(k jose.JSONWebKey, alg string) bool {
	if k.Algorithm != "" && k.Algorithm != alg {
		return false
	}
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return pub.Curve == elliptic.P256()
		case "ES384":
			return pub.Curve == elliptic.P384()
		case "ES512":
			return pub.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// refresh fetches the key set if one is due (see fetchIfDue) and answers
// the keys to use. Concurrent callers share one fetch; a caller whose ctx
// ends first stops waiting, and the fetch goes on for the others.
func (v *Verifier) refresh(ctx context.Context) ([]jose.JSONWebKey, error) {
	ch := v.fetches.DoChan("keys", func() (any, error) {
		return v.fetchIfDue(context.WithoutCancel(ctx))
	})
	select {
	case res := <-ch:
		keys, _ := res.Val.([]jose.JSONWebKey)
		return keys, res.Err
	case <-ctx.Done():
		return nil, platforms.Unavailable(v.name, ctx.Err())
	}
}

// fetchIfDue fetches the key set unless the last attempt was too recent
// (MinRefetch with a set cached, RetryAfterFailure without), and answers
// the cached keys with the last attempt's failure, if it failed.
func (v *Verifier) fetchIfDue(ctx context.Context) ([]jose.JSONWebKey, error) {
	v.mu.Lock()
	now := v.now()
	wait := MinRefetch
	if v.keys == nil {
		wait = RetryAfterFailure
	}
	if !v.tried.IsZero() && now.Sub(v.tried) < wait {
		keys, err := v.keys, v.lastErr
		v.mu.Unlock()
		return keys, err
	}
	v.tried = now
	jwksURL := v.jwksURL
	v.mu.Unlock()

	keys, jwksURL, err := v.fetch(ctx, jwksURL)

	v.mu.Lock()
	defer v.mu.Unlock()
	v.lastErr = err
	if err != nil {
		return v.keys, err
	}
	v.keys, v.fetched, v.jwksURL = keys, now, jwksURL
	return keys, nil
}

// fetch reads the key set at jwksURL, discovering that first when it is
// "", and answers the usable keys and the URL they came from. Every
// failure is Unavailable.
func (v *Verifier) fetch(ctx context.Context, jwksURL string) ([]jose.JSONWebKey, string, error) {
	if jwksURL == "" {
		var err error
		if jwksURL, err = v.discover(ctx); err != nil {
			return nil, "", err
		}
	}
	var set struct {
		// Each key is parsed alone: one key of a type we do not know must
		// not cost the platform's other keys.
		Keys []json.RawMessage `json:"keys"`
	}
	if err := v.get(ctx, jwksURL, &set); err != nil {
		return nil, "", during("key set", err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if k.UnmarshalJSON(raw) != nil || !k.Valid() || !k.IsPublic() {
			// Symmetric ("oct") and private keys are no issuer's to
			// publish; never verify with them.
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, "", platforms.Unavailable(v.name, fmt.Errorf("key set %s has no usable signing key", jwksURL))
	}
	return keys, jwksURL, nil
}

// discover reads jwks_uri from the issuer's discovery document (OpenID
// Connect Discovery 1.0 §4), whose issuer must be ours exactly (§4.3).
func (v *Verifier) discover(ctx context.Context) (string, error) {
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	u := strings.TrimSuffix(v.issuer, "/") + "/.well-known/openid-configuration"
	if err := v.get(ctx, u, &doc); err != nil {
		return "", during("discovery", err)
	}
	if doc.Issuer != v.issuer {
		return "", platforms.Unavailable(v.name, fmt.Errorf("discovery: the document's issuer %q is not %q", doc.Issuer, v.issuer))
	}
	if _, err := platforms.CheckURL(doc.JWKSURI); err != nil {
		return "", platforms.Unavailable(v.name, fmt.Errorf("discovery: jwks_uri: %w", err))
	}
	return doc.JWKSURI, nil
}

func (v *Verifier) get(ctx context.Context, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return platforms.Unavailable(v.name, err)
	}
	if err := platforms.GetJSON(ctx, v.client, v.timeout, v.name, req, out); err != nil {
		if broker.KindOf(err) == broker.KindUnavailable {
			return err
		}
		// A 4xx: the platform does not serve what it documents.
		return platforms.Unavailable(v.name, err)
	}
	return nil
}

// during names the step in an Unavailable error's cause, for the log.
func during(step string, err error) error {
	var e *broker.Error
	if errors.As(err, &e) && e.Err != nil {
		e.Err = fmt.Errorf("%s: %w", step, e.Err)
	}
	return err
}
