package gs2

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/gs2policy"
)

// ErrInvalidPolicy: a policy document that does not parse or validate; the
// error's description names every problem.
var ErrInvalidPolicy = errors.New("invalid policy document")

// Federate is GS2-Auth's federation: a trusted server (client c) gets a
// token with which originalUserID acts as userID, restricted by the policy
// document when one is given. The document is stored once under its
// SHA-256 and the token carries that hash (claim federationPolicy), so a
// 512 KB policy never travels inside a token.
func (a *Auth) Federate(ctx context.Context, c broker.Client, originalUserID string, u User, policyDocument string) (broker.Token, error) {
	timeOffset, err := a.offset(c.NamespaceID, u)
	if err != nil {
		return broker.Token{}, err
	}
	if err := CheckGS2UserID("originalUserId", originalUserID); err != nil {
		return broker.Token{}, err
	}
	policyHash := ""
	if policyDocument != "" {
		if _, err := gs2policy.Parse([]byte(policyDocument)); err != nil {
			return broker.Token{}, &broker.Error{Kind: broker.KindInvalid, Field: "policyDocument", Description: err.Error(), Err: ErrInvalidPolicy}
		}
		sum := sha256.Sum256([]byte(policyDocument))
		if err := a.store.PutPolicy(ctx, sum[:], policyDocument, a.now()); err != nil {
			return broker.Token{}, fmt.Errorf("store policy: %w", err)
		}
		policyHash = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	// The one acting must not be a banned user either.
	if err := broker.CheckBan(ctx, a.bans, originalUserID, a.now()); err != nil {
		return broker.Token{}, err
	}
	return a.token(ctx, c, u.UserID, timeOffset, func(claims *broker.AccessClaims) any {
		claims.FederationFromUserID, claims.FederationPolicy = originalUserID, policyHash
		return claims
	})
}

// Allowed answers a resource server's question "may this access token
// perform action on resource?": the token must verify (signature, issuer,
// lifetime, not revoked), and a federated token's policy must allow it. A
// token without a policy is its user's own and is not restricted by one.
func (a *Auth) Allowed(ctx context.Context, token, action, resource string) (bool, error) {
	claims, err := a.core.VerifyAccess(ctx, token)
	if err != nil {
		return false, err
	}
	return a.PolicyAllows(ctx, claims.FederationPolicy, action, resource)
}

// PolicyAllows evaluates the policy stored under policyHash (a token's
// federationPolicy claim; "" for none, which allows).
func (a *Auth) PolicyAllows(ctx context.Context, policyHash, action, resource string) (bool, error) {
	if policyHash == "" {
		return true, nil
	}
	p, err := a.policies.get(ctx, a.store, policyHash)
	if err != nil {
		return false, err
	}
	return p.Allows(action, resource), nil
}

// policyCache keeps parsed policies by hash. Entries never go stale (a hash
// names one document), so the cache is only bounded, not expired.
type policyCache struct {
	mu sync.Mutex
	m  map[string]gs2policy.Policy
}

const maxCachedPolicies = 1024

func (pc *policyCache) get(ctx context.Context, store broker.PolicyStore, hash string) (gs2policy.Policy, error) {
	pc.mu.Lock()
	p, ok := pc.m[hash]
	pc.mu.Unlock()
	if ok {
		return p, nil
	}
	sum, err := base64.RawURLEncoding.DecodeString(hash)
	if err != nil {
		return gs2policy.Policy{}, fmt.Errorf("policy hash %q: %w", hash, broker.ErrNotFound)
	}
	doc, err := store.GetPolicy(ctx, sum)
	if err != nil {
		return gs2policy.Policy{}, fmt.Errorf("get policy: %w", err)
	}
	if p, err = gs2policy.Parse([]byte(doc)); err != nil {
		return gs2policy.Policy{}, fmt.Errorf("stored policy: %w", err)
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.m == nil || len(pc.m) >= maxCachedPolicies {
		pc.m = make(map[string]gs2policy.Policy)
	}
	pc.m[hash] = p
	return p, nil
}
