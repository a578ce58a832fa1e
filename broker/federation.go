package broker

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker/gs2policy"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

// ErrInvalidPolicy: a policy document that does not parse or validate; the
// error's description names every problem.
var ErrInvalidPolicy = errors.New("invalid policy document")

// Federate is GS2-Auth's federation: a trusted server (client c) gets a
// token with which originalUserID acts as userID, restricted by the policy
// document when one is given. The document is stored once under its
// SHA-256 and the token carries that hash (claim federationPolicy), so a
// 512 KB policy never travels inside a token.
func (b *Broker) Federate(ctx context.Context, c Client, originalUserID string, u GS2User, policyDocument string) (Token, error) {
	timeOffset, err := b.offset(c.NamespaceID, u)
	if err != nil {
		return Token{}, err
	}
	if err := CheckGS2UserID("originalUserId", originalUserID); err != nil {
		return Token{}, err
	}
	policyHash := ""
	if policyDocument != "" {
		if _, err := gs2policy.Parse([]byte(policyDocument)); err != nil {
			return Token{}, &Error{Kind: KindInvalid, Field: "policyDocument", Description: err.Error(), Err: ErrInvalidPolicy}
		}
		sum := sha256.Sum256([]byte(policyDocument))
		if err := b.store.PutPolicy(ctx, sum[:], policyDocument, b.now()); err != nil {
			return Token{}, fmt.Errorf("store policy: %w", err)
		}
		policyHash = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	// The one acting must not be a banned user either.
	if err := b.checkBan(ctx, b.store, originalUserID); err != nil {
		return Token{}, err
	}
	return b.gs2Token(ctx, c, u.UserID, timeOffset, func(claims *AccessClaims) {
		claims.FederationFromUserID, claims.FederationPolicy = originalUserID, policyHash
	})
}

// gs2Token is what login and federation share: userId and timeOffset
// checked, the user created in c's namespace on first sight and not banned,
// and an access token without refresh token, as GS2's. with adds claims.
func (b *Broker) gs2Token(ctx context.Context, c Client, userID string, timeOffset int, with func(*AccessClaims)) (Token, error) {
	if err := b.ensureUser(ctx, c.NamespaceID, userID); err != nil {
		return Token{}, err
	}
	if err := b.checkBan(ctx, b.store, userID); err != nil {
		return Token{}, err
	}
	now := b.now()
	exp := now.Add(c.AccessTTL)
	claims := AccessClaims{
		Issuer: b.cfg.Issuer, Subject: userID, Audience: jwt.Audience{c.ID},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(exp),
		ID: uuid.NewString(), ClientID: c.ID, Scope: strings.Join(c.Scopes, " "), Namespace: c.NamespaceID,
		UserID: userID, TimeOffset: &timeOffset,
	}
	if with != nil {
		with(&claims)
	}
	at, err := b.keys.Sign(claims)
	if err != nil {
		return Token{}, fmt.Errorf("sign gs2 token: %w", err)
	}
	return Token{AccessToken: at, ExpiresIn: int64(c.AccessTTL / time.Second), UserID: userID, Expire: exp}, nil
}

// Allowed answers a resource server's question "may this access token
// perform action on resource?": the token must verify (signature, issuer,
// lifetime, not revoked), and a federated token's policy must allow it. A
// token without a policy is its user's own and is not restricted by one.
func (b *Broker) Allowed(ctx context.Context, token, action, resource string) (bool, error) {
	claims, err := b.VerifyAccess(ctx, token)
	if err != nil {
		return false, err
	}
	return b.PolicyAllows(ctx, claims.FederationPolicy, action, resource)
}

// PolicyAllows evaluates the policy stored under policyHash (a token's
// federationPolicy claim; "" for none, which allows).
func (b *Broker) PolicyAllows(ctx context.Context, policyHash, action, resource string) (bool, error) {
	if policyHash == "" {
		return true, nil
	}
	p, err := b.policies.get(ctx, b.store, policyHash)
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

func (pc *policyCache) get(ctx context.Context, store PolicyStore, hash string) (gs2policy.Policy, error) {
	pc.mu.Lock()
	p, ok := pc.m[hash]
	pc.mu.Unlock()
	if ok {
		return p, nil
	}
	sum, err := base64.RawURLEncoding.DecodeString(hash)
	if err != nil {
		return gs2policy.Policy{}, fmt.Errorf("policy hash %q: %w", hash, ErrNotFound)
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
