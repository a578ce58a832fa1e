package broker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker/keys"
	"github.com/google/uuid"
	"golang.org/x/sync/singleflight"
)

// clientCacheTTL bounds how long a client changed or deleted by another
// process (the CLI) can still be seen as it was: under a second.
const clientCacheTTL = 250 * time.Millisecond

// clientCache keeps clients in memory briefly, so that the token endpoint's
// hot path does not read the database for every request.
type clientCache struct {
	store ClientStore
	now   func() time.Time
	ttl   time.Duration
	group singleflight.Group

	mu      sync.RWMutex
	entries map[string]cachedClient
	// missing remembers IDs that named no client, as briefly as entries
	// (so that an unknown ID answers as fast as a known one, and its
	// timing does not tell them apart), but at most maxMissing of them: a
	// flood of made-up IDs must not grow memory.
	missing map[string]time.Time
}

const maxMissing = 10_000

type cachedClient struct {
	client  Client
	fetched time.Time
}

func newClientCache(store ClientStore, now func() time.Time, ttl time.Duration) *clientCache {
	return &clientCache{store: store, now: now, ttl: ttl, entries: map[string]cachedClient{}, missing: map[string]time.Time{}}
}

func (cc *clientCache) get(ctx context.Context, id string) (Client, error) {
	cc.mu.RLock()
	e, ok := cc.entries[id]
	missed, isMissing := cc.missing[id]
	cc.mu.RUnlock()
	now := cc.now()
	if ok && now.Sub(e.fetched) < cc.ttl {
		return e.client, nil
	}
	if isMissing && now.Sub(missed) < cc.ttl {
		return Client{}, ErrNotFound
	}
	ch := cc.group.DoChan(id, func() (any, error) {
		// The lookup is shared by every waiting request, so the first
		// caller's cancellation must not fail the others.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		c, err := cc.store.GetClient(ctx, id)
		cc.mu.Lock()
		defer cc.mu.Unlock()
		delete(cc.missing, id)
		if err != nil {
			delete(cc.entries, id)
			if errors.Is(err, ErrNotFound) {
				cc.rememberMissing(id)
			}
			return Client{}, err
		}
		cc.entries[id] = cachedClient{client: c, fetched: cc.now()}
		return c, nil
	})
	// Each waiter still keeps to its own deadline.
	select {
	case r := <-ch:
		return r.Val.(Client), r.Err
	case <-ctx.Done():
		return Client{}, fmt.Errorf("look up client: %w: %w", ErrUnavailable, ctx.Err())
	}
}

// rememberMissing notes an unknown ID, first dropping the expired ones
// when the bound is reached; cc.mu is held.
func (cc *clientCache) rememberMissing(id string) {
	now := cc.now()
	if len(cc.missing) >= maxMissing {
		for k, at := range cc.missing {
			if now.Sub(at) >= cc.ttl {
				delete(cc.missing, k)
			}
		}
	}
	if len(cc.missing) < maxMissing {
		cc.missing[id] = now
	}
}

// ClientSpec is what an operator asks for when registering a client.
type ClientSpec struct {
	Namespace    string // name; created if it does not exist
	Name         string
	Grants       []string
	Scopes       []string
	RedirectURIs []string
	Public       bool
	AccessTTL    time.Duration // 0: DefaultAccessTTL
	RefreshTTL   time.Duration // 0: DefaultRefreshTTL
	CustomIDSlot *int          // nil: DefaultCustomIDSlot
	RateLimit    float64       // requests per second; 0: unlimited
	// NoCreateUsers: token exchange signs in existing players only.
	NoCreateUsers bool
	// JWKS (a JWK Set document, checked by the caller) or JWKSURI makes a
	// private_key_jwt client: it gets no secret.
	JWKS, JWKSURI string
	RequireDPoP   bool
	Resources     []string // RFC 8707 resource servers it may ask tokens for
}

// ConfidentialOnly are the grants a public client may not use.
var ConfidentialOnly = []string{GrantClientCredentials, GrantServerCustomID, GrantGS2Trusted}

// Grant types, full form.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantServerCustomID    = "urn:bridgekeeper:params:oauth:grant-type:server_custom_id"
	// GrantGS2Trusted is no grant_type of the token endpoint but the
	// allowance to make GS2's trusted-server calls, which name a player and
	// act as them (auth/login, federation, the ...ByUserId calls): a
	// client_credentials client is not thereby trusted with every player.
	GrantGS2Trusted = "gs2"
	// GrantTokenExchange is RFC 8693's: a platform's credential for the
	// broker's tokens (platform sign-in).
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	// GrantDeviceCode is RFC 8628's: a console signs in through a code
	// the player approves in a browser.
	GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
)

// GrantShortNames maps accepted short names to full grant types.
var GrantShortNames = map[string]string{"server_custom_id": GrantServerCustomID, "token-exchange": GrantTokenExchange,
	"device_code": GrantDeviceCode}

// CreateClient registers a client and returns it with its secret, which is
// shown once and stored only hashed. The namespace is created if absent.
func CreateClient(ctx context.Context, store Store, secrets *keys.Secrets, spec ClientSpec, now time.Time) (Client, string, error) {
	c := Client{
		ID: uuid.NewString(), Name: spec.Name, Public: spec.Public, Scopes: spec.Scopes,
		RedirectURIs: spec.RedirectURIs, AccessTTL: spec.AccessTTL, RefreshTTL: spec.RefreshTTL,
		CustomIDSlot: DefaultCustomIDSlot, RateLimit: spec.RateLimit, NoCreateUsers: spec.NoCreateUsers,
		JWKS: spec.JWKS, JWKSURI: spec.JWKSURI, RequireDPoP: spec.RequireDPoP, Resources: spec.Resources,
		CreatedAt: now, UpdatedAt: now,
	}
	if c.AccessTTL == 0 {
		c.AccessTTL = DefaultAccessTTL
	}
	if c.RefreshTTL == 0 {
		c.RefreshTTL = DefaultRefreshTTL
	}
	if spec.CustomIDSlot != nil {
		c.CustomIDSlot = *spec.CustomIDSlot
	}
	c.Grants = fullGrants(spec.Grants)
	if err := validateClient(c, spec.Namespace); err != nil {
		return Client{}, "", err
	}
	var secret string
	if !c.Public && !c.keyAuthenticated() {
		secret = NewOpaqueToken("bks_")
		c.SecretHash = secrets.HashClientSecret(secret)
	}
	err := store.InTx(ctx, func(tx Store) error {
		ns, err := tx.GetNamespaceByName(ctx, spec.Namespace)
		if errors.Is(err, ErrNotFound) {
			ns, err = CreateNamespace(ctx, tx, spec.Namespace, now)
		}
		if err != nil {
			return fmt.Errorf("namespace %q: %w", spec.Namespace, err)
		}
		c.NamespaceID = ns.ID
		return tx.CreateClient(ctx, c)
	})
	if err != nil {
		return Client{}, "", fmt.Errorf("create client: %w", err)
	}
	return c, secret, nil
}

// CreateNamespace creates a namespace (a GS2 namespace, an Xsolla project);
// ErrAlreadyExists when the name is taken.
func CreateNamespace(ctx context.Context, store NamespaceStore, name string, now time.Time) (Namespace, error) {
	if !ValidIdentifier(name, 128) || strings.ContainsAny(name, "/ ") {
		return Namespace{}, errors.New("namespace: must be 1..128 characters without '/', spaces or control characters")
	}
	ns := Namespace{ID: uuid.NewString(), Name: name, CreatedAt: now}
	if err := store.CreateNamespace(ctx, ns); err != nil {
		return Namespace{}, err
	}
	return ns, nil
}

// ClientChange names the settings of a client to change; nil stays as is.
type ClientChange struct {
	Name                         *string
	Grants, Scopes, RedirectURIs *[]string
	AccessTTL, RefreshTTL        *time.Duration
	CustomIDSlot                 *int
	RateLimit                    *float64
	NoCreateUsers                *bool
	JWKS, JWKSURI                *string
	RequireDPoP                  *bool
	Resources                    *[]string
	RotateSecret                 bool
}

// UpdateClient changes a client and returns it, with its new secret when
// RotateSecret asked for one (the old secret stops working). The broker's
// client cache sees the change within a second.
func UpdateClient(ctx context.Context, store Store, secrets *keys.Secrets, id string, ch ClientChange, now time.Time) (Client, string, error) {
	var secret string
	var c Client
	err := store.InTx(ctx, func(tx Store) error {
		var err error
		if c, err = tx.GetClient(ctx, id); err != nil {
			return err
		}
		set(&c.Name, ch.Name)
		set(&c.Scopes, ch.Scopes)
		set(&c.RedirectURIs, ch.RedirectURIs)
		set(&c.AccessTTL, ch.AccessTTL)
		set(&c.RefreshTTL, ch.RefreshTTL)
		set(&c.CustomIDSlot, ch.CustomIDSlot)
		set(&c.RateLimit, ch.RateLimit)
		set(&c.NoCreateUsers, ch.NoCreateUsers)
		set(&c.JWKS, ch.JWKS)
		set(&c.JWKSURI, ch.JWKSURI)
		set(&c.RequireDPoP, ch.RequireDPoP)
		set(&c.Resources, ch.Resources)
		if c.keyAuthenticated() {
			// Its keys replace the secret: no second way in.
			c.SecretHash = nil
		}
		if ch.Grants != nil {
			c.Grants = fullGrants(*ch.Grants)
		}
		ns, err := tx.GetNamespace(ctx, c.NamespaceID)
		if err != nil {
			return err
		}
		if err := validateClient(c, ns.Name); err != nil {
			return err
		}
		if ch.RotateSecret {
			if c.Public || c.keyAuthenticated() {
				return errors.New("rotate-secret: the client has no secret (public, or private_key_jwt)")
			}
			secret = NewOpaqueToken("bks_")
			c.SecretHash = secrets.HashClientSecret(secret)
		}
		c.UpdatedAt = now
		return tx.UpdateClient(ctx, c)
	})
	if err != nil {
		return Client{}, "", fmt.Errorf("update client %s: %w", id, err)
	}
	return c, secret, nil
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// fullGrants resolves accepted short grant names.
func fullGrants(gs []string) []string {
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		if full, ok := GrantShortNames[g]; ok {
			g = full
		}
		out = append(out, g)
	}
	return out
}

// keyAuthenticated reports whether the client authenticates with
// private_key_jwt.
func (c Client) keyAuthenticated() bool { return c.JWKS != "" || c.JWKSURI != "" }

func validateClient(c Client, namespace string) error {
	var errs []error
	switch {
	case c.JWKS != "" && c.JWKSURI != "":
		errs = append(errs, errors.New("jwks: give --jwks or --jwks-uri, not both"))
	case c.Public && c.keyAuthenticated():
		errs = append(errs, errors.New("jwks: a public client has no keys to authenticate with"))
	}
	for _, r := range c.Resources {
		if !ValidResource(r) {
			errs = append(errs, fmt.Errorf("resource: %q is not an absolute URI without a fragment", r))
		}
	}
	if namespace == "" || len(namespace) > 128 {
		errs = append(errs, errors.New("namespace: must be 1..128 characters"))
	}
	if c.Name == "" || len(c.Name) > 128 {
		errs = append(errs, errors.New("name: must be 1..128 characters"))
	}
	if len(c.Grants) == 0 {
		errs = append(errs, errors.New("grant: at least one is required"))
	}
	known := []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantServerCustomID, GrantGS2Trusted, GrantTokenExchange, GrantDeviceCode}
	for _, g := range c.Grants {
		if !slices.Contains(known, g) {
			errs = append(errs, fmt.Errorf("grant: %q is not one of %s (or server_custom_id, token-exchange, device_code)", g, strings.Join(known, ", ")))
		}
		if c.Public && slices.Contains(ConfidentialOnly, g) {
			errs = append(errs, fmt.Errorf("grant: a public client cannot use %s", g))
		}
	}
	for _, s := range c.Scopes {
		if !validScopeToken(s) {
			errs = append(errs, fmt.Errorf("scope: %q is not a valid scope token", s))
		}
	}
	for _, u := range c.RedirectURIs {
		if u == "" || strings.ContainsAny(u, " \t\r\n#") {
			errs = append(errs, fmt.Errorf("redirect-uri: %q must be an absolute URI without fragment", u))
		}
	}
	if c.AccessTTL < time.Second || c.RefreshTTL < time.Second {
		errs = append(errs, errors.New("access-ttl, refresh-ttl: must be at least 1s"))
	}
	if c.CustomIDSlot < MinSlot || c.CustomIDSlot > MaxSlot {
		errs = append(errs, fmt.Errorf("custom-id-slot: %d is not in %d..%d", c.CustomIDSlot, MinSlot, MaxSlot))
	}
	if c.RateLimit < 0 || math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0) {
		errs = append(errs, fmt.Errorf("rate-limit: %v is not a number of requests per second >= 0", c.RateLimit))
	}
	return errors.Join(errs...)
}

// validScopeToken: RFC 6749 §3.3 scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch < 0x21 || ch == 0x22 || ch == 0x5C || ch > 0x7E {
			return false
		}
	}
	return true
}

// ParseScope splits a scope parameter, rejecting malformed tokens.
func ParseScope(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, " ")
	out := parts[:0]
	for _, p := range parts {
		if !validScopeToken(p) {
			return nil, Invalid("scope", "scope is malformed")
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// Namespace finds a namespace by its ID (an Xsolla projectId).
func (b *Broker) Namespace(ctx context.Context, id string) (Namespace, error) {
	return b.store.GetNamespace(ctx, id)
}

// NamespaceByName finds a namespace by its name (GS2 paths name them).
func (b *Broker) NamespaceByName(ctx context.Context, name string) (Namespace, error) {
	return b.store.GetNamespaceByName(ctx, name)
}

// Slots knows which takeover slots are the broker's own: only the broker
// links identities there (upstream sign-ins, platform profiles, custom
// IDs), so a takeover written there by anyone else would pre-claim an
// identity before its owner first signs in.
type Slots struct {
	clients ClientStore
	fixed   []int
}

// NewSlots is the broker's slots: fixed (the configured providers' and
// social platforms'), the default custom-ID slot, and every client's
// custom-ID slot in its namespace.
func NewSlots(clients ClientStore, fixed ...int) Slots {
	return Slots{clients: clients, fixed: append(fixed, DefaultCustomIDSlot)}
}

// Reserved says whether slot is the broker's in the namespace.
func (s Slots) Reserved(ctx context.Context, namespaceID string, slot int) (bool, error) {
	if slices.Contains(s.fixed, slot) {
		return true, nil
	}
	// Takeover writes are rare, and clients few: no index is worth it.
	cs, err := s.clients.ListClients(ctx)
	if err != nil {
		return false, fmt.Errorf("list clients: %w", err)
	}
	return slices.ContainsFunc(cs, func(c Client) bool { return c.NamespaceID == namespaceID && c.CustomIDSlot == slot }), nil
}
