package adminapi

import (
	"time"

	"github.com/bridgekeeper/bridgekeeper/broker"
	"github.com/bridgekeeper/bridgekeeper/broker/admin"
)

// The API's JSON: snake_case, times in RFC 3339 UTC, lifetimes in seconds.

type namespaceJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

func namespaceOut(n broker.Namespace) namespaceJSON {
	return namespaceJSON{ID: n.ID, Name: n.Name, CreatedAt: n.CreatedAt.UTC()}
}

type clientJSON struct {
	ID                string    `json:"client_id"`
	NamespaceID       string    `json:"namespace_id"`
	Name              string    `json:"name"`
	Public            bool      `json:"public"`
	Grants            []string  `json:"grants"`
	Scopes            []string  `json:"scopes"`
	RedirectURIs      []string  `json:"redirect_uris"`
	AccessTTLSeconds  int64     `json:"access_ttl_seconds"`
	RefreshTTLSeconds int64     `json:"refresh_ttl_seconds"`
	CustomIDSlot      int       `json:"custom_id_slot"`
	RateLimit         float64   `json:"rate_limit"`
	NoCreateUsers     bool      `json:"no_create_users"`
	JWKSURI           string    `json:"jwks_uri,omitempty"`
	HasJWKS           bool      `json:"has_jwks"`
	RequireDPoP       bool      `json:"require_dpop"`
	Resources         []string  `json:"resources"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	// Secret is shown once: on creation and on rotation.
	Secret string `json:"client_secret,omitempty"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func clientOut(c broker.Client, secret string) clientJSON {
	return clientJSON{
		ID: c.ID, NamespaceID: c.NamespaceID, Name: c.Name, Public: c.Public, Grants: nonNil(c.Grants),
		Scopes: nonNil(c.Scopes), RedirectURIs: nonNil(c.RedirectURIs),
		AccessTTLSeconds: int64(c.AccessTTL / time.Second), RefreshTTLSeconds: int64(c.RefreshTTL / time.Second),
		CustomIDSlot: c.CustomIDSlot, RateLimit: c.RateLimit, NoCreateUsers: c.NoCreateUsers, JWKSURI: c.JWKSURI,
		HasJWKS: c.JWKS != "", RequireDPoP: c.RequireDPoP, Resources: nonNil(c.Resources),
		CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(), Secret: secret,
	}
}

// clientIn is a client to create or the settings to change: absent
// fields are defaults on creation and unchanged on update.
type clientIn struct {
	Namespace         *string   `json:"namespace"`
	Name              *string   `json:"name"`
	Public            *bool     `json:"public"`
	Grants            *[]string `json:"grants"`
	Scopes            *[]string `json:"scopes"`
	RedirectURIs      *[]string `json:"redirect_uris"`
	AccessTTLSeconds  *int64    `json:"access_ttl_seconds"`
	RefreshTTLSeconds *int64    `json:"refresh_ttl_seconds"`
	CustomIDSlot      *int      `json:"custom_id_slot"`
	RateLimit         *float64  `json:"rate_limit"`
	NoCreateUsers     *bool     `json:"no_create_users"`
	JWKSURI           *string   `json:"jwks_uri"`
	RequireDPoP       *bool     `json:"require_dpop"`
	Resources         *[]string `json:"resources"`
}

func seconds(s *int64) *time.Duration {
	if s == nil {
		return nil
	}
	d := time.Duration(*s) * time.Second
	return &d
}

func val[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// spec is the client to create.
func (in clientIn) spec() broker.ClientSpec {
	return broker.ClientSpec{
		Namespace: val(in.Namespace), Name: val(in.Name), Public: val(in.Public), Grants: val(in.Grants),
		Scopes: val(in.Scopes), RedirectURIs: val(in.RedirectURIs), AccessTTL: val(seconds(in.AccessTTLSeconds)),
		RefreshTTL: val(seconds(in.RefreshTTLSeconds)), CustomIDSlot: in.CustomIDSlot, RateLimit: val(in.RateLimit),
		NoCreateUsers: val(in.NoCreateUsers), JWKSURI: val(in.JWKSURI), RequireDPoP: val(in.RequireDPoP),
		Resources: val(in.Resources),
	}
}

// change is the settings to change; a namespace or publicness cannot.
func (in clientIn) change() (broker.ClientChange, error) {
	switch {
	case in.Namespace != nil:
		return broker.ClientChange{}, broker.Invalid("namespace", "a client cannot move to another namespace")
	case in.Public != nil:
		return broker.ClientChange{}, broker.Invalid("public", "a client cannot become public or confidential")
	}
	return broker.ClientChange{
		Name: in.Name, Grants: in.Grants, Scopes: in.Scopes, RedirectURIs: in.RedirectURIs,
		AccessTTL: seconds(in.AccessTTLSeconds), RefreshTTL: seconds(in.RefreshTTLSeconds),
		CustomIDSlot: in.CustomIDSlot, RateLimit: in.RateLimit, NoCreateUsers: in.NoCreateUsers,
		JWKSURI: in.JWKSURI, RequireDPoP: in.RequireDPoP, Resources: in.Resources,
	}, nil
}

type userJSON struct {
	ID          string    `json:"user_id"`
	NamespaceID string    `json:"namespace_id"`
	Nickname    string    `json:"nickname,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

func userOut(u broker.User) userJSON {
	return userJSON{ID: u.ID, NamespaceID: u.NamespaceID, Nickname: u.Nickname, CreatedAt: u.CreatedAt.UTC()}
}

type linkJSON struct {
	Slot        int       `json:"slot"`
	Identifier  string    `json:"identifier"`
	HasPassword bool      `json:"has_password"`
	CreatedAt   time.Time `json:"created_at"`
}

type sessionJSON struct {
	ID         string    `json:"session_id"`
	ClientID   string    `json:"client_id"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	DPoPBound  bool      `json:"dpop_bound"`
}

type banJSON struct {
	Name      string    `json:"name"`
	Reason    string    `json:"reason"`
	ReleaseAt time.Time `json:"release_at"`
	CreatedAt time.Time `json:"created_at"`
}

type attributeJSON struct {
	Key        string    `json:"key"`
	Value      string    `json:"value"`
	Type       string    `json:"attr_type"`
	Permission string    `json:"permission"`
	ReadOnly   bool      `json:"read_only"`
	UpdatedAt  time.Time `json:"updated_at"`
}

type keyJSON struct {
	ID           string     `json:"kid"`
	Alg          string     `json:"alg"`
	State        string     `json:"state"`
	CreatedAt    time.Time  `json:"created_at"`
	ActivatesAt  *time.Time `json:"activates_at,omitempty"`
	RetiredAt    *time.Time `json:"retired_at,omitempty"`
	PublishUntil *time.Time `json:"publish_until,omitempty"`
}

func keyOut(k admin.KeyState) keyJSON {
	out := keyJSON{ID: k.ID, Alg: k.Alg, State: k.State, CreatedAt: k.CreatedAt.UTC()}
	if !k.RetiredAt.IsZero() {
		r, p := k.RetiredAt.UTC(), k.PublishUntil.UTC()
		out.RetiredAt, out.PublishUntil = &r, &p
	}
	if !k.ActivatesAt.IsZero() {
		a := k.ActivatesAt.UTC()
		out.ActivatesAt = &a
	}
	return out
}

type auditJSON struct {
	ID          string    `json:"id"`
	At          time.Time `json:"at"`
	Type        string    `json:"type"`
	Actor       string    `json:"actor"`
	Address     string    `json:"address,omitempty"`
	NamespaceID string    `json:"namespace_id,omitempty"`
	UserID      string    `json:"user_id,omitempty"`
	Target      string    `json:"target,omitempty"`
	Detail      string    `json:"detail,omitempty"`
}

// list is every listing's envelope: the items and the next page's token.
type list[T any] struct {
	Items         []T    `json:"items"`
	NextPageToken string `json:"next_page_token,omitempty"`
}

func listOf[S, T any](in []S, out func(S) T, next string) list[T] {
	items := make([]T, 0, len(in))
	for _, v := range in {
		items = append(items, out(v))
	}
	return list[T]{Items: items, NextPageToken: next}
}
